"""IPC server: serves socket sessions (client/socket_session.py) from a running daemon.

Theory of operation
-------------------
``IpcServer(daemon, address)`` listens on ``unix:/path`` (default; parent directories are
created, a stale socket file left by a dead daemon is replaced, a live one is an error) or
``tcp:host:port``. It is loop-owned code: it runs on the daemon thread (``start()`` before
the loop runs, accepted connections registered with ``daemon.loop.add_reader``) or, for a
connection's ``push``/``closed`` (the sink side), on whichever thread holds the engine
lock (runtime/README.md). No call ever blocks (all sockets are non-blocking).

Per connection: runtime/ipc_connection.py (the protocol of one socket client, its
write buffer, flow control and closing).

Limits (runtime/limits.py, ``IpcLimits``): connections beyond ``max_connections`` are
refused at accept, EMFILE pauses the listener instead of spinning, unfinished frames are
bounded in total bytes and in age, unread events in total bytes, and TCP connections get
keepalive so a client whose link died is detached.

Security (security/): a Unix socket is created under a temporary name, given mode 0600
(0660 and the group when the config names ``socket_group``) and only then renamed into
place, so no other user can connect in between. On TCP, a sealed ring's connections pass
a ``DaemonGate`` (security/session_auth.py) before their first frame: a client that does
not prove the client token is refused with CLOSED(refused, reason) and counted under
``refused``.

``close()`` (daemon thread, when the daemon stops) closes the listener, removes the Unix
socket file and ends every connection with CLOSED("daemon stopped").
``statistics()`` returns an ``IpcStats`` snapshot.
"""

from __future__ import annotations

import collections
import logging
import os
import socket
import stat
from dataclasses import dataclass

from ..client import wire
from ..errors import GcsError, LocalProtocolError
from ..security.unix_socket import bind_private
from .ipc_connection import OPEN, Connection, IpcHost, refuse
from .limits import (AcceptGuard, InputBudget, IpcLimits, LimitStats, OutputBudget,
                     limit_stats, set_keepalive)

log = logging.getLogger(__name__)

DEFAULT_MAX_BUFFER = 4 * 1024 * 1024
CLOSE_GRACE = 5.0          # seconds a closing connection may take to deliver its last bytes


@dataclass(frozen=True, slots=True)
class IpcStats:
    address: str
    connections: int                              # open now
    accepted: int
    refused: int                                  # HELLOs refused (bad or taken name)
    closed: tuple[tuple[str, int], ...]           # (reason before any ":", count), sorted
    malformed: tuple[tuple[str, int], ...]        # protocol errors by reason token
    overflows: int                                # clients detached for not reading
    backpressure_pauses: int                      # times reading a client was paused
    unencodable: int                              # events a socket client could not get
    frames_in: int
    frames_out: int
    bytes_in: int
    bytes_out: int
    limits: LimitStats | None = None              # runtime/limits.py guards


class IpcServer:
    """Listening socket plus its connections, all driven by the daemon loop."""

    def __init__(self, daemon: IpcHost, address: str, *, max_buffer: int = DEFAULT_MAX_BUFFER,
                 max_events: int | None = None, max_frame: int = wire.MAX_FRAME,
                 close_grace: float = CLOSE_GRACE, limits: IpcLimits | None = None) -> None:
        self.daemon = daemon
        self.loop = daemon.loop
        self.address = wire.parse_address(address)
        self.max_buffer = max_buffer
        if max_events is None:
            max_events = daemon.config.ring.runtime.session_queue
        self.max_events = max_events
        self.max_frame = max_frame
        self.close_grace = close_grace
        self._listener: socket.socket | None = None
        self._unix_ino: tuple[int, int] | None = None
        self._conns: set[Connection] = set()
        self.accepted = 0
        self.refused = 0
        self.overflows = 0
        self.paused = 0
        self.unencodable = 0
        self.frames_in = self.frames_out = 0
        self.bytes_in = self.bytes_out = 0
        self._closed_reasons: collections.Counter[str] = collections.Counter()
        self.malformed: collections.Counter[str] = collections.Counter()
        self.limits = limits or IpcLimits()          # runtime/limits.py: the guards
        self.accept_guard = AcceptGuard(self.loop, self.limits, f"{daemon.name} {address}",
                                        self._pause_listener, self._resume_listener)
        self.input_budget = InputBudget(self.loop, self.limits)
        self.output_budget = OutputBudget(self.limits)
        ring = daemon.config.ring
        self.token = ring.client_token if self.address.kind == "tcp" else None
        self.socket_group = ring.socket_group

    # ------------------------------------------------------------ life cycle

    @property
    def bound_address(self) -> str:
        """The address clients use (with the real port when ``tcp:host:0`` was asked)."""
        if self.address.kind == "tcp" and self._listener is not None:
            host, port = self._listener.getsockname()[:2]
            return str(wire.Address("tcp", host=host, port=port))
        return str(self.address)

    def start(self) -> None:
        """Bind and listen (daemon thread, before or while the loop runs)."""
        if self._listener is not None:
            raise LocalProtocolError("IpcServer already started")
        if self.address.kind == "unix":
            sock = self._bind_unix(self.address.path)
        else:
            infos = socket.getaddrinfo(self.address.host, self.address.port,
                                       type=socket.SOCK_STREAM)
            family, _, _, _, target = infos[0]
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(target)
            except OSError as exc:
                sock.close()
                raise GcsError(f"cannot serve sessions on {self.address}: {exc}") from None
        sock.listen(128)
        sock.setblocking(False)
        self._listener = sock
        self.loop.add_reader(sock, self._on_accept)
        log.info("%s serves socket sessions on %s", self.daemon.name, self.bound_address)

    def _bind_unix(self, path: str) -> socket.socket:
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None
        if st is not None:
            if not stat.S_ISSOCK(st.st_mode):
                raise GcsError(f"cannot serve sessions on {path}: it exists and is not a socket")
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(path)
            except OSError:
                os.unlink(path)            # stale: nobody listens there any more
            else:
                raise GcsError(f"cannot serve sessions on {path}: another daemon listens there")
            finally:
                probe.close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            bind_private(sock, path, self.socket_group)
        except OSError as exc:
            sock.close()
            raise GcsError(f"cannot serve sessions on {path}: {exc}") from None
        st = os.stat(path)
        self._unix_ino = (st.st_dev, st.st_ino)
        return sock

    def close(self) -> None:
        """Stop listening and end every connection with CLOSED("daemon stopped")."""
        listener, self._listener = self._listener, None
        if listener is not None:
            self.loop.remove_reader(listener)
            listener.close()
            if self.address.kind == "unix" and self._unix_ino is not None:
                try:
                    st = os.stat(self.address.path)
                    if (st.st_dev, st.st_ino) == self._unix_ino:
                        os.unlink(self.address.path)
                except OSError:
                    pass
        for conn in sorted(self._conns, key=lambda c: c.serial):
            conn.shut("daemon stopped", linger=False)
        self.accept_guard.close()
        self.input_budget.close()

    def statistics(self) -> IpcStats:
        return IpcStats(self.bound_address, len(self._conns), self.accepted, self.refused,
                        tuple(sorted(self._closed_reasons.items())),
                        tuple(sorted(self.malformed.items())), self.overflows, self.paused,
                        self.unencodable, self.frames_in, self.frames_out, self.bytes_in,
                        self.bytes_out, limit_stats(self.accept_guard, self.input_budget,
                                                    self.output_budget))

    # ------------------------------------------------------------ accepting

    def _on_accept(self) -> None:
        listener = self._listener
        if listener is None:
            return
        for _ in range(64):
            try:
                sock, _peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:       # EMFILE: pause the listener (runtime/limits.py)
                self.accept_guard.failed(exc)
                return
            if not self.accept_guard.admit(len(self._conns)):
                refuse(sock, f"too many connections ({len(self._conns)} open, the limit)")
                continue
            sock.setblocking(False)
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                set_keepalive(sock, self.limits)
            self.accepted += 1
            conn = Connection(self, sock, self.accepted)
            self._conns.add(conn)
            self.loop.add_reader(sock, conn.on_readable)

    def make_room(self, conn: "Connection", n: int) -> bool:
        """``n`` more unread bytes for ``conn``: while the total would pass its bound, end
        the client holding the most unread bytes -- False when that is ``conn`` itself."""
        while not self.output_budget.room(n):
            hog = max((c for c in self._conns if c.state is OPEN and c is not conn),
                      key=lambda c: len(c.out), default=None)
            if hog is None or len(hog.out) <= len(conn.out):
                return False                 # each round ends one open client: it stops
            self.overflows += 1
            log.warning("%s: socket client %s detached: %d unread bytes while the daemon's "
                        "output buffers are full", self.daemon.name, hog.name or hog.serial,
                        len(hog.out))
            hog.drop_unsent()
            hog.shut("client stopped reading (daemon output buffers full)", linger=True)
        return True

    def _pause_listener(self) -> None:
        if self._listener is not None:
            self.loop.remove_reader(self._listener)

    def _resume_listener(self) -> None:
        if self._listener is not None:
            self.loop.add_reader(self._listener, self._on_accept)

    def forget(self, conn: "Connection", reason: str) -> None:
        if conn in self._conns:
            self._conns.discard(conn)
            # counter keys from a small fixed set: the text before any ":" detail
            self._closed_reasons["refused" if conn.refused else reason.split(":", 1)[0][:60]] += 1


