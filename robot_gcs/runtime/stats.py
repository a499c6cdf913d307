"""Frozen statistics records of a running daemon (``Daemon.statistics()``).

Theory of operation
-------------------
``DaemonStats`` is the one snapshot the health model (diagnostics/), ``robot-gcs
status`` and tests read; nobody parses logs. It is built on the daemon thread (so the
engine is read by its owner only) and handed to the caller as a frozen value:

* ``engine``: the core's ``EngineStats`` (core/stats.py) or None before the engine runs;
* ``groups``: the group layer's ``GroupStats`` (core/groups.py) or None;
* ``group_table``: ((group, member private names), ...) from the group table;
* ``loop_lag``: how late the daemon loop ran its timers (``LagStats``: worst, p50, p99);
* ``sessions``: per client, queue depth, high-water mark, delivered and dropped events,
  multicasts waiting for the daemon thread;
* ``dropped_packets``: (reason, count) pairs, sorted: the engine's drop counters merged
  with the transport's socket errors (prefixed ``send_``/``recv_``);
* ``membership``: the last 64 regular configurations installed (wall time, cause, ring
  id, member names, joined, left). Cause is ``Cause.JOIN`` when members only joined and
  ``Cause.NETWORK`` when any left (the ring cannot tell a crash from a partition or a
  clean leave; a clean stop shows first as DISCONNECT views of its clients).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.events import Cause
from .loop import LagStats


@dataclass(frozen=True, slots=True)
class SessionStats:
    name: str
    private_name: str
    kind: str                  # "inprocess", "ipc", ... (the sink's ``kind`` attribute)
    queue_depth: int           # events waiting for the client to receive them
    queue_high_water: int
    delivered: int             # events handed to the sink
    dropped: int               # events the sink refused (overflow)
    pending_sends: int         # multicasts queued for the daemon thread


@dataclass(frozen=True, slots=True)
class MembershipEvent:
    time: float                # wall clock (time.time())
    cause: Cause
    ring_id: tuple[int, int]   # (rep, ring_seq)
    members: tuple[str, ...]   # daemon names
    joined: tuple[str, ...] = ()
    left: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DaemonStats:
    name: str
    node_id: int
    ring: str
    running: bool
    uptime: float
    engine: Any                # core.stats.EngineStats | None
    groups: Any                # core.groups.GroupStats | None (process-group layer)
    group_table: tuple[Any, ...]   # ((group, (private names...)), ...) sorted, if available
    loop_lag: LagStats
    loop_iterations: int
    callback_errors: int
    engine_errors: int
    sessions: tuple[SessionStats, ...]
    sessions_detached: int     # clients the daemon disconnected for overflow
    dropped_packets: tuple[tuple[str, int], ...]
    packets_in: int
    packets_out: int
    bytes_in: int
    bytes_out: int
    membership: tuple[MembershipEvent, ...]
    switch_interval: float     # sys.getswitchinterval() of the host process

    @property
    def dropped_total(self) -> int:
        return sum(n for _, n in self.dropped_packets)
