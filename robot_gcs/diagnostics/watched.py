"""What diagnostics reads from the daemon it watches: typed Protocols, nothing else.

Owns the boundary between diagnostics and the runtime. Diagnostics never imports
runtime/: it states here, as ``typing.Protocol``s, the part of the public ``Daemon``
surface it uses, and the real ``Daemon`` (and its frozen ``DaemonStats``,
runtime/stats.py) satisfy them structurally; mypy checks that where the runtime hands a
daemon to ``HealthPublisher`` / ``health_of``. The surface:

* ``name`` and ``config`` (a ``GcsConfig``: node id -> daemon name via ``names()``, the
  ring's name and the file it came from);
* ``client_address``: where it serves socket sessions (None: nowhere), which it
  advertises in the local daemons' directory (rundir.py);
* ``statistics()``: a ``DaemonStatsRecord`` -- the engine's ``EngineStats`` (or None
  before the engine runs), the replicated group table, loop lag, sessions, drops, uptime
  and the membership history;
* ``connect(name, reads_ring=False)``: the in-process session the health publisher
  talks on.

Every member is read-only (a property), so frozen dataclasses satisfy the records. When
the runtime changes one of these, this file changes in the same commit.
"""

from __future__ import annotations

import enum
from typing import Protocol, Sequence

from ..client.session import Session
from ..config import GcsConfig
from ..core.stats import EngineStats

GroupTable = Sequence[tuple[str, Sequence[str]]]   # ((group, member private names), ...)


class LagRecord(Protocol):
    """How late the daemon loop ran its timers, in seconds."""

    @property
    def worst(self) -> float: ...

    @property
    def p99(self) -> float: ...


class SessionRecord(Protocol):
    """One client session of the daemon."""

    @property
    def name(self) -> str: ...

    @property
    def queue_depth(self) -> int: ...

    @property
    def dropped(self) -> int: ...


class MembershipRecord(Protocol):
    """One regular configuration the daemon installed (times are wall clock)."""

    @property
    def time(self) -> float: ...

    @property
    def cause(self) -> enum.Enum: ...

    @property
    def ring_id(self) -> tuple[int, int]: ...

    @property
    def members(self) -> tuple[str, ...]: ...

    @property
    def joined(self) -> tuple[str, ...]: ...

    @property
    def left(self) -> tuple[str, ...]: ...


class DaemonStatsRecord(Protocol):
    """The fields of ``Daemon.statistics()`` that the health model reads."""

    @property
    def name(self) -> str: ...

    @property
    def uptime(self) -> float: ...

    @property
    def engine(self) -> EngineStats | None: ...

    @property
    def group_table(self) -> GroupTable: ...

    @property
    def loop_lag(self) -> LagRecord: ...

    @property
    def sessions(self) -> Sequence[SessionRecord]: ...

    @property
    def dropped_packets(self) -> Sequence[tuple[str, int]]: ...

    @property
    def membership(self) -> Sequence[MembershipRecord]: ...


class WatchedDaemon(Protocol):
    """The public Daemon surface diagnostics uses (runtime/daemon.py implements it)."""

    @property
    def name(self) -> str: ...

    @property
    def config(self) -> GcsConfig: ...

    @property
    def client_address(self) -> str | None: ...

    def statistics(self) -> DaemonStatsRecord: ...

    def connect(self, name: str, *, reads_ring: bool = ...) -> Session: ...
