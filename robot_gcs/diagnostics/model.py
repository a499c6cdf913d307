"""The health model: frozen, JSON-serialisable values that every health view reads.

Owns the value types of diagnostics and nothing else (no I/O, no rich, no yaml):

* ``DaemonHealth`` -- one daemon's snapshot, built from its ``statistics()`` by
  ``health.StatsSampler`` and published on the diagnostics group. Times inside it are
  wall-clock seconds (``sampled_at``, event times) because snapshots cross machines;
  durations are seconds or milliseconds as the field name says.
* ``Grade`` -- OK < WARN < ERROR < STALE (ROS diagnostic_aggregator's levels); a view's
  grade is the worst of its findings.
* ``ClusterHealth`` -- what a console or ``robot-gcs status`` shows: every daemon's latest
  snapshot with its age, grade and findings, the merged groups, topics, sessions and the
  membership event log; and, from the ring's registry (pubsub/registry.py), every node
  with its topics and services (``NodeView``), who leads each election group
  (``LeaderView``) and the nodes' recent log records from ``/rosout`` (``LogLine``).

Rules: values are frozen slots dataclasses; ``to_jsonable`` turns any of them into plain
JSON types (enums by name, tuples as lists); ``daemon_health_from_jsonable`` rebuilds a
``DaemonHealth`` from network input and raises ``ValueError`` on anything malformed
(the collector counts and drops those). ``SCHEMA_VERSION`` changes when a field changes
meaning or disappears; adding optional fields keeps it.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

SCHEMA_VERSION = 1


class Grade(enum.IntEnum):
    """Health level of one metric or one view, ordered so ``max()`` gives the worst."""

    OK = 0
    WARN = 1
    ERROR = 2
    STALE = 3


def worst(grades: "list[Grade] | tuple[Grade, ...]") -> Grade:
    """The worst of ``grades`` (OK when empty)."""
    return max(grades, default=Grade.OK)


@dataclass(frozen=True, slots=True)
class MembershipEvent:
    """One membership change seen by ``daemon``: when, why, and the resulting ring."""

    time: float                    # wall clock (seconds since the epoch)
    daemon: str                    # the daemon that saw it
    cause: str                     # JOIN / LEAVE / NETWORK / DISCONNECT / GATHER
    ring_id: str = ""
    members: tuple[str, ...] = ()
    detail: str = ""               # e.g. "left: cpu3" or "because TOKEN_LOSS from cpu2"


@dataclass(frozen=True, slots=True)
class SessionHealth:
    """One client session of a daemon: its delivery queue depth and drops."""

    name: str
    queue_depth: int
    drops: int = 0                 # since the session began
    drops_per_s: float = 0.0       # recently


@dataclass(frozen=True, slots=True)
class TopicHealth:
    """One topic as seen by one daemon's subscribers."""

    topic: str
    rate_hz: float
    bandwidth_bps: float
    age_s: float | None            # since the last message; None = never seen
    deadline_s: float | None = None
    deadline_misses: int = 0
    drops: int = 0
    type_errors: int = 0           # messages dropped for a type mismatch


@dataclass(frozen=True, slots=True)
class BridgeHealth:
    """One rule of a bridge on this daemon (robot_gcs/bridge): what crossed, and what not."""

    bridge: str                    # the bridge's name (its node is bridge.<name>)
    kind: str                      # ros2 / fleet
    direction: str                 # out (ring -> outside) / in (outside -> ring)
    topic: str                     # the ring topic
    remote: str                    # the DDS topic or Zenoh key
    forwarded: int
    rate_dropped: int = 0          # over the rule's rate limit
    loops: int = 0                 # came in through a bridge: held back
    errors: int = 0                # undecodable, unconvertible or not sent
    bytes: int = 0
    age_s: float | None = None     # since the last forwarded message
    last_error: str = ""


@dataclass(frozen=True, slots=True)
class GroupHealth:
    """A process group and its members (private names ``#client#daemon``)."""

    group: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DaemonHealth:
    """One daemon's health snapshot (what it publishes on the diagnostics group)."""

    name: str
    node_id: int
    incarnation: int
    state: str                     # OPERATIONAL / GATHER / COMMIT / RECOVERY / STOPPED
    ring_id: str                   # "rep.seq"
    members: tuple[str, ...]       # daemon names of the current ring
    time_in_state_s: float
    gather_reason: str | None = None
    gather_from: str | None = None
    gathers: int = 0
    configs_installed: int = 0
    rotation_p50_ms: float | None = None
    rotation_p99_ms: float | None = None
    retransmits_per_s: float = 0.0
    delivered_msgs_per_s: float = 0.0
    delivered_bytes_per_s: float = 0.0
    packets_per_s: float = 0.0     # ring packets sent + received per second
    loop_lag_worst_ms: float | None = None
    loop_lag_p99_ms: float | None = None
    drops: tuple[tuple[str, int], ...] = ()
    drops_per_s: float = 0.0
    send_queue_len: int = 0
    uptime_s: float = 0.0
    sampled_at: float = 0.0        # wall clock of the sample
    sessions: tuple[SessionHealth, ...] = ()
    topics: tuple[TopicHealth, ...] = ()
    groups: tuple[GroupHealth, ...] = ()
    history: tuple[MembershipEvent, ...] = ()
    bridges: tuple[BridgeHealth, ...] = ()

    @property
    def not_operational_s(self) -> float:
        """Seconds spent outside OPERATIONAL (0 while operational)."""
        return 0.0 if self.state == "OPERATIONAL" else self.time_in_state_s


@dataclass(frozen=True, slots=True)
class Finding:
    """One graded metric: ``subject`` is a daemon, ``daemon/session`` or topic name."""

    metric: str
    subject: str
    value: float
    grade: Grade
    limit: float | None = None     # the threshold that was crossed (None when OK)


@dataclass(frozen=True, slots=True)
class DaemonView:
    """A daemon as a console sees it: its last snapshot, how old it is, its grade."""

    health: DaemonHealth
    age_s: float                   # since the snapshot was received here
    grade: Grade
    stale: bool
    left: bool = False             # its publisher left the diagnostics group
    left_cause: str = ""           # the view cause when it left (NETWORK, LEAVE, ...)
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True, slots=True)
class TopicView:
    daemon: str
    topic: TopicHealth
    grade: Grade


@dataclass(frozen=True, slots=True)
class SessionView:
    daemon: str
    session: SessionHealth
    grade: Grade


@dataclass(frozen=True, slots=True)
class NodeView:
    """A node as the registry announces it (private name ``#client#daemon``)."""

    name: str
    pubs: tuple[tuple[str, str], ...] = ()      # (topic, type path)
    subs: tuple[tuple[str, str], ...] = ()
    services: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LeaderView:
    """Who leads an election group, as its members announce it."""

    group: str
    leader: str | None             # None: nobody (yet), or the members disagree
    agreed: bool                   # every member that runs the election says the same
    members: tuple[str, ...] = ()  # the members that announced


@dataclass(frozen=True, slots=True)
class LogLine:
    """One record from a node's logger (``/rosout``)."""

    time: float                    # the node's wall clock
    level: str                     # DEBUG / INFO / WARN / ERROR / FATAL
    node: str                      # its private name
    text: str


@dataclass(frozen=True, slots=True)
class ClusterHealth:
    """The whole model: every daemon's graded view plus the merged tables and event log."""

    generated_at: float            # wall clock
    source: str                    # the daemon (or session address) this view came through
    grade: Grade
    daemons: tuple[DaemonView, ...]
    groups: tuple[GroupHealth, ...] = ()
    topics: tuple[TopicView, ...] = ()
    sessions: tuple[SessionView, ...] = ()
    events: tuple[MembershipEvent, ...] = ()
    schema: int = SCHEMA_VERSION
    nodes: tuple[NodeView, ...] = ()
    leaders: tuple[LeaderView, ...] = ()
    logs: tuple[LogLine, ...] = ()
    notice: str = ""               # what the console wants said (e.g. a fail-over)


# ---------------------------------------------------------------- JSON conversion

def to_jsonable(value: Any) -> Any:
    """Any model value -> plain JSON types (enums by name, tuples as lists, NaN as None)."""
    if isinstance(value, enum.Enum):
        return value.name
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (tuple, list)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _req(d: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in d:
        raise ValueError(f"missing field {key!r}")
    v = d[key]
    if kind is float and isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    if not isinstance(v, kind) or isinstance(v, bool) and kind is not bool:
        raise ValueError(f"field {key!r} has type {type(v).__name__}")
    return v


def _opt(d: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    if d.get(key) is None:
        return default
    return _req(d, key, kind)


def _strs(v: Any, key: str) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError(f"field {key!r} must be a list of strings")
    return tuple(v)


def _dicts(d: dict[str, Any], key: str) -> list[dict[str, Any]]:
    v = d.get(key) or []
    if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
        raise ValueError(f"field {key!r} must be a list of objects")
    return v


def daemon_health_from_jsonable(d: Any) -> DaemonHealth:
    """Rebuild a snapshot from ``to_jsonable`` output; ``ValueError`` if malformed."""
    if not isinstance(d, dict):
        raise ValueError("snapshot is not an object")
    drops_raw = d.get("drops") or []
    if not isinstance(drops_raw, list):
        raise ValueError("field 'drops' must be a list")
    drops: list[tuple[str, int]] = []
    for item in drops_raw:
        if (not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str)
                or not isinstance(item[1], int)):
            raise ValueError("field 'drops' must hold [reason, count] pairs")
        drops.append((item[0], item[1]))
    sessions = tuple(SessionHealth(_req(s, "name", str), _req(s, "queue_depth", int),
                                   _opt(s, "drops", int, 0), _opt(s, "drops_per_s", float, 0.0))
                     for s in _dicts(d, "sessions"))
    topics = tuple(TopicHealth(
        _req(t, "topic", str), _req(t, "rate_hz", float), _req(t, "bandwidth_bps", float),
        _opt(t, "age_s", float, None), _opt(t, "deadline_s", float, None),
        _opt(t, "deadline_misses", int, 0), _opt(t, "drops", int, 0),
        _opt(t, "type_errors", int, 0)) for t in _dicts(d, "topics"))
    groups = tuple(GroupHealth(_req(g, "group", str), _strs(_req(g, "members", list), "members"))
                   for g in _dicts(d, "groups"))
    history = tuple(MembershipEvent(
        _req(e, "time", float), _req(e, "daemon", str), _req(e, "cause", str),
        _opt(e, "ring_id", str, ""), _strs(e.get("members") or [], "members"),
        _opt(e, "detail", str, "")) for e in _dicts(d, "history"))
    bridges = tuple(BridgeHealth(
        _req(b, "bridge", str), _req(b, "kind", str), _req(b, "direction", str),
        _req(b, "topic", str), _req(b, "remote", str), _req(b, "forwarded", int),
        _opt(b, "rate_dropped", int, 0), _opt(b, "loops", int, 0), _opt(b, "errors", int, 0),
        _opt(b, "bytes", int, 0), _opt(b, "age_s", float, None), _opt(b, "last_error", str, ""))
        for b in _dicts(d, "bridges"))
    return DaemonHealth(
        name=_req(d, "name", str), node_id=_req(d, "node_id", int),
        incarnation=_req(d, "incarnation", int), state=_req(d, "state", str),
        ring_id=_req(d, "ring_id", str), members=_strs(_req(d, "members", list), "members"),
        time_in_state_s=_req(d, "time_in_state_s", float),
        gather_reason=_opt(d, "gather_reason", str, None),
        gather_from=_opt(d, "gather_from", str, None),
        gathers=_opt(d, "gathers", int, 0), configs_installed=_opt(d, "configs_installed", int, 0),
        rotation_p50_ms=_opt(d, "rotation_p50_ms", float, None),
        rotation_p99_ms=_opt(d, "rotation_p99_ms", float, None),
        retransmits_per_s=_opt(d, "retransmits_per_s", float, 0.0),
        delivered_msgs_per_s=_opt(d, "delivered_msgs_per_s", float, 0.0),
        delivered_bytes_per_s=_opt(d, "delivered_bytes_per_s", float, 0.0),
        packets_per_s=_opt(d, "packets_per_s", float, 0.0),
        loop_lag_worst_ms=_opt(d, "loop_lag_worst_ms", float, None),
        loop_lag_p99_ms=_opt(d, "loop_lag_p99_ms", float, None),
        drops=tuple(drops), drops_per_s=_opt(d, "drops_per_s", float, 0.0),
        send_queue_len=_opt(d, "send_queue_len", int, 0),
        uptime_s=_opt(d, "uptime_s", float, 0.0), sampled_at=_opt(d, "sampled_at", float, 0.0),
        sessions=sessions, topics=topics, groups=groups, history=history, bridges=bridges)
