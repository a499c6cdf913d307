"""Membership handling of the engine: GATHER, consensus, commit token, merge (PROTOCOL.md 1.4).

Owns the engine's use of membership.py and commit.py: entering and re-entering GATHER,
JOIN processing in every state (stale/flush/leave filters), consensus and its timeout,
beacons and foreign packets (merge), restart detection by incarnation, both commit
token rotations and the entry into RECOVERY.
"""

from __future__ import annotations

import logging

from . import commit as ct_mod
from .actions import BROADCAST_ALL, Persist
from .membership import JoinOutcome
from .recovery import Recovery
from .ring import RingState
from .types import NONE_NODE, NULL_RING, GatherReason, MemberState, TimerId
from .token_flow import TokenFlow
from .wire import Beacon, Commit, Join, Token

log = logging.getLogger(__name__)

_STATE_CODE = {MemberState.OPERATIONAL: 1, MemberState.GATHER: 2, MemberState.COMMIT: 3,
               MemberState.RECOVERY: 4, MemberState.STOPPED: 5}


class GatherFlow(TokenFlow):
    """The membership half of the engine."""

    def _on_join(self, now: float, j: Join) -> None:     # noqa: C901 - rule table
        if j.ring_seq > self.max_ring_seq_seen:
            self.max_ring_seq_seen = j.ring_seq
        if j.ring_seq < self.ring_seen.get(j.sender, 0):
            # sent before its sender installed a ring I saw it operate in: a JOIN of a
            # gather that ended (PROTOCOL_NOTES 6); its fail set would fail us for nothing
            self.drops["stale_join"] += 1
            return
        if now < self.join_flush_until:
            self.drops["join_flushed"] += 1
            return
        if not self._known(j.proc_set) or not self._known(j.fail_set) \
                or j.sender not in j.proc_set:
            self.drops["bad_join"] += 1
            return
        s = j.sender
        st = self._state
        if j.leave:
            if st is MemberState.OPERATIONAL and self.ring and s in self.ring.members:
                self.memb.reset_to(self.ring.members)
                self.memb.fail(s)
                self._gather(now, GatherReason.JOIN, s)
            elif st is MemberState.GATHER:
                if self.memb.fail(s):
                    self._gather(now, GatherReason.JOIN, s)
            elif st in (MemberState.COMMIT, MemberState.RECOVERY) and self.commit \
                    and s in self.commit.members:
                self.memb.fail(s)
                self._gather(now, GatherReason.JOIN, s)
            return
        if st is MemberState.OPERATIONAL:
            r = self.ring
            assert r is not None
            if self._me in j.fail_set:
                return
            if s in r.members and j.ring_seq < r.ring_id.seq:
                return                                   # stale JOIN of an old gather
            self.memb.reset_to(r.members)
            self.memb.add(s)
            out = self.memb.on_join_gather(j, r.members)
            self._gather(now, GatherReason.JOIN, s, agree=s if out is JoinOutcome.AGREE else None)
        elif st is MemberState.GATHER:
            last = self.ring.members if self.ring else ()
            out = self.memb.on_join_gather(j, last)
            if out is JoinOutcome.AGREE:
                self._check_consensus(now)
            elif out is JoinOutcome.REGATHER:
                self._gather(now, GatherReason.JOIN, s)
        elif st in (MemberState.COMMIT, MemberState.RECOVERY):
            c = self.commit
            if c is not None and s in c.members and j.ring_seq >= c.ring.seq:
                last = self.ring.members if self.ring else ()
                out = self.memb.on_join_gather(j, last)
                self._gather(now, GatherReason.JOIN, s,
                             agree=s if out is JoinOutcome.AGREE else None)

    def _on_consensus(self, now: float) -> None:
        if self._state is not MemberState.GATHER:
            return
        self.memb.consensus_expired()
        self._gather(now, GatherReason.CONSENSUS_TIMEOUT, None)

    def _on_join_timer(self, now: float) -> None:
        if self._state is not MemberState.GATHER:
            return
        self._send(BROADCAST_ALL, self._enc(self._join_packet()))
        jitter = 1.0 + 0.2 * self.rng.random()
        self._set_timer(TimerId.JOIN, now + self.p.join_timeout * jitter)

    def _on_merge_beacon(self, now: float) -> None:
        r = self.ring
        if self._state is not MemberState.OPERATIONAL or r is None or r.members[0] != self._me:
            return
        b = self._enc(Beacon(self._me, self._inc, r.ring_id, len(r.members),
                             _STATE_CODE[self._state]))
        for p in self.peers:
            if p not in r.members:
                self._send(p, b)
        self._set_timer(TimerId.MERGE_BEACON, now + self.p.merge_interval)

    # ------------------------------------------------------------------ membership
    def _gather(self, now: float, reason: GatherReason, frm: int | None,
                agree: int | None = None) -> None:
        """Enter (or re-enter) GATHER: broadcast JOIN, arm JOIN and CONSENSUS."""
        prev = self._state
        if prev is not MemberState.GATHER or self.n["gathers"] == 0:
            self.n["gathers"] += 1
        if prev in (MemberState.COMMIT, MemberState.RECOVERY):
            if self.recovery is not None:
                self.recovery.salvage()            # old-ring packets it collected stay
            self.commit = None
            self.recovery = None                   # drops the new ring
            if self.ring is not None:
                self.ring.frozen = False
        self._set_state(now, MemberState.GATHER)
        self.gather_reason, self.gather_from = reason, frm
        log.debug("node %d GATHER because %s from %s", self._me, reason.value, frm)
        self.packer.normal_open = False
        for tid in (TimerId.TOKEN_LOSS, TimerId.TOKEN_RETRANSMIT, TimerId.TOKEN_HOLD,
                    TimerId.MERGE_BEACON):
            self._cancel(tid)
        self.held = None
        self.retrans = None
        self.forwarded_at = float("-inf")          # no rotation is timed across rings
        self.memb.consensus = {self._me}
        if agree is not None:
            self.memb.consensus.add(agree)
        self._send(BROADCAST_ALL, self._enc(self._join_packet()))
        self._set_timer(TimerId.JOIN, now + self.p.join_timeout)
        self._set_timer(TimerId.CONSENSUS, now + self.p.consensus_timeout)
        if reason is not GatherReason.RECOVERY_ABORT:
            # after an aborted recovery, wait for JOINs or the consensus timeout: a lone
            # node would otherwise re-form and re-abort at the same instant forever
            self._check_consensus(now)

    def _check_consensus(self, now: float) -> None:
        if self._state is MemberState.GATHER and self.memb.agreed() and self.memb.i_am_rep():
            live = self.memb.live()
            c = ct_mod.new_commit(self._me, self._inc, max(self.max_ring_seq_seen,
                                                           self.ring_seq_floor), live)
            self._accept_commit(now, c)

    def _foreign(self, now: float, node: int, reason: GatherReason) -> None:
        st = self._state
        if st is MemberState.OPERATIONAL and self.ring is not None:
            self.memb.reset_to(self.ring.members)
            self.memb.add(node)
            self._gather(now, reason, node)
        elif st is MemberState.GATHER:
            if self.memb.add(node):
                self._gather(now, reason, node)

    def _on_restart(self, now: float, node: int) -> None:
        st = self._state
        log.debug("node %d: node %d restarted", self._me, node)
        if st is MemberState.OPERATIONAL and self.ring and node in self.ring.members:
            self.memb.reset_to(self.ring.members)
            self._gather(now, GatherReason.RESTART_DETECTED, node)
        elif st is MemberState.GATHER:
            self.memb.consensus.discard(node)
        elif st in (MemberState.COMMIT, MemberState.RECOVERY) and self.commit \
                and node in self.commit.members:
            self._gather(now, GatherReason.RESTART_DETECTED, node)

    def _on_beacon(self, now: float, b: Beacon) -> None:
        if b.ring.seq > self.max_ring_seq_seen:
            self.max_ring_seq_seen = b.ring.seq
        r = self.ring
        if self._state is MemberState.OPERATIONAL and r is not None:
            if b.ring == r.ring_id:
                return
            if b.sender not in r.members or b.ring.seq > r.ring_id.seq:
                self._foreign(now, b.sender, GatherReason.FOREIGN_PACKET)
        elif self._state is MemberState.GATHER:
            self._foreign(now, b.sender, GatherReason.FOREIGN_PACKET)

    # ------------------------------------------------------------------ commit token
    def _accept_commit(self, now: float, c: Commit) -> None:
        """Rotation 1 at this node: write my entry, enter COMMIT, forward."""
        seq = c.ring.seq
        self.out.append(Persist(seq))
        self.ring_seq_floor = max(self.ring_seq_floor, seq)
        self.max_ring_seq_seen = max(self.max_ring_seq_seen, seq)
        old = self.ring
        if old is not None:
            entry = ct_mod.my_entry(c, self._inc, old.ring_id, old.my_aru, old.high_seq,
                                    old.delivered, old.rescued_mask())
            old.frozen = True
        else:
            entry = ct_mod.my_entry(c, self._inc, NULL_RING, 0, 0, 0)
        c2 = ct_mod.with_entry(c, self._me, self._inc, entry)
        self._set_state(now, MemberState.COMMIT)
        self.commit = c2
        self._cancel(TimerId.JOIN)
        self._cancel(TimerId.CONSENSUS)
        self._set_timer(TimerId.TOKEN_LOSS, now + self.p.token_timeout)
        self._forward_commit(now, c2)

    def _forward_commit(self, now: float, c: Commit) -> None:
        succ = ct_mod.successor(c.members, self._me)
        if succ == self._me:
            self._on_commit(now, c)
        else:
            self._send_token(now, succ, self._enc(c))

    def _on_commit(self, now: float, c: Commit) -> None:
        if c.ring.seq > self.max_ring_seq_seen:
            self.max_ring_seq_seen = c.ring.seq
        n = len(c.members)
        st = self._state
        if st is MemberState.GATHER:
            if c.memb_index < n and ct_mod.acceptable(c, self._me, self.memb.live(),
                                                      self.ring_seq_floor):
                self._accept_commit(now, c)
        elif st is MemberState.COMMIT:
            if self.commit is not None and c.ring == self.commit.ring and c.memb_index == n \
                    and c.members == self.commit.members:
                self._enter_recovery(now, c)
        elif st is MemberState.RECOVERY:
            rec = self.recovery
            if rec is not None and c.ring == rec.ring.ring_id and c.memb_index == n \
                    and c.members == rec.ring.members and c.ring.rep == self._me \
                    and not rec.originated:
                rec.originated = True
                tok = Token(self._me, self._inc, c.ring, 0, 0, 0, NONE_NODE, 0, 0, False, ())
                self._visit(now, rec.ring, tok)

    def _enter_recovery(self, now: float, c: Commit) -> None:
        self._cancel(TimerId.TOKEN_RETRANSMIT)
        for member, entry in zip(c.members, c.entries):
            if member != self._me and self.lives.adopt(now, member, entry.incarnation):
                self.ring_seen.pop(member, None)   # each wrote its own life (lives.py)
        new = RingState(c.ring, c.members, self._me, self._inc)
        self.recovery = Recovery.begin(c, self._me, self.ring, new)
        self.commit = c
        self._set_state(now, MemberState.RECOVERY)
        self._set_timer(TimerId.TOKEN_LOSS, now + self.p.token_timeout)
        self._forward_commit(now, ct_mod.forwarded(c, self._me, self._inc))

