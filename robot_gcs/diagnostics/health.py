"""From a daemon's ``statistics()`` record to a ``DaemonHealth`` snapshot (pure).

Owns ``StatsSampler``: it keeps the previous counters and a window of token-rotation
samples, so it can turn cumulative counters into rates (retransmits/s, delivered
msgs/s and bytes/s, packets/s, drops/s) and rotation samples into p50/p99. It never
reads a clock: the caller passes ``now`` (the daemon's monotonic clock, the one its
engine's ``state_since`` uses) and ``wall`` (epoch seconds, stamped into the snapshot
because snapshots cross machines).

It reads the statistics record through the typed ``DaemonStatsRecord`` (watched.py): the
daemon's name, uptime, loop lag, sessions, merged drop counters, group table and
membership history, and the engine's ``EngineStats`` (core/stats.py), which is None
before the engine runs (the snapshot then says state UNKNOWN). Node ids become daemon
names through the ``node_names`` the caller passes (the daemon's config); an id the
config does not name reads ``node<id>``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import deque
from typing import Iterable, Mapping, Sequence

from ..core.stats import EngineStats
from ..core.types import RingId
from .model import DaemonHealth, GroupHealth, MembershipEvent, SessionHealth, TopicHealth
from .topics import TopicRecord
from .watched import DaemonStatsRecord, GroupTable, MembershipRecord, SessionRecord

HISTORY_LIMIT = 16           # membership events carried per snapshot
MIN_SPAN = 0.5               # rates are taken over at least this many seconds...
RATE_MAX_SPAN = 5.0          # ...and at most this many (older samples are dropped)

Counters = dict[str, float]


def _label(v: enum.Enum | str) -> str:
    return v.name if isinstance(v, enum.Enum) else v.upper()


def _ring_str(v: RingId | tuple[int, int]) -> str:
    return f"{v.rep}.{v.seq}" if isinstance(v, RingId) else f"{v[0]}.{v[1]}"


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-quantile (0..1) by nearest rank; None when there are no values."""
    s = sorted(values)
    if not s:
        return None
    k = min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))
    return s[k]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else float(seconds) * 1000.0


def _name_of(names: Mapping[int, str], node: int) -> str:
    return names.get(int(node), f"node{int(node)}")


class StatsSampler:
    """Turns successive statistics records of one daemon into health snapshots."""

    def __init__(self, window: int = 256) -> None:
        self._rotations: deque[float] = deque(maxlen=window)
        self._last_rotations: int | None = None
        self._last_gathers: int | None = None
        self._gather_events: deque[MembershipEvent] = deque(maxlen=HISTORY_LIMIT)
        # (now, counters) of recent samples: rates are taken against the newest sample at
        # least MIN_SPAN old, so an extra sample (health() called at any moment) does not
        # turn one message into a huge per-second figure
        self._history_counters: deque[tuple[float, Counters]] = deque()

    # -------------------------------------------------------------- rates
    def _reference(self, now: float) -> tuple[float, Counters] | None:
        hist = self._history_counters
        while len(hist) > 1 and now - hist[1][0] >= RATE_MAX_SPAN:
            hist.popleft()
        ref = None
        for t, counters in hist:
            if now - t >= MIN_SPAN:
                ref = (t, counters)
        if ref is None and hist and now > hist[0][0]:
            ref = hist[0]
        return ref

    @staticmethod
    def _rate(key: str, value: float, now: float, cur: Counters,
              ref: tuple[float, Counters] | None) -> float:
        cur[key] = value
        if ref is None or key not in ref[1] or now <= ref[0]:
            return 0.0
        return max(0.0, (value - ref[1][key]) / (now - ref[0]))

    # -------------------------------------------------------------- sampling
    def sample(self, stats: DaemonStatsRecord, now: float, wall: float,
               topics: Iterable[TopicRecord] = (),
               node_names: Mapping[int, str] | None = None) -> DaemonHealth:
        """One snapshot from ``stats`` taken at ``now`` (monotonic) / ``wall`` (epoch).

        ``topics``: per-topic records (``topics.topic_records``); ``node_names``: node id ->
        daemon name (``GcsConfig.names()``).
        """
        names = dict(node_names or {})
        me = stats.name
        cur: Counters = {}
        ref = self._reference(now)
        drops: dict[str, int] = {}       # the daemon's list already holds the engine's drops
        for reason, count in stats.dropped_packets:
            drops[reason] = drops.get(reason, 0) + count
        if stats.engine is None:
            self._rotations.clear()
            self._last_rotations = None
            ring = DaemonHealth(name=me, node_id=0, incarnation=0, state="UNKNOWN", ring_id="",
                                members=(), time_in_state_s=0.0)
        else:
            ring = self._ring(stats.engine, me, names, now, wall, cur, ref)
        health = dataclasses.replace(
            ring,
            loop_lag_worst_ms=_ms(stats.loop_lag.worst),
            loop_lag_p99_ms=_ms(stats.loop_lag.p99),
            drops=tuple(sorted(drops.items())),
            drops_per_s=self._rate("drops", float(sum(drops.values())), now, cur, ref),
            uptime_s=float(stats.uptime),
            sampled_at=wall,
            security=str(getattr(stats, "security", "sealed")),
            sessions=self._sessions(stats.sessions, now, cur, ref),
            topics=self._topics(topics, now, cur, ref),
            groups=self._local_groups(self._groups(stats.group_table), me),
            history=self._history(stats.membership, me),
        )
        self._history_counters.append((now, cur))
        return health

    def _ring(self, eng: EngineStats, me: str, names: Mapping[int, str], now: float,
              wall: float, cur: Counters, ref: tuple[float, Counters] | None) -> DaemonHealth:
        """The engine's part of the snapshot: ring, state, rotation times, counter rates."""
        # only the ring's representative times rotations (core/engine.py); elsewhere the
        # last value is left over from an earlier ring, so it is not shown
        if eng.ring_id.rep != eng.node_id:
            self._rotations.clear()
        elif eng.rotation_time_last is not None and eng.token_rotations != self._last_rotations:
            self._rotations.append(float(eng.rotation_time_last))
        self._last_rotations = eng.token_rotations
        self._note_gathers(eng, me, names, now, wall)
        return DaemonHealth(
            name=me, node_id=int(eng.node_id), incarnation=eng.incarnation,
            state=_label(eng.state), ring_id=_ring_str(eng.ring_id),
            members=tuple(_name_of(names, m) for m in eng.members),
            time_in_state_s=max(0.0, now - eng.state_since),
            gather_reason=_label(eng.gather_reason),
            gather_from=None if eng.gather_from is None else _name_of(names, eng.gather_from),
            gathers=eng.gathers, configs_installed=eng.configs_installed,
            rotation_p50_ms=_ms(percentile(self._rotations, 0.5)),
            rotation_p99_ms=_ms(percentile(self._rotations, 0.99)),
            retransmits_per_s=self._rate("retrans", float(eng.retransmits_sent), now, cur, ref),
            delivered_msgs_per_s=self._rate("msgs", float(eng.delivered_msgs), now, cur, ref),
            delivered_bytes_per_s=self._rate("bytes", float(eng.delivered_bytes), now, cur,
                                             ref),
            packets_per_s=self._rate("pkts", float(eng.packets_sent + eng.packets_received),
                                     now, cur, ref),
            send_queue_len=eng.send_queue_len)

    def _sessions(self, sessions: Sequence[SessionRecord], now: float, cur: Counters,
                  ref: tuple[float, Counters] | None) -> tuple[SessionHealth, ...]:
        out = [SessionHealth(name=s.name, queue_depth=s.queue_depth, drops=s.dropped,
                             drops_per_s=self._rate(f"session:{s.name}:drops", float(s.dropped),
                                                    now, cur, ref))
               for s in sessions]
        return tuple(sorted(out, key=lambda s: s.name))

    @staticmethod
    def _local_groups(groups: tuple[GroupHealth, ...], me: str) -> tuple[GroupHealth, ...]:
        """Only this daemon's own members (``#client#me``): every daemon holds the same
        replicated table, so each one sends its share and a console takes the union --
        N times less data than everyone sending everything."""
        suffix = f"#{me}"
        out = []
        for g in groups:
            mine = tuple(m for m in g.members if m.endswith(suffix))
            if mine:
                out.append(GroupHealth(g.group, mine))
        return tuple(out)

    @staticmethod
    def _groups(table: GroupTable) -> tuple[GroupHealth, ...]:
        """The group table ((group, (private names...)), ...) as sorted GroupHealth."""
        out = [GroupHealth(group, tuple(sorted(members))) for group, members in table]
        return tuple(sorted(out, key=lambda g: g.group))

    def _topics(self, topics: Iterable[TopicRecord], now: float, cur: Counters,
                ref: tuple[float, Counters] | None) -> tuple[TopicHealth, ...]:
        out = [TopicHealth(
                   topic=t.topic, rate_hz=t.rate_hz,
                   bandwidth_bps=self._rate(f"topic:{t.topic}:bytes", float(t.bytes), now, cur,
                                            ref),
                   age_s=t.age_s, deadline_s=t.deadline, deadline_misses=t.deadline_misses,
                   drops=t.drops, type_errors=t.type_errors)
               for t in topics]
        return tuple(sorted(out, key=lambda t: t.topic))

    def _note_gathers(self, eng: EngineStats, me: str, names: Mapping[int, str], now: float,
                      wall: float) -> None:
        """Log an event when the engine entered GATHER since the last sample: the cause
        of the next ring change (TOKEN_LOSS from cpu3, JOIN from cpu2, ...)."""
        last, self._last_gathers = self._last_gathers, eng.gathers
        if last is None or eng.gathers <= last:
            return
        when = wall
        if _label(eng.state) == "GATHER":
            when = wall - max(0.0, now - eng.state_since)
        src = eng.gather_from
        detail = f"because {_label(eng.gather_reason)}" + (
            f" from {_name_of(names, src)}" if src is not None else "")
        if eng.gathers - last > 1:
            detail += f" (x{eng.gathers - last})"
        self._gather_events.append(MembershipEvent(time=when, daemon=me, cause="GATHER",
                                                   detail=detail))

    def _history(self, membership: Sequence[MembershipRecord],
                 me: str) -> tuple[MembershipEvent, ...]:
        out = []
        for e in list(membership)[-HISTORY_LIMIT:]:
            parts = [f"{label}: " + ",".join(who)
                     for label, who in (("joined", e.joined), ("left", e.left)) if who]
            out.append(MembershipEvent(time=e.time, daemon=me, cause=_label(e.cause),
                                       ring_id=_ring_str(e.ring_id), members=e.members,
                                       detail="; ".join(parts)))
        out.extend(self._gather_events)
        return tuple(sorted(out, key=lambda e: e.time)[-HISTORY_LIMIT:])
