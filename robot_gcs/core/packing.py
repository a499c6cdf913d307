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
    out: list[Chunk] = []
    off = 0
    n = len(payload)
    while off < n:
        if off + CHUNK.size > n:
            raise MalformedPacket("bad_chunk", "truncated chunk header")
        msg_id, idx, cnt, ln = CHUNK.unpack_from(payload, off)
        off += CHUNK.size
        if off + ln > n or cnt == 0 or idx >= cnt:
            raise MalformedPacket("bad_chunk", "chunk fields")
        out.append(Chunk(msg_id, idx, cnt, payload[off:off + ln]))
        off += ln
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
        self.queues: dict[Lane, deque[Outgoing]] = {Lane.CONTROL: deque(), Lane.NORMAL: deque()}
        self.normal_open = True
        self.cur: Outgoing | None = None    # fragmented message in progress
        self.next_frag = 0
        self.next_msg_id = 1

    # -- queue -----------------------------------------------------------------
    def submit(self, payload: bytes, service: Service, lane: Lane) -> None:
        if len(payload) > self.max_message:
            raise LocalProtocolError(f"message of {len(payload)} bytes exceeds the maximum "
                                     f"of {self.max_message}")
        q = self.queues[lane]
        if len(q) >= self.queue_capacity:
            raise Backpressure(f"send queue full ({len(q)} messages on lane {lane.value})")
        q.append(Outgoing(self.next_msg_id, bytes(payload), service.ring_service, lane))
        self.next_msg_id = (self.next_msg_id + 1) & 0xFFFFFFFF or 1

    def __len__(self) -> int:
        return len(self.queues[Lane.CONTROL]) + len(self.queues[Lane.NORMAL])

    def _head(self) -> Outgoing | None:
        if self.cur is not None:
            return self.cur
        if self.queues[Lane.CONTROL]:
            return self.queues[Lane.CONTROL][0]
        if self.normal_open and self.queues[Lane.NORMAL]:
            return self.queues[Lane.NORMAL][0]
        return None

    def has_work(self) -> bool:
        return self._head() is not None

    def backlog(self) -> int:
        """Packets this node would like to send (an estimate, for the fair share)."""
        msgs = len(self.queues[Lane.CONTROL])
        if self.normal_open:
            msgs += len(self.queues[Lane.NORMAL])
        elif self.cur is not None and self.cur.lane is Lane.NORMAL:
            msgs += 1
        extra = 0
        if self.cur is not None:
            extra = self._frag_count(self.cur) - self.next_frag - 1
        return msgs + max(0, extra)

    def _frag_count(self, msg: Outgoing) -> int:
        return max(1, -(-len(msg.payload) // self.frag_size))

    def _pop(self, msg: Outgoing) -> None:
        q = self.queues[msg.lane]
        assert q and q[0] is msg
        q.popleft()

    def restart_partial(self) -> None:
        """Install: a message only partly sequenced is re-sent whole in the new ring."""
        self.cur = None
        self.next_frag = 0

    # -- packing ---------------------------------------------------------------
    def take(self, max_packets: int) -> list[tuple[Service, bytes]]:
        """Build up to ``max_packets`` packet payloads, consuming queued messages."""
        out: list[tuple[Service, bytes]] = []
        while len(out) < max_packets:
            first = self._head()
            if first is None:
                break
            service = first.service
            chunks: list[Chunk] = []
            space = self.cap
            while True:
                msg = self._head()
                if msg is None or msg.service is not service:
                    break
                if self.cur is not None:
                    if chunks:
                        break
                    cnt = self._frag_count(msg)
                    i = self.next_frag
                    data = msg.payload[i * self.frag_size:(i + 1) * self.frag_size]
                    chunks.append(Chunk(msg.msg_id, i, cnt, data))
                    space -= CHUNK.size + len(data)
                    self.next_frag += 1
                    if self.next_frag < cnt:
                        break
                    self._pop(msg)
                    self.cur = None
                    self.next_frag = 0
                    continue
                need = CHUNK.size + len(msg.payload)
                if need <= space:
                    chunks.append(Chunk(msg.msg_id, 0, 1, msg.payload))
                    space -= need
                    self._pop(msg)
                    continue
                if chunks or need <= self.cap:
                    break          # close this packet; the message starts the next one
                self.cur = msg     # fragment: fragment 0 starts this (empty) packet
                self.next_frag = 0
            if not chunks:
                break
            out.append((service, encode_chunks(chunks)))
        return out


class Assembler:
    """Per-sender reassembly of fragmented messages (receive side)."""

    def __init__(self) -> None:
        self.partial: dict[tuple[int, int], tuple[int, int, list[bytes]]] = {}
        self.discarded = 0

    def feed(self, sender: int, incarnation: int, chunk: Chunk) -> bytes | None:
        """Add one chunk; return the complete message when it is finished."""
        key = (sender, incarnation)
        if chunk.frag_idx == 0:
            if key in self.partial:
                del self.partial[key]
                self.discarded += 1
            if chunk.frag_cnt == 1:
                return chunk.data
            self.partial[key] = (chunk.msg_id, chunk.frag_cnt, [chunk.data])
            return None
        cur = self.partial.get(key)
        if cur is None or cur[0] != chunk.msg_id or cur[1] != chunk.frag_cnt \
                or len(cur[2]) != chunk.frag_idx:
            if cur is not None:
                del self.partial[key]
            self.discarded += 1
            return None
        cur[2].append(chunk.data)
        if len(cur[2]) == chunk.frag_cnt:
            del self.partial[key]
            return b"".join(cur[2])
        return None

    def clear(self) -> None:
        """Install: drop every partial assembly (PROTOCOL.md 1.2)."""
        self.discarded += len(self.partial)
        self.partial.clear()
