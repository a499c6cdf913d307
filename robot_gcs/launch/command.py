"""`robot-gcs launch FILE (--processor P | --all)`: run a launch file.

``--processor P`` is processor P's single main program: the embedded daemon plus its
components (runtime.py). It runs until SIGINT/SIGTERM (or, with ``--supervised``, until
its stdin closes), then stops the components and the daemon and exits 0 -- or until a
component is down for good after failing: then it prints ``processor P FAILED: ...``
(which component, how often it was restarted, its last error), stops, and exits 3.

``--all`` starts every processor as a local child process on this machine and
supervises them (supervisor.py); Ctrl-C stops the whole tree.

``--config RING.yaml`` (also before the subcommand: ``robot-gcs -c RING.yaml launch ...``)
replaces the ring config named in the launch file (tests use it to run on free ports);
``--set component.key=value`` overrides a parameter (``*`` for every component that has
the key). ``--check`` only loads and validates the file: everything the loader checks
(loader.py) is checked before anything starts.

Exit status: 0 stopped cleanly, 2 the launch file is wrong, 3 a processor FAILED
(``--all``: at least one did).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

from ..errors import ConfigError
from .loader import load_launch


FAILED = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="launch file (YAML)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--processor", "-p", metavar="P", help="run processor P's main program")
    what.add_argument("--all", action="store_true", help="run every processor as a local process")
    what.add_argument("--check", action="store_true", help="validate the launch file and exit")
    parser.add_argument("-c", "--config", metavar="RING.yaml", default=argparse.SUPPRESS,
                        help="use this ring config instead of the launch file's `config:`")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="C.KEY=VALUE",
                        help="override a component parameter (repeatable; C may be '*')")
    parser.add_argument("--supervised", action="store_true", help=argparse.SUPPRESS)


def _install_stop_handlers(flag: list[bool]) -> None:
    def handler(signum: int, frame: Any) -> None:
        flag[0] = True
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def run(args: argparse.Namespace) -> int:
    args.config = getattr(args, "config", None)
    try:
        lf = load_launch(args.file, args.config, args.overrides)
    except ConfigError as exc:
        print(f"robot-gcs launch: {exc}", file=sys.stderr)
        return 2
    if args.check:
        n = sum(len(p.components) for p in lf.processors)
        print(f"{args.file}: OK ({len(lf.processors)} processors, {n} components, {len(lf.topics)} topics)")
        return 0
    if args.all:
        return run_all(lf, args)
    return run_processor(lf, args.processor, supervised=args.supervised)


def run_processor(lf: Any, name: str, supervised: bool = False) -> int:
    from .runtime import ProcessorRuntime
    try:
        lf.processor(name)
    except KeyError:
        print(f"robot-gcs launch: no processor {name} in {lf.path} "
              f"(have: {', '.join(p.name for p in lf.processors)})", file=sys.stderr)
        return 2
    flag = [False]
    _install_stop_handlers(flag)
    done = threading.Event()
    if supervised:
        def watch_stdin() -> None:
            try:                      # raw fd reads: no buffered-reader lock at exit
                while os.read(0, 4096):
                    pass
            except OSError:
                pass
            done.set()
        threading.Thread(target=watch_stdin, daemon=True, name="stdin-watch").start()
    rt = ProcessorRuntime(lf, name)
    code = 0
    try:
        rt.start()
        comps = ", ".join(_state(st) for st in rt.status()) or "no components"
        print(f"processor {name} running (pid {os.getpid()}): {comps}", flush=True)
        while not flag[0] and not done.is_set():
            if rt.wait_failed(0.2):
                for st in rt.failed:
                    print(f"processor {name} FAILED: component {st.name} is down after "
                          f"{st.restarts} restart(s): {st.last_error}", flush=True)
                code = FAILED
                break
    finally:
        rt.stop()
    print(f"processor {name} {'stopped (FAILED)' if code else 'stopped'}", flush=True)
    return code


def _state(st: Any) -> str:
    return st.name if st.state == "running" else f"{st.name} ({st.state}: {st.last_error})"


def run_all(lf: Any, args: argparse.Namespace) -> int:
    from .supervisor import Supervisor
    sup = Supervisor(lf, args.file, config_override=args.config, overrides=args.overrides,
                     verbose=getattr(args, "verbose", 0))
    flag_sup = sup

    def handler(signum: int, frame: Any) -> None:
        flag_sup.stop_requested = True
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    sup.start()
    return sup.run()
