"""Socket sessions: the Session API for a process talking to a daemon over a socket.

Theory of operation
-------------------
``connect("unix:/tmp/robot_gcs/cpu1.sock", name="logger")`` (or ``tcp:host:port``) opens a
stream socket, sends HELLO and waits for WELCOME (the daemon's answer carries the private
name ``#logger#cpu1``) or CLOSED (refused: bad or duplicate name -> ``LocalProtocolError``).
Frames are those of ``client/wire.py``.

There is no background thread: ``receive()`` reads the socket in the caller's thread and
decodes into a local queue, so a message costs one handoff (kernel -> caller), not two.
The socket is non-blocking; waits use ``poll`` with the caller's timeout.

Sending: a frame is written to the kernel whole or not at all, so nothing lingers in user
space waiting for a later call. If the kernel cannot take a MCAST or PRIVATE frame now
(the daemon stopped reading us because our send queue there is full), ``multicast`` /
``send_private`` raise ``Backpressure`` at once (``timeout=None``) or after waiting up to
``timeout``. A frame partly written is always finished (bounded by ``finish_timeout``:
after that the daemon is considered wedged and the session closes). JOIN and LEAVE never
raise ``Backpressure``; they wait for the kernel, bounded the same way. Arguments are
checked in the caller's thread with the in-process session's rules (client/session.py),
a message too large for a frame or for the default ``max_message_size`` included;
a command the daemon still rejects comes back as an ERROR frame and is raised as
``LocalProtocolError`` by the next call.

Closing: the daemon ends a session with a CLOSED frame carrying the reason (for example
"client stopped reading"); events that arrived before it are still returned by
``receive()``, then every call raises ``SessionClosed(reason)``. EOF without CLOSED, a reset
or junk from the daemon close the session likewise, with a reason saying so. ``close()`` by
the caller sends BYE; later calls raise ``SessionClosed("session closed by the caller")``.

Thread safety: one lock for sending and one for receiving, so one thread may block in
``receive()`` while others multicast. ``local_payload`` is accepted for API compatibility
and ignored (there is no in-process receiver on this side of a socket).
"""

from __future__ import annotations

import collections
import logging
import os
import select
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..core.events import DataMessage, Event, GroupView
from ..core.group_wire import check_data_size
from ..core.params import ProtocolParams
from ..core.types import Service
from ..errors import (Backpressure, LocalProtocolError, RemoteProtocolError, SessionClosed)
from ..security.keys import KeyFileError
from ..security.session_auth import AuthRefused, client_handshake, token_from_env
from . import wire
from .session import (Groups, Session, check_client_name, check_group, check_groups,
                      check_msg_type, check_payload, check_private_target, check_service)

log = logging.getLogger(__name__)

RECV_CHUNK = 256 * 1024
# the default ring limit; a ring configured lower refuses with an ERROR frame instead
MAX_MESSAGE = ProtocolParams().max_message_size
CLOSED_BY_CALLER = "session closed by the caller"


@dataclass(frozen=True, slots=True)
class SocketSessionStats:
    frames_sent: int
    frames_received: int
    bytes_sent: int
    bytes_received: int
    backpressure: int
    queued_events: int


def _open_socket(addr: wire.Address, timeout: float) -> socket.socket:
    if addr.kind == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target: Any = addr.path
    else:
        infos = socket.getaddrinfo(addr.host, addr.port, type=socket.SOCK_STREAM)
        family, _, _, _, target = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(timeout)
    try:
        sock.connect(target)
    except BaseException:
        sock.close()
        raise
    return sock


def connect(address: str, name: str, *, timeout: float = 5.0,
            finish_timeout: float = 10.0,
            max_frame: int = wire.MAX_EVENT_FRAME,
            token: bytes | None = None) -> "SocketSession":
    """Open a session with the daemon serving ``address`` under client name ``name``.

    On TCP the client proves the ring's client token (security/session_auth.py):
    ``token``, else the file ``$ROBOT_GCS_TOKEN_FILE`` names; without one a daemon of a
    sealed ring refuses the session, saying so.

    Raises ``SessionClosed`` if no daemon answers there (reason says why) and
    ``LocalProtocolError`` if the address is malformed or the daemon refuses the name.
    """
    check_client_name(name)
    addr = wire.parse_address(address)
    try:
        sock = _open_socket(addr, timeout)
    except OSError as exc:
        raise SessionClosed(f"cannot connect to {addr}: {exc}") from None
    decoder = wire.FrameDecoder(wire.SERVER_FRAME_TYPES, max_frame)
    try:
        refusal = b""
        if addr.kind == "tcp":
            refusal = _authenticate(sock, token, timeout)
        if refusal:
            decoder.feed(refusal)          # the daemon said why it will not talk: read on
        else:
            sock.sendall(wire.encode(wire.Hello(name)))
        deadline = time.monotonic() + timeout
        welcome: wire.Frame | None = None
        while welcome is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SessionClosed(f"no answer from the daemon at {addr} within {timeout} s")
            sock.settimeout(left)
            data = sock.recv(RECV_CHUNK)
            if not data:
                raise SessionClosed(f"daemon at {addr} closed the connection during the handshake")
            decoder.feed(data)
            welcome = decoder.next_frame()
        if isinstance(welcome, wire.Closed):
            if welcome.refused:
                raise LocalProtocolError(f"daemon at {addr} refused {name!r}: {welcome.reason}")
            raise SessionClosed(welcome.reason)
        if not isinstance(welcome, wire.Welcome):
            raise SessionClosed(f"daemon at {addr} answered HELLO with {type(welcome).__name__}")
    except socket.timeout:
        sock.close()
        raise SessionClosed(f"no answer from the daemon at {addr} within {timeout} s") from None
    except OSError as exc:
        sock.close()
        raise SessionClosed(f"connection to {addr} failed: {exc}") from None
    except RemoteProtocolError as exc:
        sock.close()
        raise SessionClosed(f"protocol error from the daemon at {addr}: {exc}") from None
    except AuthRefused as exc:
        sock.close()
        raise SessionClosed(f"daemon at {addr}: {exc}") from None
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    session = SocketSession(sock, name, welcome.private_name, decoder, addr, finish_timeout)
    session._absorb()          # frames that came in with the WELCOME
    return session


def _authenticate(sock: socket.socket, token: bytes | None, timeout: float) -> bytes:
    """The TCP handshake when a token is known (b"" when done or skipped)."""
    if token is None:
        try:
            token = token_from_env()
        except KeyFileError as exc:
            raise LocalProtocolError(f"client token: {exc}") from None
    if token is None:
        return b""                 # a daemon that wants one refuses HELLO, saying so
    return client_handshake(sock, token, timeout)


class _WakePipe:
    """A non-blocking pipe whose read end a poll watches: ``wake`` writes a byte (any
    thread), the poller ``drain``s it. Owner: the session; ``close`` is idempotent."""

    def __init__(self) -> None:
        self.fd, self._w = os.pipe()
        os.set_blocking(self.fd, False)
        os.set_blocking(self._w, False)
        self._open = True

    def wake(self) -> None:
        try:
            os.write(self._w, b"w")
        except OSError:            # full (already woken) or closed
            pass

    def drain(self) -> None:
        try:
            while os.read(self.fd, 4096):
                pass
        except OSError:            # empty (BlockingIOError) or closed
            pass

    def close(self) -> None:
        if self._open:
            self._open = False
            os.close(self.fd)
            os.close(self._w)

    def __del__(self) -> None:
        self.close()


class SocketSession(Session):
    """A session served by a daemon in another process (see module docstring)."""

    def __init__(self, sock: socket.socket, name: str, private_name: str,
                 decoder: wire.FrameDecoder, address: wire.Address, finish_timeout: float) -> None:
        self.name = name
        self.private_name = private_name
        self.address = address
        self._sock: socket.socket | None = sock
        self._fd = sock.fileno()
        self._decoder = decoder
        self._finish_timeout = finish_timeout
        self._events: collections.deque[Event] = collections.deque()
        self._closed: str | None = None
        self._error: str | None = None
        self._send_lock = threading.Lock()
        self._recv_lock = threading.Lock()
        self._rpoll = select.poll()
        self._rpoll.register(self._fd, select.POLLIN)
        self._waker = _WakePipe()             # wake(): ends a receive() waiting in _rpoll
        self._rpoll.register(self._waker.fd, select.POLLIN)
        self._wpoll = select.poll()
        self._wpoll.register(self._fd, select.POLLOUT)
        self._frames_sent = self._frames_received = 0
        self._bytes_sent = self._bytes_received = 0
        self._backpressure = 0

    # ------------------------------------------------------------------ public API

    def join(self, group: str) -> None:
        """Join ``group``; a GroupView with this member follows through ``receive()``."""
        self._control(wire.Join(check_group(group)))

    def leave(self, group: str) -> None:
        self._control(wire.Leave(check_group(group)))

    def multicast(self, groups: Groups, payload: bytes,
                  service: Service = Service.AGREED, msg_type: int = 0,
                  self_discard: bool = False, timeout: float | None = None,
                  local_payload: Any = None, priority: bool = False) -> None:
        """Send ``payload`` to ``groups`` (one name or several); ``priority``: ahead of
        other clients' messages waiting on the daemon.

        Raises ``Backpressure`` when the daemon is not taking commands now (after waiting up
        to ``timeout`` seconds if given), ``SessionClosed`` when the session is over.
        """
        names = check_groups(groups)
        data = check_payload(payload)
        svc = check_service(service)
        check_data_size(self.name, names, len(data), MAX_MESSAGE)
        frame = wire.encode_multicast(names, data, svc, check_msg_type(msg_type),
                                      bool(self_discard), priority is True)
        self._send(frame, timeout, may_refuse=True)

    def send_private(self, target: str, payload: bytes, service: Service = Service.AGREED,
                     msg_type: int = 0, timeout: float | None = None) -> None:
        """Send ``payload`` to one member by private name (``#client#daemon``)."""
        target = check_private_target(target)
        data = check_payload(payload)
        svc = check_service(service)
        check_data_size(self.name, (target,), len(data), MAX_MESSAGE)
        self._send(wire.encode(wire.Private(target, data, svc, check_msg_type(msg_type))), timeout,
                   may_refuse=True)

    def receive(self, timeout: float | None = None) -> Event | None:
        """Next event (DataMessage or GroupView), or None after ``timeout`` seconds.

        ``timeout=None`` waits without limit. Raises ``SessionClosed(reason)`` once the
        session is over and every event received before the end has been returned.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._recv_lock:
            while True:
                if self._events:
                    return self._events.popleft()
                if self._closed is not None:
                    self._release()
                    raise SessionClosed(self._closed)
                if deadline is None:
                    wait_ms = -1
                else:
                    left = deadline - time.monotonic()
                    wait_ms = max(0, int(left * 1000 + 0.999))
                ready = self._rpoll.poll(wait_ms)
                if not ready:
                    if deadline is not None and time.monotonic() >= deadline:
                        return None
                    continue
                if any(fd == self._waker.fd for fd, _ev in ready):
                    self._waker.drain()
                    if self._closed is None:
                        return None
                    continue                   # closed meanwhile: report that
                self._read()

    @property
    def pending_events(self) -> int:
        """Events already decoded and waiting for ``receive()`` (reads nothing)."""
        return len(self._events)

    can_wake = True

    def wake(self) -> None:
        self._waker.wake()

    def close(self) -> None:
        """End the session (sends BYE). Idempotent; a thread blocked in ``receive()`` wakes
        up with ``SessionClosed``."""
        with self._send_lock:
            sock = self._sock
            if self._closed is None and sock is not None:
                try:
                    sock.send(wire.encode(wire.Bye(CLOSED_BY_CALLER)))
                except OSError:
                    pass
            self._shutdown(CLOSED_BY_CALLER)
            self._events.clear()
            self._release()

    @property
    def closed(self) -> bool:
        return self._closed is not None

    @property
    def close_reason(self) -> str | None:
        return self._closed

    def statistics(self) -> SocketSessionStats:
        return SocketSessionStats(self._frames_sent, self._frames_received, self._bytes_sent,
                                  self._bytes_received, self._backpressure, len(self._events))

    def __enter__(self) -> "SocketSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "open" if self._closed is None else f"closed ({self._closed})"
        return f"<SocketSession {self.private_name} at {self.address} {state}>"

    # ------------------------------------------------------------------ internals

    def _control(self, frame: wire.Frame) -> None:
        self._send(wire.encode(frame), None, may_refuse=False)

    def _send(self, data: bytes, timeout: float | None, may_refuse: bool) -> None:
        """Write one whole frame (see module docstring for the waiting rules)."""
        with self._send_lock:
            if self._closed is not None:
                raise SessionClosed(self._closed)
            if self._error is not None:
                err, self._error = self._error, None
                raise LocalProtocolError(f"the daemon rejected an earlier command: {err}")
            sock = self._sock
            assert sock is not None
            view = memoryview(data)
            total = len(data)
            sent = 0
            refuse_at = time.monotonic() + (timeout or 0.0) if may_refuse else None
            finish_at: float | None = None
            try:
                while True:
                    try:
                        sent += sock.send(view[sent:])
                    except BlockingIOError:
                        pass
                    if sent >= total:
                        break
                    now = time.monotonic()
                    if sent == 0 and refuse_at is not None:
                        if now >= refuse_at:
                            self._backpressure += 1
                            raise Backpressure(
                                f"daemon at {self.address} is not taking messages now "
                                f"(ring saturated); retry later or pass a timeout")
                        left = refuse_at - now
                    else:
                        if finish_at is None:
                            finish_at = now + self._finish_timeout
                        if now >= finish_at:
                            self._shutdown(f"daemon at {self.address} stopped reading commands "
                                           f"for {self._finish_timeout} s")
                            raise SessionClosed(self._closed or "")
                        left = finish_at - now
                    self._wpoll.poll(max(1, int(left * 1000 + 0.999)))
            except OSError as exc:
                self._shutdown(f"connection to the daemon lost: {exc}")
                raise SessionClosed(self._closed or "") from None
            self._frames_sent += 1
            self._bytes_sent += total

    def _read(self) -> None:
        """Read what the socket has (non-blocking) and decode it into the event queue."""
        sock = self._sock
        if sock is None or self._closed is not None:
            return
        try:
            data = sock.recv(RECV_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            self._shutdown(f"connection to the daemon lost: {exc}")
            return
        if not data:
            self._shutdown(self._closed or "daemon closed the connection without a reason")
            return
        self._bytes_received += len(data)
        self._decoder.feed(data)
        self._absorb()

    def _absorb(self) -> None:
        try:
            for frame in self._decoder.frames():
                self._frames_received += 1
                if isinstance(frame, (DataMessage, GroupView)):
                    self._events.append(frame)
                elif isinstance(frame, wire.Closed):
                    log.info("session %s closed by the daemon: %s", self.private_name, frame.reason)
                    self._shutdown(frame.reason)
                    return
                elif isinstance(frame, wire.Error):
                    log.warning("daemon rejected a command of %s: %s", self.private_name,
                                frame.message)
                    self._error = frame.message
                else:
                    raise RemoteProtocolError(f"unexpected {type(frame).__name__} frame")
        except RemoteProtocolError as exc:
            log.warning("protocol error from the daemon at %s: %s", self.address, exc)
            self._shutdown(f"protocol error from the daemon: {exc}")

    def _shutdown(self, reason: str) -> None:
        """Record why the session ended and shut the socket down (queued events stay).

        The descriptor itself is closed by ``close()`` or once ``receive()`` has reported the
        end, never here: another thread may be inside a send or receive call on it.
        """
        if self._closed is None:
            self._closed = reason
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _release(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
        self._waker.close()
