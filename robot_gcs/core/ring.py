"""Token-ring ordering for one ring instance (PROTOCOL.md 1.3).

Owns: the receive/retransmit buffer of one ring, ``my_aru``/``high_seq``/``delivered``,
the two-visit safe point, retransmission requests (``miss_count``), flow control
(window, max_messages, fair share, capacity guard, max_seq_gap), the aru update rule
and fail-to-receive detection. It does not know about membership states, timers or
where the packets it sends come from: ``visit()`` takes the packets to send through a
callback and returns what to broadcast and the token to forward.

Rules:
* ``visit`` implements steps 1-9 and 11 of "On a TOKEN"; the caller forwards the token
  (step 10) and delivers afterwards, so the token Send precedes the visit's Delivers.
* A ring can be ``frozen`` (old ring during COMMIT/RECOVERY): then nothing in it changes.
* Packets are freed only up to ``min(safe_point, delivered)``.
* A singleton ring's safe point is its aru after one visit (the only member holds every
  packet it stored), so it needs no second visit to deliver SAFE or free packets.
* Agreed packets are deliverable at ``seq <= my_aru``, safe ones at ``seq <= safe_point``;
  delivery never skips.
* An old ring whose recovery failed ``absorb``s the packets that recovery collected and
  remembers in ``rescued`` whose packets a member of that recovery may have delivered
  after a gap (recovery.py; core/PROTOCOL_NOTES.md). Nothing else changes in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .params import ProtocolParams
from .types import NONE_NODE, NodeId, RingId, Service
from .fastnew import maker
from .wire import Mcast, Token

_new_token = maker(Token)


@dataclass(frozen=True, slots=True)
class VisitResult:
    broadcasts: list[bytes] = field(default_factory=list)   # retransmissions + new packets
    token: Token | None = None                               # to forward (None: dropped)
    retransmitted: int = 0
    sent_new: int = 0
    requested: int = 0
    fail_node: int | None = None                             # fail-to-receive culprit


_new_result = maker(VisitResult)


class RingState:
    """Ordering state of one ring, from one node's point of view."""

    def __init__(self, ring_id: RingId, members: tuple[int, ...], me: int,
                 incarnation: int) -> None:
        self.ring_id = ring_id
        self.members = members
        self.me = me
        self.incarnation = incarnation
        i = members.index(me)
        self.successor = members[(i + 1) % len(members)]
        self.singleton = len(members) == 1
        self.others: tuple[NodeId, ...] = tuple(NodeId(m) for m in members if m != me)
        self.buf: dict[int, tuple[Mcast, bytes]] = {}
        self.high_seq = 0
        self.top_sender: int | None = None   # sender of the packet at high_seq (holder())
        self.my_aru = 0
        self.delivered = 0
        self.released = 0
        self.my_token_seq = -1
        self.aru_prev = 0
        self.aru_now = 0
        self.safe_point = 0
        self.sent_last = 0
        self.backlog_last = 0
        self.miss: dict[int, int] = {}
        self.last_token: bytes | None = None
        self.last_forward_seq = -1
        self.origin_pkt = 0
        self.unchanged_rotations = 0
        self.last_visit_seq = -1
        self.ftr_key: tuple[int, int] | None = None
        self.ftr_count = 0
        self.frozen = False
        self.dropped_capacity = 0
        self.rescued: frozenset[int] = frozenset()

    # -- receive ---------------------------------------------------------------
    def store(self, pkt: Mcast, data: bytes, capacity: int) -> bool:
        """Store a packet of this ring; False if duplicate, frozen or over capacity."""
        seq = pkt.seq
        if self.frozen or seq <= self.released or seq in self.buf:
            return False
        if seq - self.released > capacity:
            self.dropped_capacity += 1
            return False
        self.buf[seq] = (pkt, data)
        if seq > self.high_seq:
            self.high_seq = seq
            self.top_sender = pkt.sender
        while self.my_aru + 1 in self.buf:
            self.my_aru += 1
        return True

    def take_deliverable(self) -> list[Mcast]:
        """The packets deliverable now, in seq order; advances ``delivered`` past them."""
        out: list[Mcast] = []
        buf = self.buf
        nxt = self.delivered + 1
        while nxt <= self.my_aru:
            item = buf.get(nxt)
            if item is None:
                break
            pkt = item[0]
            if pkt.service is Service.SAFE and nxt > self.safe_point:
                break
            out.append(pkt)
            nxt += 1
        self.delivered = nxt - 1
        return out

    def skip_encap(self) -> None:
        """RECOVERY: ENCAP packets deliver nothing; move the cursor over the safe ones so
        they can be freed (recovery may re-send more packets than the buffer holds)."""
        upto = min(self.safe_point, self.my_aru)
        while self.delivered < upto:
            item = self.buf.get(self.delivered + 1)
            if item is None or not item[0].encap:
                return
            self.delivered += 1

    def release(self) -> None:
        """Free packets every member holds and I have delivered."""
        upto = self.safe_point if self.safe_point < self.delivered else self.delivered
        if upto <= self.released:
            return
        buf, miss = self.buf, self.miss
        for s in range(self.released + 1, upto + 1):
            buf.pop(s, None)
            if miss:
                miss.pop(s, None)
        self.released = upto

    def absorb(self, pkts: dict[int, tuple[Mcast, bytes]], rescued: frozenset[int]) -> None:
        """Keep old-ring packets a failed recovery collected (never frees or delivers)."""
        buf = self.buf
        for seq, item in pkts.items():
            if seq > self.released and seq not in buf:
                buf[seq] = item
                if seq > self.high_seq:
                    self.high_seq = seq
        while self.my_aru + 1 in buf:
            self.my_aru += 1
        self.rescued = self.rescued | rescued

    def rescued_mask(self) -> int:
        """``rescued`` as a bit mask over ``members`` (bit i: members[i])."""
        return sum(1 << i for i, m in enumerate(self.members) if m in self.rescued)

    def unmask(self, mask: int) -> frozenset[int]:
        """The members a ``rescued_mask`` of this ring names."""
        return frozenset(m for i, m in enumerate(self.members) if mask >> i & 1)

    def held(self, low: int, high: int) -> list[tuple[int, bytes]]:
        """(seq, encoded packet) for the packets I hold with seq in (low, high], in order."""
        return [(s, self.buf[s][1]) for s in sorted(self.buf) if low < s <= high]

    # -- token visit -----------------------------------------------------------
    def visit(self, tok: Token, params: ProtocolParams, backlog: int,
              take: Callable[[int, int], list[bytes]]) -> VisitResult:
        """Process an accepted token of this ring (steps 2-9 and 11 of PROTOCOL.md 1.3).

        ``take(n, first_seq)`` returns up to ``n`` encoded packets numbered from
        ``first_seq``; the caller has already stored them (its own sends are never
        delivered back to it). The returned token still needs forwarding.
        """
        tseq = tok.seq
        if tseq > self.high_seq:
            self.high_seq = tseq
        # 2. answer retransmission requests within the visit budget
        broadcasts: list[bytes] = []
        retransmitted = 0
        rtr: list[int] = []
        if tok.rtr:                # (empty on a healthy ring)
            max_messages = params.max_messages
            for s in tok.rtr:
                if s <= self.released:
                    continue                      # every member holds it already
                item = self.buf.get(s)
                if item is not None and retransmitted < max_messages:
                    broadcasts.append(item[1])
                    retransmitted += 1
                else:
                    rtr.append(s)
        # 3. flow control
        window = params.window_size
        allowed = params.max_messages - retransmitted
        room = window - (tok.fcc - self.sent_last)
        if room < allowed:
            allowed = room
        total_backlog = tok.backlog - self.backlog_last + backlog
        if total_backlog < 1:
            total_backlog = 1
        fair = -(-window * backlog // total_backlog)
        if fair < allowed:
            allowed = fair
        if backlog < allowed:
            allowed = backlog
        room = params.buf_capacity - (tseq - self.released)
        if room < allowed:
            allowed = room
        if tseq - self.safe_point > params.max_seq_gap:
            allowed = 0
        # 4. broadcast new packets
        seq = tseq
        sent_new = 0
        if allowed > 0:
            new = take(allowed, seq + 1)
            broadcasts.extend(new)
            sent_new = len(new)
            seq += sent_new
        if seq > self.high_seq:
            self.high_seq = seq
        # 5. request retransmissions
        requested = 0
        my_aru = self.my_aru
        if my_aru < seq:
            buf = self.buf
            miss = self.miss
            for s in range(my_aru + 1, seq + 1):
                if s in buf:
                    continue
                m = miss.get(s, 0) + 1
                miss[s] = m
                if m >= params.miss_count and s not in rtr and len(rtr) < params.rtr_max:
                    rtr.append(s)
                    requested += 1
        if self.miss:
            for s in [s for s in self.miss if s <= my_aru]:
                del self.miss[s]
        # 7. fail-to-receive (on the aru as received)
        fail_node: int | None = None
        aru, aru_id = tok.aru, tok.aru_id
        if aru_id != NONE_NODE and tseq > aru:
            key = (aru, aru_id)
            if key == self.ftr_key:
                self.ftr_count += 1
            else:
                self.ftr_key, self.ftr_count = key, 1
            if self.ftr_count >= params.fail_to_recv_const and aru_id != self.me:
                fail_node = aru_id
        elif self.ftr_key is not None or self.ftr_count:
            self.ftr_key, self.ftr_count = None, 0
        # 6. aru update
        if my_aru < aru or aru_id == self.me or aru_id == NONE_NODE:
            aru = my_aru if my_aru < seq else seq
            aru_id = NONE_NODE if aru == seq else self.me
        # 8. flow-control counters
        sent_now = sent_new + retransmitted
        fcc = tok.fcc + sent_now - self.sent_last
        if fcc < 0:
            fcc = 0
        tb = tok.backlog + backlog - self.backlog_last
        if tb < 0:
            tb = 0
        self.sent_last, self.backlog_last = sent_now, backlog
        # 9. token seq
        self.my_token_seq = tok.token_seq
        # (the caller checked tok.ring == ring_id; passing ours lets it compare by identity)
        token = _new_token(self.me, self.incarnation, self.ring_id, tok.token_seq + 1, seq, aru,
                      aru_id, fcc, tb, tok.retrans_flg, tuple(rtr) if rtr else (), False)
        self.last_forward_seq = seq
        # idle detection (used by the rep for token hold)
        if seq == self.last_visit_seq:
            self.unchanged_rotations += 1
        else:
            self.unchanged_rotations = 0
        self.last_visit_seq = seq
        # 11. safe point
        if self.singleton:
            # the only member holds every packet it stored: safe at once, no second visit
            self.aru_prev = self.aru_now = self.safe_point = aru
        else:
            self.aru_prev, self.aru_now = self.aru_now, aru
            self.safe_point = aru if aru < self.aru_prev else self.aru_prev
        return _new_result(broadcasts, token, retransmitted, sent_new, requested, fail_node)

    def holder(self) -> int:
        """The member that keeps the token when the ring goes quiet: the predecessor of
        the sender of the newest packet this node holds (the first member whose
        rotation, counted from that packet, ends with every member having seen the
        token after it: ``quiet``), the rep while no packet was sent in this ring. Every
        member holding the newest packet names the same one, so a member with new work
        knows whom to HURRY."""
        top = self.top_sender
        if top is None:
            return self.members[0]
        ms = self.members
        return ms[ms.index(top) - 1]

    def quiet(self, params: ProtocolParams, tok: Token) -> bool:
        """The holder (``holder()``) may keep ``tok``, a token of this ring arriving and
        not yet visited.

        Quiet means: every member holds every packet and nobody waits for the token.
        The token's aru equals its seq, it carries no retransmission request and this
        node holds every packet too. Either nobody sent a packet in the rotation that
        ends here and nobody reported a backlog, or every packet of it came from this
        node's successor: every other member saw the token after they were sent and
        would have lowered the aru had it missed one (a packet sent further round is
        not confirmed by the members between this node and its sender: not quiet). The
        successor's reported backlog is the one before it sent, so a successor that
        still has work after its visit says so with a HURRY (token_flow.py). And no
        SAFE packet waits above the safe point (keeping the token would delay it).
        ``seqno_unchanged_const`` above 1 also asks for that many rotations without any
        new packet before this one."""
        seq = tok.seq
        if tok.aru != seq or tok.rtr or self.my_aru != seq \
                or self.unchanged_rotations < params.seqno_unchanged_const - 1:
            return False
        if seq == self.last_forward_seq:          # nobody sent: nobody reports a backlog
            return tok.backlog <= self.backlog_last and self._no_safe_waiting(seq)
        buf = self.buf
        succ = self.successor
        for s in range(self.last_forward_seq + 1, seq + 1):
            item = buf.get(s)
            if item is None or item[0].sender != succ:
                return False
        return self._no_safe_waiting(seq)

    def _no_safe_waiting(self, seq: int) -> bool:
        buf = self.buf
        for s in range(self.safe_point + 1, seq + 1):
            item = buf.get(s)
            if item is not None and item[0].service is Service.SAFE:
                return False
        return True
