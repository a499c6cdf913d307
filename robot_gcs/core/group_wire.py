"""Group-layer envelopes: the bytes the group layer hands to the ring (PROTOCOL.md section 2).

What it owns: encode/decode of the five group messages carried as engine payloads
(G_DATA, G_JOIN, G_LEAVE, G_KILL, G_STATE), plus the name rules every layer checks
before anything reaches the wire.

Rules:

* Big-endian ``struct``; strings are ``!B`` length + UTF-8, at most 64 bytes.
* The first byte is ``gtype`` (1 G_DATA, 2 G_JOIN, 3 G_LEAVE, 4 G_KILL, 5 G_STATE).
* ``decode`` of any byte string returns a message or raises ``MalformedPacket(reason)``
  with a short stable reason ("g_truncated", "g_bad_type", "g_bad_string", ...); the
  group engine counts and drops those, never raising into the driver's loop.
* Caller mistakes (names too long, too many groups) raise ``LocalProtocolError`` at
  encode time, before anything is submitted.

Additive extensions of the catalogue's field lists:

* G_DATA: after ``service`` come ``flags`` u8 (bit0 = self_discard), ``msg_type`` i16 and
  ``op_id`` u32 (a per-daemon counter; the submitting daemon uses it to hand local
  receivers the original Python object instead of the bytes). Layout::

    !B gtype=1 | !I sender_daemon | str sender_client | !B service | !B flags |
    !h msg_type | !I op_id | !B n_groups | str * n | payload (rest)

* G_JOIN, G_LEAVE, G_KILL end with ``op_id`` u32 from the same counter, so every group
  envelope a daemon incarnation submits is a distinct byte string (the same join twice
  is two messages; checkers and traces can tell them apart).

Hot path (one G_DATA per client message): ``data_prefix`` + ``name_field`` pieces are
cached by the sender and joined by ``encode_data``; ``decode_data_fields`` returns a plain
tuple in ``GData`` field order. They produce exactly what ``encode``/``decode`` do.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Union

from ..errors import LocalProtocolError, MalformedPacket
from .types import RingId, Service

MAX_NAME_BYTES = 64
MAX_GROUPS_PER_MESSAGE = 255
MSG_TYPE_MIN = -32768
MSG_TYPE_MAX = 32767

G_DATA = 1
G_JOIN = 2
G_LEAVE = 3
G_KILL = 4
G_STATE = 5

FLAG_SELF_DISCARD = 0x01

_U8 = struct.Struct("!B")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_DATA_MID = struct.Struct("!BBhI")      # service, flags, msg_type, op_id
_RING = struct.Struct("!IQ")
_DATA_HEAD = struct.Struct("!BIB")      # gtype, sender_daemon, sender_client length
_DATA_REST = struct.Struct("!BBhIB")    # service, flags, msg_type, op_id, n_groups
_SERVICE_OF = {int(s): s for s in Service}
# the largest envelope a G_DATA can have (longest names, most groups)
MAX_DATA_OVERHEAD = (_DATA_HEAD.size + MAX_NAME_BYTES + _DATA_REST.size
                     + MAX_GROUPS_PER_MESSAGE * (1 + MAX_NAME_BYTES))


# ---------------------------------------------------------------- name rules

def check_group_name(group: str) -> bytes:
    """Validate a group name (not a private name); return its UTF-8 bytes.

    Raises LocalProtocolError: empty, longer than 64 bytes, or starting with ``#``
    (reserved for private names ``#client#daemon``).
    """
    if not isinstance(group, str) or not group:
        raise LocalProtocolError(f"group name must be a non-empty string (got {group!r})")
    raw = group.encode("utf-8")
    if len(raw) > MAX_NAME_BYTES:
        raise LocalProtocolError(
            f"group name {group[:20]!r}... is {len(raw)} bytes; the limit is {MAX_NAME_BYTES}")
    if group.startswith("#"):
        raise LocalProtocolError(
            f"group name {group!r} starts with '#', which is reserved for private names")
    return raw


def check_target_name(name: str) -> bytes:
    """Validate a multicast target: a group name or a private name ``#client#daemon``."""
    if isinstance(name, str) and name.startswith("#"):
        if split_private_name(name) is None:
            raise LocalProtocolError(f"{name!r} is not a private name of the form #client#daemon")
        raw = name.encode("utf-8")
        if len(raw) > MAX_NAME_BYTES:
            raise LocalProtocolError(
                f"private name {name!r} is {len(raw)} bytes; the limit is {MAX_NAME_BYTES}")
        return raw
    return check_group_name(name)


def check_client_name(client: str) -> bytes:
    """Validate a client name: non-empty, no ``#``, at most 64 bytes."""
    if not isinstance(client, str) or not client:
        raise LocalProtocolError(f"client name must be a non-empty string (got {client!r})")
    if "#" in client:
        raise LocalProtocolError(f"client name {client!r} must not contain '#'")
    raw = client.encode("utf-8")
    if len(raw) > MAX_NAME_BYTES:
        raise LocalProtocolError(
            f"client name {client[:20]!r}... is {len(raw)} bytes; the limit is {MAX_NAME_BYTES}")
    return raw


def split_private_name(name: str) -> tuple[str, str] | None:
    """``#client#daemon`` -> (client, daemon), or None if ``name`` is not of that form."""
    parts = name.split("#")
    if len(parts) != 3 or parts[0] or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


# ---------------------------------------------------------------- messages

@dataclass(frozen=True, slots=True)
class GData:
    sender_daemon: int
    sender_client: str
    service: Service
    groups: tuple[str, ...]
    payload: bytes
    msg_type: int = 0
    self_discard: bool = False
    op_id: int = 0


@dataclass(frozen=True, slots=True)
class GJoin:
    group: str
    daemon: int
    client: str
    op_id: int = 0


@dataclass(frozen=True, slots=True)
class GLeave:
    group: str
    daemon: int
    client: str
    op_id: int = 0


@dataclass(frozen=True, slots=True)
class GKill:
    daemon: int
    client: str
    op_id: int = 0


@dataclass(frozen=True, slots=True)
class GState:
    """One daemon's own clients' memberships, tagged with the regular ring it is for.

    ``groups`` is sorted by name; each entry's clients are sorted.
    """

    ring_id: RingId
    daemon: int
    groups: tuple[tuple[str, tuple[str, ...]], ...]


GroupMessage = Union[GData, GJoin, GLeave, GKill, GState]


def _s(raw: bytes) -> bytes:
    return _U8.pack(len(raw)) + raw


def _name(name: str) -> bytes:
    raw = name.encode("utf-8")
    if len(raw) > MAX_NAME_BYTES:
        raise LocalProtocolError(f"name {name[:20]!r}... is longer than {MAX_NAME_BYTES} bytes")
    return _s(raw)


def name_field(name: str) -> bytes:
    """One string field as it appears on the wire (``!B`` length + UTF-8).

    Raises LocalProtocolError when the name is longer than 64 bytes.
    """
    return _name(name)


def data_prefix(sender_daemon: int, sender_client: str) -> bytes:
    """The first bytes of every G_DATA a client sends (gtype, daemon, client name)."""
    return _U8.pack(G_DATA) + _U32.pack(sender_daemon) + _name(sender_client)


def encode_data(prefix: bytes, service: int, self_discard: bool, msg_type: int, op_id: int,
                group_fields: tuple[bytes, ...], payload: bytes) -> bytes:
    """G_DATA from its pieces: ``data_prefix`` and ``name_field`` of each group (hot path).

    Raises LocalProtocolError for no groups, too many groups or msg_type outside int16;
    ``encode(GData(...))`` produces the same bytes.
    """
    n = len(group_fields)
    if not n:
        raise LocalProtocolError("a multicast needs at least one group")
    if n > MAX_GROUPS_PER_MESSAGE:
        raise LocalProtocolError(
            f"a multicast may name at most {MAX_GROUPS_PER_MESSAGE} groups (got {n})")
    if not MSG_TYPE_MIN <= msg_type <= MSG_TYPE_MAX:
        raise LocalProtocolError(f"msg_type {msg_type} does not fit in int16")
    mid = _DATA_REST.pack(service, FLAG_SELF_DISCARD if self_discard else 0, msg_type, op_id, n)
    if n == 1:
        return b"".join((prefix, mid, group_fields[0], payload))
    return b"".join((prefix, mid, *group_fields, payload))


def data_overhead(sender_client: str, targets: tuple[str, ...]) -> int:
    """Bytes a G_DATA envelope adds to its payload (what ``encode_data`` joins around it)."""
    return (_DATA_HEAD.size + len(sender_client.encode("utf-8")) + _DATA_REST.size
            + sum(1 + len(t.encode("utf-8")) for t in targets))


def check_data_size(sender_client: str, targets: tuple[str, ...], payload_len: int,
                    max_message: int) -> None:
    """Raise ``LocalProtocolError`` naming the limit when a G_DATA of ``payload_len`` bytes
    to ``targets`` would not fit in ``max_message`` (the ring's max_message_size)."""
    if payload_len + MAX_DATA_OVERHEAD <= max_message:
        return                                  # fits whatever the names (the hot path)
    overhead = data_overhead(sender_client, targets)
    if payload_len + overhead > max_message:
        raise LocalProtocolError(
            f"message too large: {payload_len} bytes of payload (+{overhead} bytes of group "
            f"envelope) exceed the limit of {max_message} bytes per message "
            f"(ring.protocol.max_message_size); at most {max(0, max_message - overhead)} "
            f"bytes of payload fit")


def encode(msg: GroupMessage) -> bytes:
    """Encode one group message. Raises LocalProtocolError for out-of-range fields."""
    if isinstance(msg, GData):
        if not msg.groups:
            raise LocalProtocolError("a multicast needs at least one group")
        if len(msg.groups) > MAX_GROUPS_PER_MESSAGE:
            raise LocalProtocolError(
                f"a multicast may name at most {MAX_GROUPS_PER_MESSAGE} groups (got {len(msg.groups)})")
        if not MSG_TYPE_MIN <= msg.msg_type <= MSG_TYPE_MAX:
            raise LocalProtocolError(f"msg_type {msg.msg_type} does not fit in int16")
        return encode_data(data_prefix(msg.sender_daemon, msg.sender_client), int(msg.service),
                           msg.self_discard, msg.msg_type, msg.op_id,
                           tuple(_name(g) for g in msg.groups), msg.payload)
    if isinstance(msg, (GJoin, GLeave)):
        gtype = G_JOIN if isinstance(msg, GJoin) else G_LEAVE
        return b"".join((_U8.pack(gtype), _name(msg.group), _U32.pack(msg.daemon),
                         _name(msg.client), _U32.pack(msg.op_id)))
    if isinstance(msg, GKill):
        return b"".join((_U8.pack(G_KILL), _U32.pack(msg.daemon), _name(msg.client),
                         _U32.pack(msg.op_id)))
    if isinstance(msg, GState):
        if len(msg.groups) > 0xFFFF:
            raise LocalProtocolError("too many groups in one state message")
        parts = [_U8.pack(G_STATE), _RING.pack(msg.ring_id.rep, msg.ring_id.seq),
                 _U32.pack(msg.daemon), _U16.pack(len(msg.groups))]
        for group, clients in msg.groups:
            if len(clients) > 0xFFFF:
                raise LocalProtocolError("too many clients in one group")
            parts.append(_name(group))
            parts.append(_U16.pack(len(clients)))
            parts.extend(_name(c) for c in clients)
        return b"".join(parts)
    raise LocalProtocolError(f"not a group message: {msg!r}")


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, st: struct.Struct) -> tuple[int, ...]:
        end = self.pos + st.size
        if end > len(self.data):
            raise MalformedPacket("g_truncated")
        out = st.unpack_from(self.data, self.pos)
        self.pos = end
        return out

    def string(self) -> str:
        (n,) = self.take(_U8)
        end = self.pos + n
        if n > MAX_NAME_BYTES or end > len(self.data):
            raise MalformedPacket("g_bad_string")
        try:
            s = self.data[self.pos:end].decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedPacket("g_bad_string", "not UTF-8") from None
        self.pos = end
        return s

    def done(self) -> None:
        if self.pos != len(self.data):
            raise MalformedPacket("g_bad_length", f"{len(self.data) - self.pos} trailing bytes")


DataFields = tuple[int, str, Service, tuple[str, ...], bytes, int, bool, int]


def decode_data_fields(data: bytes) -> DataFields:
    """A G_DATA envelope as a plain tuple in ``GData`` field order (hot path).

    Same checks as ``decode``; raises only MalformedPacket. ``data`` must be bytes whose
    first byte is G_DATA.
    """
    end = len(data)
    if end < _DATA_HEAD.size:
        raise MalformedPacket("g_truncated")
    _, daemon, clen = _DATA_HEAD.unpack_from(data, 0)
    pos = _DATA_HEAD.size + clen
    if clen > MAX_NAME_BYTES or pos > end:
        raise MalformedPacket("g_bad_string")
    if pos + _DATA_REST.size > end:
        raise MalformedPacket("g_truncated")
    try:
        client = data[_DATA_HEAD.size:pos].decode("utf-8")
        service, flags, msg_type, op_id, n = _DATA_REST.unpack_from(data, pos)
        pos += _DATA_REST.size
        svc = _SERVICE_OF.get(service)
        if svc is None:
            raise MalformedPacket("g_bad_service")
        if n == 0:
            raise MalformedPacket("g_no_groups")
        names = []
        for _ in range(n):
            if pos >= end:
                raise MalformedPacket("g_truncated")
            glen = data[pos]
            nxt = pos + 1 + glen
            if glen > MAX_NAME_BYTES or nxt > end:
                raise MalformedPacket("g_bad_string")
            names.append(data[pos + 1:nxt].decode("utf-8"))
            pos = nxt
        groups = tuple(names)
    except UnicodeDecodeError:
        raise MalformedPacket("g_bad_string", "not UTF-8") from None
    return (daemon, client, svc, groups, data[pos:], msg_type,
            bool(flags & FLAG_SELF_DISCARD), op_id)


def _decode_data(data: bytes) -> GData:
    return GData(*decode_data_fields(data))


def decode(data: bytes) -> GroupMessage:
    """Decode one engine payload; raises only MalformedPacket (reason starts with ``g_``)."""
    data = bytes(data)
    if data[:1] == b"\x01":
        return _decode_data(data)
    r = _Reader(data)
    (gtype,) = r.take(_U8)
    if gtype == G_DATA:
        (daemon,) = r.take(_U32)
        client = r.string()
        service, flags, msg_type, op_id = r.take(_DATA_MID)
        try:
            svc = Service(service)
        except ValueError:
            raise MalformedPacket("g_bad_service") from None
        (n,) = r.take(_U8)
        if n == 0:
            raise MalformedPacket("g_no_groups")
        groups = tuple(r.string() for _ in range(n))
        return GData(daemon, client, svc, groups, r.data[r.pos:], msg_type,
                     bool(flags & FLAG_SELF_DISCARD), op_id)
    if gtype in (G_JOIN, G_LEAVE):
        group = r.string()
        (daemon,) = r.take(_U32)
        client = r.string()
        (op_id,) = r.take(_U32)
        r.done()
        if gtype == G_JOIN:
            return GJoin(group, daemon, client, op_id)
        return GLeave(group, daemon, client, op_id)
    if gtype == G_KILL:
        (daemon,) = r.take(_U32)
        client = r.string()
        (op_id,) = r.take(_U32)
        r.done()
        return GKill(daemon, client, op_id)
    if gtype == G_STATE:
        rep, seq = r.take(_RING)
        (daemon,) = r.take(_U32)
        (ng,) = r.take(_U16)
        entries: list[tuple[str, tuple[str, ...]]] = []
        for _ in range(ng):
            name = r.string()
            (nc,) = r.take(_U16)
            entries.append((name, tuple(r.string() for _ in range(nc))))
        r.done()
        return GState(RingId(rep, seq), daemon, tuple(entries))
    raise MalformedPacket("g_bad_type", str(gtype))
