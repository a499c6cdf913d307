"""Collecting health snapshots from the diagnostics group into one graded model (pure).

Owns the snapshot wire format and ``HealthCollector``.

* Every daemon's ``HealthPublisher`` multicasts its ``DaemonHealth`` to the reserved group
  ``DIAG_GROUP`` ("diag:health") as ``MAGIC`` + zlib(compact JSON), with
  ``msg_type = MSG_TYPE``. (Group names starting with "#" are private names.)
  Its session's client name is ``PUBLISHER_CLIENT``, so its private name is
  ``#diag#<daemon>``; any other member of the group is a listener (a console).
* ``HealthCollector`` keeps the newest snapshot per daemon and when it arrived (on the
  collector's own clock: remote clocks are never compared). A snapshot older than the
  rule set's ``stale_after_s`` makes that daemon STALE; a publisher that leaves the group
  (its daemon crashed, was partitioned away or stopped) makes it STALE at once and logs
  an event with the view's cause (NETWORK, LEAVE, DISCONNECT).
* Membership events from every daemon's history are merged, de-duplicated and kept in
  time order (bounded). Daemons named by ``expect()`` (a config's list) that never
  reported show as STALE in state UNKNOWN. Groups are the union of the fresh daemons'
  shares (each snapshot carries its own daemon's members only).
* Bad input from the network (not ours, truncated, corrupt, wrong schema) is counted in
  ``malformed`` and dropped, never raised.

Nothing here reads a clock: ``now`` (monotonic seconds) and ``wall`` (epoch seconds)
are passed in.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from .model import (SCHEMA_VERSION, ClusterHealth, DaemonHealth, DaemonView, GroupHealth,
                    MembershipEvent, SessionView, TopicView, daemon_health_from_jsonable,
                    to_jsonable, worst, Grade)
from .rules import RuleSet

DIAG_GROUP = "diag:health"
PUBLISHER_CLIENT = "diag"
MSG_TYPE = 0x4447
MAGIC = b"RGH1"
MAX_SNAPSHOT_BYTES = 1 << 20
EVENT_LIMIT = 200


def encode_snapshot(health: DaemonHealth) -> bytes:
    """A snapshot as sent on the diagnostics group."""
    doc = {"schema": SCHEMA_VERSION, "daemon": to_jsonable(health)}
    return MAGIC + zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), 6)


def decode_snapshot(data: bytes) -> DaemonHealth:
    """Inverse of ``encode_snapshot``; ``ValueError`` for anything else."""
    if not isinstance(data, (bytes, bytearray, memoryview)) or bytes(data[:4]) != MAGIC:
        raise ValueError("not a health snapshot")
    try:
        d = zlib.decompressobj()
        raw = d.decompress(bytes(data[4:]), MAX_SNAPSHOT_BYTES)
        if d.unconsumed_tail or not d.eof:
            raise ValueError("snapshot truncated or too large")
        doc = json.loads(raw)
    except (zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"corrupt snapshot: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_VERSION:
        raise ValueError("unsupported snapshot schema")
    return daemon_health_from_jsonable(doc.get("daemon"))


def split_private(name: str) -> tuple[str, str]:
    """``#client#daemon`` -> (client, daemon); anything else -> (name, "")."""
    if name.startswith("#"):
        client, sep, daemon = name[1:].partition("#")
        if sep:
            return client, daemon
    return name, ""


class HealthCollector:
    """Newest snapshot per daemon, staleness, and the merged membership event log."""

    def __init__(self, rules: RuleSet, source: str = "", event_limit: int = EVENT_LIMIT,
                 show_reserved_groups: bool = False) -> None:
        self.rules = rules
        self.source = source
        self.event_limit = event_limit
        self.show_reserved_groups = show_reserved_groups
        self.malformed = 0
        self.received = 0
        self._latest: dict[str, DaemonHealth] = {}
        self._arrived: dict[str, float] = {}
        self._left: dict[str, str] = {}            # daemon -> cause of its publisher's exit
        self._events: dict[tuple[Any, ...], MembershipEvent] = {}
        self._publishers: set[str] = set()
        self._expected: dict[str, float] = {}      # daemon -> when we started expecting it

    # ------------------------------------------------------------ inputs
    def expect(self, names: "list[str] | tuple[str, ...]", now: float) -> None:
        """Daemons that should report (e.g. a config's list): until one does, it shows as
        STALE in state UNKNOWN ("never heard from"), so a daemon that never started is
        visible, not just absent."""
        for n in names:
            self._expected.setdefault(n, now)

    def receive(self, payload: Any, now: float) -> bool:
        """A message from the diagnostics group; False (and counted) when malformed."""
        try:
            health = decode_snapshot(payload)
        except ValueError:
            self.malformed += 1
            return False
        self.add(health, now)
        return True

    def add(self, health: DaemonHealth, now: float) -> None:
        """Take a snapshot (received, or sampled locally)."""
        self.received += 1
        self._latest[health.name] = health
        self._arrived[health.name] = now
        self._left.pop(health.name, None)
        for e in health.history:
            self._add_event(e)

    def on_view(self, members: tuple[str, ...], changed: tuple[str, ...], cause: str,
                wall: float, transitional: bool = False) -> None:
        """A view of the diagnostics group: publishers that left make their daemon STALE.

        A publisher missing from a view without being in ``changed`` left while this
        collector watched through another daemon (a console that failed over): it is
        marked left too, with no cause ("")."""
        if transitional:
            return
        now_pubs = {split_private(m)[1] for m in members
                    if split_private(m)[0] == PUBLISHER_CLIENT}
        for m in changed:
            client, daemon = split_private(m)
            if client != PUBLISHER_CLIENT or not daemon:
                continue
            if daemon in now_pubs:
                self._left.pop(daemon, None)
                self._add_event(MembershipEvent(wall, daemon, cause.upper(), "", (),
                                                "diagnostics publisher joined"))
            else:
                self._left[daemon] = cause.upper()
                self._add_event(MembershipEvent(wall, daemon, cause.upper(), "", (),
                                                "left the diagnostics group"))
        for daemon in self._publishers - now_pubs:
            self._left.setdefault(daemon, "")
        self._publishers = now_pubs

    def publishers(self) -> set[str]:
        """Daemons whose publisher is in the diagnostics group's current view."""
        return set(self._publishers)

    def expected(self) -> set[str]:
        return set(self._expected)

    def reported(self) -> set[str]:
        """Daemons with a snapshot that is not marked as left."""
        return set(self._latest) - set(self._left)

    def listeners(self, members: tuple[str, ...]) -> tuple[str, ...]:
        """Members of the diagnostics group that are consoles, not publishers."""
        return tuple(m for m in members if split_private(m)[0] != PUBLISHER_CLIENT)

    def _add_event(self, e: MembershipEvent) -> None:
        key = (round(e.time, 3), e.daemon, e.cause, e.ring_id, e.detail)
        self._events[key] = e
        if len(self._events) > self.event_limit:
            for k in sorted(self._events, key=lambda k: (k[0], k[1:]))[:len(self._events)
                                                                        - self.event_limit]:
                del self._events[k]

    # ------------------------------------------------------------ output
    def cluster(self, now: float, wall: float) -> ClusterHealth:
        """The graded model as of ``now``."""
        views: list[DaemonView] = []
        topics: list[TopicView] = []
        sessions: list[SessionView] = []
        fresh: list[DaemonHealth] = []
        for name in sorted(set(self._latest) | set(self._expected)):
            if name not in self._latest:
                views.append(DaemonView(
                    DaemonHealth(name=name, node_id=0, incarnation=0, state="UNKNOWN",
                                 ring_id="", members=(), time_in_state_s=0.0),
                    max(0.0, now - self._expected[name]), Grade.STALE, True))
                continue
            h = self._latest[name]
            age = max(0.0, now - self._arrived[name])
            left = name in self._left
            stale = left or age > self.rules.stale_after_s
            findings = self.rules.grade_daemon(h)
            grade = Grade.STALE if stale else worst([f.grade for f in findings])
            views.append(DaemonView(h, age, grade, stale, left, self._left.get(name, ""), findings))
            if stale:
                continue
            fresh.append(h)
            for s in h.sessions:
                g = worst([f.grade for f in self.rules.grade_session(h.name, s)])
                sessions.append(SessionView(h.name, s, g))
            for t in h.topics:
                topics.append(TopicView(h.name, t, worst([f.grade for f in
                                                          self.rules.grade_topic(t)])))
        groups: dict[str, set[str]] = {}
        for h in fresh:
            for gh in h.groups:
                if gh.group == DIAG_GROUP and not self.show_reserved_groups:
                    continue
                groups.setdefault(gh.group, set()).update(gh.members)
        events = tuple(self._events[k] for k in sorted(self._events,
                                                        key=lambda k: (k[0], k[1:])))
        overall = worst([v.grade for v in views] + [t.grade for t in topics]
                        + [s.grade for s in sessions])
        return ClusterHealth(
            generated_at=wall, source=self.source, grade=overall, daemons=tuple(views),
            groups=tuple(GroupHealth(g, tuple(sorted(m))) for g, m in sorted(groups.items())),
            topics=tuple(topics), sessions=tuple(sessions), events=events)
