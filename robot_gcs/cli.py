"""The ``robot-gcs`` command: one entry point, one module per subcommand.

Each subcommand lives next to the code it drives and exposes ``add_arguments(parser)``
and ``run(args) -> int``. This module only builds the parser, configures logging (the
only place in the package that does) and dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("robot_gcs.launch.demo_command", "run the robot demo on this machine with the live console"),
    "daemon": ("robot_gcs.runtime.command", "run a standalone daemon serving socket sessions"),
    "launch": ("robot_gcs.launch.command", "run a launch file (one processor, or all of them)"),
    "monitor": ("robot_gcs.diagnostics.monitor_command", "live membership and health console"),
    "status": ("robot_gcs.diagnostics.status_command", "print one health snapshot"),
    "topic": ("robot_gcs.pubsub.command", "topic tools: list, echo, hz, pub"),
    "sim": ("robot_gcs.sim.command", "deterministic fault simulation with invariant checks"),
    "bench": ("robot_gcs.runtime.bench", "latency and throughput benchmarks"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robot-gcs", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
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


if __name__ == "__main__":
    sys.exit(main())
