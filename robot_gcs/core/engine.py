"""The sans-IO engine: one node of the ring (PROTOCOL.md sections 1.3-1.4, 3.2, 4, 5).

Owns: the public entry points, packet filtering (decode, unknown senders, stale
incarnations), timer dispatch and ``statistics()``. The engine is composed of
engine_base.py (variables and action helpers), token_flow.py (token visits, delivery,
install) and gather_flow.py (GATHER, consensus, commit token, merge), which use
ring.py, membership.py, commit.py, recovery.py and packing.py. Every entry point takes
``now`` and returns ``list[Action]`` in execution order; nothing here reads a clock or
touches a socket. States: OPERATIONAL / GATHER / COMMIT / RECOVERY / STOPPED.

Rules drivers rely on:
* Own broadcasts are never delivered back: the engine stores what it sends.
* ``Send(BROADCAST_RING)`` must reach ``ring_targets``; ``Send(BROADCAST_ALL)`` every
  configured peer but me; ``Send(node)`` is unicast (tokens, commit tokens, beacons).
* ``SetTimer`` replaces a pending timer of that id; ``handle_timer`` for an unarmed id or
  before its deadline is a no-op (stale timer events are harmless).
* ``Persist(ring_seq)`` precedes any use of a new ring seq.
* Bad packets are counted in ``statistics().drops`` and dropped, never raised; so are
  packets with a ring seq or incarnation at its field's limit (core/limits.py).
* A singleton ring passes the token to itself through the TOKEN_HOLD timer (deadline
  ``now`` when there is work, ``now + token_hold`` when idle). A deadline of ``now``
  means "once this input is done": drivers run such timers before taking the next
  input (the runtime's engine host does, the simulator schedules them at ``now``).
* Reply window (core/reply_window.py): an arriving token may be kept briefly after
  ``reply_expected`` (the layer above handed data to a local client); a ``submit``
  releases it once the input is done, ``reply_not_coming`` or any other packet at once.
  ``SetTimer.slack`` says how late its end may run.
* DeliverConfig(TRANSITIONAL) carries the *new* ring id; a node with no previous ring
  (fresh start or restart) gets only the REGULAR configuration.
* Ring seqs: ``persisted_ring_seq + 1`` on load, ``incarnation << 32`` when it was lost
  (drivers should give incarnations that increase cluster-wide, e.g. clock-derived); a
  new ring's seq steps to the next multiple of 256 and carries the rep's incarnation mod
  256 (PROTOCOL.md section 7, ring id reuse).
"""

from __future__ import annotations

import logging
from typing import Callable

from ..errors import LocalProtocolError, MalformedPacket
from .actions import BROADCAST_ALL, Action
from .stats import EngineStats
from .types import NULL_RING, GatherReason, Lane, MemberState, NodeId, RingId, Service, TimerId
from .gather_flow import GatherFlow
from .limits import out_of_range
from .lives import Verdict
from .wire import Beacon, Commit, Join, Mcast, Token, decode

log = logging.getLogger(__name__)



class Engine(GatherFlow):
    """One ring node as a pure state machine (see the module docstring)."""

    _timer_handlers: dict[TimerId, Callable[["Engine", float], None]]

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
            return self.recovery.ring.others
        if self.ring:
            return self.ring.others
        return ()

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
            pauses_detected=self.n["pauses"], drops=tuple(sorted(self.drops.items())),
            reply_holds=self.reply.holds, reply_hits=self.reply.hits,
            reply_waiter_releases=self.reply.waiter_releases,
            quiet_holds=self.n["quiet_holds"], tokens_lent=self.n["lends"],
            lent_holds=self.n["lent_holds"], late_tokens=self.n["late_tokens"])

    # ------------------------------------------------------------------ entry points
    def start(self, now: float) -> list[Action]:
        if self.started:
            raise LocalProtocolError("engine already started")
        self.started = True
        self.last_tick = now
        self._set_tick(now)
        self.state_since = now
        self._gather(now, GatherReason.START, None)
        return self._take_out()

    def submit(self, now: float, payload: bytes, service: Service = Service.AGREED,
               lane: Lane = Lane.NORMAL, urgent: bool = False,
               owner: object = None, bounded: bool = True) -> list[Action]:
        """Queue ``payload`` for the total order. ``urgent``: it goes ahead of the queued
        messages of other ``owner``s (core/packing.py); raises ``Backpressure`` when the
        send queue is full (for bytes or age only if ``bounded``)."""
        if self._state is MemberState.STOPPED:
            raise LocalProtocolError("engine stopped (left the ring); create a new one")
        had = self.packer.has_work()
        self.packer.submit(payload, service, lane, now, urgent, owner, bounded)
        self._reply_submitted(now)
        if not had:
            self._hurry(now)
        if urgent and self.bursts and self.held is not None:
            self._set_timer(TimerId.TOKEN_HOLD, now)    # it does not wait for a burst's end
        return self._take_out()

    def reply_expected(self, client: str | None) -> None:
        """The layer above handed data to local ``client`` (None: to several): the next
        token may wait for a reply (core/reply_window.py). No actions."""
        self.reply.fed(client)

    def reply_waits_for(self, client: str) -> bool:
        """A token is kept for ``client``'s reply (cheap; no actions)."""
        return self.reply_token is not None and self.reply.held_for == client

    def reply_not_coming(self, now: float, client: str) -> list[Action]:
        """Local ``client`` waits for more without replying: a token held for it goes on."""
        if self.reply_token is not None and self.reply.held_for == client:
            self.reply.waiter_returned()
            self._release_reply(now)
        return self._take_out()

    def local_burst(self, now: float, owner: object, begins: bool) -> list[Action]:
        """A local sender's burst begins or ends (the runtime's ``Session.batch``). While
        any is open, a token this node keeps does not leave with the burst's first
        message; the end lets it go with everything queued. Others' HURRYs still release
        it, and its hold timer bounds the wait (``token_hold``)."""
        if begins:
            self.bursts.add(owner)
        elif owner in self.bursts:
            self.bursts.discard(owner)
            if not self.bursts and self.held is not None and self.packer.has_work():
                self._set_timer(TimerId.TOKEN_HOLD, now)
        return self._take_out()

    def open_normal_lane(self, now: float) -> list[Action]:
        had = self.packer.has_work()
        self.packer.open_normal(now)
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
        self.reply_token = None
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
        if self.reply_token is not None:
            self._release_reply(now)           # arrival order: the held token goes first
        try:
            pkt = decode(data, self.cfg.key, self.cfg.cluster_id)
        except MalformedPacket as exc:
            self.drops[exc.reason] += 1
            return []
        beyond = out_of_range(pkt)               # core/limits.py: never trusted
        if beyond is not None:
            self.drops[beyond] += 1
            return []
        s = pkt.sender
        if s == self._me:
            self.n["own_loopback"] += 1     # multicast loopback / others' retransmissions
            return []
        if s not in self.peer_set:
            self.drops["unknown_sender"] += 1
            return []
        life = self.lives.admit(now, s, pkt.incarnation, self._counts_as_member(s),
                                type(pkt) is Join)
        if life is Verdict.STALE:
            self.drops["stale_incarnation"] += 1
            return []
        if life is Verdict.NEW:                  # core/lives.py: a restart, maybe rewound
            self.ring_seen.pop(s, None)
            self._on_restart(now, s)
        if isinstance(pkt, Mcast):
            self._saw_ring(s, pkt.ring.seq)
            self._on_mcast(now, pkt, data)
        elif isinstance(pkt, Token):
            self._saw_ring(s, pkt.ring.seq)
            self._on_token(now, pkt)
        elif isinstance(pkt, Join):
            self._on_join(now, pkt)
        elif isinstance(pkt, Commit):
            self._on_commit(now, pkt)
        elif isinstance(pkt, Beacon):
            self._saw_ring(s, pkt.ring.seq)
            self._on_beacon(now, pkt)
        else:
            self._on_hurry(now, pkt)
        return self._take_out()

    def _saw_ring(self, node: int, seq: int) -> None:
        if seq > self.ring_seen.get(node, 0):
            self.ring_seen[node] = seq
            if seq > self.max_ring_seq_seen:     # my JOINs say I know it: a peer that
                self.max_ring_seq_seen = seq     # restarted learns it from them

    # ------------------------------------------------------------------ timers
    def _on_tick(self, now: float) -> None:
        """Pause detection: ticks more than ``pause_threshold`` apart beyond their
        slack mean this process stood still (JOINs queued meanwhile are stale)."""
        gap = now - self.last_tick if self.last_tick is not None else 0.0
        if gap > self.p.pause_threshold + self.p.tick_interval:
            self.n["pauses"] += 1
            self.join_flush_until = now + self.p.join_timeout
            log.debug("node %d: process pause of %.3fs detected, flushing joins",
                      self._me, gap)
        self.last_tick = now
        self._set_tick(now)

    def _set_tick(self, now: float) -> None:
        """The next tick, with one interval of slack: the host runs it with an input
        that comes in its slack (a token visit, every ~130 ms even in an idle ring) and
        wakes for it only when none came. A tick without slack was 14 of the ~30
        wake-ups a second of an idle daemon."""
        self._set_timer(TimerId.TICK, now + self.p.tick_interval, self.p.tick_interval)

    def _on_token_loss(self, now: float) -> None:
        st = self._state
        if st is MemberState.COMMIT:
            self._gather(now, GatherReason.COMMIT_LOSS, None)
        elif st is MemberState.OPERATIONAL and now < self.token_due:
            self._on_token_late(now)
        elif st in (MemberState.OPERATIONAL, MemberState.RECOVERY):
            self._gather(now, GatherReason.TOKEN_LOSS, None)


Engine._timer_handlers = {
    TimerId.TOKEN_LOSS: Engine._on_token_loss,
    TimerId.TOKEN_RETRANSMIT: Engine._on_token_retransmit,
    TimerId.TOKEN_HOLD: Engine._on_token_hold,
    TimerId.JOIN: Engine._on_join_timer,
    TimerId.CONSENSUS: Engine._on_consensus,
    TimerId.MERGE_BEACON: Engine._on_merge_beacon,
    TimerId.TICK: Engine._on_tick,
    TimerId.REPLY_WINDOW: Engine._on_reply_window,
    TimerId.HURRY: Engine._on_hurry_timer,
}

