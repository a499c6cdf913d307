"""The sans-IO engine: one node of the ring (PROTOCOL.md sections 1.3-1.4, 3.2, 4, 5).

Owns: the membership state (OPERATIONAL / GATHER / COMMIT / RECOVERY / STOPPED), the
timers, packet filtering, and the composition of ring.py (ordering), membership.py
(JOIN rules), commit.py (commit token), recovery.py (recovery and install) and
packing.py (send queue, reassembly). Every entry point takes ``now`` and returns
``list[Action]`` in execution order; nothing here reads a clock or touches a socket.

Rules drivers rely on:
* Own broadcasts are never delivered back: the engine stores what it sends.
* ``Send(BROADCAST_RING)`` must reach ``ring_targets``; ``Send(BROADCAST_ALL)`` every
  configured peer but me; ``Send(node)`` is unicast (tokens, commit tokens, beacons).
* ``SetTimer`` replaces a pending timer of that id; ``handle_timer`` for an unarmed id or
  before its deadline is a no-op (stale timer events are harmless).
* ``Persist(ring_seq)`` precedes any use of a new ring seq.
* Bad packets are counted in ``statistics().drops`` and dropped, never raised.
* A singleton ring passes the token to itself through the TOKEN_HOLD timer (deadline
  ``now`` when there is work, ``now + token_hold`` when idle).
* DeliverConfig(TRANSITIONAL) carries the *new* ring id; a node with no previous ring
  (fresh start or restart) gets only the REGULAR configuration.
* Ring seqs: ``persisted_ring_seq + 1`` on load; when the persisted seq was lost
  (``None``) the engine starts at ``incarnation << 28`` so a restarted representative
  cannot reuse a ring id of an earlier incarnation (PROTOCOL.md section 7, ring id reuse).
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from typing import Callable

from ..errors import LocalProtocolError, MalformedPacket
from . import commit as ct_mod
from .actions import (BROADCAST_ALL, BROADCAST_RING, Action, CancelTimer, Deliver, Persist,
                      Send, SetTimer)
from .membership import TRANSITIONS, JoinOutcome, Membership
from .packing import Assembler, Packer
from .params import EngineConfig
from .recovery import Recovery, packet_delivers
from .ring import RingState
from .stats import EngineStats
from .types import (NONE_NODE, NULL_RING, GatherReason, Lane, MemberState, NodeId, RingId,
                    Service, TimerId)
from .wire import (MAC_LEN, MCAST_OVERHEAD, Beacon, Commit, Hurry, Join, Mcast, Packet, Token,
                   decode, encode)

log = logging.getLogger(__name__)

_STATE_CODE = {MemberState.OPERATIONAL: 1, MemberState.GATHER: 2, MemberState.COMMIT: 3,
               MemberState.RECOVERY: 4, MemberState.STOPPED: 5}


class Engine:
    """One ring node as a pure state machine (see the module docstring)."""

    _timer_handlers: dict[TimerId, Callable[["Engine", float], None]]

    def __init__(self, cfg: EngineConfig, node_id: int, incarnation: int,
                 persisted_ring_seq: int | None, rng_seed: int) -> None:
        if node_id <= 0 or node_id not in cfg.peers:
            raise LocalProtocolError(f"node id {node_id} is not a configured peer")
        self.cfg = cfg
        self.p = cfg.params
        self._me = node_id
        self._inc = incarnation
        self.rng = random.Random(rng_seed)
        self.peers = tuple(sorted(set(cfg.peers)))
        self.peer_set = frozenset(self.peers)
        if persisted_ring_seq is None:
            # persisted seq lost: start above any seq an earlier incarnation could have used
            self.max_ring_seq_seen = (incarnation & 0xFFFFFFFF) << 28
        else:
            self.max_ring_seq_seen = persisted_ring_seq + 1
        self.ring_seq_floor = self.max_ring_seq_seen
        self._state = MemberState.GATHER
        self.started = False
        self.memb = Membership(node_id)
        self.ring: RingState | None = None          # the installed (or old) ring
        self.commit: Commit | None = None           # forming ring (COMMIT/RECOVERY)
        self.recovery: Recovery | None = None
        self.held: Token | None = None
        self.retrans: tuple[int, bytes] | None = None
        mac = MAC_LEN if cfg.key else 0
        payload = self.p.max_packet - 2 * MCAST_OVERHEAD - 2 * mac
        self.packer = Packer(payload, self.p.send_queue_capacity, self.p.max_message_size)
        self.asm = Assembler()
        self.timers: dict[TimerId, float] = {}
        self.incarnations: dict[int, int] = {}
        self.join_flush_until = float("-inf")
        self.last_tick: float | None = None
        self.last_hurry = float("-inf")
        self.last_rep_visit: float | None = None
        self.rotation_time_last: float | None = None
        self.out: list[Action] = []
        self.drops: Counter[str] = Counter()
        self.state_since = 0.0
        self.gather_reason = GatherReason.START
        self.gather_from: int | None = None
        self.n = Counter[str]()

    # ------------------------------------------------------------------ read-only
    @property
    def node_id(self) -> int:
        return self._me

    @property
    def incarnation(self) -> int:
        return self._inc

    @property
    def state(self) -> MemberState:
        return self._state

    @property
    def ring_id(self) -> RingId:
        if self._state in (MemberState.COMMIT, MemberState.RECOVERY) and self.commit:
            return self.commit.ring
        return self.ring.ring_id if self.ring else NULL_RING

    @property
    def members(self) -> tuple[NodeId, ...]:
        if self._state in (MemberState.COMMIT, MemberState.RECOVERY) and self.commit:
            return tuple(NodeId(m) for m in self.commit.members)
        if self.ring:
            return tuple(NodeId(m) for m in self.ring.members)
        return (NodeId(self._me),)

    @property
    def ring_targets(self) -> tuple[NodeId, ...]:
        if self._state is MemberState.RECOVERY and self.recovery:
            mem = self.recovery.ring.members
        elif self.ring:
            mem = self.ring.members
        else:
            return ()
        return tuple(NodeId(m) for m in mem if m != self._me)

    def statistics(self) -> EngineStats:
        r = self.ring
        buf = len(r.buf) if r else 0
        if self.recovery:
            buf += len(self.recovery.ring.buf) + len(self.recovery.side)
        return EngineStats(
            node_id=self._me, incarnation=self._inc, state=self._state, ring_id=self.ring_id,
            members=self.members, gather_reason=self.gather_reason, gather_from=self.gather_from,
            state_since=self.state_since, gathers=self.n["gathers"],
            configs_installed=self.n["configs"], token_rotations=self.n["rotations"],
            rotation_time_last=self.rotation_time_last,
            packets_sent=self.n["sent"], packets_received=self.n["received"],
            retransmits_sent=self.n["retransmits"], retransmit_requests=self.n["rtr_requests"],
            token_retransmits=self.n["token_retransmits"], delivered_msgs=self.n["dmsgs"],
            delivered_bytes=self.n["dbytes"], send_queue_len=len(self.packer), buffer_len=buf,
            pauses_detected=self.n["pauses"], drops=tuple(sorted(self.drops.items())))

    # ------------------------------------------------------------------ helpers
    def _take_out(self) -> list[Action]:
        out, self.out = self.out, []
        for a in out:
            if isinstance(a, Deliver):
                self.n["dmsgs"] += 1
                self.n["dbytes"] += len(a.payload)
        return out

    def _enc(self, pkt: Packet) -> bytes:
        return encode(pkt, self.cfg.cluster_id, self.cfg.key)

    def _send(self, dest: int, data: bytes) -> None:
        self.n["sent"] += 1
        self.out.append(Send(dest, data))

    def _set_timer(self, tid: TimerId, deadline: float) -> None:
        self.timers[tid] = deadline
        self.out.append(SetTimer(tid, deadline))

    def _cancel(self, tid: TimerId) -> None:
        if self.timers.pop(tid, None) is not None:
            self.out.append(CancelTimer(tid))

    def _set_state(self, now: float, new: MemberState) -> None:
        if new not in TRANSITIONS[self._state]:
            raise AssertionError(f"illegal transition {self._state} -> {new}")
        self._state = new
        self.state_since = now

    def _send_token(self, now: float, dest: int, data: bytes) -> None:
        self.retrans = (dest, data)
        self._send(dest, data)
        self._set_timer(TimerId.TOKEN_RETRANSMIT, now + self.p.token_retransmit)

    def _known(self, ids: tuple[int, ...]) -> bool:
        peers = self.peer_set
        return all(i in peers for i in ids)

    def _join_packet(self) -> Join:
        return Join(self._me, self._inc, self.max_ring_seq_seen,
                    tuple(sorted(self.memb.proc_set)), tuple(sorted(self.memb.fail_set)))

    # ------------------------------------------------------------------ entry points
    def start(self, now: float) -> list[Action]:
        if self.started:
            raise LocalProtocolError("engine already started")
        self.started = True
        self.last_tick = now
        self._set_timer(TimerId.TICK, now + self.p.tick_interval)
        self.state_since = now
        self._gather(now, GatherReason.START, None)
        return self._take_out()

    def submit(self, now: float, payload: bytes, service: Service = Service.AGREED,
               lane: Lane = Lane.NORMAL) -> list[Action]:
        if self._state is MemberState.STOPPED:
            raise LocalProtocolError("engine stopped (left the ring); create a new one")
        had = self.packer.has_work()
        self.packer.submit(payload, service, lane)
        if not had:
            self._hurry(now)
        return self._take_out()

    def open_normal_lane(self, now: float) -> list[Action]:
        had = self.packer.has_work()
        self.packer.normal_open = True
        if not had:
            self._hurry(now)
        return self._take_out()

    def leave(self, now: float) -> list[Action]:
        if self._state is MemberState.STOPPED:
            return []
        mem = self.members
        j = Join(self._me, self._inc, self.max_ring_seq_seen,
                 tuple(sorted(set(mem) | {self._me})), (self._me,), leave=True)
        self._send(BROADCAST_ALL, self._enc(j))
        for tid in sorted(self.timers, key=lambda t: t.value):
            self._cancel(tid)
        self.held = None
        self._set_state(now, MemberState.STOPPED)
        return self._take_out()

    def handle_timer(self, now: float, timer_id: TimerId) -> list[Action]:
        deadline = self.timers.get(timer_id)
        if deadline is None or now < deadline or self._state is MemberState.STOPPED:
            return []
        del self.timers[timer_id]
        self._timer_handlers[timer_id](self, now)
        return self._take_out()

    def handle_packet(self, now: float, src: object, data: bytes) -> list[Action]:
        self.n["received"] += 1
        if self._state is MemberState.STOPPED or not self.started:
            return []
        try:
            pkt = decode(data, self.cfg.key, self.cfg.cluster_id)
        except MalformedPacket as exc:
            self.drops[exc.reason] += 1
            return []
        s = pkt.sender
        if s == self._me:
            self.n["own_loopback"] += 1     # multicast loopback / others' retransmissions
            return []
        if s not in self.peer_set:
            self.drops["unknown_sender"] += 1
            return []
        seen = self.incarnations.get(s)
        if seen is not None and pkt.incarnation < seen:
            self.drops["stale_incarnation"] += 1
            return []
        self.incarnations[s] = pkt.incarnation
        if seen is not None and pkt.incarnation > seen:
            self._on_restart(now, s)
        if isinstance(pkt, Mcast):
            self._on_mcast(now, pkt, data)
        elif isinstance(pkt, Token):
            self._on_token(now, pkt)
        elif isinstance(pkt, Join):
            self._on_join(now, pkt)
        elif isinstance(pkt, Commit):
            self._on_commit(now, pkt)
        elif isinstance(pkt, Beacon):
            self._on_beacon(now, pkt)
        else:
            self._on_hurry(now, pkt)
        return self._take_out()

    # ------------------------------------------------------------------ timers
    def _on_tick(self, now: float) -> None:
        if self.last_tick is not None and now - self.last_tick > self.p.pause_threshold:
            self.n["pauses"] += 1
            self.join_flush_until = now + self.p.join_timeout
            log.debug("node %d: process pause of %.3fs detected, flushing joins",
                      self._me, now - self.last_tick)
        self.last_tick = now
        self._set_timer(TimerId.TICK, now + self.p.tick_interval)

    def _on_token_loss(self, now: float) -> None:
        st = self._state
        if st is MemberState.COMMIT:
            self._gather(now, GatherReason.COMMIT_LOSS, None)
        elif st in (MemberState.OPERATIONAL, MemberState.RECOVERY):
            self._gather(now, GatherReason.TOKEN_LOSS, None)

    def _on_token_retransmit(self, now: float) -> None:
        if self.retrans is None or self._state is MemberState.GATHER:
            return
        self.n["token_retransmits"] += 1
        self._send_token(now, *self.retrans)

    def _on_token_hold(self, now: float) -> None:
        tok, self.held = self.held, None
        r = self._active_ring()
        if tok is None or r is None or tok.ring != r.ring_id:
            return
        if r.successor == self._me:
            self._visit(now, r, tok)
        else:
            self._send_token(now, r.successor, self._enc(tok))

    def _on_join(self, now: float, j: Join) -> None:     # noqa: C901 - rule table
        if j.ring_seq > self.max_ring_seq_seen:
            self.max_ring_seq_seen = j.ring_seq
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
            self.commit = None
            self.recovery = None                   # drops the side table and new ring
            if self.ring is not None:
                self.ring.frozen = False           # the snapshot was never modified
        self._set_state(now, MemberState.GATHER)
        self.gather_reason, self.gather_from = reason, frm
        log.debug("node %d GATHER because %s from %s", self._me, reason.value, frm)
        self.packer.normal_open = False
        for tid in (TimerId.TOKEN_LOSS, TimerId.TOKEN_RETRANSMIT, TimerId.TOKEN_HOLD,
                    TimerId.MERGE_BEACON):
            self._cancel(tid)
        self.held = None
        self.retrans = None
        self.memb.consensus = {self._me}
        if agree is not None:
            self.memb.consensus.add(agree)
        self._send(BROADCAST_ALL, self._enc(self._join_packet()))
        self._set_timer(TimerId.JOIN, now + self.p.join_timeout)
        self._set_timer(TimerId.CONSENSUS, now + self.p.consensus_timeout)
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

    def _on_hurry(self, now: float, h: Hurry) -> None:
        if self.held is not None and h.ring == self.held.ring:
            self._set_timer(TimerId.TOKEN_HOLD, now)

    def _hurry(self, now: float) -> None:
        """New work while OPERATIONAL: make sure a held token moves."""
        r = self.ring
        if self._state is not MemberState.OPERATIONAL or r is None \
                or not self.packer.has_work():
            return
        if self.held is not None:
            self._set_timer(TimerId.TOKEN_HOLD, now)
        elif r.members[0] != self._me and now - self.last_hurry >= self.p.token_hold:
            self.last_hurry = now
            self._send(r.members[0], self._enc(Hurry(self._me, self._inc, r.ring_id)))

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
                                    old.delivered)
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
        new = RingState(c.ring, c.members, self._me, self._inc)
        self.recovery = Recovery.begin(c, self._me, self.ring, new)
        self.commit = c
        self._set_state(now, MemberState.RECOVERY)
        self._set_timer(TimerId.TOKEN_LOSS, now + self.p.token_timeout)
        self._forward_commit(now, ct_mod.forwarded(c, self._me, self._inc))

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
            self._cancel(TimerId.TOKEN_RETRANSMIT)
            self.retrans = None

    def _take_app(self, r: RingState) -> Callable[[int, int], list[bytes]]:
        def take(n: int, first: int) -> list[bytes]:
            out: list[bytes] = []
            for i, (service, payload) in enumerate(self.packer.take(n)):
                r.origin_pkt += 1
                m = Mcast(self._me, self._inc, r.ring_id, first + i, r.origin_pkt, service,
                          payload)
                data = self._enc(m)
                r.store(m, data, self.p.buf_capacity)
                out.append(data)
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
        self._cancel(TimerId.TOKEN_RETRANSMIT)
        self.retrans = None
        self._set_timer(TimerId.TOKEN_LOSS, now + self.p.token_timeout)
        if tok.seq >= self.p.seq_wrap_limit or tok.token_seq >= self.p.seq_wrap_limit:
            self._wrap_gather(now, r)
            return
        rec = self.recovery if self._state is MemberState.RECOVERY else None
        if rec is not None:
            res = r.visit(tok, self.p, rec.backlog(), self._take_recovery(r, rec))
        else:
            res = r.visit(tok, self.p, self.packer.backlog(), self._take_app(r))
        self.n["retransmits"] += res.retransmitted
        self.n["rtr_requests"] += res.requested
        for data in res.broadcasts:
            self._send(BROADCAST_RING, data)
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
        if r.members[0] == self._me:
            self.n["rotations"] += 1
            if self.last_rep_visit is not None:
                self.rotation_time_last = now - self.last_rep_visit
            self.last_rep_visit = now
        self._forward(now, r, tok2)
        if install:
            self._install(now)
        elif rec is None:
            self._deliver(r)
            r.release()
        else:
            r.skip_encap()
            r.release()

    def _forward(self, now: float, r: RingState, tok: Token) -> None:
        if r.successor == self._me:
            busy = (self._state is not MemberState.OPERATIONAL or self.packer.has_work()
                    or r.safe_point < r.last_visit_seq)
            self.held = tok
            self._set_timer(TimerId.TOKEN_HOLD, now if busy else now + self.p.token_hold)
            return
        if self._state is MemberState.OPERATIONAL and r.members[0] == self._me \
                and r.idle(self.p) and not self.packer.has_work():
            self.held = tok
            self._set_timer(TimerId.TOKEN_HOLD, now + self.p.token_hold)
            return
        self._send_token(now, r.successor, self._enc(tok))

    def _wrap_gather(self, now: float, r: RingState) -> None:
        log.debug("node %d: sequence wrap limit reached in ring %s", self._me, r.ring_id)
        if self._state is MemberState.OPERATIONAL:
            self.memb.reset_to(r.members)
        self._gather(now, GatherReason.SEQ_WRAP, None)

    def _deliver(self, r: RingState) -> None:
        if self._state is not MemberState.OPERATIONAL:
            return
        bad: list[str] = []
        for pkt in r.deliverable():
            self.out.extend(packet_delivers(pkt, self.asm, False, bad))
        for reason in bad:
            self.drops[reason] += 1

    def _install(self, now: float) -> None:
        rec = self.recovery
        assert rec is not None
        r = rec.ring
        bad: list[str] = []
        self.out.extend(rec.install(self.asm, r.members, r.ring_id, bad))
        for reason in bad:
            self.drops[reason] += 1
        self.ring = r
        self.recovery = None
        self.commit = None
        self.memb.reset_to(r.members)
        self._set_state(now, MemberState.OPERATIONAL)
        self.n["configs"] += 1
        self.last_rep_visit = None
        log.debug("node %d installed ring %s members %s", self._me, r.ring_id, r.members)
        self.packer.restart_partial()
        if self.cfg.auto_open_lane:
            self.packer.normal_open = True
        if r.members[0] == self._me:
            self._set_timer(TimerId.MERGE_BEACON, now + self.p.merge_interval)
        self._deliver(r)
        r.release()
        if self.packer.has_work() and self.held is not None:
            self._set_timer(TimerId.TOKEN_HOLD, now)


Engine._timer_handlers = {
    TimerId.TOKEN_LOSS: Engine._on_token_loss,
    TimerId.TOKEN_RETRANSMIT: Engine._on_token_retransmit,
    TimerId.TOKEN_HOLD: Engine._on_token_hold,
    TimerId.JOIN: Engine._on_join_timer,
    TimerId.CONSENSUS: Engine._on_consensus,
    TimerId.MERGE_BEACON: Engine._on_merge_beacon,
    TimerId.TICK: Engine._on_tick,
}
