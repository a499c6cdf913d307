"""Packing: application messages <-> chunks <-> MCAST payloads (PROTOCOL.md 1.2).

Owns the send queue (two lanes) and the per-sender reassembly on receive.

Rules:
* A packet carries chunks ``!IHHH`` (msg_id, frag_idx, frag_cnt, len) + data, all of one
  ring service (AGREED or SAFE): consecutive same-service small messages share a packet;
  a service change closes it. One packet = one seq = one flow-control unit.
* A message that does not fit an empty packet is fragmented into fixed-size fragments;
  fragment 0 starts a fresh packet, and every packet but the last is full. Once a
  fragmented message has started it is finished before anything else is packed.
* Lanes: CONTROL is always eligible; NORMAL only while open. Each lane is FIFO.
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


class Packer:
    """The send queue: turns queued messages into packet payloads on a token visit."""

    def __init__(self, packet_payload: int, queue_capacity: int, max_message: int) -> None:
        if packet_payload <= CHUNK.size + 16:
            raise LocalProtocolError("max_packet too small for any payload")
        self.cap = packet_payload
        self.frag_size = packet_payload - CHUNK.size
        self.queue_capacity = queue_capacity
        self.max_message = min(max_message, self.frag_size * MAX_FRAGS)
        self.control: deque[Outgoing] = deque()
        self.normal: deque[Outgoing] = deque()
        self.queues: dict[Lane, deque[Outgoing]] = {Lane.CONTROL: self.control,
                                                    Lane.NORMAL: self.normal}
        self.normal_open = True
        self.cur: Outgoing | None = None    # fragmented message in progress
        self.next_frag = 0
        self.next_msg_id = 1

    # -- queue -----------------------------------------------------------------
    def submit(self, payload: bytes, service: Service, lane: Lane) -> None:
        if len(payload) > self.max_message:
            raise LocalProtocolError(f"message of {len(payload)} bytes exceeds the maximum "
                                     f"of {self.max_message}")
        q = self.control if lane is Lane.CONTROL else self.normal
        if len(q) >= self.queue_capacity:
            raise Backpressure(f"send queue full ({len(q)} messages on lane {lane.value})")
        q.append(Outgoing(self.next_msg_id, bytes(payload),
                          Service.SAFE if service == Service.SAFE else Service.AGREED, lane))
        self.next_msg_id = (self.next_msg_id + 1) & 0xFFFFFFFF or 1

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
        q = self.control if msg.lane is Lane.CONTROL else self.normal
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
