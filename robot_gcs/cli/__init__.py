"""The ``robot-gcs`` command: one entry point, one module per subcommand.

Each subcommand lives next to the code it drives and exposes ``add_arguments(parser)``
and ``run(args) -> int``. This package builds the parser (help texts shaped like
``ros2``'s, with every default shown: help.py), the one rule that names a running ring
for every command that talks to one (ring.py), configures logging (the only place in
the package that does) and dispatches. A Ctrl-C that reaches the top returns 130
quietly.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .help import HelpfulParser
from .ring import CONFIG_ENV, add_ring_arguments

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("robot_gcs.launch.demo_command", "run the robot demo on this machine with the live console"),
    "launch": ("robot_gcs.launch.command", "run a launch file (one processor, or all of them)"),
    "monitor": ("robot_gcs.diagnostics.monitor_command", "live console: ring, leaders, topics, nodes, logs (keys: d details, q quit)"),
    "status": ("robot_gcs.diagnostics.status_command", "print one health snapshot of the ring"),
    "topic": ("robot_gcs.pubsub.topic_command", "topic tools: list, echo, hz, pub"),
    "service": ("robot_gcs.pubsub.service_command", "service tools: list, call"),
    "param": ("robot_gcs.pubsub.param_command", "node parameters: list, get, set"),
    "daemon": ("robot_gcs.runtime.command", "run a standalone daemon serving socket sessions"),
    "sim": ("robot_gcs.sim.command", "deterministic fault simulation with invariant checks"),
    "bench": ("robot_gcs.runtime.bench", "latency and throughput benchmarks"),
    "keygen": ("robot_gcs.security.command", "write a new ring key file (mode 0600)"),
    "record": ("robot_gcs.record.record_command", "record topics and groups to MCAP, in the agreed order"),
    "play": ("robot_gcs.record.play_command", "publish a recording into a ring, in the recorded order"),
    "bag": ("robot_gcs.record.bag_command", "recording tools: info, compare"),
    "foxglove": ("robot_gcs.record.foxglove_command", "serve live topics to Foxglove (WebSocket)"),
}

DESCRIPTION = ("robot-gcs runs and inspects a robot's group communication: the ring of "
               "daemons on its processors, their process groups, and the topics, services "
               "and parameters of its nodes.")
EPILOG = (f"Finding the robot: -c RING.yaml (before or after the command), or ${CONFIG_ENV}, "
          "or the daemons running on this machine. "
          "Call `robot-gcs <command> -h` for more detailed usage.")


def build_parser() -> argparse.ArgumentParser:
    parser = HelpfulParser(prog="robot-gcs", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-v info, -vv debug)")
    add_ring_arguments(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, (module, help_text) in COMMANDS.items():
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130
