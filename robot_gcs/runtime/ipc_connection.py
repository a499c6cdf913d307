"""One socket client of the IPC server (runtime/ipc.py): its protocol state, its
``ClientHandle`` and its write buffer, which is the client's sink.

Theory of operation
-------------------
Frames are those of client/wire.py:

* The first frame must be HELLO, within ``limits.hello_timeout``. The server calls
  ``daemon.attach_client(name, conn)`` and answers WELCOME(private name), or
  CLOSED(refused, reason) for a bad or taken name. A name whose previous session is still
  leaving its groups (``ClientNameBusy``) is retried every ``NAME_RETRY`` seconds for up
  to ``NAME_WAIT`` seconds before it is refused, so a client that reconnects at once
  under its old name gets in.
* JOIN / LEAVE / MCAST / PRIVATE go to the ``ClientHandle``. A command the daemon rejects as misuse
  is answered with an ERROR frame (the session goes on); a refusal of a command that had
  to be queued ends the session with the reason (CLOSED). When the daemon's send queue for
  this client is full (``Backpressure``), the server parks the frame, stops reading the
  socket and retries shortly: the client's kernel buffer fills and its ``multicast``
  raises ``Backpressure`` in turn (flow control end to end, the daemon never waits).
* Events: the connection is the client's sink. ``push(event)`` (engine lock holder) encodes
  the event into a per-connection write buffer and sends what the kernel takes. The
  buffer is bounded (``max_buffer`` bytes, and ``max_events`` frames: the config's
  ``runtime.session_queue``, as for in-process sessions): a client that stops reading makes ``push``
  return False, the daemon detaches it (its groups see DISCONNECT), counts and logs it,
  and calls ``closed(reason)``; the connection then sends CLOSED(reason) after what is
  already buffered, stops reading and closes the socket once that is written, or after
  ``close_grace`` seconds, whichever comes first. The client raises SessionClosed(reason).
* EOF, a reset or junk from the client (counted by reason) close the connection and
  detach the client; junk is answered with CLOSED("protocol error: ...") first.
* Events pushed during one loop iteration are written together at its end
  (``loop.call_soon``): one ``send`` per engine step, not per event. While a socket is
  full, the connection registers ``loop.add_writer`` and writes the rest when the socket
  becomes writable (the writer is removed once the buffer is empty).

Owner: a ``Connection`` is loop-owned code like its server: the daemon thread runs it, or
whichever thread holds the engine lock runs its sink side (``push``, ``closed``).
"""

from __future__ import annotations

import collections
import errno
import logging
import socket
import time
from typing import Any, Protocol

from ..client import wire
from ..core.events import DataMessage, GroupView
from ..errors import Backpressure, GcsError, LocalProtocolError, MalformedPacket, SessionClosed
from ..security.session_auth import DaemonGate
from ..config import GcsConfig
from .client_table import ClientNameBusy, Sink
from .clients import ClientHandle
from .limits import InputBudget, IpcLimits, OutputBudget
from .loop import EventLoop

log = logging.getLogger("robot_gcs.runtime.ipc")

RECV_CHUNK = 64 * 1024
RESUME_RETRY = 0.001       # seconds before retrying a command refused with Backpressure
NAME_RETRY = 0.01          # seconds between attaches of a name that is still leaving
NAME_WAIT = 5.0            # ... for at most this long

HELLO, OPEN, CLOSING, DONE = "hello", "open", "closing", "done"


class IpcHost(Protocol):
    """What the server needs from its daemon (runtime/daemon.py ``Daemon``)."""

    @property
    def name(self) -> str: ...
    @property
    def loop(self) -> EventLoop: ...
    @property
    def config(self) -> GcsConfig: ...
    def attach_client(self, name: str, sink: Sink, wait: float = ...) -> ClientHandle: ...


class ConnectionServer(Protocol):
    """What a connection needs from its server (runtime/ipc.py ``IpcServer``): settings,
    guards and the counters it adds to. The server creates connections; this module does
    not import it."""

    daemon: IpcHost
    loop: EventLoop
    limits: IpcLimits
    token: bytes | None
    max_frame: int
    max_buffer: int
    max_events: int
    close_grace: float
    input_budget: InputBudget
    output_budget: OutputBudget
    malformed: collections.Counter[str]
    refused: int
    overflows: int
    paused: int
    unencodable: int
    frames_in: int
    frames_out: int
    bytes_in: int
    bytes_out: int

    def make_room(self, conn: "Connection", n: int) -> bool: ...
    def forget(self, conn: "Connection", reason: str) -> None: ...


def refuse(sock: socket.socket, reason: str) -> None:
    """Answer a connection we cannot serve with CLOSED(refused) if the kernel takes it."""
    try:
        sock.setblocking(False)
        sock.send(wire.encode(wire.Closed(reason, True)))
    except OSError:
        pass
    sock.close()


class Connection:
    """One socket client: protocol state, its ClientHandle and its write buffer (the sink)."""

    kind = "ipc"
    local_objects = False          # socket clients need bytes, never in-process objects

    def __init__(self, server: ConnectionServer, sock: socket.socket, serial: int) -> None:
        self.server = server
        self.loop = server.loop
        self.sock: socket.socket | None = sock
        self.serial = serial
        self.state = HELLO
        self.handle: ClientHandle | None = None
        self.name = ""
        self.decoder = wire.FrameDecoder(wire.CLIENT_FRAME_TYPES, server.max_frame)
        self.out = bytearray()
        self._frame_ends: collections.deque[int] = collections.deque()
        self._appended = 0          # bytes ever appended to out
        self._flushed = 0           # bytes ever written to the socket
        self._writing = False       # registered with loop.add_writer
        self._flush_soon = False
        self._grace_timer: Any = None
        self.parked: wire.Frame | None = None
        self._name_until = 0.0          # attach retries of a leaving name end then
        self.reading = True
        self.deaf = False           # the client reads no more (a send failed): write nothing
        self.high_water = 0
        self.dropped = 0
        self.reason = ""
        self.refused = False
        self._hello_timer: Any = self.loop.call_later(server.limits.hello_timeout,
                                                      self._hello_expired)
        self.gate = DaemonGate(server.token) if server.token is not None else None

    def __repr__(self) -> str:
        return f"<ipc connection {self.serial} {self.name or '?'} {self.state}>"

    # ------------------------------------------------------------ sink API (daemon thread)

    def push(self, event: Any) -> bool:
        """Queue one event for the client; False = buffer full (the daemon detaches us)."""
        if self.state is not OPEN or self.deaf:
            return True
        try:
            if type(event) is DataMessage:
                data = wire.encode_data(event)
            elif type(event) is GroupView:
                data = wire.encode_view(event)
            else:
                data = wire.encode(event)
        except LocalProtocolError as exc:
            self.server.unencodable += 1
            if self.server.unencodable == 1:
                log.warning("%s: event not sent to socket client %s: %s", self.server.daemon.name,
                            self.name, exc)
            return True
        server = self.server
        room = server.make_room(self, len(data))
        if self.out and (len(self.out) + len(data) > server.max_buffer or (
                len(self._frame_ends) >= server.max_events
                and self.queue_depth() >= server.max_events) or not room):
            self.dropped += 1
            self.server.overflows += 1
            return False
        self._append(data)
        return True

    def closed(self, reason: str) -> None:
        """The daemon detached this client (overflow, daemon stopping): tell it why."""
        self.handle = None
        self._close_with(reason, refused=False, linger=True)

    def drop_unsent(self) -> None:
        """Forget the events not yet written, but the frame being written (the stream
        stays whole: a CLOSED appended next is the client's next frame)."""
        if self.queue_depth() == 0:
            return
        keep = self._frame_ends[0] - self._flushed
        dropped = len(self.out) - keep
        del self.out[keep:]
        self._appended -= dropped
        first = self._frame_ends[0]
        self._frame_ends.clear()
        self._frame_ends.append(first)
        self.server.output_budget.sub(dropped)

    def queue_depth(self) -> int:
        ends = self._frame_ends
        while ends and ends[0] <= self._flushed:
            ends.popleft()
        return len(ends)

    # ------------------------------------------------------------ reading

    def on_readable(self) -> None:
        sock = self.sock
        if sock is None or not self.reading:
            return
        try:
            data = sock.recv(RECV_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.lost(f"connection error: {exc.strerror or exc}")
            return
        if not data:
            self.lost("client closed the connection" if self.state is not HELLO
                      else "client left before HELLO")
            return
        self.server.bytes_in += len(data)
        if self.gate is not None:
            reply, rest, refusal = self.gate.feed(data)
            if reply:
                self._append(reply, now=True)
            if refusal is not None:
                self.server.refused += 1
                self._close_with(refusal, refused=True, linger=True)
                return
            if rest is None:
                return
            self.gate, data = None, rest
        self.decoder.feed(data)
        frames = self.server.frames_in
        self._process()
        if self.state is not DONE and not self.server.input_budget.update(
                self, self.decoder.buffered, self.server.frames_in != frames):
            self.shut("daemon input buffers full (unfinished frames of all clients over "
                      f"{self.server.limits.max_input_total} bytes)", linger=False)

    def _process(self) -> None:
        while self.parked is None and self.state in (HELLO, OPEN):
            try:
                frame = self.decoder.next_frame()
            except MalformedPacket as exc:
                self.server.malformed[exc.reason] += 1
                log.warning("%s: protocol error from socket client %s: %s",
                            self.server.daemon.name, self.name or f"#{self.serial}", exc)
                self.shut(f"protocol error: {exc}", linger=True)
                return
            if frame is None:
                return
            self.server.frames_in += 1
            self._handle(frame)

    def _handle(self, frame: wire.Frame) -> None:
        if self.state is HELLO:
            self._hello(frame)
            return
        h = self.handle
        if h is None:                     # ended by the daemon; CLOSED is on its way
            return
        try:
            if isinstance(frame, wire.Multicast):
                h.multicast(frame.groups, frame.payload, frame.service, frame.msg_type,
                            frame.self_discard, priority=frame.priority)
            elif isinstance(frame, wire.Private):
                h.send_private(frame.target, frame.payload, frame.service, frame.msg_type)
            elif isinstance(frame, wire.Join):
                h.join(frame.group)
            elif isinstance(frame, wire.Leave):
                h.leave(frame.group)
            elif isinstance(frame, wire.Bye):
                self.lost("client closed the session")
            else:
                self.server.malformed["unexpected_frame"] += 1
                self.shut(f"protocol error: unexpected {type(frame).__name__} frame",
                          linger=True)
        except Backpressure:
            self._park(frame)
        except LocalProtocolError as exc:
            if len(self.out) > self.server.max_buffer:     # error replies nobody reads
                self.server.overflows += 1
                self.shut("client stopped reading (error replies overflow)", linger=False)
                return
            self._append(wire.encode(wire.Error(str(exc)[:1000])), now=True)
        except SessionClosed as exc:
            self.handle = None
            self._close_with(exc.reason, refused=False, linger=True)

    def _hello_expired(self) -> None:
        self._hello_timer = None
        if self.state is HELLO:
            self.server.malformed["hello_timeout"] += 1
            self.shut(f"protocol error: no HELLO within {self.server.limits.hello_timeout} s",
                      linger=True)

    def _hello(self, frame: wire.Frame) -> None:
        if self._hello_timer is not None:
            self._hello_timer.cancel()
            self._hello_timer = None
        if not isinstance(frame, wire.Hello):
            self.server.malformed["no_hello"] += 1
            self.shut(f"protocol error: expected HELLO, got {type(frame).__name__}",
                      linger=True)
            return
        self.name = frame.name
        if frame.version != wire.PROTOCOL_VERSION:
            self.server.refused += 1
            self._close_with(f"unsupported protocol version {frame.version} "
                             f"(daemon speaks {wire.PROTOCOL_VERSION})", refused=True, linger=True)
            return
        self._name_until = time.monotonic() + NAME_WAIT
        self._attach(frame)

    def _attach(self, frame: wire.Hello) -> None:
        try:
            self.handle = self.server.daemon.attach_client(frame.name, self)
        except ClientNameBusy as exc:
            if time.monotonic() < self._name_until:   # its old session is still leaving
                self._park(frame, NAME_RETRY)
                return
            self.server.refused += 1
            self._close_with(str(exc), refused=True, linger=True)
            return
        except LocalProtocolError as exc:
            self.server.refused += 1
            self._close_with(str(exc), refused=True, linger=True)
            return
        except SessionClosed as exc:
            self._close_with(exc.reason, refused=False, linger=True)
            return
        self.state = OPEN
        self._append(wire.encode(wire.Welcome(self.handle.private_name)), now=True)

    def _park(self, frame: wire.Frame, delay: float = RESUME_RETRY) -> None:
        """Backpressure (or a name still leaving): hold the frame, stop reading, retry
        on a timer."""
        self.parked = frame
        if self.reading:
            self.reading = False
            self.server.paused += 1
            if self.sock is not None:
                self.loop.remove_reader(self.sock)
        self.loop.call_later(delay, self._resume)

    def _resume(self) -> None:
        frame, self.parked = self.parked, None
        if frame is None:
            return
        if self.state is HELLO and isinstance(frame, wire.Hello):
            self._attach(frame)
        elif self.state is OPEN:
            self._handle(frame)
        else:
            return
        if self.parked is not None or self.state is not OPEN:
            return
        self._process()
        if self.parked is None and self.state is OPEN and not self.reading \
                and self.sock is not None:
            self.reading = True
            self.loop.add_reader(self.sock, self.on_readable)

    # ------------------------------------------------------------ writing

    def _append(self, data: bytes, now: bool = False) -> None:
        """Queue one frame. Events are written at the end of the loop iteration, so the
        deliveries of one engine step leave in one send; control frames go ``now``."""
        if self.deaf:               # the client reads no more (_stop_writing): nothing
            if self.state is CLOSING:   # to write, so a closing connection is done
                self._finish()
            return
        was_empty = not self.out
        self.out += data
        self.server.output_budget.add(len(data))
        self._appended += len(data)
        self._frame_ends.append(self._appended)
        self.server.frames_out += 1
        if now:
            self._flush()
        elif was_empty and not self._flush_soon and not self._writing:
            self._flush_soon = True
            self.loop.call_soon(self._flush_deferred)
        depth = self.queue_depth()
        if depth > self.high_water:
            self.high_water = depth

    def _flush(self) -> None:
        sock = self.sock
        if sock is None:
            return
        out = self.out
        while out:
            try:
                n = sock.send(out)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if self.state is OPEN and exc.errno in (errno.EPIPE, errno.ECONNRESET):
                    self._stop_writing()
                    return
                self.lost(f"connection error: {exc.strerror or exc}")
                return
            del out[:n]
            self._flushed += n
            self.server.output_budget.sub(n)
            self.server.bytes_out += n
        if out:
            if not self._writing:
                self._writing = True
                self.loop.add_writer(sock, self._flush)
            return
        if self._writing:
            self._writing = False
            self.loop.remove_writer(sock)
        if self.state is CLOSING:
            self._finish()

    def _stop_writing(self) -> None:
        """A send found the client's end closed for reading (it closed the socket with our
        events unread): drop what it will never read and write nothing more, but go on
        reading until its EOF -- the frames it sent before closing are its last messages,
        and its ``close()`` returned believing them sent."""
        self.deaf = True
        self.server.output_budget.sub(len(self.out))
        self.out.clear()
        if self._writing and self.sock is not None:
            self._writing = False
            self.loop.remove_writer(self.sock)

    def _flush_deferred(self) -> None:
        self._flush_soon = False
        self._flush()

    # ------------------------------------------------------------ ending

    def shut(self, reason: str, linger: bool) -> None:
        """Server-side end: detach the client from the daemon, then tell it why."""
        self._detach()
        self._close_with(reason, refused=False, linger=linger)

    def lost(self, reason: str) -> None:
        """The client is gone (EOF, reset, BYE): detach it and drop the socket."""
        self._detach()
        self.reason = self.reason or reason
        self._finish()

    def _detach(self) -> None:
        """The client leaves the daemon (its groups see it go); no more commands."""
        h, self.handle = self.handle, None
        if h is not None:
            try:
                h.close()
            except GcsError:
                pass

    def _close_with(self, reason: str, refused: bool, linger: bool) -> None:
        if self.state in (CLOSING, DONE):
            if not linger:             # a hard end (limits) overrides a lingering one
                self._finish()
            return
        self.state = CLOSING
        self.reason = reason
        self.refused = refused
        self.parked = None
        if self.reading and self.sock is not None:
            self.reading = False
            self.loop.remove_reader(self.sock)
        self._append(wire.encode(wire.Closed(reason[:1000], refused)), now=True)
        if self.state is DONE:
            return
        if not linger:
            self._finish()
        elif self.out and self._grace_timer is None:
            self._grace_timer = self.loop.call_later(self.server.close_grace, self._finish)

    def _finish(self) -> None:
        if self.state is DONE:
            return
        self.state = DONE
        for t in (self._grace_timer, self._hello_timer):
            if t is not None:
                t.cancel()
        self._grace_timer = self._hello_timer = None
        sock, self.sock = self.sock, None
        if sock is not None:
            if self._writing:
                self._writing = False
                self.loop.remove_writer(sock)
            self.loop.remove_reader(sock)
            sock.close()
        self.server.output_budget.sub(len(self.out))
        self.out.clear()
        self.server.input_budget.forget(self)
        self.server.forget(self, self.reason or "closed")
        log.debug("%s: socket session %s ended: %s", self.server.daemon.name,
                  self.name or f"#{self.serial}", self.reason)
