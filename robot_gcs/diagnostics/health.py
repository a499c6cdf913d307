"""From a daemon's ``statistics()`` record to a ``DaemonHealth`` snapshot (pure).

Owns ``StatsSampler``: it keeps the previous counters and a window of token-rotation
samples, so it can turn cumulative counters into rates (retransmits/s, delivered
msgs/s and bytes/s, packets/s, drops/s) and rotation samples into p50/p99. It never
reads a clock: the caller passes ``now`` (the daemon's monotonic clock, the one its
engine's ``state_since`` and history times use) and ``wall`` (epoch seconds, stamped
into the snapshot because snapshots cross machines).

The statistics record is read by duck typing (``getattr`` with fallbacks), so this
module depends only on field names: the daemon record (task D: ``name``, ``engine``,
``loop_lag`` (worst, p99 in seconds), ``sessions``, ``dropped_packets``, ``uptime``,
``membership`` history, ``group_table`` ((group, members), ...), ``node_names``) wrapping the engine's ``EngineStats``
(``core/stats.py``: node_id, incarnation, state, ring_id, members, gather_reason,
gather_from, state_since, gathers, configs_installed, token_rotations,
rotation_time_last, packets_sent/received, retransmits_sent, delivered_msgs/bytes,
send_queue_len, drops). A bare EngineStats works too. Missing fields read as unknown
(None) or zero, never as an error: health must not crash the thing it watches.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import Any, Iterable, Mapping

from .model import DaemonHealth, GroupHealth, MembershipEvent, SessionHealth, TopicHealth

HISTORY_LIMIT = 16           # membership events carried per snapshot
MIN_SPAN = 0.5               # rates are taken over at least this many seconds...
RATE_MAX_SPAN = 5.0          # ...and at most this many (older samples are dropped)


def _get(obj: Any, *names: str, default: Any = None) -> Any:
    """First attribute (or mapping key) of ``obj`` among ``names`` that is not None."""
    for n in names:
        v = obj.get(n) if isinstance(obj, Mapping) else getattr(obj, n, None)
        if v is not None:
            return v
    return default


def _label(v: Any) -> str:
    if isinstance(v, enum.Enum):
        return v.name
    return str(v).upper() if isinstance(v, str) else str(v)


def _ring_str(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (tuple, list)) and len(v) == 2:
        return f"{v[0]}.{v[1]}"
    rep, seq = getattr(v, "rep", None), getattr(v, "seq", None)
    if rep is not None and seq is not None:
        return f"{rep}.{seq}"
    return str(v)


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-quantile (0..1) by nearest rank; None when there are no values."""
    s = sorted(values)
    if not s:
        return None
    k = min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))
    return s[k]


def _ms(seconds: Any) -> float | None:
    return None if seconds is None else float(seconds) * 1000.0


class StatsSampler:
    """Turns successive statistics records of one daemon into health snapshots."""

    def __init__(self, name: str | None = None, window: int = 256) -> None:
        self.name = name
        self._rotations: deque[float] = deque(maxlen=window)
        self._last_rotations: int | None = None
        self._last_gathers: int | None = None
        self._gather_events: deque[MembershipEvent] = deque(maxlen=HISTORY_LIMIT)
        # (now, counters) of recent samples: rates are taken against the newest sample at
        # least MIN_SPAN old, so an extra sample (health() called at any moment) does not
        # turn one message into a huge per-second figure
        self._history_counters: deque[tuple[float, dict[str, float]]] = deque()

    # -------------------------------------------------------------- helpers
    def _names(self, stats: Any) -> dict[int, str]:
        raw = _get(stats, "node_names", default={})
        if isinstance(raw, Mapping):
            return {int(k): str(v) for k, v in raw.items()}
        try:
            return {int(k): str(v) for k, v in raw}
        except (TypeError, ValueError):
            return {}

    @staticmethod
    def _name_of(names: Mapping[int, str], node: Any) -> str:
        if node is None:
            return ""
        if isinstance(node, str):
            return node
        try:
            return names.get(int(node), f"node{int(node)}")
        except (TypeError, ValueError):
            return str(node)

    def _reference(self, now: float) -> tuple[float, dict[str, float]] | None:
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
    def _rate(key: str, value: float, now: float, cur: dict[str, float],
              ref: tuple[float, dict[str, float]] | None) -> float:
        cur[key] = value
        if ref is None or key not in ref[1] or now <= ref[0]:
            return 0.0
        return max(0.0, (value - ref[1][key]) / (now - ref[0]))

    # -------------------------------------------------------------- sampling
    def sample(self, stats: Any, now: float, wall: float, topics: Iterable[Any] = (),
               node_names: Mapping[int, str] | None = None,
               group_table: Any = None) -> DaemonHealth:
        """One snapshot from ``stats`` taken at ``now`` (monotonic) / ``wall`` (epoch).

        ``topics``: per-topic records (``topics.topic_records``); ``node_names``: node id ->
        daemon name and ``group_table``: ((group, members), ...), when the statistics
        record does not carry them.
        """
        eng = _get(stats, "engine", default=None)
        if eng is None:
            eng = stats if _get(stats, "state") is not None else {}
        names = dict(node_names) if node_names else self._names(stats)
        node_id = int(_get(eng, "node_id", default=0))
        name = str(_get(stats, "name", "daemon_name", default=None) or self.name
                   or self._name_of(names, node_id))

        if stats is eng:       # a bare EngineStats: the daemon-level fields are absent
            stats = {}
        # only the ring's representative times rotations (core/engine.py); elsewhere the
        # last value is left over from an earlier ring, so it is not shown
        ring = _get(eng, "ring_id")
        rep = getattr(ring, "rep", ring[0] if isinstance(ring, (tuple, list)) and ring else None)
        is_rep = rep is None or int(rep) == node_id
        rotations = _get(eng, "token_rotations")
        last_rot = _get(eng, "rotation_time_last")
        if not is_rep:
            self._rotations.clear()
        elif rotations is not None and last_rot is not None and rotations != self._last_rotations:
            self._rotations.append(float(last_rot))
        self._last_rotations = rotations
        p50 = _get(eng, "rotation_time_p50", default=percentile(self._rotations, 0.5))
        p99 = _get(eng, "rotation_time_p99", default=percentile(self._rotations, 0.99))

        # the daemon's dropped_packets already merges the engine's drops with its own
        src = _get(stats, "dropped_packets", "dropped", default=None)
        if src is None:
            src = _get(eng, "drops", default=())
        drops: dict[str, int] = {}
        for reason, count in (src.items() if isinstance(src, Mapping) else src):
            drops[str(reason)] = drops.get(str(reason), 0) + int(count)

        cur: dict[str, float] = {}
        ref = self._reference(now)
        retrans = self._rate("retrans", float(_get(eng, "retransmits_sent", default=0)), now,
                             cur, ref)
        dmsgs = self._rate("msgs", float(_get(eng, "delivered_msgs", default=0)), now, cur, ref)
        dbytes = self._rate("bytes", float(_get(eng, "delivered_bytes", default=0)), now, cur,
                            ref)
        pkts = self._rate("pkts", float(_get(eng, "packets_sent", default=0))
                          + float(_get(eng, "packets_received", default=0)), now, cur, ref)
        drops_rate = self._rate("drops", float(sum(drops.values())), now, cur, ref)

        state_since = _get(eng, "state_since")
        time_in_state = float(_get(stats, "time_in_state", default=0.0))
        if state_since is not None:
            time_in_state = max(0.0, now - float(state_since))
        gather_from = _get(eng, "gather_from")
        self._note_gathers(eng, name, names, now, wall, state_since)

        health = DaemonHealth(
            name=name, node_id=node_id, incarnation=int(_get(eng, "incarnation", default=0)),
            state=_label(_get(eng, "state", default="UNKNOWN")),
            ring_id=_ring_str(_get(eng, "ring_id")),
            members=tuple(self._name_of(names, m) for m in _get(eng, "members", default=())),
            time_in_state_s=time_in_state,
            gather_reason=None if _get(eng, "gather_reason") is None
            else _label(_get(eng, "gather_reason")),
            gather_from=None if gather_from is None else self._name_of(names, gather_from),
            gathers=int(_get(eng, "gathers", default=0)),
            configs_installed=int(_get(eng, "configs_installed", default=0)),
            rotation_p50_ms=_ms(p50), rotation_p99_ms=_ms(p99),
            retransmits_per_s=retrans, delivered_msgs_per_s=dmsgs, delivered_bytes_per_s=dbytes,
            packets_per_s=pkts,
            loop_lag_worst_ms=_ms(_get(stats, "loop_lag_worst",
                                       default=_get(_get(stats, "loop_lag", default={}), "worst"))),
            loop_lag_p99_ms=_ms(_get(stats, "loop_lag_p99",
                                     default=_get(_get(stats, "loop_lag", default={}), "p99"))),
            drops=tuple(sorted(drops.items())), drops_per_s=drops_rate,
            send_queue_len=int(_get(eng, "send_queue_len", default=0)),
            uptime_s=float(_get(stats, "uptime", "uptime_s", default=0.0)),
            sampled_at=wall,
            sessions=self._sessions(stats, now, cur, ref),
            topics=self._topics(topics, now, cur, ref),
            groups=self._local_groups(
                self._groups(stats if group_table is None else {"group_table": group_table}),
                name),
            history=self._history(stats, names, name, now, wall),
        )
        self._history_counters.append((now, cur))
        return health

    def _sessions(self, stats: Any, now: float, cur: dict[str, float],
                  ref: tuple[float, dict[str, float]] | None) -> tuple[SessionHealth, ...]:
        raw = _get(stats, "sessions", "clients", default=())
        items = raw.values() if isinstance(raw, Mapping) else raw
        out = []
        for s in items:
            name = str(_get(s, "name", "client", "private_name", default="?"))
            drops = int(_get(s, "drops", "dropped", default=0))
            out.append(SessionHealth(
                name=name,
                queue_depth=int(_get(s, "queue_depth", "queue_len", "depth", default=0)),
                drops=drops,
                drops_per_s=self._rate(f"session:{name}:drops", float(drops), now, cur, ref)))
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

    def _groups(self, stats: Any) -> tuple[GroupHealth, ...]:
        """The group table: ``group_table`` = ((group, (private names...)), ...) or a mapping."""
        raw = _get(stats, "group_table", default=())
        if isinstance(raw, Mapping):
            raw = tuple(raw.items())
        if not isinstance(raw, (tuple, list)):
            return ()
        out = []
        for g in raw:
            if isinstance(g, (tuple, list)) and len(g) == 2 and isinstance(g[0], str):
                gname, members = g
            else:
                gname = _get(g, "group", "name", default="?")
                members = _get(g, "members", default=())
            out.append(GroupHealth(str(gname), tuple(sorted(str(m) for m in members))))
        return tuple(sorted(out, key=lambda g: g.group))

    def _topics(self, topics: Iterable[Any], now: float, cur: dict[str, float],
                ref: tuple[float, dict[str, float]] | None) -> tuple[TopicHealth, ...]:
        out = []
        for t in topics:
            name = str(_get(t, "topic", "name", default="?"))
            msgs = float(_get(t, "msgs", "count", default=0))
            nbytes = float(_get(t, "bytes", default=0))
            rate_hz, bw = _get(t, "rate_hz"), _get(t, "bandwidth_bps")
            msgs_rate = self._rate(f"topic:{name}:msgs", msgs, now, cur, ref)
            bytes_rate = self._rate(f"topic:{name}:bytes", nbytes, now, cur, ref)
            rate_hz = msgs_rate if rate_hz is None else rate_hz
            bw = bytes_rate if bw is None else bw
            last_seen = _get(t, "last_seen")
            age = _get(t, "age_s")
            if age is None and last_seen is not None:
                age = max(0.0, now - float(last_seen))
            deadline = _get(t, "deadline", "deadline_s")
            out.append(TopicHealth(
                topic=name, rate_hz=float(rate_hz or 0.0), bandwidth_bps=float(bw or 0.0),
                age_s=None if age is None else float(age),
                deadline_s=None if deadline is None else float(deadline),
                deadline_misses=int(_get(t, "deadline_misses", default=0)),
                drops=int(_get(t, "drops", default=0))))
        return tuple(sorted(out, key=lambda t: t.topic))

    def _note_gathers(self, eng: Any, me: str, names: Mapping[int, str], now: float,
                      wall: float, state_since: Any) -> None:
        """Log an event when the engine entered GATHER since the last sample: the cause
        of the next ring change (TOKEN_LOSS from cpu3, JOIN from cpu2, ...)."""
        gathers = _get(eng, "gathers")
        if gathers is None:
            return
        gathers = int(gathers)
        last, self._last_gathers = self._last_gathers, gathers
        reason = _get(eng, "gather_reason")
        if last is None or gathers <= last or reason is None:
            return
        when = wall
        if _label(_get(eng, "state", default="")) == "GATHER" and state_since is not None:
            when = wall - max(0.0, now - float(state_since))
        src = _get(eng, "gather_from")
        detail = f"because {_label(reason)}" + (f" from {self._name_of(names, src)}" if src else "")
        if gathers - last > 1:
            detail += f" (x{gathers - last})"
        self._gather_events.append(MembershipEvent(time=when, daemon=me, cause="GATHER",
                                                   detail=detail))

    def _history(self, stats: Any, names: Mapping[int, str], me: str, now: float,
                 wall: float) -> tuple[MembershipEvent, ...]:
        raw = list(_get(stats, "membership", "history", default=()))[-HISTORY_LIMIT:]
        out = []
        for e in raw:
            t = float(_get(e, "time", "when", "t", default=now))
            # monotonic times are moved onto the wall clock; epoch times are kept
            t_wall = t if t > 1e9 else wall - (now - t)
            cause = _get(e, "cause", "reason", "kind", default="?")
            members = tuple(self._name_of(names, m) for m in _get(e, "members", default=()))
            parts = []
            for label in ("joined", "left"):
                who = _get(e, label, default=())
                if who:
                    parts.append(f"{label}: " + ",".join(self._name_of(names, m) for m in who))
            detail = _get(e, "detail", default=None)
            if detail:
                parts.append(str(detail))
            out.append(MembershipEvent(time=t_wall, daemon=me, cause=_label(cause),
                                       ring_id=_ring_str(_get(e, "ring_id")), members=members,
                                       detail="; ".join(parts)))
        out.extend(self._gather_events)
        return tuple(sorted(out, key=lambda e: e.time)[-HISTORY_LIMIT:])
