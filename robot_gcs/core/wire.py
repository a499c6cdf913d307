"""Wire format of the ring protocol (PROTOCOL.md section 2): packets <-> bytes.

Owns: the six packet types (MCAST, TOKEN, JOIN, COMMIT, BEACON, HURRY) as frozen values,
the common 20-byte header, the optional 16-byte keyed MAC trailer, and the decoder.

Rules:
* ``encode(pkt, cluster_id, key)`` always produces a packet ``decode`` accepts.
* ``decode(data, key, cluster_id)`` of ANY byte string either returns a packet or raises
  ``MalformedPacket(reason)``; ``reason`` is a short stable token (drop counter key):
  truncated, bad_magic, bad_version, bad_type, bad_length, bad_mac, foreign_cluster,
  bad_sender, bad_service, bad_field.
* With a key, blake2b(key, digest_size=16) over header+body is appended; a missing or
  wrong MAC is ``bad_mac``. ``body_len`` counts the body only (not the MAC).
* ENCAP MCASTs carry one complete old-ring MCAST (header included, encoded without key)
  as payload; the outer packet's MAC covers it.
* Header flags: MCAST bit 0 = ENCAP, JOIN bit 0 = LEAVE, TOKEN bit 0 = LENT (the quiet
  ring's holder lends the token to its successor, a lone sender, which may keep it:
  core/token_flow.py); any other bit set is ``bad_field``.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import struct
from dataclasses import dataclass
from typing import Union

from ..errors import MalformedPacket
from .fastnew import maker
from .params import MAX_RING_NODES
from .types import RingId, Service

MAGIC = 0x4743
VERSION = 2         # 2: TOKEN flag LENT (a version-1 daemon would drop lent tokens)
MAC_LEN = 16
FLAG_ENCAP = 0x01   # MCAST
FLAG_LEAVE = 0x01   # JOIN
FLAG_LENT = 0x01    # TOKEN: lent to its destination, which may keep it (token_flow.py)

HEADER = struct.Struct("!HBBBBHIII")       # 20 bytes
MCAST_BODY = struct.Struct("!IQIIBBH")     # 24 bytes
TOKEN_BODY = struct.Struct("!IQIIIIIIBB")  # 38 bytes
JOIN_BODY = struct.Struct("!QHH")          # 12 bytes
COMMIT_BODY = struct.Struct("!IQIHH")      # 20 bytes
COMMIT_ENTRY = struct.Struct("!IIQIIB3xI")  # 32 bytes
BEACON_BODY = struct.Struct("!IQHBx")      # 16 bytes
HURRY_BODY = struct.Struct("!IQ")          # 12 bytes
U32 = struct.Struct("!I")
_MCAST_HEAD = struct.Struct("!HBBBBHIII" + "IQIIBBH")   # HEADER + MCAST_BODY in one pack
# decoders read padding explicitly so that non-zero padding is rejected
_BEACON_DEC = struct.Struct("!IQHBB")
_ENTRY_DEC = struct.Struct("!IIQIIBBHI")
_ALLOWED_FLAGS = {1: FLAG_ENCAP, 2: FLAG_LENT, 3: FLAG_LEAVE}


U32_MAX = 0xFFFFFFFF
U64_MAX = 0xFFFFFFFFFFFFFFFF

#: bytes of framing around an MCAST payload (header + MCAST body)
MCAST_OVERHEAD = HEADER.size + MCAST_BODY.size


class PacketType(enum.IntEnum):
    MCAST = 1
    TOKEN = 2
    JOIN = 3
    COMMIT = 4
    BEACON = 5
    HURRY = 6


@dataclass(frozen=True, slots=True)
class Mcast:
    sender: int
    incarnation: int
    ring: RingId
    seq: int
    origin_pkt: int
    service: Service          # AGREED or SAFE
    payload: bytes
    encap: bool = False


@dataclass(frozen=True, slots=True)
class Token:
    sender: int
    incarnation: int
    ring: RingId
    token_seq: int
    seq: int
    aru: int
    aru_id: int
    fcc: int
    backlog: int
    retrans_flg: bool
    rtr: tuple[int, ...] = ()
    lent: bool = False        # the holder lends it to a lone sender (header flag)


@dataclass(frozen=True, slots=True)
class Join:
    sender: int
    incarnation: int
    ring_seq: int             # highest ring seq the sender knows
    proc_set: tuple[int, ...]
    fail_set: tuple[int, ...]
    leave: bool = False


@dataclass(frozen=True, slots=True)
class CommitEntry:
    incarnation: int = 0
    old_ring: RingId = RingId(0, 0)
    old_aru: int = 0
    high_delivered: int = 0
    received_flg: bool = False
    rescued: int = 0          # bit i: old ring member i's packets rescued (recovery.py)


@dataclass(frozen=True, slots=True)
class Commit:
    sender: int
    incarnation: int
    ring: RingId
    token_seq: int
    memb_index: int
    members: tuple[int, ...]
    entries: tuple[CommitEntry, ...]


@dataclass(frozen=True, slots=True)
class Beacon:
    sender: int
    incarnation: int
    ring: RingId
    member_count: int
    state: int


@dataclass(frozen=True, slots=True)
class Hurry:
    sender: int
    incarnation: int
    ring: RingId


Packet = Union[Mcast, Token, Join, Commit, Beacon, Hurry]


def _mac(key: bytes, data: bytes) -> bytes:
    return hashlib.blake2b(data, key=key, digest_size=MAC_LEN).digest()


def _ids(values: tuple[int, ...]) -> bytes:
    return b"".join(U32.pack(v) for v in values)


def encode_mcast(sender: int, incarnation: int, ring: RingId, seq: int, origin_pkt: int,
                 service: Service, payload: bytes, encap: bool = False, cluster_id: int = 0,
                 key: bytes | None = None) -> bytes:
    """``encode(Mcast(...), cluster_id, key)`` from the fields, without building the value
    (the send path); the same bytes."""
    plen = len(payload)
    if MCAST_BODY.size + plen > 0xFFFF:
        raise ValueError(f"packet body too large ({MCAST_BODY.size + plen} bytes)")
    data = _MCAST_HEAD.pack(MAGIC, VERSION, 1, FLAG_ENCAP if encap else 0, 0,
                            MCAST_BODY.size + plen, cluster_id, sender, incarnation,
                            ring.rep, ring.seq, seq, origin_pkt, service, 0, plen) + payload
    if key:
        data += _mac(key, data)
    return data


def _body(pkt: Packet) -> tuple[PacketType, int, bytes]:
    if isinstance(pkt, Token):
        head = TOKEN_BODY.pack(pkt.ring.rep, pkt.ring.seq, pkt.token_seq, pkt.seq, pkt.aru,
                               pkt.aru_id, pkt.fcc, pkt.backlog, 1 if pkt.retrans_flg else 0,
                               len(pkt.rtr))
        return PacketType.TOKEN, FLAG_LENT if pkt.lent else 0, head + _ids(pkt.rtr)
    if isinstance(pkt, Join):
        head = JOIN_BODY.pack(pkt.ring_seq, len(pkt.proc_set), len(pkt.fail_set))
        return (PacketType.JOIN, FLAG_LEAVE if pkt.leave else 0,
                head + _ids(pkt.proc_set) + _ids(pkt.fail_set))
    if isinstance(pkt, Commit):
        n = len(pkt.members)
        head = COMMIT_BODY.pack(pkt.ring.rep, pkt.ring.seq, pkt.token_seq, pkt.memb_index, n)
        ents = b"".join(COMMIT_ENTRY.pack(e.incarnation, e.old_ring.rep, e.old_ring.seq,
                                          e.old_aru, e.high_delivered,
                                          1 if e.received_flg else 0, e.rescued)
                         for e in pkt.entries)
        return PacketType.COMMIT, 0, head + _ids(pkt.members) + ents
    if isinstance(pkt, Beacon):
        return PacketType.BEACON, 0, BEACON_BODY.pack(pkt.ring.rep, pkt.ring.seq,
                                                      pkt.member_count, pkt.state)
    if isinstance(pkt, Hurry):
        return PacketType.HURRY, 0, HURRY_BODY.pack(pkt.ring.rep, pkt.ring.seq)
    raise TypeError(f"not a packet: {pkt!r}")


def encode(pkt: Packet, cluster_id: int = 0, key: bytes | None = None) -> bytes:
    """Encode ``pkt``; append a MAC when ``key`` is set."""
    if isinstance(pkt, Mcast):
        return encode_mcast(pkt.sender, pkt.incarnation, pkt.ring, pkt.seq, pkt.origin_pkt,
                            pkt.service, pkt.payload, pkt.encap, cluster_id, key)
    ptype, flags, body = _body(pkt)
    if len(body) > 0xFFFF:
        raise ValueError(f"packet body too large ({len(body)} bytes)")
    data = HEADER.pack(MAGIC, VERSION, int(ptype), flags, 0, len(body), cluster_id,
                       pkt.sender, pkt.incarnation) + body
    if key:
        data += _mac(key, data)
    return data


def _id_list(body: bytes, off: int, count: int, what: str) -> tuple[int, ...]:
    vals = tuple(U32.unpack_from(body, off + 4 * i)[0] for i in range(count))
    if any(v == 0 for v in vals) or any(a >= b for a, b in zip(vals, vals[1:])):
        raise MalformedPacket("bad_field", f"{what} not sorted unique non-zero")
    return vals


_TYPE_OFFSET = 3      # HEADER: magic u16, version u8, type u8, ...


def is_token(data: bytes) -> bool:
    """Whether ``data`` claims to be a TOKEN (header type byte only; not validated).

    For drivers that treat tokens specially before decoding (the runtime's reply
    window); ``decode`` still decides whether the packet is valid.
    """
    return len(data) > _TYPE_OFFSET and data[_TYPE_OFFSET] == PacketType.TOKEN


def decode(data: bytes, key: bytes | None = None, cluster_id: int | None = None) -> Packet:
    """Decode one datagram, or raise ``MalformedPacket(reason)`` (never anything else)."""
    try:
        return _decode(bytes(data), key, cluster_id)
    except MalformedPacket:
        raise
    except (struct.error, ValueError, IndexError, TypeError) as exc:   # defensive
        raise MalformedPacket("bad_length", str(exc)) from None


def _decode(data: bytes, key: bytes | None, cluster_id: int | None) -> Packet:
    if len(data) < HEADER.size:
        raise MalformedPacket("truncated", f"{len(data)} bytes")
    magic, version, ptype, flags, _res, body_len, cid, sender, inc = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise MalformedPacket("bad_magic")
    if version != VERSION:
        raise MalformedPacket("bad_version", str(version))
    if cluster_id is not None and cid != cluster_id:
        raise MalformedPacket("foreign_cluster", str(cid))
    if key:
        if len(data) < HEADER.size + MAC_LEN:
            raise MalformedPacket("bad_mac", "missing")
        if not hmac.compare_digest(_mac(key, data[:-MAC_LEN]), data[-MAC_LEN:]):
            raise MalformedPacket("bad_mac")
        data = data[:-MAC_LEN]
    if len(data) < HEADER.size + body_len:
        raise MalformedPacket("truncated", "body shorter than body_len")
    if len(data) != HEADER.size + body_len:
        raise MalformedPacket("bad_length", "trailing bytes")
    if sender == 0:
        raise MalformedPacket("bad_sender")
    if _res != 0 or flags & ~_ALLOWED_FLAGS.get(ptype, 0):
        raise MalformedPacket("bad_field", "reserved bits set")
    body = data[HEADER.size:]
    try:
        t = PacketType(ptype)
    except ValueError:
        raise MalformedPacket("bad_type", str(ptype)) from None
    if t is PacketType.MCAST:
        return _decode_mcast(body, flags, sender, inc)
    if t is PacketType.TOKEN:
        return _decode_token(body, flags, sender, inc)
    if t is PacketType.JOIN:
        return _decode_join(body, flags, sender, inc)
    if t is PacketType.COMMIT:
        return _decode_commit(body, sender, inc)
    if t is PacketType.BEACON:
        _need(body, BEACON_BODY.size, exact=True)
        rep, rseq, count, state, pad = _BEACON_DEC.unpack(body)
        if pad:
            raise MalformedPacket("bad_field", "padding")
        return Beacon(sender, inc, RingId(rep, rseq), count, state)
    _need(body, HURRY_BODY.size, exact=True)
    rep, rseq = HURRY_BODY.unpack(body)
    return Hurry(sender, inc, RingId(rep, rseq))


_new_mcast = maker(Mcast)
_new_token = maker(Token)
_new_ring = maker(RingId)
_RING_SERVICE = {int(Service.AGREED): Service.AGREED, int(Service.SAFE): Service.SAFE}


def _need(body: bytes, size: int, exact: bool = False) -> None:
    if len(body) < size or (exact and len(body) != size):
        raise MalformedPacket("bad_length", f"body {len(body)} bytes, need {size}")


def _decode_mcast(body: bytes, flags: int, sender: int, inc: int) -> Mcast:
    _need(body, MCAST_BODY.size)
    rep, rseq, seq, origin, service, _r, plen = MCAST_BODY.unpack_from(body)
    if len(body) != MCAST_BODY.size + plen:
        raise MalformedPacket("bad_length", "payload_len")
    if _r:
        raise MalformedPacket("bad_field", "reserved")
    if service not in (Service.AGREED, Service.SAFE):
        raise MalformedPacket("bad_service", str(service))
    if rep == 0 or seq == 0:
        raise MalformedPacket("bad_field", "mcast ring/seq")
    return _new_mcast(sender, inc, _new_ring(rep, rseq), seq, origin, _RING_SERVICE[service],
                      body[MCAST_BODY.size:], bool(flags & FLAG_ENCAP))


def _decode_token(body: bytes, flags: int, sender: int, inc: int) -> Token:
    _need(body, TOKEN_BODY.size)
    rep, rseq, tseq, seq, aru, aru_id, fcc, backlog, rflg, n = TOKEN_BODY.unpack_from(body)
    if len(body) != TOKEN_BODY.size + 4 * n:
        raise MalformedPacket("bad_length", "rtr_count")
    rtr = tuple(U32.unpack_from(body, TOKEN_BODY.size + 4 * i)[0] for i in range(n)) \
        if n else ()
    if rep == 0 or rflg > 1 or aru > seq:
        raise MalformedPacket("bad_field", "token")
    return _new_token(sender, inc, _new_ring(rep, rseq), tseq, seq, aru, aru_id, fcc, backlog,
                      bool(rflg), rtr, bool(flags & FLAG_LENT))


def _decode_join(body: bytes, flags: int, sender: int, inc: int) -> Join:
    _need(body, JOIN_BODY.size)
    ring_seq, np, nf = JOIN_BODY.unpack_from(body)
    if len(body) != JOIN_BODY.size + 4 * (np + nf):
        raise MalformedPacket("bad_length", "join sets")
    proc = _id_list(body, JOIN_BODY.size, np, "proc_set")
    fail = _id_list(body, JOIN_BODY.size + 4 * np, nf, "fail_set")
    return Join(sender, inc, ring_seq, proc, fail, bool(flags & FLAG_LEAVE))


def _decode_commit(body: bytes, sender: int, inc: int) -> Commit:
    _need(body, COMMIT_BODY.size)
    rep, rseq, tseq, index, n = COMMIT_BODY.unpack_from(body)
    if len(body) != COMMIT_BODY.size + n * (4 + COMMIT_ENTRY.size):
        raise MalformedPacket("bad_length", "commit members")
    if n == 0 or n > MAX_RING_NODES or index > n or rep == 0:
        raise MalformedPacket("bad_field", "commit size/index")
    members = _id_list(body, COMMIT_BODY.size, n, "members")
    off = COMMIT_BODY.size + 4 * n
    entries = []
    for i in range(n):
        einc, orep, oseq, oaru, hdel, flg, p1, p2, rescued = _ENTRY_DEC.unpack_from(
            body, off + i * COMMIT_ENTRY.size)
        if flg > 1 or p1 or p2:
            raise MalformedPacket("bad_field", "received_flg")
        entries.append(CommitEntry(einc, RingId(orep, oseq), oaru, hdel, bool(flg), rescued))
    return Commit(sender, inc, RingId(rep, rseq), tseq, index, members, tuple(entries))


def peek_type(data: bytes) -> PacketType | None:
    """The packet type of a datagram without validating it (simulators target drops)."""
    if len(data) < HEADER.size:
        return None
    try:
        return PacketType(data[3])
    except ValueError:
        return None
