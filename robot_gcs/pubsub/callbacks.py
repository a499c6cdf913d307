"""A node's callbacks waiting to run, in delivery order, and its timers.

What it owns: the queue of ``[owner, item, alive]`` entries (a Subscription and its
sample, a group handler and its event, a queued call such as a service request) and the
heap of periodic ``Timer``s, and running them. The Node (node.py) fills the queue while it
drains its session and runs ``dispatch()`` and ``run_timers()`` in each spin step.

Rules: entries run in the order they were queued (the delivery order). An entry whose
``alive`` flag was cleared (a keep-last subscription dropped it, or the subscription was
destroyed) is skipped; the others keep their relative order. A timer that fell behind
skips its missed periods (endpoints.py) instead of firing a burst. Exceptions from a
callback propagate to the spinning caller.

Timers due together run inside one send batch (``batch``, the session's: what they
publish is one burst, which a token the daemon keeps carries on one visit once the last
of them returned), except a timer whose previous run took longer than ``HEAVY_TIMER``:
the batch ends before it and it runs outside, so a slow callback does not hold back what
the others published.

Owner: the node's spinning thread.
"""

from __future__ import annotations

import collections
import contextlib
import heapq
import time
from typing import Any, Callable, ContextManager

from .endpoints import QueueEntry, Subscription, Timer

HEAVY_TIMER = 0.001     # s: a timer callback that ran longer runs outside the send batch


class Callbacks:
    """The queue and the timers of one node (``clock`` is the node's)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.queue: collections.deque[QueueEntry] = collections.deque()
        self._timers: list[tuple[float, int, Timer]] = []
        self._timer_ids = 0

    def __bool__(self) -> bool:
        return bool(self.queue)

    def push(self, owner: Any, item: Any) -> QueueEntry:
        entry: QueueEntry = [owner, item, True]
        self.queue.append(entry)
        return entry

    def call(self, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` in its turn among the callbacks."""
        self.push(lambda _item: fn(), None)

    def add_timer(self, period: float, callback: Callable[[], Any]) -> Timer:
        t = Timer(period, callback, self.clock())
        self._timer_ids += 1
        heapq.heappush(self._timers, (t.next_due, self._timer_ids, t))
        return t

    def next_timer(self) -> float | None:
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def run_timers(self, batch: Callable[[], ContextManager[None]] | None = None) -> int:
        ran = 0
        now = self.clock()
        if not self._timers or self._timers[0][0] > now:
            return 0                            # the common spin: nothing due
        with contextlib.ExitStack() as open_batch:
            batched = False
            while self._timers and self._timers[0][0] <= now:
                _, tid, t = heapq.heappop(self._timers)
                if t.cancelled:
                    continue
                t.fired += 1
                t.advance(now)
                heapq.heappush(self._timers, (t.next_due, tid, t))
                if batch is not None and batched != (t.last_run <= HEAVY_TIMER):
                    if batched:
                        open_batch.close()      # what the others published goes
                    else:
                        open_batch.enter_context(batch())
                    batched = not batched
                started = time.perf_counter()
                t.callback()
                t.last_run = time.perf_counter() - started
                ran += 1
        return ran

    def dispatch(self) -> int:
        ran = 0
        q = self.queue
        while q:
            owner, item, alive = q.popleft()
            if not alive:
                continue
            if isinstance(owner, Subscription):
                owner.pending.popleft()
                owner.count += 1
                owner.callback(item if owner.raw_sample else item.value)
            else:
                owner(item)
            ran += 1
        return ran
