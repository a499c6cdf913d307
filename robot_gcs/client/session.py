"""The Session API every client uses, whatever carries it (ARCHITECTURE.md "Public API").

Theory of operation
-------------------
A ``Session`` is one client of one daemon, named ``#name#daemon`` (its private name).
The same methods work for the in-process session (``daemon.connect(name)``,
client/inprocess.py: Python objects through bounded in-memory queues) and for the socket
session (``robot_gcs.connect("unix:/path", name)``, client/socket_session.py):

* ``join(group)`` / ``leave(group)``: membership changes; the resulting ``GroupView``
  arrives through ``receive()`` at its place in the total order.
* ``multicast(groups, payload, service=AGREED, msg_type=0, self_discard=False,
  timeout=None, priority=False)``: ``groups`` is a name or a sequence of names. It never
  blocks the caller for long: when the daemon cannot take more (the ring carries less
  than is sent) it raises ``Backpressure`` (``timeout=None``) or waits up to ``timeout``
  seconds for room, then raises. ``priority=True`` (an e-stop) puts it ahead of other
  sessions' messages still waiting on the daemon, so it enters the order at the next
  token visit.
* ``receive(timeout=None)`` -> ``DataMessage | GroupView | None`` (None on timeout);
  ``poll()`` is ``receive(timeout=0)``.
* ``close()``; also a context manager. Any call after ``close()`` raises
  ``SessionClosed``; when the daemon ends the session (it stopped, or the client stopped
  reading and its queue overflowed) events already queued are still returned, then
  ``receive()`` raises ``SessionClosed(reason)``.
* Misuse (empty group list, name longer than 64 bytes, payload not bytes) raises
  ``LocalProtocolError`` in the caller's thread.
"""

from __future__ import annotations

import abc
import contextlib
from types import TracebackType
from typing import Any, ContextManager, Sequence, Union

from ..core.events import DataMessage, GroupView
from ..core.types import Service
from ..errors import LocalProtocolError

MAX_GROUP_NAME = 64
MAX_CLIENT_NAME = 32

Groups = Union[str, Sequence[str]]
Event = Union[DataMessage, GroupView]


def check_client_name(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise LocalProtocolError(f"client name must be a non-empty string, got {name!r}")
    if "#" in name or len(name.encode()) > MAX_CLIENT_NAME:
        raise LocalProtocolError(
            f"client name {name!r} must not contain '#' and be at most {MAX_CLIENT_NAME} bytes")
    return name


def check_group(group: str) -> str:
    if not isinstance(group, str) or not group:
        raise LocalProtocolError(f"group name must be a non-empty string, got {group!r}")
    if len(group) * 4 > MAX_GROUP_NAME and len(group.encode()) > MAX_GROUP_NAME:
        raise LocalProtocolError(
            f"group name {group[:20]!r}... is longer than {MAX_GROUP_NAME} bytes")
    return group


def check_groups(groups: Groups) -> tuple[str, ...]:
    if isinstance(groups, str):
        return (check_group(groups),)
    try:
        out = tuple(check_group(g) for g in groups)
    except TypeError:
        raise LocalProtocolError(f"groups must be a name or a sequence of names, "
                                 f"got {type(groups).__name__}") from None
    if not out:
        raise LocalProtocolError("multicast needs at least one group")
    if len(out) > 255:
        raise LocalProtocolError("a message may address at most 255 groups")
    return out


def check_service(service: Any) -> Service:
    if isinstance(service, Service):
        return service
    try:
        return Service(service)
    except ValueError:
        if isinstance(service, str) and service.upper() in Service.__members__:
            return Service[service.upper()]
        raise LocalProtocolError(f"unknown service {service!r}") from None


def check_msg_type(msg_type: Any) -> int:
    if isinstance(msg_type, bool) or not isinstance(msg_type, int) or not 0 <= msg_type < 2 ** 16:
        raise LocalProtocolError(f"msg_type must be an int in [0, 65535], got {msg_type!r}")
    return msg_type


def check_private_target(target: Any) -> str:
    if not isinstance(target, str) or not target.startswith("#"):
        raise LocalProtocolError(f"not a private name: {target!r}")
    return target


def check_payload(payload: Any) -> bytes:
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return bytes(payload)
    raise LocalProtocolError(f"payload must be bytes, got {type(payload).__name__}")


class Session(abc.ABC):
    """One client's connection to a daemon (in-process or over a socket)."""

    name: str
    private_name: str

    @abc.abstractmethod
    def join(self, group: str) -> None: ...

    @abc.abstractmethod
    def leave(self, group: str) -> None: ...

    @abc.abstractmethod
    def multicast(self, groups: Groups, payload: bytes, service: Service = Service.AGREED,
                  msg_type: int = 0, self_discard: bool = False,
                  timeout: float | None = None, local_payload: Any = None,
                  priority: bool = False) -> None:
        """``local_payload``: an object that in-process receivers on this daemon get
        instead of the bytes (the encoded form of it); socket sessions ignore it.
        ``priority``: ahead of other clients' messages still waiting on this daemon
        (never ahead of this session's own), for an e-stop in a burst."""

    @abc.abstractmethod
    def receive(self, timeout: float | None = None) -> Event | None: ...

    def batch(self) -> ContextManager[None]:
        """A block whose multicasts (from this thread) are one burst: a token its daemon
        keeps does not leave with the first of them but with all of them, when the block
        ends (one token visit; a Node runs its due timers in one). Each multicast is
        sent and can fail as outside a block; an urgent one is not held. A socket
        session's block changes nothing."""
        return contextlib.nullcontext()

    #: ``wake()`` works: a loop may block in ``receive(None)`` and still be stopped
    can_wake: bool = False

    def wake(self) -> None:
        """Any thread: a ``receive()`` waiting now (or the next one to wait) returns None
        at once, where ``can_wake``; otherwise nothing happens, and a loop that must
        notice a stop request waits in slices instead."""

    def poll(self) -> Event | None:
        return self.receive(timeout=0)

    @abc.abstractmethod
    def close(self) -> None: ...

    @property
    @abc.abstractmethod
    def closed(self) -> bool: ...

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
