"""MembershipLog: the ring configurations a daemon installed, for queries and waiters.

Theory of operation
-------------------
The engine host (runtime/engine_host.py) notes every ``DeliverConfig``; the log keeps
the last ``HISTORY`` regular configurations as ``MembershipEvent``s with daemon names
(``history()``, read by ``statistics()`` and the health model) and wakes the threads in
``wait_members`` (programs and tests that must not start before the ring is whole wait
on the configuration event itself, never poll). The cause is ``Cause.JOIN`` when
members only joined and ``Cause.NETWORK`` when any left (the ring cannot tell a crash
from a partition or a clean leave; a clean stop shows first as DISCONNECT views of its
clients).

Owner: ``note`` is called by the engine lock holder; the events and the current member
names are guarded by ``_cond``, so any thread may read or wait.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from ..core.actions import DeliverConfig
from ..core.events import Cause
from ..core.types import ConfigKind

__all__ = ["MembershipEvent", "MembershipLog", "HISTORY"]

HISTORY = 64


@dataclass(frozen=True, slots=True)
class MembershipEvent:
    time: float                # wall clock (time.time())
    cause: Cause
    ring_id: tuple[int, int]   # (rep, ring_seq)
    members: tuple[str, ...]   # daemon names
    joined: tuple[str, ...] = ()
    left: tuple[str, ...] = ()


class MembershipLog:
    """The last HISTORY regular configurations, as MembershipEvents with names."""

    def __init__(self, names: dict[int, str]) -> None:
        self._names = names
        self._cond = threading.Condition()
        self._events: deque[MembershipEvent] = deque(maxlen=HISTORY)
        self._last: tuple[int, ...] = ()
        self._members: tuple[str, ...] = ()

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
        with self._cond:
            self._events.append(ev)
            self._members = ev.members
            self._cond.notify_all()
        return ev

    def history(self) -> tuple[MembershipEvent, ...]:
        with self._cond:
            return tuple(self._events)

    def wait_members(self, members: int | tuple[str, ...], timeout: float | None) -> bool:
        """Wait until the installed ring has ``members`` (a count, or exactly these
        names); False on timeout."""
        def ok() -> bool:
            cur = self._members
            return len(cur) == members if isinstance(members, int) else cur == tuple(members)

        with self._cond:
            return self._cond.wait_for(ok, timeout)
