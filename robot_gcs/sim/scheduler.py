"""Virtual clock and event heap of the simulator.

Owns simulated time. Events are kept in a heap ordered by ``(time, insertion counter)``,
so two events due at the same instant run in the order they were scheduled: together
with one seeded ``random.Random`` this makes a run a pure function of its seed
(PROTOCOL.md section 6.1). Nothing here reads a wall clock.
"""

from __future__ import annotations

import heapq
from typing import Any


class Scheduler:
    """A min-heap of ``(time, counter, kind, args)`` entries and the current virtual time."""

    __slots__ = ("now", "_heap", "_counter", "processed")

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, int, tuple[Any, ...]]] = []
        self._counter = 0
        self.processed = 0

    def push(self, time: float, kind: int, args: tuple[Any, ...] = ()) -> None:
        """Schedule an event; a time in the past is clamped to now (no time travel)."""
        if time < self.now:
            time = self.now
        self._counter += 1
        heapq.heappush(self._heap, (time, self._counter, kind, args))

    def pop_until(self, end: float) -> tuple[float, int, tuple[Any, ...]] | None:
        """Pop the next event due at or before ``end`` and advance the clock to it."""
        heap = self._heap
        if not heap or heap[0][0] > end:
            return None
        time, _, kind, args = heapq.heappop(heap)
        self.now = time
        self.processed += 1
        return time, kind, args

    def advance_to(self, time: float) -> None:
        """Move the clock forward to ``time`` (after the heap has been drained up to it)."""
        if time > self.now:
            self.now = time

    def __len__(self) -> int:
        return len(self._heap)

    def next_time(self) -> float | None:
        return self._heap[0][0] if self._heap else None
