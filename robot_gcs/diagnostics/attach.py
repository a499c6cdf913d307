"""A console's view of the ring: health, registry and node logs, through one session.

Owns ``RingWatcher``: what a console (``robot-gcs monitor``, ``status``) knows of the
ring. It outlives the sessions it watches through -- when the daemon it is attached to
dies, the console attaches to another daemon of the ring (monitor_command.py) and hands
the new session to ``attach()``; the health model (``HealthCollector``) carries on, so
the screen keeps the ring instead of going blank. Through its session it:

* joins the diagnostics group (``DIAG_GROUP``): every daemon's publisher sends a snapshot
  at once and then every period; the collector grades them;
* joins the registry group (``t:#registry``, pubsub/registry.py) and announces itself as
  a tool: every node re-announces, so the console lists every node's topics and
  services -- launched components and hand-written programs alike -- and who leads each
  election group;
* joins ``/rosout``'s group and keeps the newest node log records (``LOG_LIMIT``).

Rules: ``pump(timeout)`` waits on the session (never sleeps) and returns after the first
batch of events or the timeout; ``wait_complete(timeout)`` pumps until every publisher in
the diagnostics group's view has reported, every expected daemon too, and the registry
is complete, so ``robot-gcs status`` prints a complete ring. Everything runs on one
thread (the console's); ``cluster()`` may be called in between. Malformed messages are
counted (collector, registry) and dropped.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import time

from ..client.session import Session
from ..core.events import DataMessage, GroupView
from ..errors import MalformedPacket
from ..pubsub.codec import codec_for, decode_envelope
from ..pubsub.logs import ROSOUT, Log, level_name
from ..pubsub.node import TOPIC_MSG_TYPE
from ..pubsub.qos import topic_group
from ..pubsub.registry import REGISTRY_GROUP, REGISTRY_MSG_TYPE, Endpoints, Registry
from ..core.types import Service
from .collector import DIAG_GROUP, MSG_TYPE, HealthCollector
from .model import ClusterHealth, LeaderView, LogLine, NodeView
from .rules import RuleSet

LOG_LIMIT = 200
ROSOUT_GROUP = topic_group(ROSOUT)
_LOG_CODEC = codec_for(Log)


def default_client_name(prefix: str = "mon") -> str:
    return f"{prefix}{os.getpid()}"


class RingWatcher:
    """Health snapshots, the registry and node logs, as one console sees them."""

    def __init__(self, rules: RuleSet, expected: tuple[str, ...] = ()) -> None:
        self.collector = HealthCollector(rules)
        self.collector.expect(expected, time.monotonic())
        self.session: Session | None = None
        self.registry = Registry("")
        self.logs: collections.deque[LogLine] = collections.deque(maxlen=LOG_LIMIT)
        self.events = 0
        self.bad_logs = 0

    @classmethod
    def attached(cls, session: Session, rules: RuleSet,
                 expected: tuple[str, ...] = ()) -> "RingWatcher":
        """A watcher already attached through ``session`` (in-process or socket)."""
        w = cls(rules, expected)
        w.attach(session, session.private_name.rsplit("#", 1)[-1])
        return w

    def attach(self, session: Session, daemon: str) -> None:
        """Watch through ``session`` (a session to daemon ``daemon``) from now on."""
        self.session = session
        self.collector.source = daemon
        self.registry = Registry(session.private_name)
        for group in (DIAG_GROUP, REGISTRY_GROUP, ROSOUT_GROUP):
            session.join(group)
        session.multicast(REGISTRY_GROUP, Endpoints(session.name, tool=True).to_json(),
                          service=Service.AGREED, msg_type=REGISTRY_MSG_TYPE)

    def handle(self, ev: DataMessage | GroupView) -> None:
        self.events += 1
        if isinstance(ev, GroupView):
            if ev.group == DIAG_GROUP:
                self.collector.on_view(tuple(ev.members), tuple(ev.changed), ev.cause.name,
                                       time.time(), ev.transitional)
            elif ev.group == REGISTRY_GROUP and not ev.transitional:
                self.registry.on_view(ev)
        elif ev.msg_type == MSG_TYPE:
            self.collector.receive(ev.payload, time.monotonic())
        elif ev.msg_type == REGISTRY_MSG_TYPE and REGISTRY_GROUP in ev.groups:
            self.registry.on_announcement(ev.sender, ev.payload)
        elif ev.msg_type == TOPIC_MSG_TYPE and ROSOUT_GROUP in ev.groups:
            self._on_log(ev)

    def _on_log(self, ev: DataMessage) -> None:
        try:
            hdr, body = decode_envelope(bytes(ev.payload))
            if hdr.fingerprint != _LOG_CODEC.fingerprint:
                raise MalformedPacket("rosout_type", f"{hdr.fingerprint:016x}")
            rec = _LOG_CODEC.decode(body)
            if not isinstance(rec, Log):
                raise MalformedPacket("rosout_type", type(rec).__name__)
        except (MalformedPacket, TypeError):
            self.bad_logs += 1
            return
        self.logs.append(LogLine(rec.stamp, level_name(rec.level), rec.name, rec.msg))

    def pump(self, timeout: float) -> int:
        """Handle events for up to ``timeout`` seconds; returns how many arrived.

        Blocks for the first event only; then drains what is already queued.
        Raises ``SessionClosed`` when the daemon went away."""
        assert self.session is not None, "attach() first"
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
            if self.collector.publishers() and not self.missing() and not self.unheard() \
                    and self.registry.complete():
                return True
            if left <= 0:
                return False
            self.pump(min(left, 0.2))

    def cluster(self, notice: str = "") -> ClusterHealth:
        c = self.collector.cluster(time.monotonic(), time.time())
        return dataclasses.replace(c, nodes=self.nodes(), leaders=self.leaders(),
                                   logs=tuple(self.logs), notice=notice)

    def nodes(self) -> tuple[NodeView, ...]:
        out = []
        for member, eps in sorted(self.registry.graph().items()):
            if eps.tool:
                continue
            out.append(NodeView(member, tuple((e.topic, e.type_path) for e in eps.pubs),
                                tuple((e.topic, e.type_path) for e in eps.subs),
                                tuple(e.topic for e in eps.srvs)))
        return tuple(out)

    def leaders(self) -> tuple[LeaderView, ...]:
        out = []
        for group, seen in sorted(self.registry.leaders().items()):
            said = set(seen.values())
            agreed = len(said) == 1
            out.append(LeaderView(group, next(iter(said)) if agreed else None, agreed,
                                  tuple(sorted(seen))))
        return tuple(out)

    def close(self) -> None:
        if self.session is not None:
            try:
                self.session.close()
            except Exception:
                pass
            self.session = None
