"""In-process Session: a client in the daemon's own process, no serialisation.

Theory of operation
-------------------
``daemon.connect(name)`` returns an ``InProcessSession``. Commands go to the engine
through the daemon's ``ClientHandle`` (runtime/clients.py): run on the caller's thread
when the engine is free, else queued for the daemon thread (runtime/commands.py).
Events come back through a ``QueueSink``. Whoever holds the daemon's engine lock calls
``QueueSink.push`` for each event (runtime/README.md); it never blocks: when the queue is
full, push returns False and the daemon detaches the client ("client stopped reading"),
which the ring sees as a DISCONNECT. The events already queued stay readable; after
them ``receive()`` raises ``SessionClosed(reason)``. The queue is a
``queue.SimpleQueue``: the reader's wake-up is one C-level lock release, the cheapest
handoff between two Python threads.

Cheaper still is no hand-off: ``receive()`` with an empty queue asks the daemon to let
this thread wait on the ring sockets itself (runtime/waiting_reader.py,
``runtime.inline_receive``). It then sleeps in an epoll on those sockets and on the
sink's eventfd, which ``push`` writes only while such a reader waits; the two fds are
made on first use and closed with the session.

Objects cross threads as they are: ``DataMessage``/``GroupView`` are frozen, and with
``local_payload`` the receiving in-process clients get the sender's very object.
"""

from __future__ import annotations

import os
import queue
import select
import threading
from typing import Any, ContextManager, Protocol

from ..core.types import Service
from ..errors import SessionClosed
from .session import Event, Groups, Session


class ClientHandleLike(Protocol):
    """The daemon's handle of this client (runtime/clients.py ``ClientHandle``)."""

    private_name: str
    closed_reason: str | None

    def join(self, group: str) -> None: ...
    def leave(self, group: str) -> None: ...
    def multicast(self, groups: Any, payload: bytes, service: Any = ..., msg_type: int = ...,
                  self_discard: bool = ..., timeout: float | None = ...,
                  local_payload: Any = ..., priority: bool = ...) -> None: ...
    def send_private(self, target: str, payload: bytes, service: Any = ...,
                     msg_type: int = ..., timeout: float | None = ...,
                     priority: bool = ...) -> None: ...
    def close(self) -> None: ...
    def batch(self) -> ContextManager[None]: ...


class SessionHost(Protocol):
    """What an in-process session needs from its daemon (runtime/daemon.py ``Daemon``)."""

    def attach_client(self, name: str, sink: "QueueSink",
                      wait: float = ...) -> ClientHandleLike: ...
    def wait_serving(self, sink: "QueueSink", client: str,
                     timeout: float | None) -> float | None: ...


class QueueSink:
    """Bounded event queue between the engine lock holder (push) and reader threads.

    A ``queue.SimpleQueue`` (C code; a blocked reader waits with the GIL released and is
    woken by a single lock release) instead of a deque + ``Condition``: the wake-up is
    the embedded path's main fixed cost. Only the daemon's engine lock holder pushes, so
    the capacity check cannot race with another push. ``closed`` enqueues an end marker after the
    events already queued; once a reader reaches it every later ``get`` raises.
    """

    kind = "inprocess"
    local_objects = True      # may receive the sender's local_payload objects as they are

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()        # closed() may race with itself (two threads)
        self.high_water = 0
        self.dropped = 0
        self.closed_reason: str | None = None
        self._marker_queued = False
        self._ended = False                  # a reader reached the end marker
        # waiting reader (runtime/waiting_reader.py): an eventfd written by push() while
        # a reader waits in its epoll on the ring sockets and this fd
        self.waiting = False                 # a reader is (about to be) in epoll
        self.reader_active = False           # a thread is in the daemon's wait_serving
        self.ring_reads = 0                  # datagram batches its waiting reader served
        self._signal_fd: int | None = None
        self._poller: Any = None

    def reader_poller(self, socks: list[Any]) -> Any:
        """The epoll a waiting reader blocks in: the ring sockets and this sink's
        eventfd (made on first use; None where epoll/eventfd do not exist)."""
        if self._poller is None:
            if not hasattr(select, "epoll") or not hasattr(os, "eventfd"):
                return None
            self._signal_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            ep = select.epoll()
            ep.register(self._signal_fd, select.EPOLLIN)
            for s in socks:
                ep.register(s.fileno(), select.EPOLLIN)
            self._poller = ep
        return self._poller

    def has_events(self) -> bool:
        return not self._q.empty()

    def drain_signal(self) -> None:
        if self._signal_fd is not None:
            try:
                os.eventfd_read(self._signal_fd)
            except BlockingIOError:
                pass

    def _signal(self) -> None:
        if self._signal_fd is not None:
            try:
                os.eventfd_write(self._signal_fd, 1)
            except OSError:
                pass

    def release_poller(self) -> None:
        """Close the epoll and the eventfd (no reader may be using them). The reader on
        its way out and ``close()`` may both get here: the lock closes each fd once."""
        with self._lock:
            poller, self._poller = self._poller, None
            fd, self._signal_fd = self._signal_fd, None
        if poller is not None:
            poller.close()
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        self.release_poller()

    def queue_depth(self) -> int:
        return max(0, self._q.qsize() - (1 if self._marker_queued and not self._ended else 0))

    def push(self, event: Any) -> bool:
        if self.closed_reason is not None:
            return True                # reader is gone; nothing to overflow
        q = self._q
        n = q.qsize()
        if n >= self.capacity:
            self.dropped += 1
            return False
        q.put(event)
        if self.waiting:
            self._signal()
        if n >= self.high_water:
            self.high_water = n + 1
        return True

    def wake(self) -> None:
        """Any thread: the next ``get`` returns ``WOKEN`` instead of waiting (a reader
        waiting in its epoll is woken through the eventfd, as by ``push``)."""
        self._q.put(WOKEN)
        if self.waiting:
            self._signal()

    def closed(self, reason: str) -> None:
        with self._lock:
            if self.closed_reason is None:
                self.closed_reason = reason
            if not self._marker_queued:
                self._marker_queued = True
                self._q.put(_END)
                if self.waiting:
                    self._signal()

    def get(self, timeout: float | None) -> Any:
        """Next event, None on timeout, ``WOKEN`` after a ``wake``; SessionClosed once
        closed and drained."""
        if self._ended:
            raise SessionClosed(self.closed_reason or "session closed")
        try:
            if timeout is not None and timeout <= 0:
                ev = self._q.get_nowait()
            else:
                ev = self._q.get(timeout=timeout)
        except queue.Empty:
            return None
        if ev is _END:
            self._ended = True
            self._q.put(_END)          # wake any other reader blocked in get()
            raise SessionClosed(self.closed_reason or "session closed")
        return ev


_END = object()     # end marker queued by QueueSink.closed()
WOKEN = object()    # queued by QueueSink.wake(): receive() returns None for it


class InProcessSession(Session):
    """Session of a client living in the daemon's process (see client/session.py)."""

    def __init__(self, daemon: SessionHost, name: str, capacity: int = 10000, *,
                 reads_ring: bool = True, name_wait: float = 0.0) -> None:
        self.name = name
        self._reads_ring = reads_ring
        self._sink = QueueSink(capacity)
        self._handle = daemon.attach_client(name, self._sink, name_wait)
        self.private_name = self._handle.private_name
        self.daemon = daemon
        self._closed = False

    def _check(self) -> None:
        if self._closed:
            raise SessionClosed("session closed")
        reason = self._handle.closed_reason
        if reason is not None:
            raise SessionClosed(reason)

    def join(self, group: str) -> None:
        self._check()
        self._handle.join(group)

    def leave(self, group: str) -> None:
        self._check()
        self._handle.leave(group)

    def multicast(self, groups: Groups, payload: bytes, service: Service = Service.AGREED,
                  msg_type: int = 0, self_discard: bool = False,
                  timeout: float | None = None, local_payload: Any = None,
                  priority: bool = False) -> None:
        self._check()
        self._handle.multicast(groups, payload, service, msg_type, self_discard, timeout,
                               local_payload, priority)

    def batch(self) -> ContextManager[None]:
        self._check()
        return self._handle.batch()

    def send_private(self, target: str, payload: bytes, service: Service = Service.AGREED,
                     msg_type: int = 0, timeout: float | None = None,
                     priority: bool = False) -> None:
        self._check()
        self._handle.send_private(target, payload, service, msg_type, timeout, priority)

    def receive(self, timeout: float | None = None) -> Event | None:
        if self._closed:
            raise SessionClosed("session closed")
        sink = self._sink
        if not self._reads_ring:
            ev = sink.get(timeout)
        else:
            ev = sink.get(0.0)
            if ev is None and (timeout is None or timeout > 0):
                # wait in the ring's place: the datagram may be read on this very thread
                ev = sink.get(self.daemon.wait_serving(sink, self.name, timeout))
        return None if ev is WOKEN else ev

    can_wake = True

    def wake(self) -> None:
        self._sink.wake()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._handle.close()
        self._sink.closed("session closed")
        if not self._sink.reader_active:     # else the reader releases them on its way out
            self._sink.release_poller()

    @property
    def closed(self) -> bool:
        return self._closed or self._handle.closed_reason is not None

    @property
    def pending_events(self) -> int:
        return self._sink.queue_depth()

    def __repr__(self) -> str:
        return f"<InProcessSession {self.private_name}{' closed' if self._closed else ''}>"
