"""RECOVERY and the install sequence (PROTOCOL.md 1.4.4, 1.4.5, 3.2).

Owns: the transitional set, ``low_aru``/``high_delivered``, the senders deliverable
after a gap, the recovery queue of encapsulated old-ring packets, the side table of
recovered packets, the retrans-flag / clear-count / install-seq rules, the atomic
install over the frozen old ring plus the side table, and what a failed recovery
leaves behind. The engine (token_flow.py, gather_flow.py) is the only caller.

Rules (the argument is in core/PROTOCOL_NOTES.md):
* ``trans = {me} + {p : entry[p].old_ring == my old ring != NULL}``.
* ``allowed = trans + every sender an entry of trans marks rescued``: after the first
  gap, only their packets are delivered.
* Recovery re-sends (ENCAP) every old-ring packet held in ``(low_aru, high_seq]`` when a
  trans member lacks something: a received flag is 0 or the trans arus differ.
* The old ring (``RingState``) is frozen while COMMIT/RECOVERY run; recovered packets go
  to ``side``. A failed recovery (``salvage``) moves ``side`` into the old ring, and
  once this node held every recovered packet (``holds_all``) it also marks ``allowed``
  rescued there: the others may have installed and delivered them in T, so this
  node must deliver them too at its next install, gaps or not.
* Install: deliver the old ring in R up to the first gap / first safe packet above
  ``high_delivered``; TRANSITIONAL config; the rest in T (skipping gaps; after the first
  gap only senders in ``allowed``); drop assemblies; REGULAR config.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field, replace

from ..errors import MalformedPacket
from .actions import Action, Deliver, DeliverConfig
from .fastnew import maker
from .packing import CHUNK, Assembler, split_chunks
from .ring import RingState
from .types import NULL_RING, ConfigKind, NodeId, RingId, Service
from .wire import Commit, Mcast, Token

log = logging.getLogger(__name__)

_CHUNK_SIZE = CHUNK.size
_new_deliver = maker(Deliver)
_chunk_head = CHUNK.unpack_from


def packet_delivers(pkt: Mcast, asm: Assembler, in_trans: bool,
                    bad: list[str]) -> list[Deliver]:
    """The Deliver actions for one ordered packet (ENCAP packets deliver nothing)."""
    if pkt.encap:
        return []
    payload = pkt.payload
    n = len(payload)
    if n >= _CHUNK_SIZE and not asm.partial:
        # the common case, one whole message: what split_chunks + feed_parts give
        _msg_id, idx, cnt, ln = _chunk_head(payload)
        if idx == 0 and cnt == 1 and _CHUNK_SIZE + ln == n:
            return [_new_deliver(pkt.sender, pkt.incarnation, payload[_CHUNK_SIZE:], pkt.service,
                            pkt.ring, pkt.seq, in_trans)]
    try:
        chunks = split_chunks(payload)
    except MalformedPacket as exc:
        bad.append(exc.reason)
        return []
    out: list[Deliver] = []
    sender, inc, feed = pkt.sender, pkt.incarnation, asm.feed_parts
    for msg_id, idx, cnt, data in chunks:
        msg = feed(sender, inc, msg_id, idx, cnt, data)
        if msg is not None:
            out.append(_new_deliver(sender, inc, msg, pkt.service, pkt.ring, pkt.seq, in_trans))
    return out


@dataclass(slots=True)
class Recovery:
    """State of one RECOVERY attempt."""

    ring: RingState                      # the new ring (ordering state)
    old: RingState | None                # the frozen old ring (None: fresh node)
    trans: tuple[int, ...]
    low_aru: int
    high_delivered: int
    allowed: frozenset[int]              # senders delivered after the first gap
    queue: deque[tuple[int, bytes]] = field(default_factory=deque)  # (old seq, packet)
    seen: set[int] = field(default_factory=set)          # old seqs someone already re-sent
    side: dict[int, tuple[Mcast, bytes]] = field(default_factory=dict)
    i_set_flag: bool = False
    clear_count: int = 0
    install_seq: int = -1
    holds_all: bool = False
    rotation_ok: int = 0
    rounds: int = 0
    originated: bool = False

    @classmethod
    def begin(cls, ct: Commit, me: int, old: RingState | None, ring: RingState) -> "Recovery":
        old_id = old.ring_id if old is not None else NULL_RING
        entries = dict(zip(ct.members, ct.entries))
        trans = {me}
        if old_id != NULL_RING:
            trans |= {p for p, e in entries.items() if e.old_ring == old_id}
        tr = tuple(sorted(trans))
        arus = [entries[p].old_aru for p in tr]
        low = min(arus)
        high = max(entries[p].high_delivered for p in tr)
        allowed = frozenset(tr)
        if old is not None:
            for p in tr:
                allowed |= old.unmask(entries[p].rescued)
        rec = cls(ring, old, tr, low, high, allowed)
        need = any(not entries[p].received_flg for p in tr) or len(set(arus)) > 1
        if old is not None and need:
            rec.queue.extend(old.held(low, old.high_seq))
        log.debug("node %d recovery %s: trans=%s low_aru=%d high_delivered=%d resend=%d",
                  me, ring.ring_id, tr, low, high, len(rec.queue))
        return rec

    def backlog(self) -> int:
        """Old-ring packets still to re-send (nobody re-sent them yet)."""
        while self.queue and self.queue[0][0] in self.seen:
            self.queue.popleft()
        return sum(1 for seq, _d in self.queue if seq not in self.seen)

    def next_resend(self) -> bytes | None:
        """The next old-ring packet to re-send, skipping those another member re-sent."""
        while self.queue:
            seq, data = self.queue.popleft()
            if seq not in self.seen:
                self.seen.add(seq)
                return data
        return None

    def on_encap(self, outer: Mcast, inner: Mcast) -> None:
        """A recovered old-ring packet: keep it if it is of my old ring and missing."""
        old = self.old
        if old is None or inner.ring != old.ring_id or inner.encap:
            return
        self.seen.add(inner.seq)
        if inner.seq <= old.released or inner.seq in old.buf or inner.seq in self.side:
            return
        self.side[inner.seq] = (inner, outer.payload)

    def salvage(self) -> None:
        """The recovery failed: the old ring keeps what it collected (see the rules)."""
        if self.old is not None:
            self.old.absorb(self.side, self.allowed if self.holds_all else frozenset())

    def token_flags(self, tok: Token, my_aru: int) -> tuple[Token, bool]:
        """Steps 1-4 of PROTOCOL.md 1.4.5 on a RECOVERY visit; True means install now."""
        flag = tok.retrans_flg
        if self.backlog():
            flag = True
            self.i_set_flag = True
        elif flag and self.i_set_flag:
            flag = False
            self.i_set_flag = False
        if flag:
            self.clear_count = 0
        else:
            self.clear_count += 1
        if self.clear_count == 2:
            self.install_seq = tok.seq
        if self.clear_count >= 2 and my_aru >= self.install_seq:
            self.holds_all = True
        if self.clear_count >= 3 and tok.aru >= self.install_seq and self.holds_all:
            self.rotation_ok += 1
        else:
            self.rotation_ok = 0
        self.rounds += 1
        if flag != tok.retrans_flg:
            tok = replace(tok, retrans_flg=flag)
        return tok, self.rotation_ok >= 2

    def install(self, asm: Assembler, members: tuple[int, ...], new_ring: RingId,
                bad: list[str]) -> list[Action]:
        """The install sequence of PROTOCOL.md 3.2 (steps 1-5)."""
        out: list[Action] = []
        old = self.old
        trans = self.trans
        if old is not None:
            pkts = {s: p for s, (p, _d) in self.side.items()}
            for s, (p, _d) in old.buf.items():
                if s > old.delivered:
                    pkts[s] = p
            seqs = sorted(s for s in pkts if s > old.delivered)
            i = 0
            nxt = old.delivered + 1
            # 1. the old regular configuration
            while i < len(seqs) and seqs[i] == nxt:
                p = pkts[nxt]
                if p.service is Service.SAFE and nxt > self.high_delivered:
                    break
                out.extend(packet_delivers(p, asm, False, bad))
                i += 1
                nxt += 1
            # 2. transitional configuration
            left = tuple(NodeId(m) for m in old.members if m not in trans)
            out.append(DeliverConfig(ConfigKind.TRANSITIONAL, new_ring,
                                     tuple(NodeId(m) for m in trans), left, ()))
            # 3. the rest, in T
            gap = False
            expect = nxt
            for s in seqs[i:]:
                if s != expect:
                    gap = True
                expect = s + 1
                p = pkts[s]
                if gap and p.sender not in self.allowed:
                    continue
                out.extend(packet_delivers(p, asm, True, bad))
        # 4. drop partial assemblies (the old ring buffers go with this object)
        asm.clear()
        # 5. regular configuration
        joined = tuple(NodeId(m) for m in members if m not in trans)
        out.append(DeliverConfig(ConfigKind.REGULAR, new_ring,
                                 tuple(NodeId(m) for m in members), (), joined))
        return out
