"""Frozen statistics records of a running daemon (``Daemon.statistics()``).

Theory of operation
-------------------
``DaemonStats`` is the one snapshot the health model (diagnostics/), ``robot-gcs
status`` and tests read; nobody parses logs. ``Daemon.statistics()`` builds it while
holding the loop lock (the engine is read by its lock holder, runtime/README.md) and
hands it to the caller as a frozen value:

* ``engine``: the core's ``EngineStats`` (core/stats.py) or None before the engine runs;
* ``groups``: the group layer's ``GroupStats`` (core/groups.py) or None;
* ``group_table``: ((group, member private names), ...) from the group table;
* ``ipc``: the socket server's ``IpcStats`` (runtime/ipc.py) or None;
* ``loop_lag``: how late the daemon loop ran its timers (``LagStats``: worst, p50, p99);
* ``sessions``: per client, queue depth, high-water mark, delivered and dropped events,
  multicasts waiting for the daemon thread;
* ``dropped_packets``: (reason, count) pairs, sorted: the engine's drop counters merged
  with the transport's socket errors (prefixed ``send_``/``recv_``);
* ``membership``: the last 64 regular configurations installed (runtime/membership_log.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.groups import GroupStats
from ..core.stats import EngineStats
from .ipc import IpcStats
from .loop import LagStats
from .membership_log import MembershipEvent

__all__ = ["DaemonStats", "SessionStats", "MembershipEvent"]


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
class DaemonStats:
    name: str
    node_id: int
    ring: str
    running: bool
    uptime: float
    engine: EngineStats | None     # None before the engine runs
    groups: GroupStats | None      # the process-group layer; None before the engine runs
    group_table: tuple[tuple[str, tuple[str, ...]], ...]   # ((group, private names), ...)
    ipc: IpcStats | None           # the first socket server's, or None
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
    inline_commands: int = 0   # client commands run on the caller's thread
    reply_holds: int = 0       # tokens held for a local reply (core/reply_window.py)
    reply_hits: int = 0        # ... released early by a local command
    reader_serves: int = 0     # ring reads done by a session waiting in receive()
    undeliverable: int = 0     # events for a client that was no longer attached
    security: str = "sealed"   # ring.security: "insecure" when packets are not sealed

    @property
    def dropped_total(self) -> int:
        return sum(n for _, n in self.dropped_packets)


