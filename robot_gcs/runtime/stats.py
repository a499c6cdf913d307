"""Frozen statistics records of a running daemon (``Daemon.statistics()``).

Theory of operation
-------------------
``DaemonStats`` is the one snapshot the health model (diagnostics/), ``robot-gcs
status`` and tests read; nobody parses logs. It is built on the daemon thread (so the
engine is read by its owner only) and handed to the caller as a frozen value:

* ``engine``: the core's ``EngineStats`` (core/stats.py) or None before the engine runs;
* ``groups``: the group layer's ``GroupStats`` (core/groups.py) or None;
* ``group_table``: ((group, member private names), ...) from the group table;
* ``ipc``: the socket server's ``IpcStats`` (runtime/ipc.py) or None;
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

import logging
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core.actions import DeliverConfig
from ..core.events import Cause
from ..core.types import ConfigKind
from .loop import LagStats

if TYPE_CHECKING:
    from .daemon import Daemon

log = logging.getLogger(__name__)

HISTORY = 64


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
    ipc: Any                   # runtime.ipc.IpcStats of the socket server, or None
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
    reply_holds: int = 0       # tokens held for a local reply (runtime/reply_window.py)
    reply_hits: int = 0        # ... released early by a local command
    reader_serves: int = 0     # ring reads done by a session waiting in receive()

    @property
    def dropped_total(self) -> int:
        return sum(n for _, n in self.dropped_packets)


class MembershipLog:
    """The last HISTORY regular configurations, as MembershipEvents with names."""

    def __init__(self, names: dict[int, str]) -> None:
        self._names = names
        self._events: deque[MembershipEvent] = deque(maxlen=HISTORY)
        self._last: tuple[int, ...] = ()

    def note(self, a: DeliverConfig, wall: float) -> MembershipEvent | None:
        if a.kind is not ConfigKind.REGULAR:
            return None
        names = self._names
        members = tuple(int(m) for m in a.members)
        prev = set(self._last)
        joined = tuple(names.get(m, str(m)) for m in members if m not in prev)
        left = tuple(names.get(m, str(m)) for m in sorted(prev - set(members)))
        self._last = members
        ev = MembershipEvent(wall, Cause.NETWORK if left else Cause.JOIN,
                             (a.ring_id.rep, a.ring_id.seq),
                             tuple(names.get(m, str(m)) for m in members), joined, left)
        self._events.append(ev)
        return ev

    def history(self) -> tuple[MembershipEvent, ...]:
        return tuple(list(self._events))


def build_stats(d: "Daemon") -> DaemonStats:
    """Snapshot of a daemon; call on its thread (the engine is read by its owner)."""
    try:
        est = d._engine_stats() if d.engine is not None else None
    except Exception:
        log.exception("engine statistics failed")
        est = None
    gst = None
    table: tuple[Any, ...] = ()
    if d.engine is not None and getattr(d.engine, "engine", None) is not None:
        try:
            gst = d.engine.statistics()
            snap = getattr(getattr(d.engine, "table", None), "snapshot", None)
            if callable(snap):
                table = tuple(snap())
        except Exception:
            log.exception("group statistics failed")
    sessions = []
    for name in sorted(d._clients):
        h = d._clients[name]
        sink = h.sink
        depth_fn = getattr(sink, "queue_depth", None)
        sessions.append(SessionStats(
            name, h.private_name, str(getattr(sink, "kind", type(sink).__name__)),
            int(depth_fn()) if callable(depth_fn) else 0,
            int(getattr(sink, "high_water", 0)), h.delivered,
            int(getattr(sink, "dropped", 0)), h.pending))
    drops: dict[str, int] = {}
    if est is not None:
        for reason, n in getattr(est, "drops", ()):
            drops[reason] = drops.get(reason, 0) + n
    if gst is not None:
        for reason, n in getattr(gst, "drops", ()):
            drops["group_" + reason] = drops.get("group_" + reason, 0) + n
    for reason, n in d.transport.errors.items():
        drops[reason] = drops.get(reason, 0) + n
    tr = d.transport
    ipc = None
    if d.ipc is not None and callable(getattr(d.ipc, "statistics", None)):
        try:
            ipc = d.ipc.statistics()
        except Exception:
            log.exception("ipc statistics failed")
    return DaemonStats(
        name=d.name, node_id=d.node_id, ring=d.config.ring.name,
        running=d.running,
        uptime=time.monotonic() - d._start_time if d._start_time else 0.0,
        engine=est, groups=gst, group_table=table, ipc=ipc, loop_lag=d.loop.lag.snapshot(),
        loop_iterations=d.loop.iterations, callback_errors=d.loop.callback_errors,
        engine_errors=d.engine_errors, sessions=tuple(sessions),
        sessions_detached=d.sessions_detached,
        dropped_packets=tuple(sorted(drops.items())), packets_in=tr.recv_packets,
        packets_out=tr.sent_packets, bytes_in=tr.recv_bytes, bytes_out=tr.sent_bytes,
        membership=d.membership_history(), switch_interval=sys.getswitchinterval(),
        inline_commands=d.inline_commands, reply_holds=d._reply.holds,
        reply_hits=d._reply.hits, reader_serves=d.reader_serves)
