"""The daemon thread's event loop: one selector, one timer heap, one wake-up fd.

Theory of operation
-------------------
One ``EventLoop`` runs on one thread (the daemon thread) and owns everything registered
with it; code that holds its lock (below) may use it too. The rules:

* ``add_reader(fileobj, callback)`` / ``remove_reader(fileobj)``, ``add_writer`` /
  ``remove_writer`` (same fd may have both), ``call_soon(fn)``,
  ``call_later(delay, fn)`` and ``call_at(when, fn)`` are for code running ON the loop
  thread (or before ``run()`` starts). ``call_later``/``call_at`` return a
  ``TimerHandle`` with ``cancel()``. Callbacks take no arguments (use functools.partial).
* ``call_soon_threadsafe(fn)`` and ``stop()`` may be called from any thread. The
  callable is appended to a deque and the loop is woken through an eventfd (a
  socketpair where eventfd is missing); a flag keeps one wake-up write per batch.
* **Loop lock** (``lock``): the loop thread holds it while it runs callbacks and lets
  go only while it waits in ``select``. Another thread that takes it (``try_enter``
  never blocks, ``enter(timeout)`` waits) is a *guest*: until ``leave()`` it may run any
  loop-owned code (runtime/README.md, the ownership rule) and use ``call_at``/
  ``call_soon``; a deadline earlier than the one the loop sleeps towards, or a ready
  callback, wakes the loop. A timer may be given **slack** (``call_at(when, fn,
  slack)``): if the loop already sleeps towards a deadline before ``when + slack``,
  nothing is woken. ``holds_lock()`` tells a thread whether it is the holder. On the
  main thread a guest section defers Ctrl-C to its ``leave()`` (runtime/interrupts.py).
* Time is ``time.monotonic()`` unless a clock is injected; ``loop.time()`` is the ``now``
  handed to the sans-IO engine, so engine deadlines and loop deadlines share a base.
* A callback that raises is logged and counted (``callback_errors``); the loop goes on.
* **Lag**: for every timer that fires, ``actual - deadline`` is recorded (``LagMeter``:
  worst, p50/p99 over the last 4096 samples). A probe timer (``lag_probe`` seconds,
  default 0.5) keeps sampling while the ring is idle. Lag is what a CPU-bound thread in
  the same process costs the ring: with the GIL, a waiting daemon thread runs again only
  after the busy thread's switch interval (``sys.getswitchinterval()``, 5 ms default)
  and pays it again after every blocking call that releases the GIL.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import selectors
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from .interrupts import MAIN_THREAD, SHIELD

log = logging.getLogger(__name__)

EVENT_READ = selectors.EVENT_READ
EVENT_WRITE = selectors.EVENT_WRITE

Callback = Callable[[], object]


@dataclass(frozen=True, slots=True)
class LagStats:
    """How late timers fired on the daemon loop (seconds)."""

    worst: float
    p50: float
    p99: float
    last: float
    samples: int          # total timers measured since start


class LagMeter:
    """Worst lag ever plus percentiles over a sliding window of recent samples."""

    def __init__(self, window: int = 4096) -> None:
        self._recent: deque[float] = deque(maxlen=window)
        self.worst = 0.0
        self.count = 0
        self.last = 0.0

    def record(self, lag: float) -> None:
        if lag < 0.0:
            lag = 0.0
        self._recent.append(lag)
        self.count += 1
        self.last = lag
        if lag > self.worst:
            self.worst = lag

    def reset(self) -> None:
        self._recent.clear()
        self.worst = 0.0

    def snapshot(self) -> LagStats:
        recent = sorted(list(self._recent))   # list(deque) is atomic under the GIL
        if not recent:
            return LagStats(self.worst, 0.0, 0.0, self.last, self.count)
        n = len(recent)
        return LagStats(self.worst, recent[n // 2], recent[min(n - 1, (n * 99) // 100)],
                        self.last, self.count)


class TimerHandle:
    __slots__ = ("when", "callback", "cancelled", "slack")

    def __init__(self, when: float, callback: Callback, slack: float = 0.0) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False
        self.slack = slack          # may fire this much late (not counted as lag)

    def cancel(self) -> None:
        self.cancelled = True


class _Waker:
    """Wake-up fd: eventfd on Linux, a socketpair elsewhere."""

    def __init__(self) -> None:
        self._efd: int | None = None
        self._pair: tuple[socket.socket, socket.socket] | None = None
        if hasattr(os, "eventfd"):
            self._efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        else:  # pragma: no cover - non-Linux
            a, b = socket.socketpair()
            a.setblocking(False)
            b.setblocking(False)
            self._pair = (a, b)

    def fileno(self) -> int:
        if self._efd is not None:
            return self._efd
        assert self._pair is not None
        return self._pair[0].fileno()

    def wake(self) -> None:
        try:
            if self._efd is not None:
                os.eventfd_write(self._efd, 1)
            elif self._pair is not None:
                self._pair[1].send(b"\0")
        except (BlockingIOError, OSError):
            pass

    def drain(self) -> None:
        try:
            if self._efd is not None:
                os.eventfd_read(self._efd)
            elif self._pair is not None:
                while self._pair[0].recv(4096):
                    pass
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        if self._efd is not None:
            os.close(self._efd)
            self._efd = None
        if self._pair is not None:
            for s in self._pair:
                s.close()
            self._pair = None


class EventLoop:
    """Selector loop with a timer heap; run it on exactly one thread."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 lag_probe: float | None = 0.5) -> None:
        self.time = clock
        self._sel = selectors.DefaultSelector()
        self._timers: list[tuple[float, int, TimerHandle]] = []
        self._counter = itertools.count()
        self._ready: deque[Callback] = deque()
        self._threadsafe: deque[Callback] = deque()
        self._wake_pending = False
        self._waker = _Waker()
        self._sel.register(self._waker.fileno(), selectors.EVENT_READ, (self._on_wake, None))
        self._running = False
        self._stopping = False
        self._thread_id: int | None = None
        self.lag = LagMeter()
        self.callback_errors = 0
        self.iterations = 0
        self._lag_probe = lag_probe
        self.lock = threading.Lock()
        self._owner: int | None = None           # thread id holding ``lock``
        self._sleep_until: float | None = None   # select deadline while the lock is free

    # ------------------------------------------------------------ registration

    def _set(self, fileobj: Any, reader: Callback | None | bool,
             writer: Callback | None | bool) -> None:
        """Update one fd's (reader, writer) pair; False = keep the current one."""
        try:
            key = self._sel.get_key(fileobj)
            cur_r, cur_w = key.data
        except (KeyError, ValueError):
            key = None
            cur_r, cur_w = None, None
        r = cur_r if reader is False else reader
        w = cur_w if writer is False else writer
        mask = (selectors.EVENT_READ if r is not None else 0) | \
            (selectors.EVENT_WRITE if w is not None else 0)
        if key is None:
            if mask:
                self._sel.register(fileobj, mask, (r, w))
        elif mask:
            self._sel.modify(fileobj, mask, (r, w))
        else:
            self._sel.unregister(fileobj)

    def add_reader(self, fileobj: Any, callback: Callback) -> None:
        self._set(fileobj, callback, False)

    def remove_reader(self, fileobj: Any) -> None:
        self._set(fileobj, None, False)

    def add_writer(self, fileobj: Any, callback: Callback) -> None:
        """Call ``callback`` whenever ``fileobj`` is writable (until remove_writer)."""
        self._set(fileobj, False, callback)

    def remove_writer(self, fileobj: Any) -> None:
        self._set(fileobj, False, None)

    def call_soon(self, fn: Callback) -> None:
        self._ready.append(fn)
        if self._sleep_until is not None:         # an inline caller; the loop sleeps
            self._wake_inline()

    def call_at(self, when: float, fn: Callback, slack: float = 0.0) -> TimerHandle:
        """Run ``fn`` at ``when``; with ``slack``, up to that much later is fine, so an
        inline caller does not wake a loop that sleeps towards ``when + slack`` or less."""
        h = TimerHandle(when, fn, slack)
        heapq.heappush(self._timers, (when, next(self._counter), h))
        until = self._sleep_until
        if until is not None and when + slack < until:   # inline caller: deadline moved up
            self._wake_inline()
        return h

    def _wake_inline(self) -> None:
        self._sleep_until = None
        if not self._wake_pending:
            self._wake_pending = True
            self._waker.wake()

    def try_enter(self) -> bool:
        """Take the loop lock without blocking, from a thread other than the loop's.

        True: the loop is waiting in ``select`` and stays out of its callbacks until
        ``leave()``; the caller may run loop-owned code. False: the loop is busy (or not
        running, or this is the loop thread) -- hand the work over instead.
        """
        return self.enter(0.0)

    def enter(self, timeout: float | None) -> bool:
        """Like ``try_enter`` but wait up to ``timeout`` seconds (None: no limit) for the
        loop to reach ``select``; False if it did not, or the loop is not running.

        On the main thread the section is guarded (runtime/interrupts.py): a Ctrl-C that
        arrives before ``leave()`` is raised by ``leave()``.
        """
        me = threading.get_ident()
        if not self._running or self._stopping or me == self._thread_id:
            return False
        main = me == MAIN_THREAD
        if main:
            SHIELD.depth += 1                     # before the lock: no leak on Ctrl-C
        try:
            if timeout is not None and timeout <= 0.0:
                got = self.lock.acquire(blocking=False)
            else:
                got = self.lock.acquire(timeout=-1 if timeout is None else timeout)
            if got and not self._running:         # run() ended meanwhile
                self.lock.release()
                got = False
        except BaseException:
            if main:
                SHIELD.depth -= 1
            raise
        if not got:
            if main:
                SHIELD.depth -= 1
                SHIELD.raise_pending()
            return False
        self._owner = me
        return True

    def leave(self) -> None:
        """Give the lock back (after ``enter``); a deferred Ctrl-C is raised here."""
        self._owner = None
        self.lock.release()
        if threading.get_ident() == MAIN_THREAD:
            SHIELD.depth -= 1
            SHIELD.raise_pending()

    def holds_lock(self) -> bool:
        """The calling thread holds the loop lock (the loop thread in a callback, or a
        guest between ``enter`` and ``leave``)."""
        return self._owner == threading.get_ident()

    def call_later(self, delay: float, fn: Callback) -> TimerHandle:
        return self.call_at(self.time() + delay, fn)

    def call_soon_threadsafe(self, fn: Callback) -> None:
        self._threadsafe.append(fn)
        if not self._wake_pending and threading.get_ident() != self._thread_id:
            self._wake_pending = True
            self._waker.wake()

    def in_loop_thread(self) -> bool:
        return threading.get_ident() == self._thread_id

    @property
    def running(self) -> bool:
        return self._running

    # ------------------------------------------------------------ running

    def stop(self) -> None:
        """Ask ``run()`` to return after the current iteration (any thread)."""
        self._stopping = True
        self._waker.wake()

    def _on_wake(self) -> None:
        self._waker.drain()

    def _run_cb(self, fn: Callback) -> None:
        try:
            fn()
        except Exception:
            self.callback_errors += 1
            log.exception("callback %r failed on the daemon loop", fn)

    def _probe(self) -> None:
        if self._lag_probe:
            self.call_later(self._lag_probe, self._probe)

    def run(self) -> None:
        """Run until ``stop()``; returns on the same thread."""
        self._thread_id = threading.get_ident()
        self._running = True
        if self._lag_probe:
            self.call_later(self._lag_probe, self._probe)
        sel = self._sel
        timers = self._timers
        lock = self.lock
        me = self._thread_id
        lock.acquire()
        self._owner = me
        try:
            while not self._stopping:
                self.iterations += 1
                if self._ready or self._threadsafe:
                    timeout: float | None = 0.0
                    self._sleep_until = None
                elif timers:
                    until = timers[0][0]
                    timeout = max(0.0, until - self.time())
                    self._sleep_until = until
                else:
                    timeout = None
                    self._sleep_until = float("inf")
                self._owner = None
                lock.release()
                try:
                    events = sel.select(timeout)
                finally:
                    lock.acquire()
                    self._owner = me
                    self._sleep_until = None
                for key, ev in events:
                    r, w = key.data
                    if ev & EVENT_READ and r is not None:
                        self._run_cb(r)
                    if ev & EVENT_WRITE and w is not None and key.fd in sel.get_map():
                        self._run_cb(w)
                self._wake_pending = False      # later requests write the fd again
                if self._threadsafe:
                    ts = self._threadsafe
                    while ts:
                        self._run_cb(ts.popleft())
                ready = self._ready
                n = len(ready)
                while n and ready:
                    n -= 1
                    self._run_cb(ready.popleft())
                if timers:
                    now = self.time()
                    while timers and timers[0][0] <= now:
                        when, _, h = heapq.heappop(timers)
                        if h.cancelled:
                            continue
                        self.lag.record(now - when - h.slack)
                        self._run_cb(h.callback)
                        now = self.time()
                # drop cancelled timers at the head so the heap does not grow unbounded
                while timers and timers[0][2].cancelled:
                    heapq.heappop(timers)
                if len(timers) > 1024 and sum(1 for t in timers if t[2].cancelled) > 512:
                    self._timers[:] = [t for t in timers if not t[2].cancelled]
                    heapq.heapify(self._timers)
        finally:
            self._sleep_until = None
            self._running = False
            self._stopping = False
            self._owner = None
            lock.release()

    def run_pending(self) -> None:
        """Run queued thread-safe callbacks once (used after run() returned, on shutdown)."""
        while self._threadsafe:
            self._run_cb(self._threadsafe.popleft())
        while self._ready:
            self._run_cb(self._ready.popleft())

    def close(self) -> None:
        self._sel.close()
        self._waker.close()
