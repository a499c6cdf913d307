"""ClientHandle: one attached client of a daemon, callable from any thread.

Theory of operation
-------------------
``Daemon.attach_client(name, sink)`` (runtime/daemon.py) returns a ``ClientHandle``.
Every call checks its arguments in the caller's thread (``LocalProtocolError``) and hands
the command to the daemon's ``CommandPort`` (runtime/commands.py), which runs it on the
caller's thread when the engine is free or queues it for the daemon thread. A refusal by
the engine reaches the client: raised in the caller when the command ran inline, or as
the end of the session (``SessionClosed`` with the reason) when it had been queued.

Message size: ``multicast`` and ``send_private`` refuse a payload whose group envelope
would pass the ring's ``max_message_size`` with ``LocalProtocolError`` in the caller,
before anything is queued (a queued refusal could only end the session).

Groups: ``join`` beyond the per-client or per-daemon limit (core/group_limits.py, the
daemon's ``SharedQuota``) raises ``LocalProtocolError`` in the caller; the engine checks
again (its refusal of a queued join would end the session). A closed handle gives its
groups back.

Send-queue room: at most ``send_queue`` queued multicasts/privates per client
(``reserve``); beyond that ``multicast`` raises ``Backpressure`` or waits on a Condition
up to ``timeout`` (never on the daemon thread). The port gives room back (``release``)
as the engine takes queued messages. After ``close()`` (or when the daemon ends the
client, ``mark_closed``) every call raises ``SessionClosed(reason)``.

Owner: ``pending``, ``_waiting`` and ``closed_reason`` are guarded by ``_lock``
(``_quota`` has its own);
``delivered`` is counted by the engine lock holder (runtime/engine_host.py).
"""

from __future__ import annotations

import threading
import time
from typing import Any, ContextManager, Protocol

from ..client.session import (check_group, check_groups, check_msg_type, check_payload,
                              check_private_target, check_service)
from ..core.events import private_name
from ..core.group_limits import GroupLimits
from ..core.group_wire import check_data_size
from ..core.types import Service
from ..errors import Backpressure, SessionClosed
from .limits import SharedQuota

__all__ = ["ClientHandle", "CommandPort"]


class CommandPort(Protocol):
    """Where a handle's commands go (runtime/commands.py)."""

    def post(self, h: "ClientHandle", op: str, args: tuple[Any, ...],
             timeout: float | None) -> None: ...
    def closing(self, h: "ClientHandle") -> None: ...
    def batch(self) -> ContextManager[None]: ...


class ClientHandle:
    """One attached client; its methods may be called from any thread."""

    def __init__(self, port: CommandPort, daemon_name: str, name: str, sink: Any,
                 send_queue: int, max_message: int = 4 * 1024 * 1024,
                 quota: SharedQuota | None = None) -> None:
        self._port = port
        self.max_message = max_message     # the ring's max_message_size (envelope included)
        self._quota = quota or SharedQuota(GroupLimits.for_message(max_message))
        self.name = name
        self.private_name = private_name(name, daemon_name)
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

    def check_open(self) -> None:
        if self.closed_reason is not None:
            raise SessionClosed(self.closed_reason)

    def join(self, group: str) -> None:
        check_group(group)
        self.check_open()
        new = self._quota.join(self.name, group)      # over a limit: raised here
        try:
            self._port.post(self, "join", (group,), None)
        except BaseException:
            if new:
                self._quota.leave(self.name, group)
            raise

    def leave(self, group: str) -> None:
        check_group(group)
        self.check_open()
        self._port.post(self, "leave", (group,), None)
        self._quota.leave(self.name, group)

    def multicast(self, groups: Any, payload: bytes, service: Any = Service.AGREED,
                  msg_type: int = 0, self_discard: bool = False,
                  timeout: float | None = None, local_payload: Any = None,
                  priority: bool = False) -> None:
        args = (check_groups(groups), check_payload(payload), check_service(service),
                check_msg_type(msg_type), bool(self_discard), local_payload, priority is True)
        check_data_size(self.name, args[0], len(args[1]), self.max_message)
        self.check_open()
        self._port.post(self, "multicast", args, timeout)

    def batch(self) -> ContextManager[None]:
        """Multicasts this thread makes inside the block are one burst for the engine
        (runtime/commands.py, ``batch``)."""
        return self._port.batch()

    def send_private(self, target: str, payload: bytes, service: Any = Service.AGREED,
                     msg_type: int = 0, timeout: float | None = None,
                     priority: bool = False) -> None:
        args = (check_private_target(target), check_payload(payload), check_service(service),
                check_msg_type(msg_type), priority is True)
        check_data_size(self.name, (args[0],), len(args[1]), self.max_message)
        self.check_open()
        self._port.post(self, "private", args, timeout)

    def close(self) -> None:
        """Leave every group (others see DISCONNECT) and detach. Idempotent."""
        with self._lock:
            if self.closed_reason is not None:
                return
            self.closed_reason = "session closed"
            self._space.notify_all()
        self._quota.drop(self.name)
        self._port.closing(self)

    # ------------------------------------------------------------ for the port

    def reserve(self, timeout: float | None, may_wait: bool, urgent: bool = False) -> None:
        """Take room for one queued message (``may_wait``: not on the daemon thread); an
        ``urgent`` one is counted but never refused."""
        with self._lock:
            self.check_open()
            if self.pending >= self._cap and not urgent:
                if not timeout or timeout <= 0 or not may_wait:
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
                self.check_open()
            self.pending += 1

    def release(self, n: int = 1) -> None:
        """``n`` queued messages reached the engine (or were dropped)."""
        with self._lock:
            self.pending -= n
            if self._waiting:
                self._space.notify_all()

    def mark_closed(self, reason: str) -> bool:
        """The daemon ends this client; False if it was closed already."""
        with self._lock:
            first = self.closed_reason is None
            if first:
                self.closed_reason = reason
            self._space.notify_all()
        if first:
            self._quota.drop(self.name)
        return first
