"""Engine state and the small helpers every part of the engine uses.

Owns: the per-node variables of the engine (configuration, membership sets, installed
ring, forming ring, recovery, send queue, reassembly, timers, counters) and the helpers
that turn decisions into actions (Send, SetTimer, CancelTimer) and check every state
change against ``membership.TRANSITIONS``. No protocol decisions live here: token
handling is in token_flow.py, membership in gather_flow.py, entry points in engine.py.
"""

from __future__ import annotations

import logging
import random
from collections import Counter

from ..errors import LocalProtocolError
from . import commit as ct_mod
from .actions import Action, CancelTimer, Deliver, Send, SetTimer
from .membership import TRANSITIONS, Membership
from .fastnew import maker
from .packing import Assembler, Packer
from .params import MAX_RING_NODES, EngineConfig
from .recovery import Recovery
from .reply_window import ReplyWindow
from .ring import RingState
from .lives import Lives, rewind_quiet
from .types import GatherReason, MemberState, TimerId
from .wire import MAC_LEN, MCAST_OVERHEAD, Commit, Join, Packet, Token, encode

log = logging.getLogger(__name__)

_new_send = maker(Send)
_new_set_timer = maker(SetTimer)


class EngineBase:
    """Variables and action helpers shared by the engine's parts."""

    def __init__(self, cfg: EngineConfig, node_id: int, incarnation: int,
                 persisted_ring_seq: int | None, rng_seed: int) -> None:
        if node_id <= 0 or node_id not in cfg.peers:
            raise LocalProtocolError(f"node id {node_id} is not a configured peer")
        if len(set(cfg.peers)) > MAX_RING_NODES or any(p <= 0 or p > 0xFFFFFFFF
                                                       for p in cfg.peers):
            raise LocalProtocolError(f"peers must be 1..{MAX_RING_NODES} node ids in 1..2**32-1 "
                                     f"(a commit token lists at most {MAX_RING_NODES})")
        self.cfg = cfg
        self.p = cfg.params
        self._me = node_id
        self._inc = incarnation
        self.rng = random.Random(rng_seed)
        self.peers = tuple(sorted(set(cfg.peers)))
        self.peer_set = frozenset(self.peers)
        self.max_ring_seq_seen = ct_mod.initial_ring_seq_seen(persisted_ring_seq, incarnation)
        self.ring_seq_floor = self.max_ring_seq_seen
        self._state = MemberState.GATHER
        self.started = False
        self.memb = Membership(node_id)
        self.ring: RingState | None = None          # the installed (or old) ring
        self.commit: Commit | None = None           # forming ring (COMMIT/RECOVERY)
        self.recovery: Recovery | None = None
        self.held: Token | None = None              # kept by a quiet ring's holder / singleton
        self.reply = ReplyWindow(self.p.reply_window)
        self.reply_token: Token | None = None        # token kept for a local reply
        self.reply_hit = False                       # ... and a local submit released it
        self.retrans: tuple[int, bytes, float] | None = None   # token sent: to, bytes, wait
        mac = MAC_LEN if cfg.key else 0
        payload = self.p.max_packet - 2 * MCAST_OVERHEAD - 2 * mac
        self.packer = Packer(payload, self.p.send_queue_capacity, self.p.max_message_size,
                             self.p.send_queue_bytes, self.p.send_queue_delay)
        self.asm = Assembler()
        self.timers: dict[TimerId, float] = {}
        # peers' lives (core/lives.py): a smaller incarnation is a restart only after its
        # sender was silent for a few consensus timeouts and is in no ring here
        self.lives = Lives(rewind_quiet(self.p))
        # node -> highest seq of a ring that node was seen operating in (its MCAST, TOKEN
        # or BEACON of that ring): a JOIN it sent before installing that ring is stale
        # (gather_flow._on_join). Owner: the engine; forgotten when the node restarts.
        self.ring_seen: dict[int, int] = {}
        self.join_flush_until = float("-inf")
        self.last_tick: float | None = None
        self.hurried = False                         # HURRY sent since my last token visit
        self.last_visit_at = float("-inf")           # when the token last visited me
        self.rotation_estimate = 0.001               # moving-token visit interval
        self.visit_gaps: list[float] = []            # ... the last 16 visit intervals
        self.return_estimate = 0.001                 # moving token: handed on -> back
        self.return_times: list[float] = []          # ... the last 16 such times
        self.forwarded_at = float("-inf")            # when I last handed a moving token on
        self.token_due = float("inf")                # my token timeout (TOKEN_LOSS may be
                                                     # armed earlier: token_flow._on_token_late)
        self.late_after = self.p.token_hold + self.p.token_retransmit / 4  # no visit this
                                                     # long: ask for the token (_on_token_late)
        self.hurry_seen = False                      # rep: a HURRY came since my last visit
        self.kept_likely = False                     # member: the holder likely keeps the token
        self.lend_succ = False                       # holder: my successor sends alone (lend)
        self.lent = False                            # ... and I lent it the token I forwarded
        self.bursts: set[object] = set()             # local senders' open bursts (local_burst)
        self.last_rep_visit: float | None = None
        self.rotation_time_last: float | None = None
        self.out: list[Action] = []
        self.drops: Counter[str] = Counter()
        self.state_since = 0.0
        self.gather_reason = GatherReason.START
        self.gather_from: int | None = None
        self.n = Counter[str]()

    # ------------------------------------------------------------------ helpers
    def _take_out(self) -> list[Action]:
        out, self.out = self.out, []
        return out

    def _count_delivers(self, start: int) -> None:
        """Count the Deliver actions appended to ``out`` from index ``start`` on."""
        msgs = nbytes = 0
        for a in self.out[start:]:
            if isinstance(a, Deliver):
                msgs += 1
                nbytes += len(a.payload)
        if msgs:
            self.n["dmsgs"] += msgs
            self.n["dbytes"] += nbytes

    def _enc(self, pkt: Packet) -> bytes:
        return encode(pkt, self.cfg.cluster_id, self.cfg.key)

    def _send(self, dest: int, data: bytes) -> None:
        self.n["sent"] += 1
        self.out.append(_new_send(dest, data))

    def _send_all(self, dest: int, datas: list[bytes]) -> None:
        """``_send(dest, data)`` for each of ``datas``, in order."""
        self.n["sent"] += len(datas)
        out = self.out
        for data in datas:
            out.append(_new_send(dest, data))

    def _set_timer(self, tid: TimerId, deadline: float, slack: float = 0.0) -> None:
        self.timers[tid] = deadline
        self.out.append(_new_set_timer(tid, deadline, slack))

    def _cancel(self, tid: TimerId) -> None:
        if self.timers.pop(tid, None) is not None:
            self.out.append(CancelTimer(tid))

    def _set_state(self, now: float, new: MemberState) -> None:
        if new not in TRANSITIONS[self._state]:
            raise AssertionError(f"illegal transition {self._state} -> {new}")
        self._state = new
        self.state_since = now

    def _send_token(self, now: float, dest: int, data: bytes, later: float = 0.0,
                    gap: float | None = None, slack: bool = True) -> None:
        """Send a token and arm its retransmission after ``gap`` (default
        ``token_retransmit``) and ``later`` seconds more (the holder will likely keep it
        that long, token_flow.py). With ``slack``, a shorter gap comes with the rest of
        ``token_retransmit`` as slack: the host runs it with the next input that comes
        after it (a moving ring has them all the time, someone waiting for a lost token
        sends HURRYs) and never wakes for it before the full interval, so a token that
        arrives -- nearly every one -- costs no wake-up."""
        full = self.p.token_retransmit
        gap = full if gap is None else gap
        self.retrans = (dest, data, gap)
        self._send(dest, data)
        self._set_timer(TimerId.TOKEN_RETRANSMIT, now + later + gap,
                        full - gap if slack else 0.0)

    def _counts_as_member(self, node: int) -> bool:
        """``node`` is in my ring or the ring being committed. (Not the set I gather with:
        other members' JOINs put node ids there, maybe meaning a rewound life they took
        in, so it says nothing about which life is present; see core/lives.py.)"""
        if self.ring is not None and node in self.ring.members:
            return True
        return self.commit is not None and node in self.commit.members

    def _known(self, ids: tuple[int, ...]) -> bool:
        peers = self.peer_set
        return all(i in peers for i in ids)

    def _join_packet(self) -> Join:
        return Join(self._me, self._inc, self.max_ring_seq_seen,
                    tuple(sorted(self.memb.proc_set)), tuple(sorted(self.memb.fail_set)))

    # implemented by the parts (gather_flow.py, token_flow.py)
    def _gather(self, now: float, reason: GatherReason, frm: int | None,
                agree: int | None = None) -> None:
        raise NotImplementedError

    def _visit(self, now: float, r: RingState, tok: Token) -> None:
        raise NotImplementedError

    def _foreign(self, now: float, node: int, reason: GatherReason) -> None:
        raise NotImplementedError
