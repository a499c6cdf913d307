"""Packing: application messages <-> chunks <-> MCAST payloads (PROTOCOL.md 1.2).

Owns the send queue (two lanes) and the per-sender reassembly on receive.

Rules:
* A packet carries chunks ``!IHHH`` (msg_id, frag_idx, frag_cnt, len) + data, all of one
  ring service (AGREED or SAFE): consecutive same-service small messages share a packet;
  a service change closes it. One packet = one seq = one flow-control unit.
* A message that does not fit an empty packet is fragmented into fixed-size fragments;
  fragment 0 starts a fresh packet, and every packet but the last is full. Once a
  fragmented message has started it is finished before anything else is packed.
* Lanes: CONTROL is always eligible; NORMAL only while open. Each lane is FIFO, except
  that an *urgent* NORMAL message (``submit(..., urgent=True)``: an e-stop) goes ahead
  of the queued NORMAL messages of other owners -- it is sequenced at the next token
  visit -- together with its own owner's queued messages, which it never overtakes (an
  owner is one client: per-client FIFO holds, other clients' order among themselves
  too).
* ``restart_partial()`` (called at every install): a message only partly sequenced in the
  old ring is sent again whole in the new ring; receivers discard partial assemblies at
  install (``Assembler.clear()``), so the two halves can never be joined.
* Reassembly keeps one assembly per (sender, incarnation); an unexpected fragment
  discards it (counted).
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

from ..errors import Backpressure, LocalProtocolError, MalformedPacket
from .types import Lane, Service

CHUNK = struct.Struct("!IHHH")     # msg_id, frag_idx, frag_cnt, len
MAX_FRAGS = 0xFFFF
AGE_BOUND_BYTES = 16 * 1024        # the age bound applies from this much queued (a flood,
                                   # not a periodic publisher behind a late token)


@dataclass(frozen=True, slots=True)
class Chunk:
    msg_id: int
    frag_idx: int
    frag_cnt: int
    data: bytes


def encode_chunks(chunks: list[Chunk]) -> bytes:
    return b"".join(CHUNK.pack(c.msg_id, c.frag_idx, c.frag_cnt, len(c.data)) + c.data
                    for c in chunks)


def decode_chunks(payload: bytes) -> list[Chunk]:
    """Split an MCAST payload into chunks; raise MalformedPacket("bad_chunk") on junk."""
    return [Chunk(*t) for t in split_chunks(payload)]


def split_chunks(payload: bytes) -> list[tuple[int, int, int, bytes]]:
    """``decode_chunks`` as plain (msg_id, frag_idx, frag_cnt, data) tuples (hot path)."""
    out: list[tuple[int, int, int, bytes]] = []
    off = 0
    n = len(payload)
    hs = CHUNK.size
    unpack = CHUNK.unpack_from
    while off < n:
        if off + hs > n:
            raise MalformedPacket("bad_chunk", "truncated chunk header")
        msg_id, idx, cnt, ln = unpack(payload, off)
        off += hs
        end = off + ln
        if end > n or cnt == 0 or idx >= cnt:
            raise MalformedPacket("bad_chunk", "chunk fields")
        out.append((msg_id, idx, cnt, payload[off:end]))
        off = end
    if not out:
        raise MalformedPacket("bad_chunk", "empty packet")
    return out


@dataclass(slots=True)
class Outgoing:
    msg_id: int
    payload: bytes
    service: Service     # ring service: AGREED or SAFE
    lane: Lane
    queued_at: float = 0.0   # ``now`` of its submit (the NORMAL lane's age bound)
    owner: object = None     # who submitted it (urgent messages keep their owner's FIFO)
    urgent: bool = False     # goes ahead of other owners' queued NORMAL messages


class Packer:
    """The send queue: turns queued messages into packet payloads on a token visit."""

    def __init__(self, packet_payload: int, queue_capacity: int, max_message: int,
                 max_bytes: int = 1 << 62, max_delay: float = float("inf")) -> None:
        if packet_payload <= CHUNK.size + 16:
            raise LocalProtocolError("max_packet too small for any payload")
        self.cap = packet_payload
        self.frag_size = packet_payload - CHUNK.size
        self.queue_capacity = queue_capacity
        self.max_bytes = max_bytes          # NORMAL-lane bytes queued (one message always fits)
        self.max_delay = max_delay          # NORMAL lane: refuse while its head waited longer
        self.normal_bytes = 0
        self.max_message = min(max_message, self.frag_size * MAX_FRAGS)
        self.control: deque[Outgoing] = deque()
        self.normal: deque[Outgoing] = deque()
        self.queues: dict[Lane, deque[Outgoing]] = {Lane.CONTROL: self.control,
                                                    Lane.NORMAL: self.normal}
        self.normal_open = True
        self.opened_at = float("-inf")      # when the NORMAL lane last opened (``open_normal``)
        self.cur: Outgoing | None = None    # fragmented message in progress
        self.next_frag = 0
        self.next_msg_id = 1

    def open_normal(self, now: float) -> None:
        """The NORMAL lane opens (an install, or the group layer's state exchange ended):
        what waited while it was closed gets a fresh ``max_delay`` to leave."""
        if not self.normal_open:
            self.normal_open = True
            self.opened_at = now

    # -- queue -----------------------------------------------------------------
    def submit(self, payload: bytes, service: Service, lane: Lane, now: float = 0.0,
               urgent: bool = False, owner: object = None, bounded: bool = True) -> None:
        """Queue one message. Raises ``Backpressure`` when the lane is full: the NORMAL
        lane also when its bytes would pass ``max_bytes`` or, while it is open and holds
        at least ``AGE_BOUND_BYTES``, its oldest message has waited longer than
        ``max_delay`` (counted from the lane's opening, for messages that waited while it
        was closed) -- a sender that outruns the
        ring is slowed down instead of queueing a growing delay behind everyone. An
        urgent message, or one submitted with ``bounded=False`` (the group layer's joins,
        leaves and disconnects), is never refused for bytes or age."""
        n = len(payload)
        if n > self.max_message:
            raise LocalProtocolError(f"message of {n} bytes exceeds the maximum "
                                     f"of {self.max_message}")
        if lane is Lane.CONTROL:
            q = self.control
        else:
            q = self.normal
            if q and bounded and not urgent:
                if self.normal_bytes + n > self.max_bytes:
                    raise Backpressure(f"send queue full ({self.normal_bytes} bytes waiting "
                                       f"for the token)")
                waited = now - max(q[0].queued_at, self.opened_at)
                if self.normal_open and waited > self.max_delay \
                        and self.normal_bytes >= AGE_BOUND_BYTES:
                    raise Backpressure(f"send queue full (its oldest message waited "
                                       f"{waited * 1000:.0f} ms for the token)")
            self.normal_bytes += n
        if len(q) >= self.queue_capacity:
            if lane is not Lane.CONTROL:
                self.normal_bytes -= n
            raise Backpressure(f"send queue full ({len(q)} messages on lane {lane.value})")
        msg = Outgoing(self.next_msg_id, bytes(payload),
                       Service.SAFE if service == Service.SAFE else Service.AGREED, lane,
                       now, owner)
        self.next_msg_id = (self.next_msg_id + 1) & 0xFFFFFFFF or 1
        if urgent and lane is Lane.NORMAL:
            self._put_urgent(msg)
        else:
            q.append(msg)

    def _put_urgent(self, msg: Outgoing) -> None:
        """Place ``msg`` behind the urgent messages at the head of the NORMAL queue (and
        a fragmented message in progress) and behind its owner's queued messages, which
        become urgent with it; everything else stays behind, in its order."""
        normal = self.normal
        pos = 1 if self.cur is not None and normal and normal[0] is self.cur else 0
        for i, m in enumerate(normal):       # just behind the last urgent message
            if m.urgent:
                pos = max(pos, i + 1)
        rest = list(normal)[pos:]
        mine = [m for m in rest if m.owner is not None and m.owner == msg.owner]
        msg.urgent = True
        if not mine:
            normal.insert(pos, msg)
            return
        for m in mine:
            m.urgent = True
        others = [m for m in rest if not (m.owner is not None and m.owner == msg.owner)]
        for _ in range(len(rest)):
            normal.pop()
        normal.extend(mine)
        normal.append(msg)
        normal.extend(others)

    def __len__(self) -> int:
        return len(self.control) + len(self.normal)

    def _head(self) -> Outgoing | None:
        if self.cur is not None:
            return self.cur
        if self.control:
            return self.control[0]
        if self.normal_open and self.normal:
            return self.normal[0]
        return None

    def has_work(self) -> bool:
        return self.cur is not None or len(self.control) > 0 or \
            (self.normal_open and len(self.normal) > 0)

    def backlog(self) -> int:
        """Packets this node would like to send (an estimate, for the fair share)."""
        msgs = len(self.control)
        if self.normal_open:
            msgs += len(self.normal)
        elif self.cur is not None and self.cur.lane is Lane.NORMAL:
            msgs += 1
        if self.cur is not None:
            extra = self._frag_count(self.cur) - self.next_frag - 1
            if extra > 0:
                msgs += extra
        return msgs

    def _frag_count(self, msg: Outgoing) -> int:
        return max(1, -(-len(msg.payload) // self.frag_size))

    def _pop(self, msg: Outgoing) -> None:
        if msg.lane is Lane.CONTROL:
            q = self.control
        else:
            q = self.normal
            self.normal_bytes -= len(msg.payload)
        assert q and q[0] is msg
        q.popleft()

    def restart_partial(self) -> None:
        """Install: a message only partly sequenced is re-sent whole in the new ring."""
        self.cur = None
        self.next_frag = 0

    # -- packing ---------------------------------------------------------------
    def take(self, max_packets: int) -> list[tuple[Service, bytes]]:
        """Build up to ``max_packets`` packet payloads, consuming queued messages."""
        control, normal = self.control, self.normal
        if self.cur is None and max_packets > 0:
            # the common case: one eligible message that fits a packet of its own
            nopen = self.normal_open and normal
            q = control if control else (normal if nopen else None)
            if q is not None and len(q) == 1 and (q is normal or not nopen):
                lone = q[0]
                plen = len(lone.payload)
                if CHUNK.size + plen <= self.cap:
                    q.popleft()
                    if q is normal:
                        self.normal_bytes -= plen
                    return [(lone.service, CHUNK.pack(lone.msg_id, 0, 1, plen) + lone.payload)]
        out: list[tuple[Service, bytes]] = []
        pack = CHUNK.pack
        hs = CHUNK.size
        while len(out) < max_packets:
            first = self.cur              # the head of the queues, as _head()
            if first is None:
                if control:
                    first = control[0]
                elif self.normal_open and normal:
                    first = normal[0]
                else:
                    break
            service = first.service
            parts: list[bytes] = []
            space = self.cap
            while True:
                msg = self.cur
                if msg is not None:
                    if msg.service is not service or parts:
                        break
                    cnt = self._frag_count(msg)
                    i = self.next_frag
                    data = msg.payload[i * self.frag_size:(i + 1) * self.frag_size]
                    parts.append(pack(msg.msg_id, i, cnt, len(data)))
                    parts.append(data)
                    space -= hs + len(data)
                    self.next_frag += 1
                    if self.next_frag < cnt:
                        break
                    self._pop(msg)
                    self.cur = None
                    self.next_frag = 0
                    continue
                # the head of the queues (as _head), popped from its lane's queue (as _pop)
                if control:
                    q = control
                elif self.normal_open and normal:
                    q = normal
                else:
                    break
                msg = q[0]
                if msg.service is not service:
                    break
                plen = len(msg.payload)
                need = hs + plen
                if need <= space:
                    parts.append(pack(msg.msg_id, 0, 1, plen))
                    parts.append(msg.payload)
                    space -= need
                    q.popleft()
                    if q is normal:
                        self.normal_bytes -= plen
                    continue
                if parts or need <= self.cap:
                    break          # close this packet; the message starts the next one
                self.cur = msg     # fragment: fragment 0 starts this (empty) packet
                self.next_frag = 0
            if not parts:
                break
            out.append((service, b"".join(parts)))
        return out


class Assembler:
    """Per-sender reassembly of fragmented messages (receive side)."""

    def __init__(self) -> None:
        self.partial: dict[tuple[int, int], tuple[int, int, list[bytes]]] = {}
        self.discarded = 0

    def feed(self, sender: int, incarnation: int, chunk: Chunk) -> bytes | None:
        """Add one chunk; return the complete message when it is finished."""
        return self.feed_parts(sender, incarnation, chunk.msg_id, chunk.frag_idx,
                               chunk.frag_cnt, chunk.data)

    def feed_parts(self, sender: int, incarnation: int, msg_id: int, frag_idx: int,
                   frag_cnt: int, data: bytes) -> bytes | None:
        """``feed`` with the chunk's fields as arguments (hot path)."""
        partial = self.partial
        if frag_idx == 0:
            if partial:
                key = (sender, incarnation)
                if key in partial:
                    del partial[key]
                    self.discarded += 1
            if frag_cnt == 1:
                return data
            partial[(sender, incarnation)] = (msg_id, frag_cnt, [data])
            return None
        key = (sender, incarnation)
        cur = partial.get(key)
        if cur is None or cur[0] != msg_id or cur[1] != frag_cnt \
                or len(cur[2]) != frag_idx:
            if cur is not None:
                del partial[key]
            self.discarded += 1
            return None
        cur[2].append(data)
        if len(cur[2]) == frag_cnt:
            del partial[key]
            return b"".join(cur[2])
        return None

    def clear(self) -> None:
        """Install: drop every partial assembly (PROTOCOL.md 1.2)."""
        self.discarded += len(self.partial)
        self.partial.clear()
