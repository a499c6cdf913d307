"""Commands: client commands into the engine -- on the caller's thread when it is free,
else queued for the daemon thread.

Theory of operation
-------------------
A command (connect, join, leave, multicast, private, disconnect) of a ``ClientHandle``
(runtime/clients.py) enters the engine in one of two ways:

* **inline** (caller-runs, ``ring.runtime.inline_commands``): when nothing is queued and
  the caller can take the loop lock without waiting (the daemon thread idles in
  ``select``), the caller's thread becomes the lock holder, feeds the command to the
  engine and settles (runtime/engine_host.py). The daemon thread itself -- the socket
  server handling a frame -- runs a command at once the same way when nothing is queued
  and no action list is being carried out. A refusal raises in the caller.
* **queued**: otherwise the command is appended to ``_queue`` (a multicast or private
  first takes send-queue room, ``ClientHandle.reserve``) and one drain is scheduled on
  the daemon thread. The drain feeds the queued commands in call order, settles once for
  the batch and gives the room back. An engine ``Backpressure`` (its send queue is full)
  stops the drain until the next input (``resume``, the host's ``after_input``). The
  engine's refusal of a queued command ends that client, with the reason. A *priority*
  multicast (an e-stop) is queued ahead of other clients' commands -- its own client's
  queued commands move up with it, in order -- and needs no send-queue room.
* **engine full**: when the engine refuses an inline command for a full send queue
  (core/packing.py bounds it by bytes and by the age of its oldest message), the caller
  waits for room up to its timeout, woken after each engine input (``_room``), or gets
  ``Backpressure`` -- it is not queued behind the ring's backlog.
* **batch** (``batch(h)``; a Node runs its due timers in one): the first multicast of
  the block is preceded by a ``batch`` command that opens the client's burst in the
  engine, and the block's end sends the one that closes it (inline or queued like any
  command, so in order with the multicasts between). While a burst is open the engine
  does not let a token it keeps here leave with the burst's first message; the close
  lets it go with all of them (core/token_flow.py). Each multicast takes its usual path,
  so nothing else about it changes.
* **busy daemon, long queue**: a multicast whose caller may wait (it passed a timeout)
  is not queued behind ``QUEUE_SOFT`` (32) queued commands either: it waits for the
  daemon thread's drain the same way. Only the engine's send queue is bounded by the
  age of its oldest message (core/packing.py); without this, a flood kept up to
  ``send_queue`` (1000) messages per client here, ahead of the engine's bound, and the
  engine's age bound never saw them (ring x3 AGREED 100 B flood p50 ~130 -> ~40 ms at
  the same throughput, a noisy shared box). A caller without a timeout queues up to
  ``send_queue`` as before (then ``Backpressure``).

A command runs inline only while the queue is empty, so no command overtakes an earlier
one. At stop, ``close`` refuses new commands (``SessionClosed``) and ends the clients of
the commands still queued with the reason: none is lost without a word.

Owner: ``_queue``, ``_closed_reason`` and ``_drain_scheduled`` are guarded by ``_lock``
(any thread appends); only the engine lock holder pops and feeds the engine, and it
alone touches ``_blocked``/``_draining``; ``_room_waiters`` is guarded by ``_room``
(read without it by the lock holder: a missed waiter is woken by the next input);
``_batch`` is per thread (threading.local): a thread sees only its own blocks.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from typing import Any, Iterator

from ..core.groups import GroupAction
from ..errors import Backpressure, LocalProtocolError, SessionClosed
from .client_table import ClientTable
from .clients import ClientHandle
from .engine_host import EngineHost
from .loop import EventLoop

log = logging.getLogger(__name__)

__all__ = ["Commands"]

_COUNTED = frozenset(("multicast", "private"))     # take send-queue room while queued
_RAN, _FULL, _QUEUE = object(), object(), object()  # outcomes of trying a command now
QUEUE_SOFT = 32     # queued commands a caller that may wait does not queue behind
_Queued = tuple[ClientHandle, str, tuple[Any, ...], bool]


class _Blocks(threading.local):
    """One thread's ``batch`` blocks: how deep it is in them, and the clients whose
    burst it opened (closed when the outermost block ends)."""

    def __init__(self) -> None:
        self.depth = 0
        self.opened: list[ClientHandle] = []


class Commands:
    """The daemon's ``CommandPort`` (see the module docstring)."""

    def __init__(self, host: EngineHost, loop: EventLoop, clients: ClientTable,
                 inline: bool) -> None:
        self._host = host
        self._loop = loop
        self._clients = clients
        self._inline = inline
        self._lock = threading.Lock()
        self._queue: deque[_Queued] = deque()
        self._closed_reason: str | None = None
        self._drain_scheduled = False
        self._blocked = False
        self._draining = False
        self._room = threading.Condition()   # callers waiting for the engine's send queue
        self._room_waiters = 0
        self.inline_runs = 0            # commands a caller's thread ran (statistics)
        self._batch = _Blocks()         # this thread's batch blocks (per thread)

    # ------------------------------------------------------------ CommandPort

    def post(self, h: ClientHandle, op: str, args: tuple[Any, ...],
             timeout: float | None) -> None:
        """Any thread: run ``op`` now if the engine is free, else queue it. When the
        engine's own send queue is full, a caller that may wait waits for room (up to
        ``timeout``) instead of queueing behind it: a sender that outruns the ring is
        slowed down, never buried under a growing backlog."""
        deadline = None
        counted = op in _COUNTED
        urgent = counted and args[-1] is True
        if counted and self._batch.depth and h not in self._batch.opened:
            self._batch.opened.append(h)
            self.post(h, "batch", (True,), None)     # the burst opens before its first
        while True:
            verdict = self._try_now(h, op, args)
            if verdict is _RAN:
                return
            # the engine's send queue is full (refused this one, or the queued ones):
            # a message waits for room rather than joining a backlog (an urgent one not)
            full = verdict is _FULL or (counted and not urgent and (
                self._blocked or (timeout and len(self._queue) >= QUEUE_SOFT)))
            if not full or self._loop.holds_lock():
                break
            if deadline is None:
                if not timeout or timeout <= 0:
                    raise Backpressure(f"{h.private_name}: the daemon's send queue is full "
                                       "(the ring carries less than is sent); slow down "
                                       "or pass a timeout")
                deadline = time.monotonic() + timeout
            if not self._wait_for_room(deadline):
                raise Backpressure(f"{h.private_name}: the daemon's send queue was still "
                                   f"full after {timeout}s")
            h.check_open()
        if counted:
            h.reserve(timeout, may_wait=not self._loop.holds_lock(), urgent=urgent)
        self._enqueue((h, op, args, counted), urgent)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Any thread: the multicasts it makes inside the block are one burst for the
        engine (see the module docstring); blocks nest, the outermost counts."""
        tl = self._batch
        depth = tl.depth
        tl.depth = depth + 1
        try:
            yield
        finally:
            tl.depth = depth
            if not depth:
                opened, tl.opened = tl.opened, []
                for h in opened:
                    try:
                        self.post(h, "batch", (False,), None)
                    except (SessionClosed, LocalProtocolError):
                        pass        # gone meanwhile: the engine closed its burst then

    def _try_now(self, h: ClientHandle, op: str, args: tuple[Any, ...]) -> object:
        """_RAN, _FULL (the engine's send queue refused it) or _QUEUE (the engine is
        busy, something is queued, or inline commands are off)."""
        loop = self._loop
        if not self._inline or self._queue:
            return _QUEUE
        if loop.holds_lock():
            if self._draining or self._host.busy:
                return _QUEUE
            return _RAN if self._run_now(h, op, args) else _FULL
        if not loop.try_enter():
            return _QUEUE
        try:
            if self._queue or self._closed_reason is not None:
                return _QUEUE
            if self._run_now(h, op, args):
                self.inline_runs += 1
                return _RAN
            return _FULL
        finally:
            loop.leave()

    def _wait_for_room(self, deadline: float) -> bool:
        """Wait until an engine input took messages from its send queue (or ``deadline``)."""
        with self._room:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._room_waiters += 1
            try:
                self._room.wait(left)
            finally:
                self._room_waiters -= 1
        return time.monotonic() < deadline

    def closing(self, h: ClientHandle) -> None:
        """``h.close()``: the name becomes leaving, the engine gets the disconnect."""
        if not self._clients.forget(h):
            return                       # the daemon ended it already
        try:
            self.post(h, "disconnect", (), None)
        except LocalProtocolError:       # never connected: nothing to order
            self._clients.released(h.name)
        except SessionClosed:            # the daemon stopped: it disconnects everyone
            pass

    # ------------------------------------------------------------ running

    def _apply(self, now: float, h: ClientHandle, op: str,
               args: tuple[Any, ...]) -> list[GroupAction]:
        e = self._host.engine
        if op == "multicast":
            groups, data, service, msg_type, self_discard, local, priority = args
            return e.client_multicast(now, h.name, groups, data, service, msg_type,
                                      self_discard, local, priority)
        if op == "join":
            return e.client_join(now, h.name, args[0])
        if op == "leave":
            return e.client_leave(now, h.name, args[0])
        if op == "private":
            target, data, service, msg_type, priority = args
            return e.client_send_private(now, h.name, target, data, service, msg_type,
                                         None, priority)
        if op == "batch":
            return e.client_batch(now, h.name, args[0])
        if op == "connect":
            return e.client_connect(now, h.name)
        if op == "disconnect":
            return e.client_disconnect(now, h.name)
        raise AssertionError(f"unknown command {op!r}")

    def _run_now(self, h: ClientHandle, op: str, args: tuple[Any, ...]) -> bool:
        """Lock held: feed one command and settle. False: the engine's send queue is
        full, queue the command instead. A refusal raises."""
        try:
            self._host.feed(self._apply, h, op, args)
        except Backpressure:
            return False
        finally:
            self._host.settle()
        return True

    def _enqueue(self, item: _Queued, urgent: bool = False) -> None:
        with self._lock:
            reason = self._closed_reason
            if reason is None:
                if urgent:
                    self._put_urgent(item)
                else:
                    self._queue.append(item)
                schedule, self._drain_scheduled = not self._drain_scheduled, True
        if reason is not None:
            h, _op, _args, counted = item
            if counted:
                h.release(1)
            h.mark_closed(reason)
            raise SessionClosed(reason)
        if schedule:
            self._loop.call_soon_threadsafe(self._drain)

    def _put_urgent(self, item: _Queued) -> None:
        """``_lock`` held: an urgent command goes behind the urgent ones already queued,
        ahead of other clients' commands, together with its own client's queued
        commands (which it never overtakes; they move up with it, in order)."""
        q = self._queue
        h = item[0]
        pos = 0                              # just behind the last urgent command queued
        for i, (_other, _op, args, counted) in enumerate(q):
            if counted and args[-1] is True:
                pos = i + 1
        rest = list(q)[pos:]
        mine = [x for x in rest if x[0] is h]
        others = [x for x in rest if x[0] is not h]
        for _ in range(len(rest)):
            q.pop()
        q.extend(mine)
        q.append(item)
        q.extend(others)

    def _drain(self) -> None:
        with self._lock:
            self._drain_scheduled = False
        self.run_queue()

    def resume(self) -> None:
        """After an engine input (lock held): retry a drain the engine's send queue
        stopped, and wake callers waiting for room in it."""
        if self._blocked and not self._draining and self._queue:
            self.run_queue()
        if self._room_waiters:
            with self._room:
                self._room.notify_all()

    def run_queue(self) -> None:
        """Lock held: feed the queued commands in order, then settle once."""
        if self._draining:
            return
        self._draining = True
        self._blocked = False
        freed: dict[ClientHandle, int] = {}
        queue = self._queue
        try:
            while queue:
                h, op, args, counted = queue[0]
                try:
                    self._host.feed(self._apply, h, op, args)
                except Backpressure:
                    self._blocked = True         # retried after the next input
                    break
                except LocalProtocolError as exc:
                    self._refused(h, op, exc)
                queue.popleft()
                if counted:
                    freed[h] = freed.get(h, 0) + 1
            self._host.settle()
        finally:
            self._draining = False
            for h, n in freed.items():
                h.release(n)

    def _refused(self, h: ClientHandle, op: str, exc: LocalProtocolError) -> None:
        """The engine refused a queued command: the client learns why as its end."""
        if op == "disconnect":
            self._clients.released(h.name)
            return
        log.warning("%s: %s refused: %s", h.private_name, op, exc)
        self._host.detach(h, f"daemon refused {op}: {exc}")

    def close(self, reason: str) -> None:
        """The daemon stopped: refuse new commands, end the clients of queued ones."""
        with self._lock:
            self._closed_reason = reason
            pending = list(self._queue)
            self._queue.clear()
        for h, _op, _args, counted in pending:
            if counted:
                h.release(1)
            h.mark_closed(reason)
