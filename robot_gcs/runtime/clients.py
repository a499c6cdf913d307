"""ClientHandle: one attached client of a daemon, callable from any thread.

Theory of operation
-------------------
``Daemon.attach_client(name, sink)`` (runtime/daemon.py) returns a ``ClientHandle``.
Every call validates its arguments in the caller's thread (``LocalProtocolError``),
then either runs it on the caller's thread (the daemon idles: client_plumbing.py
``_try_inline``) or appends it to the daemon's command deque; the daemon thread hands
queued commands to the group engine in call order. Queued multicasts are counted: at
most ``send_queue`` may wait for the daemon thread; beyond that ``multicast`` raises
``Backpressure`` or waits on a Condition up to ``timeout`` (never when called on the
daemon thread itself). After
``close()`` (or when the daemon ends the client) every call raises
``SessionClosed(reason)``.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from ..client.session import (check_group, check_groups, check_msg_type, check_payload,
                              check_private_target, check_service)
from ..core.events import private_name
from ..core.types import Service
from ..errors import Backpressure, SessionClosed

if TYPE_CHECKING:
    from .daemon import Daemon


class ClientHandle:
    """One attached client; its methods may be called from any thread."""

    def __init__(self, daemon: "Daemon", name: str, sink: Any, send_queue: int) -> None:
        self.daemon = daemon
        self.name = name
        self.private_name = private_name(name, daemon.name)
        self.sink = sink
        self._cap = send_queue
        self._lock = threading.Lock()
        self._space = threading.Condition(self._lock)
        self._waiting = 0
        self.pending = 0
        self.delivered = 0
        self.closed_reason: str | None = None

    @property
    def closed(self) -> bool:
        return self.closed_reason is not None

    def _check_open(self) -> None:
        if self.closed_reason is not None:
            raise SessionClosed(self.closed_reason)

    def join(self, group: str) -> None:
        check_group(group)
        self._check_open()
        self.daemon._post(self, "join", (group,))

    def leave(self, group: str) -> None:
        check_group(group)
        self._check_open()
        self.daemon._post(self, "leave", (group,))

    def multicast(self, groups: Any, payload: bytes, service: Any = Service.AGREED,
                  msg_type: int = 0, self_discard: bool = False,
                  timeout: float | None = None, local_payload: Any = None) -> None:
        self._submit("multicast", (check_groups(groups), check_payload(payload),
                                   check_service(service), check_msg_type(msg_type),
                                   bool(self_discard), local_payload), timeout)

    def send_private(self, target: str, payload: bytes, service: Any = Service.AGREED,
                     msg_type: int = 0, timeout: float | None = None) -> None:
        self._submit("private", (check_private_target(target), check_payload(payload),
                                 check_service(service), check_msg_type(msg_type)), timeout)

    def _submit(self, op: str, args: tuple[Any, ...], timeout: float | None) -> None:
        """Inline when the daemon idles, else counted against the send queue and queued."""
        self._check_open()
        if not self.daemon._try_inline(self, op, args):
            self._reserve(timeout)
            self.daemon._enqueue(self, op, args)

    def _reserve(self, timeout: float | None) -> None:
        with self._lock:
            self._check_open()
            if self.pending >= self._cap:
                if not timeout or timeout <= 0 or self.daemon.loop.in_loop_thread():
                    raise Backpressure(f"{self.private_name}: {self.pending} messages waiting "
                                       "for the daemon; slow down or pass a timeout")
                deadline = time.monotonic() + timeout
                self._waiting += 1
                try:
                    while self.pending >= self._cap and self.closed_reason is None:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            raise Backpressure(f"{self.private_name}: send queue still full "
                                               f"after {timeout}s")
                        self._space.wait(left)
                finally:
                    self._waiting -= 1
                self._check_open()
            self.pending += 1

    def _release(self, n: int = 1) -> None:   # daemon thread: n queued sends reached the engine
        with self._lock:
            self.pending -= n
            if self._waiting:
                self._space.notify_all()

    def _mark_closed(self, reason: str) -> None:
        with self._lock:
            if self.closed_reason is None:
                self.closed_reason = reason
            self._space.notify_all()

    def close(self) -> None:
        """Leave every group (others see DISCONNECT) and detach. Idempotent."""
        with self._lock:
            if self.closed_reason is not None:
                return
            self.closed_reason = "session closed"
            self._space.notify_all()
        self.daemon._forget(self)           # the name is free again at once
        self.daemon._post(self, "disconnect", ())
