"""``robot-gcs monitor``: the live membership and health console (rich Live).

Attaches to one daemon's session socket (``--connect unix:/tmp/robot_gcs/cpu1.sock`` or
``-c CONFIG [-n NAME]``; the daemon may be standalone or embedded in a program), joins
the diagnostics group and redraws ``MonitorView`` a few times a second. The main thread
alternates between waiting on the session (until the next redraw is due) and redrawing at
most ``--refresh`` times a second, so drawing never races the model and there is no
refresh thread. The alternate screen
(``--no-screen`` to disable) keeps redraws flicker-free over SSH; the view fits itself to
the terminal (80x24 and smaller degrade by dropping panels). If the daemon goes away the
console says so and re-attaches once per second until Ctrl-C. ``--once`` prints one frame
(after every daemon reported, or ``--timeout``) and exits.
"""

from __future__ import annotations

import argparse
import sys
import time

from rich.console import Console
from rich.live import Live
from rich.text import Text

from ..errors import GcsError, SessionClosed
from .attach import MonitorClient, default_client_name, expected_daemons, resolve_address
from .console import MonitorView
from .rules import RuleSet, load_rules


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--connect", metavar="ADDR",
                        help="daemon session address: unix:/path.sock or tcp:host:port")
    parser.add_argument("-c", "--config", help="ring config; picks a daemon serving a local socket")
    parser.add_argument("-n", "--name", help="with -c: the daemon to attach to")
    parser.add_argument("--rules", help="rule file (default: diagnostics/default.yaml)")
    parser.add_argument("--refresh", type=float, default=4.0, help="redraws per second (default 4)")
    parser.add_argument("--no-screen", action="store_true",
                        help="draw in the normal screen instead of the alternate one")
    parser.add_argument("--once", action="store_true", help="print one frame and exit")
    parser.add_argument("--timeout", type=float, default=3.0,
                        help="with --once: seconds to wait for every daemon (default 3)")


def _attach(address: str, rules: RuleSet, expected: tuple[str, ...]) -> MonitorClient:
    from ..client.socket_session import connect
    return MonitorClient(connect(address, default_client_name("mon")), rules, expected)


def run(args: argparse.Namespace) -> int:
    try:
        rules = load_rules(getattr(args, "rules", None))
        address = resolve_address(args.connect, args.config, args.name)
        expected = expected_daemons(args.config)
    except GcsError as exc:
        print(f"robot-gcs monitor: {exc}", file=sys.stderr)
        return 4
    console = Console()
    if getattr(args, "once", False):
        try:
            once = _attach(address, rules, expected)
        except GcsError as exc:
            print(f"robot-gcs monitor: {exc}", file=sys.stderr)
            return 4
        try:
            once.wait_complete(getattr(args, "timeout", 3.0))
            console.print(MonitorView(once.cluster()), height=console.size.height)
        finally:
            once.close()
        return 0
    interval = 1.0 / max(0.5, getattr(args, "refresh", 4.0))
    client: MonitorClient | None = None
    problem = ""
    next_draw = time.monotonic()
    with Live(Text("attaching to " + address), console=console, auto_refresh=False,
              screen=not getattr(args, "no_screen", False), redirect_stdout=False, redirect_stderr=False) as live:
        try:
            while True:
                if client is None:
                    try:
                        client = _attach(address, rules, expected)
                        problem = ""
                    except GcsError as exc:
                        problem = f"cannot attach to {address}: {exc}; retrying every second"
                        live.update(Text(problem, style="bold red"), refresh=True)
                        time.sleep(1.0)      # retry back-off, not synchronisation
                        continue
                try:
                    client.pump(max(0.0, next_draw - time.monotonic()))
                except SessionClosed as exc:
                    client.close()
                    client = None
                    live.update(Text(f"lost {address}: {exc.reason}; re-attaching",
                                     style="bold red"), refresh=True)
                    continue
                now = time.monotonic()
                if now >= next_draw:         # at most `refresh` redraws per second
                    live.update(MonitorView(client.cluster()), refresh=True)
                    next_draw = now + interval
        except KeyboardInterrupt:
            pass
        finally:
            if client is not None:
                client.close()
    return 0
