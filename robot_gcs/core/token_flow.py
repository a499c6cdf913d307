"""Token handling of the engine: visits, multicasts, hold, delivery, install (PROTOCOL.md 1.3, 1.4.5, 3.2).

Owns the engine's use of ring.py: accepting tokens of the active ring (OPERATIONAL or
RECOVERY), storing multicasts (recovered ENCAP packets go to the recovery side table),
filling packets from the send queue or the recovery queue, forwarding or holding the
token (a quiet ring's holder, ``RingState.holder``; a lone sender that borrowed it,
``_lends``; a singleton), token retransmission (after a few rotation times for a token
nobody ahead keeps or someone HURRYs for: ``_moving_retransmit``), asking every member
for a token that is late (``_on_token_late``, the token-loss timer's first stage),
delivery after the token Send, and the install that ends RECOVERY.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Callable

from ..errors import MalformedPacket
from .actions import BROADCAST_RING
from .recovery import Recovery, packet_delivers
from .reply_window import REPLY_SLACK
from .ring import RingState
from .types import GatherReason, MemberState, Service, TimerId
from .engine_base import EngineBase
from .fastnew import maker
from .wire import Hurry, Mcast, Token, decode, encode_mcast

log = logging.getLogger(__name__)

_new_mcast = maker(Mcast)


class TokenFlow(EngineBase):
    """The ordering half of the engine."""

    def _on_token_retransmit(self, now: float) -> None:
        if self.retrans is None or self._state is MemberState.GATHER:
            return
        self.n["token_retransmits"] += 1
        dest, data, gap = self.retrans
        # no slack on a repeat: a datagram was lost, and in an idle ring no input comes
        self._send_token(now, dest, data, gap=min(2 * gap, self.p.token_retransmit),
                         slack=False)

    def _on_token_hold(self, now: float) -> None:
        """A kept token's visit: the holder's quiet hold ended (its own new work, a
        HURRY, ``token_hold``), or a singleton's next self-visit."""
        tok, self.held = self.held, None
        r = self.ring if self._state is MemberState.OPERATIONAL else self._active_ring()
        if tok is None or r is None or (tok.ring is not r.ring_id and tok.ring != r.ring_id) \
                or tok.token_seq <= r.my_token_seq:
            return
        self._visit(now, r, tok)

    def _on_hurry(self, now: float, h: Hurry) -> None:
        r = self.ring
        if self.held is not None and h.ring == self.held.ring:
            self._set_timer(TimerId.TOKEN_HOLD, now)
            if r is not None and h.sender == r.successor == r.top_sender:
                self.lend_succ = True   # the last sender asks again: it sends alone
        elif r is not None and h.ring == r.ring_id:
            self.hurry_seen = True      # the token is on its way: do not keep it next visit
            if self.lent and h.sender != r.successor:
                self._send(r.successor, self._hurry_packet(r))
            self._retransmit_soon(now)

    def _on_token_late(self, now: float) -> None:
        """No visit for ``token_hold + token_retransmit / 4``, longer than any quiet
        hold (``_hold_end``) and rotation take: a token was likely lost on its way to a
        hold, where its sender waits ``token_hold`` more before it sends it again (it
        cannot tell a kept token from a lost one). Ask every member for the token (a
        HURRY: a holder lets it go, a sender pulls its retransmission in,
        ``_retransmit_soon``) and again every ``token_retransmit / 4`` until the token
        timeout (``token_due``). A retransmission lost too then costs milliseconds, not
        the rest of the token timeout: two losses within a few rotations of an idle ring
        at 5 % loss were a membership change every 20-120 s (virtual time)."""
        r = self.ring
        if r is not None and self.held is None and self.reply_token is None:
            self.n["late_tokens"] += 1
            self._send_all(BROADCAST_RING, [self._hurry_packet(r)])
            self._retransmit_soon(now)
        self._set_timer(TimerId.TOKEN_LOSS,
                        min(self.token_due, now + self.p.token_retransmit / 4))

    def _retransmit_soon(self, now: float) -> None:
        """Someone waits for the token: a retransmission I delayed for a hold ahead is
        due within a moving token's wait (a kept token answers the HURRY and the progress
        cancels it; a lost one is not waited for ``token_hold`` more). Slack up to the
        old deadline: the HURRYs that keep coming while someone waits carry it."""
        due = self.timers.get(TimerId.TOKEN_RETRANSMIT)
        if due is not None and self.retrans is not None:
            soon = now + self._moving_retransmit()
            if soon < due:
                self._set_timer(TimerId.TOKEN_RETRANSMIT, soon, due - soon)

    def _hurry(self, now: float) -> None:
        """New work while OPERATIONAL: make sure the token comes.

        A token this node keeps is visited once this input is done (the holder's new
        work rides the token it keeps). Otherwise the ring's holder may be keeping it
        (the ring was quiet: ``RingState.holder``, ``RingState.quiet``). A moving token
        is back within about one rotation, so this node asks for it (HURRY to the
        holder) at once only when the token it last forwarded looked quiet
        (``kept_likely``) or two rotations passed since its last visit, else at that
        time (TimerId.HURRY; a visit cancels it). A HURRY that no visit answers is
        repeated to every member (``_hurry_repeat``; this node's idea of the holder
        may be out of date after a loss), so a lost one costs that long, not the
        holder's whole ``token_hold``.
        """
        r = self.ring
        if self._state is not MemberState.OPERATIONAL or r is None \
                or not self.packer.has_work():
            return
        if self.held is not None:
            if not self.bursts:                 # else the burst's end lets it go
                self._set_timer(TimerId.TOKEN_HOLD, now)
        elif self.reply_token is None and not self.hurried \
                and TimerId.HURRY not in self.timers:
            due = self.last_visit_at + 2 * self.rotation_estimate
            if (r.holder() != self._me or self.lent) and (now >= due or self.kept_likely):
                self._send_hurry(now, r)  # late, or the ring looked quiet: likely kept
            else:                         # (a token kept for me comes here anyway)
                self._set_timer(TimerId.HURRY, max(now, due))

    def _on_hurry_timer(self, now: float) -> None:
        """The deferred HURRY is due, or the last one was not answered by a visit."""
        r = self.ring
        if self._state is MemberState.OPERATIONAL and r is not None and self.held is None \
                and self.reply_token is None and self.packer.has_work():
            self._send_hurry(now, r)

    def _send_hurry(self, now: float, r: RingState) -> None:
        """Ask the holder for the token; a repeat (the last HURRY got no visit), or one
        while this node is the holder itself (its token is out, e.g. on a hold's
        last rotation), goes to every member: whoever keeps the token lets it go, the
        others pass it on at their next visit (``hurry_seen``)."""
        repeat = self.hurried
        self.hurried = True
        self.n["hurries"] += 1
        data = self._hurry_packet(r)
        holder = r.successor if self.lent else r.holder()
        if repeat or holder == self._me:
            self._send_all(BROADCAST_RING, [data])
        else:
            self._send(holder, data)
        self._set_timer(TimerId.HURRY, now + self._hurry_repeat())
        self._retransmit_soon(now)      # the token I handed on last may be the lost one

    def _hurry_packet(self, r: RingState) -> bytes:
        return self._enc(Hurry(self._me, self._inc, r.ring_id))

    def _hurry_repeat(self) -> float:
        """How long a HURRY waits for the visit it asked for before it is repeated:
        three return times of a moving token, at least an eighth of the token
        retransmit interval (10 ms with the defaults)."""
        return max(3 * self.return_estimate, self.p.token_retransmit / 8)

    def _moving_retransmit(self) -> float:
        """How long a forwarded token that nobody will keep waits for a sign of arrival
        before it is sent again: four return times of a moving token, at least a
        sixteenth of ``token_retransmit`` and more than the reply window; each repeat
        waits twice as long, up to ``token_retransmit``."""
        p = self.p
        return min(p.token_retransmit, max(4 * self.return_estimate, p.token_retransmit / 16,
                                           p.reply_window + REPLY_SLACK))

    def _note_visit(self, now: float) -> None:
        """A token visit: no HURRY is needed now; learn the interval between visits --
        the shortest of the last 16 (a token that was kept only makes one longer)."""
        self.hurried = self.hurry_seen = False
        if TimerId.HURRY in self.timers:
            self._cancel(TimerId.HURRY)
        gaps = self.visit_gaps
        gaps.append(now - self.last_visit_at)
        if len(gaps) > 16:
            del gaps[0]
        self.rotation_estimate = min(gaps)
        self.last_visit_at = now

    def _note_return(self, now: float) -> None:
        """The token I handed on moving is back: learn how fast the ring turns -- the
        shortest of the last 16 times from handing a moving token on to its return.
        Unlike the visit interval, the time I keep the token myself never counts, so a
        lone sender that keeps a lent token between its messages, and its lender, still
        know it (their visits come once per message)."""
        if self.forwarded_at == float("-inf"):
            return
        times = self.return_times
        times.append(now - self.forwarded_at)
        if len(times) > 16:
            del times[0]
        self.return_estimate = min(times)
        self.forwarded_at = float("-inf")

    # ------------------------------------------------------------------ ordering
    def _active_ring(self) -> RingState | None:
        if self._state is MemberState.OPERATIONAL:
            return self.ring
        if self._state is MemberState.RECOVERY and self.recovery is not None:
            return self.recovery.ring
        return None

    def _on_token(self, now: float, tok: Token) -> None:
        r = self._active_ring()
        if r is None or tok.ring != r.ring_id or tok.token_seq <= r.my_token_seq \
                or tok.sender not in r.members:
            return
        if tok.seq - r.my_aru > 2 * self.p.buf_capacity + self.p.max_seq_gap \
                or tok.seq < r.last_forward_seq:
            self.drops["bad_token"] += 1          # no sender could have produced this
            return
        self._note_return(now)
        if self._state is MemberState.OPERATIONAL:
            if self.held is not None and not r.singleton:
                return              # a retransmitted copy of the token kept here
            if self._keep_quiet(now, r, tok):
                self.reply.token_kept()           # a local reply rides the kept token
                return
            if self.reply.should_hold(self.packer.has_work()):
                self.reply_token = tok            # core/reply_window.py
                self._set_timer(TimerId.REPLY_WINDOW, now + self.reply.window, REPLY_SLACK)
                return
        self._visit(now, r, tok)

    def _keep_quiet(self, now: float, r: RingState, tok: Token) -> bool:
        """The ring's holder (``RingState.holder``: the predecessor of the newest
        packet's sender, or the rep) keeps an arriving token, unvisited, while the ring
        is quiet (``RingState.quiet``) and no HURRY came since its last visit. Its own
        new work, a HURRY or ``token_hold`` ends the hold with the visit it waited for
        (``_on_token_hold``): keeping the token unvisited is the same as the network
        delivering it later, so ordering and EVS cannot change. Holding where the
        newest packet's rotation ends, not always at the rep, saves the rotation that
        brought a packet sent beyond the rep's successor back to the rep.

        A lone sender gets the token lent (``_lends``): the holder passes it on and
        the sender keeps it, so its next message leaves without a HURRY and a hop."""
        was_lent, self.lent = self.lent, False      # the token I lent came back
        if r.singleton or self.hurry_seen or self.packer.has_work():
            return False
        if r.holder() != self._me:
            self.lend_succ = False
            if not tok.lent or not r.quiet(self.p, tok):
                return False
            kind = "lent_holds"               # lent to me: I sent alone, nobody since
        elif not r.quiet(self.p, tok):
            return False
        elif self._lends(r, tok, was_lent):
            return False
        else:
            kind = "quiet_holds"
        end = self._hold_end()
        if end <= now:
            return False                      # too late to keep (a retransmitted one)
        self.n[kind] += 1
        self.held = tok
        self._stop_retransmit()     # it came round: my forward arrived
        self._set_timer(TimerId.TOKEN_HOLD, end)
        return True

    def _hold_end(self) -> float:
        """When a kept quiet token goes on: ``token_hold`` after my last visit, not after
        it came. The time the token spent elsewhere since -- lost and sent again, kept by
        a lone sender, stalled in a daemon -- comes out of the hold, so no member's visits
        are much more than ``token_hold`` apart and a second lost datagram still comes
        back before a token timeout. Held from its arrival, a retransmitted token (its
        sender waited ``token_hold + token_retransmit / 4`` for it) left the member after
        the holder's successor without a visit for 270-340 ms of the 350 ms token
        timeout: two losses within a few rotations of an idle ring at 5 % loss were a
        membership change, in virtual time one every 20-120 s. (The token timeout, set at
        that visit, is later than this: ``ProtocolParams.problems``.)"""
        return self.last_visit_at + self.p.token_hold

    def _lends(self, r: RingState, tok: Token, was_lent: bool) -> bool:
        """The holder passes a quiet token on to its successor, which keeps it, when the
        successor sends alone: it asked for a kept token while its own packets were the
        newest (``_on_hurry``), and its packets are still the newest. The streak ends
        when the token I lent comes back with nothing new (the sender let it go unused)
        or another member's packet is the newest (``_keep_quiet``); a rotation that was
        not quiet (a SAFE packet waits for its second one) does not end it. While lent,
        a HURRY that reaches me is passed on to the successor."""
        if not self.lend_succ:
            return False
        if was_lent and tok.seq == r.last_forward_seq:
            self.lend_succ = False
            return False
        self.lent = True
        self.n["lends"] += 1
        return True

    # ------------------------------------------------------------------ reply window
    def _on_reply_window(self, now: float) -> None:
        """The window ran out (a miss), or a local submit made it due now (a hit)."""
        if self.reply_token is None:
            return
        if self.reply_hit:
            self.reply_hit = False
        else:
            self.reply.expired()
        self._resume_reply(now)

    def _reply_submitted(self, now: float) -> None:
        """A local submit: a held token carries it, once this input is done."""
        if self.reply_token is None:
            self.reply.submitted(False)
        elif not self.reply_hit:
            self.reply.submitted(True)
            self.reply_hit = True
            self._set_timer(TimerId.REPLY_WINDOW, now)

    def _release_reply(self, now: float) -> None:
        """Another packet arrived, or the client the token waits for will not reply:
        process the held token now (arrival order)."""
        self._cancel(TimerId.REPLY_WINDOW)
        self.reply_hit = False
        self._resume_reply(now)

    def _resume_reply(self, now: float) -> None:
        tok, self.reply_token = self.reply_token, None
        r = self.ring
        if tok is None or self._state is not MemberState.OPERATIONAL or r is None \
                or tok.ring != r.ring_id or tok.token_seq <= r.my_token_seq:
            return                                 # the ring moved on meanwhile
        self._visit(now, r, tok)

    def _on_mcast(self, now: float, m: Mcast, data: bytes) -> None:
        st = self._state
        cap = self.p.buf_capacity
        if st is MemberState.OPERATIONAL:
            r = self.ring
            assert r is not None
            if m.ring == r.ring_id:
                if m.sender not in r.members:
                    self.drops["not_member"] += 1
                    return
                if r.store(m, data, cap):
                    self._saw_progress(r, m.seq)
                    self._deliver(r)
            elif m.sender not in r.members or m.ring.seq > r.ring_id.seq:
                self._foreign(now, m.sender, GatherReason.FOREIGN_PACKET)
        elif st is MemberState.GATHER:
            r = self.ring
            if r is not None and m.ring == r.ring_id:
                if m.sender in r.members:
                    r.store(m, data, cap)
            elif m.sender not in self.memb.proc_set:
                self._foreign(now, m.sender, GatherReason.FOREIGN_PACKET)
        elif st is MemberState.RECOVERY:
            rec = self.recovery
            assert rec is not None
            if m.ring != rec.ring.ring_id or m.sender not in rec.ring.members:
                return
            if rec.ring.store(m, data, cap):
                self._saw_progress(rec.ring, m.seq)
                if m.encap:
                    try:
                        inner = decode(m.payload, self.cfg.key, self.cfg.cluster_id)
                    except MalformedPacket as exc:
                        self.drops["encap_" + exc.reason] += 1
                        return
                    if isinstance(inner, Mcast):
                        rec.on_encap(m, inner)
                    else:
                        self.drops["encap_not_mcast"] += 1

    def _saw_progress(self, r: RingState, seq: int) -> None:
        if seq > r.last_forward_seq and TimerId.TOKEN_RETRANSMIT in self.timers:
            self._stop_retransmit()

    def _stop_retransmit(self) -> None:
        """The token I forwarded arrived (progress seen): no retransmission of it."""
        if TimerId.TOKEN_RETRANSMIT in self.timers:
            self._cancel(TimerId.TOKEN_RETRANSMIT)
        self.retrans = None

    def _take_app(self, r: RingState) -> Callable[[int, int], list[bytes]]:
        def take(n: int, first: int) -> list[bytes]:
            out: list[bytes] = []
            me, inc, ring_id, cap = self._me, self._inc, r.ring_id, self.p.buf_capacity
            cid, key = self.cfg.cluster_id, self.cfg.key
            seq = first
            for service, payload in self.packer.take(n):
                r.origin_pkt += 1
                data = encode_mcast(me, inc, ring_id, seq, r.origin_pkt, service, payload,
                                    False, cid, key)
                r.store(_new_mcast(me, inc, ring_id, seq, r.origin_pkt, service, payload, False),
                        data, cap)
                out.append(data)
                seq += 1
            return out
        return take

    def _take_recovery(self, r: RingState, rec: Recovery) -> Callable[[int, int], list[bytes]]:
        def take(n: int, first: int) -> list[bytes]:
            out: list[bytes] = []
            for i in range(n):
                inner = rec.next_resend()
                if inner is None:
                    break
                r.origin_pkt += 1
                m = Mcast(self._me, self._inc, r.ring_id, first + i, r.origin_pkt,
                          Service.AGREED, inner, encap=True)
                data = self._enc(m)
                r.store(m, data, self.p.buf_capacity)
                out.append(data)
            return out
        return take

    def _visit(self, now: float, r: RingState, tok: Token) -> None:
        """One token visit: budget, send, aru, forward, then deliver (PROTOCOL.md 1.3)."""
        self._stop_retransmit()
        self._note_visit(now)
        p = self.p
        self.token_due = now + p.token_timeout
        late = self.token_due if self._state is not MemberState.OPERATIONAL or r.singleton \
            else now + self.late_after
        self._set_timer(TimerId.TOKEN_LOSS, late)
        if tok.seq >= p.seq_wrap_limit or tok.token_seq >= p.seq_wrap_limit:
            self._wrap_gather(now, r)
            return
        rec = self.recovery if self._state is MemberState.RECOVERY else None
        if rec is not None:
            res = r.visit(tok, self.p, rec.backlog(), self._take_recovery(r, rec))
        else:
            res = r.visit(tok, self.p, self.packer.backlog(), self._take_app(r))
        if res.retransmitted:
            self.n["retransmits"] += res.retransmitted
        if res.requested:
            self.n["rtr_requests"] += res.requested
        if res.broadcasts:
            self._send_all(BROADCAST_RING, res.broadcasts)
        if res.fail_node is not None and rec is None:
            log.debug("node %d: node %d fails to receive", self._me, res.fail_node)
            self.memb.reset_to(r.members)
            self.memb.fail(res.fail_node)
            self._gather(now, GatherReason.FAIL_TO_RECEIVE, res.fail_node)
            return
        tok2 = res.token
        assert tok2 is not None
        install = False
        if rec is not None:
            tok2, install = rec.token_flags(tok2, r.my_aru)
            if not install and rec.rounds > self.p.max_recovery_rounds:
                self._gather(now, GatherReason.RECOVERY_ABORT, None)
                return
        if r.members[0] == self._me:             # the rep counts the rotations
            self.n["rotations"] += 1
            if self.last_rep_visit is not None:
                self.rotation_time_last = now - self.last_rep_visit
            self.last_rep_visit = now
        if rec is None:
            # will the holder keep the token I forward before it is back here? (the
            # ring looks quiet from here) -- then new work HURRYs at once, and my
            # retransmission waits for the hold too
            if res.sent_new:
                self.lent = False         # my packets: the token is no longer lent
            elif self.lent:
                tok2 = replace(tok2, lent=True)
            self.kept_likely = tok2.aru == tok2.seq and not tok2.rtr \
                and (r.holder() != self._me or self.lent)
        self._forward(now, r, tok2, rec is None and self.kept_likely)
        if rec is None and res.sent_new and self.packer.has_work():
            self._send_hurry(now, r)    # my packets alone make my predecessor's rotation
                                        # quiet: say that I have more (the token came late)
        if install:
            self._install(now)
        elif rec is None:
            self._deliver(r)
            r.release()
        else:
            r.skip_encap()
            r.release()

    def _forward(self, now: float, r: RingState, tok: Token, kept_ahead: bool = False) -> None:
        """Hand the token on (a singleton keeps it for its next self-visit). ``kept_ahead``:
        the holder will likely keep this token for ``token_hold`` when it gets there, and
        no packet shows progress meanwhile, so its retransmission waits that long and a
        quarter of ``token_retransmit`` (the member after me may have waited since before
        the last hold: a lost one still comes back before its token timeout,
        ProtocolParams.problems). Otherwise ``_moving_retransmit``."""
        if r.successor == self._me:
            busy = (self._state is not MemberState.OPERATIONAL or self.packer.has_work()
                    or r.safe_point < r.last_visit_seq)
            self.held = tok
            self._set_timer(TimerId.TOKEN_HOLD, now if busy else now + self.p.token_hold)
            return
        self.forwarded_at = float("-inf") if kept_ahead else now  # a kept one times no rotation
        if kept_ahead:       # no slack: in a quiet ring no input would carry it
            self._send_token(now, r.successor, self._enc(tok), later=self.p.token_hold,
                             gap=self.p.token_retransmit / 4, slack=False)
        else:
            self._send_token(now, r.successor, self._enc(tok), gap=self._moving_retransmit())

    def _wrap_gather(self, now: float, r: RingState) -> None:
        log.debug("node %d: sequence wrap limit reached in ring %s", self._me, r.ring_id)
        if self._state is MemberState.OPERATIONAL:
            self.memb.reset_to(r.members)
        self._gather(now, GatherReason.SEQ_WRAP, None)

    def _deliver(self, r: RingState) -> None:
        if self._state is not MemberState.OPERATIONAL:
            return
        pkts = r.take_deliverable()
        if not pkts:
            return
        bad: list[str] = []
        out = self.out
        msgs = nbytes = 0
        for pkt in pkts:
            for d in packet_delivers(pkt, self.asm, False, bad):
                out.append(d)
                msgs += 1
                nbytes += len(d.payload)
        if msgs:
            self.n["dmsgs"] += msgs
            self.n["dbytes"] += nbytes
        for reason in bad:
            self.drops[reason] += 1

    def _install(self, now: float) -> None:
        rec = self.recovery
        assert rec is not None
        r = rec.ring
        bad: list[str] = []
        start = len(self.out)
        self.out.extend(rec.install(self.asm, r.members, r.ring_id, bad))
        self._count_delivers(start)
        for reason in bad:
            self.drops[reason] += 1
        self.ring = r
        self.recovery = None
        self.commit = None
        self.lend_succ = self.lent = False
        self.memb.reset_to(r.members)
        self._set_state(now, MemberState.OPERATIONAL)
        self.n["configs"] += 1
        self.last_rep_visit = None
        log.debug("node %d installed ring %s members %s", self._me, r.ring_id, r.members)
        self.packer.restart_partial()
        if self.cfg.auto_open_lane:
            self.packer.open_normal(now)
        if r.members[0] == self._me:
            self._set_timer(TimerId.MERGE_BEACON, now + self.p.merge_interval)
        self._deliver(r)
        r.release()
        if self.packer.has_work() and self.held is not None:
            self._set_timer(TimerId.TOKEN_HOLD, now)

