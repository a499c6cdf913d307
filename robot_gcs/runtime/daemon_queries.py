"""DaemonQueries: what a Daemon answers about itself -- statistics, membership, lag.

Theory of operation
-------------------
A mixin of ``Daemon`` (runtime/daemon.py). ``statistics()`` (any thread) has the
``DaemonStats`` snapshot (runtime/stats.py ``build_stats``) built ON the daemon thread
and waits for it (bounded); after the daemon stopped it returns the last snapshot,
taken in ``_finish``. Waiters are registered under ``_clients_lock`` so ``_finish``
wakes them at once. ``wait_members`` waits on ``_ring_cond``, which the engine driver
notifies on every installed regular configuration; ``membership_history`` reads the
``MembershipLog``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast

from ..errors import GcsError
from .loop import LagStats
from .stats import DaemonStats, MembershipEvent, build_stats

if TYPE_CHECKING:
    from .daemon import Daemon

__all__ = ["DaemonQueries"]


class DaemonQueries:
    """Statistics and membership queries of ``Daemon`` (state lives in the Daemon)."""

    name: str
    engine: Any
    loop: Any
    _thread: threading.Thread | None
    _stopped: threading.Event
    _clients_lock: threading.Lock
    _last_stats: DaemonStats | None
    _stat_waiters: list[threading.Event]
    _ring_cond: threading.Condition
    _ring_members: tuple[str, ...]
    _membership: Any

    def _engine_stats(self) -> Any:
        ge = self.engine
        fn = getattr(ge, "statistics", None)
        if fn is None or getattr(ge, "engine", None) is not None:
            fn = ge.engine.statistics
        return fn()

    def wait_members(self, members: int | tuple[str, ...], timeout: float | None = None) -> bool:
        """Wait until the installed ring has ``members`` (a count, or exactly these names).

        Returns False on timeout. For programs and tests that must not start before the
        ring is whole; it waits on the configuration event itself, never polls.
        """
        def ok() -> bool:
            cur = self._ring_members
            return len(cur) == members if isinstance(members, int) else cur == tuple(members)

        with self._ring_cond:
            return self._ring_cond.wait_for(ok, timeout)

    def membership_history(self) -> tuple[MembershipEvent, ...]:
        return self._membership.history()

    def _build_stats(self) -> DaemonStats:
        return build_stats(cast("Daemon", self))

    def statistics(self, timeout: float = 2.0) -> DaemonStats:
        """A frozen snapshot, built on the daemon thread (last one once stopped)."""
        if self._thread is None or not self._thread.is_alive() or self.loop.in_loop_thread():
            if self._last_stats is not None and not self.loop.in_loop_thread():
                return self._last_stats
            return self._build_stats()
        box: list[DaemonStats] = []
        done = threading.Event()

        def build() -> None:
            box.append(self._build_stats())
            done.set()

        with self._clients_lock:
            self._stat_waiters.append(done)
        self.loop.call_soon_threadsafe(build)
        if not self._stopped.is_set():
            done.wait(timeout)
        with self._clients_lock:
            if done in self._stat_waiters:
                self._stat_waiters.remove(done)
        if not box:
            if self._last_stats is not None:
                return self._last_stats
            raise GcsError(f"daemon {self.name} did not answer statistics() in {timeout}s")
        self._last_stats = box[0]
        return box[0]

    def lag(self) -> LagStats:
        return self.loop.lag.snapshot()
