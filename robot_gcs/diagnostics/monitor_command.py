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
(after every daemon reported, or ``--timeout``) and exits. ``--plain`` (automatic when
stdout is not a terminal) writes log lines instead: each new membership event and each
daemon grade change, for log files and journald.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Callable, TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from ..errors import GcsError, SessionClosed
from .attach import MonitorClient, default_client_name, expected_daemons, resolve_address
from .console import MonitorView, clock, daemon_note
from .model import ClusterHealth, Grade
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
    parser.add_argument("--plain", action="store_true",
                        help="log lines (events, grade changes) instead of the live screen; "
                             "automatic when stdout is not a terminal")
    parser.add_argument("--timeout", type=float, default=3.0,
                        help="with --once: seconds to wait for every daemon (default 3)")


def _attach(address: str, rules: RuleSet, expected: tuple[str, ...]) -> MonitorClient:
    from ..client.socket_session import connect
    return MonitorClient(connect(address, default_client_name("mon")), rules, expected)


def run(args: argparse.Namespace) -> int:
    """The console; ``args`` as ``add_arguments`` defines them (``parse_args([...])``)."""
    try:
        rules = load_rules(args.rules)
        address = resolve_address(args.connect, args.config, args.name)
        expected = expected_daemons(args.config)
    except GcsError as exc:
        print(f"robot-gcs monitor: {exc}", file=sys.stderr)
        return 4
    console = Console()
    if args.once:
        try:
            once = _attach(address, rules, expected)
        except GcsError as exc:
            print(f"robot-gcs monitor: {exc}", file=sys.stderr)
            return 4
        try:
            once.wait_complete(args.timeout)
            console.print(MonitorView(once.cluster()), height=console.size.height)
        finally:
            once.close()
        return 0
    interval = 1.0 / max(0.5, args.refresh)
    if args.plain or not console.is_terminal:
        log = PlainLog(sys.stdout)
        _follow(address, rules, expected, interval, log.frame, log.problem)
        return 0
    with Live(Text("attaching to " + address), console=console, auto_refresh=False,
              screen=not args.no_screen, redirect_stdout=False,
              redirect_stderr=False) as live:
        _follow(address, rules, expected, interval,
                lambda c: live.update(MonitorView(c), refresh=True),
                lambda text: live.update(Text(text, style="bold red"), refresh=True))
    return 0


def _follow(address: str, rules: RuleSet, expected: tuple[str, ...], interval: float,
            frame: Callable[[ClusterHealth], None], problem: Callable[[str], None]) -> None:
    """Attach (and re-attach) to ``address``; call ``frame`` at most once per ``interval``
    with the current model, ``problem`` when the daemon cannot be reached. Ctrl-C ends it."""
    client: MonitorClient | None = None
    next_draw = time.monotonic()
    try:
        while True:
            if client is None:
                try:
                    client = _attach(address, rules, expected)
                except GcsError as exc:
                    problem(f"cannot attach to {address}: {exc}; retrying every second")
                    time.sleep(1.0)      # retry back-off, not synchronisation
                    continue
            try:
                client.pump(max(0.0, next_draw - time.monotonic()))
            except SessionClosed as exc:
                client.close()
                client = None
                problem(f"lost {address}: {exc.reason}; re-attaching")
                continue
            now = time.monotonic()
            if now >= next_draw:         # at most one frame per interval
                frame(client.cluster())
                next_draw = now + interval
    except KeyboardInterrupt:
        pass
    finally:
        if client is not None:
            client.close()


class PlainLog:
    """Plain-text monitor for logs and pipes: one line per new membership event and per
    daemon grade change (``time daemon GRADE state ring note``), nothing redrawn."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._events: set[tuple[object, ...]] = set()
        self._grades: dict[str, Grade] = {}
        self._last_problem = ""

    def _write(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def problem(self, text: str) -> None:
        if text != self._last_problem:
            self._write(f"{clock(time.time())} {text}")
            self._last_problem = text

    def frame(self, cluster: ClusterHealth) -> None:
        self._last_problem = ""
        for e in cluster.events:
            key = (round(e.time, 3), e.daemon, e.cause, e.ring_id, e.detail)
            if key not in self._events:
                self._events.add(key)
                ring = f" ring {e.ring_id} [{','.join(e.members)}]" if e.ring_id else ""
                self._write(f"{clock(e.time)} {e.daemon} {e.cause}{ring} {e.detail}".rstrip())
        for v in cluster.daemons:
            h = v.health
            if self._grades.get(h.name) != v.grade:
                self._grades[h.name] = v.grade
                note = daemon_note(v)
                self._write(f"{clock(cluster.generated_at)} {h.name} {v.grade.name} {h.state} "
                            f"ring {h.ring_id} members {','.join(h.members) or '-'}"
                            + (f" ({note})" if note else ""))
