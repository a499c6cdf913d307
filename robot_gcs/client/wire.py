"""Client wire protocol: the framed byte stream between a socket session and its daemon.

Theory of operation
-------------------
Sans-IO, in the style of h11: this module never touches a socket. ``encode(frame)`` turns a
frame value into bytes; a ``FrameDecoder`` is fed bytes as they arrive (any split, any
coalescing) and hands back complete frames one at a time. Malformed input raises
``MalformedPacket`` (a ``RemoteProtocolError``) with a stable ``reason`` token for counters;
after that the decoder stays broken (a byte stream cannot be resynchronised) and the caller
drops the connection.

Framing: every frame is ``!IB`` -- ``length`` (u32, counts the type byte and the body) and
``type`` (u8) -- followed by the body. ``length`` is checked against ``max_frame`` before any
body byte is buffered, so a peer cannot make us allocate more than that. The daemon
accepts command frames of up to ``MAX_FRAME``; encoding a longer MCAST or PRIVATE raises
``LocalProtocolError`` in the caller. A client accepts event frames of up to
``MAX_EVENT_FRAME`` (a largest message plus its names). All integers are
big-endian. Strings are ``!H`` length + UTF-8.

Frames, client -> daemon:

====  =========  =============================================================================
type  name       body
====  =========  =============================================================================
1     HELLO      magic ``b"RGCS"``, version u8, client name str
2     JOIN       group str
3     LEAVE      group str
4     MCAST      service u8, msg_type i32, flags u8 (bit0 self_discard, bit1 priority), n_groups u16,
                 groups str x n, payload (the rest of the frame)
5     BYE        reason str
6     PRIVATE    service u8, msg_type i32, target private name str, payload rest
====  =========  =============================================================================

Frames, daemon -> client:

====  =========  =============================================================================
16    WELCOME    version u8, private name str
17    DATA       service u8, msg_type i32, sender str, n_groups u16, groups str x n, payload rest
18    VIEW       view_id ``!QQQ``, cause u8, transitional u8, group str, n_members u16,
                 members str x n, n_changed u16, changed str x n
19    CLOSED     refused u8 (1 = the HELLO was refused: the caller's fault), reason str
20    ERROR      message str (a command failed on the daemon side; the session goes on)
====  =========  =============================================================================

DATA and VIEW decode straight into the public events ``DataMessage`` and ``GroupView``, so a
socket session hands out the very same values as an in-process one.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Union

from ..core.events import Cause, DataMessage, GroupView
from ..core.types import Service
from ..errors import LocalProtocolError, MalformedPacket

PROTOCOL_VERSION = 1
MAGIC = b"RGCS"
MAX_FRAME = 4 * 1024 * 1024        # default bound on one frame (type byte + body)
# a DATA frame carries a message of up to max_message_size (4 MiB by default) plus the
# sender's private name and the group names: the client accepts frames this much larger
EVENT_FRAME_SLACK = 64 * 1024
MAX_EVENT_FRAME = MAX_FRAME + EVENT_FRAME_SLACK
MAX_STR = 0xFFFF

T_HELLO, T_JOIN, T_LEAVE, T_MCAST, T_BYE, T_PRIVATE = 1, 2, 3, 4, 5, 6
T_WELCOME, T_DATA, T_VIEW, T_CLOSED, T_ERROR = 16, 17, 18, 19, 20

CLIENT_FRAME_TYPES = frozenset({T_HELLO, T_JOIN, T_LEAVE, T_MCAST, T_BYE, T_PRIVATE})
SERVER_FRAME_TYPES = frozenset({T_WELCOME, T_DATA, T_VIEW, T_CLOSED, T_ERROR})

_HDR = struct.Struct("!IB")
_U8 = struct.Struct("!B")
_U16 = struct.Struct("!H")
_MCAST = struct.Struct("!BiBH")      # service, msg_type, flags, n_groups
_DATA = struct.Struct("!Bi")         # service, msg_type
_VIEW = struct.Struct("!QQQBB")      # view_id, cause, transitional
_HELLO = struct.Struct("!4sB")

_CAUSE_CODE = {Cause.JOIN: 1, Cause.LEAVE: 2, Cause.DISCONNECT: 3, Cause.NETWORK: 4}
_CODE_CAUSE = {v: k for k, v in _CAUSE_CODE.items()}
_SERVICES = {int(s): s for s in Service}

MSG_TYPE_MIN, MSG_TYPE_MAX = -(2 ** 31), 2 ** 31 - 1


# ---------------------------------------------------------------------------- addresses

@dataclass(frozen=True, slots=True)
class Address:
    """A parsed session address: ``unix:/path/to.sock`` or ``tcp:host:port``."""

    kind: str                  # "unix" or "tcp"
    path: str = ""             # unix
    host: str = ""             # tcp
    port: int = 0              # tcp

    def __str__(self) -> str:
        if self.kind == "unix":
            return f"unix:{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp:{host}:{self.port}"


def parse_address(address: str) -> Address:
    """Parse ``unix:/path`` or ``tcp:host:port`` (``tcp:[::1]:port`` for IPv6; port 0 lets a
    server pick one).

    A bare path (``/tmp/x.sock``) is taken as a Unix socket. Raises ``LocalProtocolError``.
    """
    if not isinstance(address, str) or not address:
        raise LocalProtocolError(f"session address must be a non-empty string, got {address!r}")
    if address.startswith("unix:"):
        path = address[5:]
        if not path:
            raise LocalProtocolError(f"no socket path in {address!r}")
        return Address("unix", path=path)
    if address.startswith("tcp:"):
        rest = address[4:]
        host, sep, port_s = rest.rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not sep or not host or not port_s.isdigit() or not 0 <= int(port_s) < 65536:
            raise LocalProtocolError(f"expected tcp:host:port, got {address!r}")
        return Address("tcp", host=host, port=int(port_s))
    if address.startswith("/") or address.startswith("."):
        return Address("unix", path=address)
    raise LocalProtocolError(f"unknown session address {address!r}: use unix:/path or tcp:host:port")


# ---------------------------------------------------------------------------- frame values

@dataclass(frozen=True, slots=True)
class Hello:
    """First frame of a connection: who the client is."""

    name: str
    version: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class Join:
    group: str


@dataclass(frozen=True, slots=True)
class Leave:
    group: str


@dataclass(frozen=True, slots=True)
class Multicast:
    groups: tuple[str, ...]
    payload: bytes
    service: Service = Service.AGREED
    msg_type: int = 0
    self_discard: bool = False
    priority: bool = False


@dataclass(frozen=True, slots=True)
class Private:
    """A message to one member by private name (``#client#daemon``)."""

    target: str
    payload: bytes
    service: Service = Service.AGREED
    msg_type: int = 0


@dataclass(frozen=True, slots=True)
class Bye:
    """The client closes its session."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class Welcome:
    """The daemon accepted the HELLO; ``private_name`` is ``#client#daemon``."""

    private_name: str
    version: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class Closed:
    """Last frame from the daemon: why the session ends (``refused``: the HELLO was bad)."""

    reason: str
    refused: bool = False


@dataclass(frozen=True, slots=True)
class Error:
    """A command failed on the daemon side (caller misuse); the session continues."""

    message: str


Frame = Union[Hello, Join, Leave, Multicast, Private, Bye, Welcome, Closed, Error, DataMessage, GroupView]


# ---------------------------------------------------------------------------- encoding

def _str(s: str) -> bytes:
    b = s.encode("utf-8")
    if len(b) > MAX_STR:
        raise LocalProtocolError(f"string too long for the wire ({len(b)} bytes > {MAX_STR})")
    return _U16.pack(len(b)) + b


def _strs(items: tuple[str, ...]) -> bytes:
    if len(items) > 0xFFFF:
        raise LocalProtocolError(f"too many names in one frame ({len(items)})")
    return _U16.pack(len(items)) + b"".join(_str(s) for s in items)


def _frame(ftype: int, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return _HDR.pack(len(body) + 1, ftype) + body


def _check_msg_type(msg_type: int) -> None:
    if not MSG_TYPE_MIN <= msg_type <= MSG_TYPE_MAX:
        raise LocalProtocolError(f"msg_type {msg_type} does not fit in a signed 32-bit integer")


def _command(ftype: int, *parts: bytes) -> bytes:
    """A client command frame; raises ``LocalProtocolError`` naming the limit when it is
    longer than ``MAX_FRAME`` (the daemon would end the session for it)."""
    data = _frame(ftype, *parts)
    if len(data) - 4 > MAX_FRAME:
        raise LocalProtocolError(
            f"message too large for a socket session: its frame is {len(data) - 4} bytes, "
            f"the limit is {MAX_FRAME} bytes (client/wire.py MAX_FRAME)")
    return data


def encode_multicast(groups: tuple[str, ...], payload: bytes, service: Service,
                     msg_type: int = 0, self_discard: bool = False,
                     priority: bool = False) -> bytes:
    """MCAST frame without building a ``Multicast`` value first (the hot path)."""
    _check_msg_type(msg_type)
    if len(groups) > 0xFFFF:
        raise LocalProtocolError(f"too many groups in one message ({len(groups)})")
    flags = (1 if self_discard else 0) | (2 if priority else 0)
    head = _MCAST.pack(int(service), msg_type, flags, len(groups))
    return _command(T_MCAST, head, b"".join(_str(g) for g in groups), payload)


def encode_data(msg: DataMessage) -> bytes:
    """DATA frame for a delivered message (the daemon's hot path). Payload must be bytes-like."""
    payload = msg.payload
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise LocalProtocolError(
            f"cannot send a {type(payload).__name__} payload over a socket session (bytes needed)")
    _check_msg_type(msg.msg_type)
    try:
        head = _DATA.pack(int(msg.service), msg.msg_type)
    except struct.error as exc:
        raise LocalProtocolError(f"cannot encode {msg!r}: {exc}") from None
    return _frame(T_DATA, head, _str(msg.sender), _strs(tuple(msg.groups)), bytes(payload))


def encode_view(view: GroupView) -> bytes:
    try:
        rep, seq, index = view.view_id
        head = _VIEW.pack(rep, seq, index, _CAUSE_CODE[view.cause],
                          1 if view.transitional else 0)
    except (struct.error, KeyError, TypeError, ValueError) as exc:
        raise LocalProtocolError(f"cannot encode {view!r}: {exc}") from None
    return _frame(T_VIEW, head, _str(view.group), _strs(tuple(view.members)),
                  _strs(tuple(view.changed)))


def encode(frame: Frame) -> bytes:
    """Bytes for one frame. Raises ``LocalProtocolError`` for values that cannot be encoded."""
    try:
        if isinstance(frame, DataMessage):
            return encode_data(frame)
        if isinstance(frame, GroupView):
            return encode_view(frame)
        if isinstance(frame, Multicast):
            return encode_multicast(frame.groups, frame.payload, frame.service,
                                    frame.msg_type, frame.self_discard, frame.priority)
        if isinstance(frame, Private):
            _check_msg_type(frame.msg_type)
            return _command(T_PRIVATE, _DATA.pack(int(frame.service), frame.msg_type),
                          _str(frame.target), frame.payload)
        if isinstance(frame, Hello):
            return _frame(T_HELLO, _HELLO.pack(MAGIC, frame.version), _str(frame.name))
        if isinstance(frame, Join):
            return _frame(T_JOIN, _str(frame.group))
        if isinstance(frame, Leave):
            return _frame(T_LEAVE, _str(frame.group))
        if isinstance(frame, Bye):
            return _frame(T_BYE, _str(frame.reason))
        if isinstance(frame, Welcome):
            return _frame(T_WELCOME, _U8.pack(frame.version), _str(frame.private_name))
        if isinstance(frame, Closed):
            return _frame(T_CLOSED, _U8.pack(1 if frame.refused else 0), _str(frame.reason))
        if isinstance(frame, Error):
            return _frame(T_ERROR, _str(frame.message))
    except struct.error as exc:
        raise LocalProtocolError(f"cannot encode {frame!r}: {exc}") from None
    raise LocalProtocolError(f"not a wire frame: {type(frame).__name__}")


# ---------------------------------------------------------------------------- decoding

class _Reader:
    """Cursor over one frame body; every read checks bounds and raises MalformedPacket."""

    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf: memoryview, pos: int, end: int) -> None:
        self.buf, self.pos, self.end = buf, pos, end

    def take(self, n: int) -> int:
        start = self.pos
        if start + n > self.end:
            raise MalformedPacket("truncated", f"need {n} bytes at offset {start}")
        self.pos = start + n
        return start

    def unpack(self, st: struct.Struct) -> tuple[Any, ...]:
        return st.unpack_from(self.buf, self.take(st.size))

    def string(self) -> str:
        (n,) = self.unpack(_U16)
        start = self.take(n)
        try:
            return str(self.buf[start:start + n], "utf-8")
        except UnicodeDecodeError:
            raise MalformedPacket("bad_utf8", f"string at offset {start}") from None

    def strings(self) -> tuple[str, ...]:
        (n,) = self.unpack(_U16)
        return tuple(self.string() for _ in range(n))

    def rest(self) -> bytes:
        data = bytes(self.buf[self.pos:self.end])
        self.pos = self.end
        return data

    def done(self) -> None:
        if self.pos != self.end:
            raise MalformedPacket("trailing_bytes", f"{self.end - self.pos} bytes after the body")


def _service(code: int) -> Service:
    try:
        return _SERVICES[code]
    except KeyError:
        raise MalformedPacket("bad_service", str(code)) from None


def _decode_body(ftype: int, r: _Reader) -> Frame:
    if ftype == T_DATA:
        service, msg_type = r.unpack(_DATA)
        sender = r.string()
        groups = r.strings()
        return DataMessage(sender, groups, _service(service), r.rest(), msg_type)
    if ftype == T_MCAST:
        service, msg_type, flags, n = r.unpack(_MCAST)
        groups = tuple(r.string() for _ in range(n))
        return Multicast(groups, r.rest(), _service(service), msg_type, bool(flags & 1),
                         bool(flags & 2))
    if ftype == T_VIEW:
        rep, seq, index, cause, trans = r.unpack(_VIEW)
        if cause not in _CODE_CAUSE:
            raise MalformedPacket("bad_cause", str(cause))
        group = r.string()
        members = r.strings()
        changed = r.strings()
        frame: Frame = GroupView(group, (rep, seq, index), members, _CODE_CAUSE[cause], changed,
                                 bool(trans))
    elif ftype == T_HELLO:
        magic, version = r.unpack(_HELLO)
        if magic != MAGIC:
            raise MalformedPacket("bad_magic", repr(magic))
        frame = Hello(r.string(), version)
    elif ftype == T_PRIVATE:
        service, msg_type = r.unpack(_DATA)
        target = r.string()
        return Private(target, r.rest(), _service(service), msg_type)
    elif ftype == T_JOIN:
        frame = Join(r.string())
    elif ftype == T_LEAVE:
        frame = Leave(r.string())
    elif ftype == T_BYE:
        frame = Bye(r.string())
    elif ftype == T_WELCOME:
        (version,) = r.unpack(_U8)
        frame = Welcome(r.string(), version)
    elif ftype == T_CLOSED:
        (refused,) = r.unpack(_U8)
        frame = Closed(r.string(), bool(refused))
    elif ftype == T_ERROR:
        frame = Error(r.string())
    else:  # pragma: no cover - callers filter types first
        raise MalformedPacket("bad_type", str(ftype))
    r.done()
    return frame


_DATA_FAST = struct.Struct("!BiH")      # service, msg_type, sender length
_MCAST_FAST = struct.Struct("!BiBH")    # service, msg_type, flags, n_groups


def _names_fast(buf: bytearray, p: int, end: int, n: int) -> tuple[tuple[str, ...], int] | None:
    names = []
    for _ in range(n):
        if p + 2 > end:
            return None
        q = p + 2 + ((buf[p] << 8) | buf[p + 1])
        if q > end:
            return None
        names.append(buf[p + 2:q].decode())
        p = q
    return tuple(names), p


def _fast(ftype: int, buf: bytearray, p: int, end: int) -> Frame | None:
    """Unchecked-looking but bounds-checked hot path for DATA and MCAST frames.

    Returns None whenever anything is off; the checked decoder then names the problem.
    """
    try:
        if ftype == T_DATA:
            if p + 9 > end:
                return None
            service, msg_type, slen = _DATA_FAST.unpack_from(buf, p)
            p += 7
            q = p + slen
            if q + 2 > end:
                return None
            sender = buf[p:q].decode()
            got = _names_fast(buf, q + 2, end, (buf[q] << 8) | buf[q + 1])
            svc = _SERVICES.get(service)
            if got is None or svc is None:
                return None
            return DataMessage(sender, got[0], svc, bytes(buf[got[1]:end]), msg_type)
        if ftype == T_MCAST:
            if p + 8 > end:
                return None
            service, msg_type, flags, n = _MCAST_FAST.unpack_from(buf, p)
            got = _names_fast(buf, p + 8, end, n)
            svc = _SERVICES.get(service)
            if got is None or svc is None:
                return None
            return Multicast(got[0], bytes(buf[got[1]:end]), svc, msg_type, bool(flags & 1),
                             bool(flags & 2))
    except UnicodeDecodeError:
        return None
    return None


class FrameDecoder:
    """Incremental decoder for one direction of a connection.

    ``accept`` is the set of frame types this side may receive (``SERVER_FRAME_TYPES`` on a
    client, ``CLIENT_FRAME_TYPES`` on the daemon); anything else is a protocol error.
    """

    def __init__(self, accept: frozenset[int], max_frame: int = MAX_FRAME) -> None:
        if max_frame < 1:
            raise LocalProtocolError("max_frame must be positive")
        self._accept = accept
        self._max = max_frame
        self._buf = bytearray()
        self._pos = 0
        self._error: MalformedPacket | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as frames."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes) -> None:
        """Append received bytes (any amount; frames may straddle calls)."""
        if self._pos and self._pos > (len(self._buf) >> 1):
            del self._buf[:self._pos]
            self._pos = 0
        self._buf += data

    def next_frame(self) -> Frame | None:
        """The next complete frame, or None if more bytes are needed.

        Raises ``MalformedPacket`` on junk, and again on every later call.
        """
        if self._error is not None:
            raise self._error
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if avail < _HDR.size:
            return None
        length, ftype = _HDR.unpack_from(buf, pos)
        try:
            if length < 1 or length > self._max:
                raise MalformedPacket("bad_length", f"frame length {length} (max {self._max})")
            if ftype not in self._accept:
                raise MalformedPacket("bad_type", f"frame type {ftype} not expected here")
            if avail < 4 + length:
                return None
            end = pos + 4 + length
            frame = _fast(ftype, buf, pos + _HDR.size, end) \
                if ftype == T_DATA or ftype == T_MCAST else None
            if frame is None:
                with memoryview(buf) as view:
                    frame = _decode_body(ftype, _Reader(view, pos + _HDR.size, end))
        except MalformedPacket as exc:
            self._error = exc
            raise
        self._pos = end
        if end == len(buf):
            buf.clear()
            self._pos = 0
        return frame

    def frames(self) -> Iterator[Frame]:
        """Drain every complete frame buffered so far."""
        while True:
            frame = self.next_frame()
            if frame is None:
                return
            yield frame
