"""`robot-gcs demo`: the robot demo on this machine, with the live console.

Starts ``launch/robot_demo.yaml`` with ``--all`` semantics (three processors as local
child processes on 127.0.0.1, ring config ``config/robot_demo.yaml``), then:

* on a terminal: the console (monitor_command.py) runs in the foreground attached to the
  ring -- to the first processor's daemon (it waits up to ``FIRST_DAEMON_WAIT`` for that
  one to answer), and to the next one when that one dies, so the demo's own fail-over is
  on screen -- and the processors' output goes to a log file
  (``--log``, default /tmp/robot_gcs/demo.log);
* otherwise (``--plain``, output not a terminal, or no processor serves a socket):
  the processors' output is printed, prefixed with the processor name.

Ctrl-C (or ``q`` in the console) stops the console and the whole process tree
(supervisor.py) and returns 0 (3 if a processor FAILED); a second Ctrl-C while the
processors stop is ignored quietly (pubsub/shutdown.py).
The files are looked up next to the installed package (a source checkout) and then in
the current directory.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

from ..errors import ConfigError
from ..pubsub.shutdown import quiet_interrupts
from .loader import load_launch

DEMO_LAUNCH = os.path.join("launch", "robot_demo.yaml")
FIRST_DAEMON_WAIT = 60.0     # seconds the console waits for the first processor's daemon


def find_demo_file(rel: str) -> str | None:
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for base in (here, os.getcwd()):
        p = os.path.join(base, rel)
        if os.path.exists(p):
            return p
    return None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plain", action="store_true", help="print the processors' log, no console")
    parser.add_argument("--launch", metavar="FILE", help="launch file (default: launch/robot_demo.yaml)")
    parser.add_argument("-c", "--config", metavar="RING.yaml", default=argparse.SUPPRESS,
                        help="ring config instead of the launch file's `config:`")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="C.KEY=VALUE",
                        help="override a component parameter (repeatable)")
    parser.add_argument("--log", default="/tmp/robot_gcs/demo.log",
                        help="where the processors' output goes while the console runs")


def _serves_sockets(config_path: str) -> bool:
    try:
        from ..config import GcsConfig
        return any(d.socket for d in GcsConfig.from_file(config_path).daemons)
    except ConfigError:
        return False


def _wait_for_daemon(config_path: str, name: str, timeout: float,
                     supervisor: threading.Thread) -> bool:
    """Until daemon ``name`` takes a session (False after ``timeout`` or once the
    supervisor has ended): on a busy machine the console would otherwise attach to
    whichever processor came up first and not show the first one's fail-over."""
    import time
    from ..client.socket_session import connect
    from ..config import GcsConfig
    from ..errors import GcsError
    address = str(GcsConfig.from_file(config_path).daemon(name).socket)
    print(f"robot demo: waiting for {name}'s daemon ...", flush=True)
    deadline = time.monotonic() + timeout
    while supervisor.is_alive() and time.monotonic() < deadline:
        try:
            connect(address, "demo-probe").close()
            return True
        except GcsError:
            time.sleep(0.1)             # polling the daemon's socket while it starts
    return False


def run(args: argparse.Namespace) -> int:
    from .supervisor import Supervisor
    args.config = getattr(args, "config", None)
    path = args.launch or find_demo_file(DEMO_LAUNCH)
    if path is None:
        print("robot-gcs demo: cannot find launch/robot_demo.yaml; run it from the source checkout "
              "or pass --launch FILE", file=sys.stderr)
        return 2
    try:
        lf = load_launch(path, args.config, args.overrides)
    except ConfigError as exc:
        print(f"robot-gcs demo: {exc}", file=sys.stderr)
        return 2
    if args.plain or not sys.stdout.isatty() or not _serves_sockets(lf.config_path):
        sup = Supervisor(lf, path, config_override=args.config, overrides=args.overrides,
                         verbose=getattr(args, "verbose", 0))

        def handler(signum: int, frame: Any) -> None:
            sup.stop_requested = True
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)
        sup.say(f"robot demo: {len(lf.processors)} processors on this machine; Ctrl-C stops them")
        sup.start()
        return sup.run()
    os.makedirs(os.path.dirname(os.path.abspath(args.log)), exist_ok=True)
    log = open(args.log, "a", buffering=1)
    sup = Supervisor(lf, path, config_override=args.config, overrides=args.overrides,
                     verbose=getattr(args, "verbose", 0), out=log)
    sup.start()
    result: list[int] = []
    watcher = threading.Thread(target=lambda: result.append(sup.run()), name="supervisor", daemon=True)
    watcher.start()
    first = lf.processors[0].name
    if not _wait_for_daemon(lf.config_path, first, FIRST_DAEMON_WAIT, watcher):
        print(f"robot demo: {first}'s daemon does not answer; the console attaches to "
              "another", file=sys.stderr)
    from ..diagnostics import monitor_command
    mparser = argparse.ArgumentParser(prog="robot-gcs monitor")
    monitor_command.add_arguments(mparser)
    margs = mparser.parse_args(["-c", lf.config_path, "-n", lf.processors[0].name])
    try:
        monitor_command.run(margs)
    except KeyboardInterrupt:
        pass
    finally:
        quiet_interrupts()                 # the processors are stopping: no traceback now
        sup.stop_requested = True
        watcher.join(60)
        log.close()
    print(f"robot demo stopped (processor log: {args.log})")
    return result[0] if result else 0
