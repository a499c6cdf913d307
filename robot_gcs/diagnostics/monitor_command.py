"""``robot-gcs monitor``: the live console of the robot (rich Live).

Attaches to the ring, not to one daemon: the ring is named the way every command names
it (cli/ring.py: ``-c RING.yaml``, ``$ROBOT_GCS_CONFIG``, ``--connect ADDR`` or the daemons
running here), and the console takes the first daemon that answers. When that daemon
dies the screen keeps the ring (the model lives on in ``RingWatcher``, attach.py) with a
notice saying so, and the console attaches to the next daemon of the ring at once
("attached via cpu2 (cpu1 is gone: ...)"); it retries the whole list once a second until
one answers or Ctrl-C.

The main thread alternates between waiting on the session (until the next redraw is due)
and redrawing at most ``--refresh`` times a second, so drawing never races the model and
there is no refresh thread; on a terminal a small thread reads keys (``d`` toggles the
detail view, ``q`` quits) and only sets flags. The alternate screen (``--no-screen`` to
disable) keeps redraws flicker-free over SSH; the view fits itself to the terminal
(console.py). ``--once`` prints one frame (after every daemon and node reported, or
``--timeout``) and exits; ``--detail`` starts in the detail view. ``--plain`` (automatic
when stdout is not a terminal) writes log lines instead: each new membership event,
each daemon grade change and each attach/fail-over, for log files and journald.

Exit status: 0, or 4 when the ring cannot be named or reached (``--once``).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import Any, Callable, TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from ..cli.ring import RingTarget, add_ring_arguments, ring_target, socket_missing
from ..errors import ConfigError, GcsError, SessionClosed
from .attach import RingWatcher, default_client_name
from .console import MonitorView, clock, daemon_note
from .model import ClusterHealth, Grade
from .rules import RuleSet, load_rules

NO_RING = 4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_ring_arguments(parser)
    parser.add_argument("--rules", help="rule file (default: diagnostics/default.yaml)")
    parser.add_argument("--refresh", type=float, default=4.0, help="redraws per second")
    parser.add_argument("--no-screen", action="store_true",
                        help="draw in the normal screen instead of the alternate one")
    parser.add_argument("--once", action="store_true", help="print one frame and exit")
    parser.add_argument("--detail", action="store_true",
                        help="start in the detail view (full ring ids, every node and group)")
    parser.add_argument("--plain", action="store_true",
                        help="log lines (events, grade changes) instead of the live screen; "
                             "automatic when stdout is not a terminal")
    parser.add_argument("--timeout", type=float, default=3.0,
                        help="with --once: seconds to wait for every daemon and node")


class Attacher:
    """Attaches a RingWatcher to the first daemon of the ring that answers, and again to
    the next one when it dies; ``notice`` says where it is attached and why."""

    def __init__(self, target: RingTarget, watcher: RingWatcher) -> None:
        self.target = target
        self.watcher = watcher
        self.current = ""
        self.notice = ""

    def attach(self) -> bool:
        from ..client.socket_session import connect
        failures = []
        for daemon, address in self._order():
            try:
                session = connect(address, default_client_name("mon"))
            except GcsError as exc:
                failures.append(f"{daemon or address}: {exc}")
                continue
            name = daemon or session.private_name.rsplit("#", 1)[-1]
            gone = f" ({self.current} is gone)" if self.current and self.current != name else ""
            self.watcher.attach(session, name)
            self.current = name
            skipped = f"; not {'; '.join(failures)}" if failures else ""
            self.notice = f"attached via {name}{gone}{skipped}"
            return True
        self.notice = "cannot attach: " + "; ".join(failures) + "; retrying every second"
        return False

    def _order(self) -> list[tuple[str, str]]:
        """First: the target's order (the daemon asked for, then those up at the start).
        After a loss: the daemons up now in the ring's (config) order, then those not up,
        the one we lost last (it may be back, but try others first)."""
        addrs = list(self.target.addresses)
        if not self.current:
            return addrs
        rank = {name: i for i, name in enumerate(self.target.daemons)}
        return sorted(addrs, key=lambda a: (a[0] == self.current, socket_missing(a[1]),
                                            rank.get(a[0], len(rank))))

    def lost(self, reason: str) -> None:
        self.watcher.close()
        self.notice = f"lost {self.current}: {reason}; attaching to another daemon"


def _start(args: argparse.Namespace) -> tuple[RingTarget, RuleSet]:
    return ring_target(args), load_rules(args.rules)


def run(args: argparse.Namespace) -> int:
    """The console; ``args`` as ``add_arguments`` defines them (``parse_args([...])``)."""
    try:
        target, rules = _start(args)
    except (GcsError, ConfigError) as exc:
        print(f"robot-gcs monitor: {exc}", file=sys.stderr)
        return NO_RING
    console = Console()
    watcher = RingWatcher(rules, target.daemons)
    attacher = Attacher(target, watcher)
    if args.once:
        if not attacher.attach():
            print(f"robot-gcs monitor: {attacher.notice}", file=sys.stderr)
            return NO_RING
        try:
            watcher.wait_complete(args.timeout)
            console.print(MonitorView(watcher.cluster(attacher.notice), detail=args.detail),
                          height=console.size.height)
        finally:
            watcher.close()
        return 0
    interval = 1.0 / max(0.5, args.refresh)
    if args.plain or not console.is_terminal:
        log = PlainLog(sys.stdout)
        _follow(attacher, interval, log.frame, log.problem, Keys(None))
        return 0
    keys = Keys(sys.stdin if sys.stdin.isatty() else None, detail=args.detail)
    try:
        with Live(Text("attaching to the ring"), console=console, auto_refresh=False,
                  screen=not args.no_screen, redirect_stdout=False,
                  redirect_stderr=False) as live:
            _follow(attacher, interval,
                    lambda c: live.update(MonitorView(c, detail=keys.detail), refresh=True),
                    lambda text: live.update(Text(text, style="bold red"), refresh=True), keys)
    finally:
        keys.close()
    return 0


def _follow(attacher: Attacher, interval: float, frame: Callable[[ClusterHealth], None],
            problem: Callable[[str], None], keys: "Keys") -> None:
    """Attach (and re-attach); call ``frame`` at most once per ``interval`` with the model,
    ``problem`` while no daemon of the ring answers. Ctrl-C or ``q`` ends it."""
    watcher = attacher.watcher
    attached = False
    seen = False                       # a frame was drawn: keep drawing the ring
    next_draw = time.monotonic()
    try:
        while not keys.quit:
            if not attached:
                attached = attacher.attach()
                if not attached:
                    if seen:
                        frame(watcher.cluster(attacher.notice))
                    else:
                        problem(attacher.notice)
                    time.sleep(1.0)      # retry back-off, not synchronisation
                    continue
            try:
                watcher.pump(max(0.0, min(0.25, next_draw - time.monotonic())))
            except SessionClosed as exc:
                attacher.lost(exc.reason)
                attached = False
                frame(watcher.cluster(attacher.notice))
                continue
            now = time.monotonic()
            if now >= next_draw or keys.changed():   # at most one frame per interval
                frame(watcher.cluster(attacher.notice))
                seen = True
                next_draw = now + interval
    except KeyboardInterrupt:
        pass
    finally:
        watcher.close()


class Keys:
    """Keys typed into the console (a thread reads them; the main loop reads the flags)."""

    def __init__(self, stream: TextIO | None, detail: bool = False) -> None:
        self.detail = detail
        self.quit = False
        self._changed = False
        self._saved: list[Any] | None = None
        if stream is None:
            return
        import termios
        import tty
        fd = stream.fileno()
        try:
            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)
        except termios.error:
            return
        self._fd = fd
        threading.Thread(target=self._read, name="monitor-keys", daemon=True).start()

    def _read(self) -> None:
        while not self.quit:
            try:
                ch = os.read(self._fd, 1)
            except OSError:
                return
            if not ch or ch in (b"q", b"Q"):
                self.quit = True
            elif ch in (b"d", b"D"):
                self.detail = not self.detail
                self._changed = True

    def changed(self) -> bool:
        was, self._changed = self._changed, False
        return was

    def close(self) -> None:
        if self._saved is not None:
            import termios
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
            self._saved = None


class PlainLog:
    """Plain-text monitor for logs and pipes: one line per new membership event, per
    daemon grade change and per attach change (``time daemon GRADE state ring note``),
    nothing redrawn."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._events: set[tuple[object, ...]] = set()
        self._grades: dict[str, Grade] = {}
        self._last_problem = ""
        self._notice = ""

    def _write(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def problem(self, text: str) -> None:
        if text != self._last_problem:
            self._write(f"{clock(time.time())} {text}")
            self._last_problem = text

    def frame(self, cluster: ClusterHealth) -> None:
        self._last_problem = ""
        if cluster.notice and cluster.notice != self._notice:
            self._notice = cluster.notice
            self._write(f"{clock(cluster.generated_at)} {cluster.notice}")
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

