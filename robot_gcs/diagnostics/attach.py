"""Attaching a console to a daemon: address resolution and the listening client.

Owns ``resolve_address`` (``--connect ADDR`` or ``-c CONFIG [-n NAME]`` -> a session
address) and ``MonitorClient``: a session (socket or in-process, same API) that joins the
diagnostics group and feeds what arrives into a ``HealthCollector``. Joining makes every
daemon's publisher send a snapshot at once and then every period; leaving stops that.

Rules: ``pump(timeout)`` waits on the session (never sleeps) and returns after the first
batch of events or the timeout; ``wait_complete(timeout)`` pumps until every publisher in
the group's view has reported (and every expected daemon, e.g. a config's list), so
``robot-gcs status`` prints a complete ring. Both are used from one thread;
``cluster()`` may be called from the same thread in between.
"""

from __future__ import annotations

import os
import time
from ..client.session import Session
from ..core.events import DataMessage, GroupView
from ..errors import ConfigError, LocalProtocolError
from .collector import DIAG_GROUP, MSG_TYPE, HealthCollector, split_private
from .model import ClusterHealth
from .rules import RuleSet


def resolve_address(connect: str | None, config: str | None, name: str | None) -> str:
    """The session address to attach to.

    ``connect`` wins; otherwise ``config`` is read and ``name`` picks the daemon, or the
    first daemon whose Unix socket exists on this machine is taken.
    """
    if connect:
        return connect
    if not config:
        raise LocalProtocolError("give --connect ADDR (unix:/path or tcp:host:port) or -c CONFIG")
    from ..config import load_config
    cfg = load_config(config)
    if name:
        entry = cfg.daemon(name)
        if not entry.socket:
            raise ConfigError(f"daemon {name!r} has no client socket", cfg.path, entry.line,
                              "socket")
        return entry.socket
    for entry in cfg.daemons:
        sock = entry.socket or ""
        if sock.startswith("unix:") and os.path.exists(sock[5:]):
            return sock
    raise ConfigError("no daemon of this config serves a socket on this machine "
                      "(start one, or pick it with -n NAME)", cfg.path, None, "daemons")


def expected_daemons(config: str | None) -> tuple[str, ...]:
    """The daemon names of a ring config (empty without one)."""
    if not config:
        return ()
    from ..config import load_config
    return tuple(d.name for d in load_config(config).daemons)


def default_client_name(prefix: str = "mon") -> str:
    return f"{prefix}{os.getpid()}"


class MonitorClient:
    """A console's view of the ring, fed by the diagnostics group."""

    def __init__(self, session: Session, rules: RuleSet, expected: tuple[str, ...] = ()) -> None:
        self.session = session
        _, daemon = split_private(session.private_name)
        self.collector = HealthCollector(rules, source=daemon)
        self.collector.expect(expected, time.monotonic())
        self.events = 0
        session.join(DIAG_GROUP)

    def handle(self, ev: DataMessage | GroupView) -> None:
        self.events += 1
        if isinstance(ev, GroupView) and ev.group == DIAG_GROUP:
            self.collector.on_view(tuple(ev.members), tuple(ev.changed), ev.cause.name,
                                   time.time(), ev.transitional)
        elif isinstance(ev, DataMessage) and ev.msg_type == MSG_TYPE:
            self.collector.receive(ev.payload, time.monotonic())

    def pump(self, timeout: float) -> int:
        """Handle events for up to ``timeout`` seconds; returns how many arrived.

        Blocks for the first event only; then drains what is already queued.
        """
        n = 0
        ev = self.session.receive(timeout=max(0.0, timeout))
        while ev is not None:
            self.handle(ev)
            n += 1
            ev = self.session.receive(timeout=0)
        return n

    def missing(self) -> set[str]:
        """Daemons whose publisher is in the group's view but has not reported yet."""
        return self.collector.publishers() - self.collector.reported()

    def unheard(self) -> set[str]:
        """Expected daemons that have not reported (their publisher is not in the view)."""
        return self.collector.expected() - self.collector.reported()

    def wait_complete(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if self.collector.publishers() and not self.missing() and not self.unheard():
                return True
            if left <= 0:
                return False
            self.pump(min(left, 0.2))

    def cluster(self) -> ClusterHealth:
        return self.collector.cluster(time.monotonic(), time.time())

    def close(self) -> None:
        try:
            self.session.close()
        except Exception:
            pass
