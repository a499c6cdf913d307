"""In-process Session: a client in the daemon's own process, no serialisation.

Theory of operation
-------------------
``daemon.connect(name)`` returns an ``InProcessSession``. Commands go to the daemon
thread through the daemon's ``ClientHandle`` (runtime/daemon.py: a deque plus one
wake-up write per batch); events come back through a ``QueueSink``: a bounded deque
guarded by a ``threading.Condition``. The daemon thread calls ``QueueSink.push`` for each
event; it never blocks: when the deque is full, push returns False and the daemon
detaches the client ("client stopped reading"), which the ring sees as a DISCONNECT. The
events already queued stay readable; after them ``receive()`` raises
``SessionClosed(reason)``. The queue is a ``queue.SimpleQueue``: the reader's wake-up is
one C-level lock release, the cheapest handoff between two Python threads.

Objects cross threads as they are: ``DataMessage``/``GroupView`` are frozen, and with
``local_payload`` the receiving in-process clients get the sender's very object.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from ..core.types import Service
from ..errors import SessionClosed
from .session import Event, Groups, Session

if TYPE_CHECKING:
    from ..runtime.daemon import Daemon


class QueueSink:
    """Bounded event queue between the daemon thread (push) and reader threads.

    A ``queue.SimpleQueue`` (C code; a blocked reader waits with the GIL released and is
    woken by a single lock release) instead of a deque + ``Condition``: the wake-up is
    the embedded path's main fixed cost. Only the daemon thread pushes, so the capacity
    check cannot race with another push. ``closed`` enqueues an end marker after the
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
        if n >= self.high_water:
            self.high_water = n + 1
        return True

    def closed(self, reason: str) -> None:
        with self._lock:
            if self.closed_reason is None:
                self.closed_reason = reason
            if not self._marker_queued:
                self._marker_queued = True
                self._q.put(_END)

    def get(self, timeout: float | None) -> Any:
        """Next event, None on timeout; SessionClosed once closed and drained."""
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


class InProcessSession(Session):
    """Session of a client living in the daemon's process (see client/session.py)."""

    def __init__(self, daemon: "Daemon", name: str, capacity: int = 10000) -> None:
        self.name = name
        self._sink = QueueSink(capacity)
        self._handle = daemon.attach_client(name, self._sink)
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
                  timeout: float | None = None, local_payload: Any = None) -> None:
        self._check()
        self._handle.multicast(groups, payload, service, msg_type, self_discard, timeout,
                               local_payload)

    def send_private(self, target: str, payload: bytes, service: Service = Service.AGREED,
                     msg_type: int = 0, timeout: float | None = None) -> None:
        self._check()
        self._handle.send_private(target, payload, service, msg_type, timeout)

    def receive(self, timeout: float | None = None) -> Event | None:
        if self._closed:
            raise SessionClosed("session closed")
        ev: Event | None = self._sink.get(timeout)
        return ev

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._handle.close()
        self._sink.closed("session closed")

    @property
    def closed(self) -> bool:
        return self._closed or self._handle.closed_reason is not None

    @property
    def pending_events(self) -> int:
        return self._sink.queue_depth()

    def __repr__(self) -> str:
        return f"<InProcessSession {self.private_name}{' closed' if self._closed else ''}>"
