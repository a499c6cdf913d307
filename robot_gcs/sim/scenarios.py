"""Scripted scenarios: the faults that hurt Corosync and Spread, aimed exactly.

Owns the scenario table (PROTOCOL.md section 6.1 "Scripted" and section 7). Each
scenario builds a simulator with a fixed fault script instead of random faults: targeted
drops by packet type and sender state (``network.DropRule``), state-triggered crashes
(``state_hooks``), scripted partitions, restarts and a tiny ``seq_wrap_limit``. The
seed still varies delays and the workload. After the script comes the usual stable tail,
so every ring invariant (including liveness) is checked, and each scenario adds a check
that its fault really happened -- a scenario whose trigger never fires fails instead of
passing vacuously.

Times are in units of the configured timeouts: ``formed`` is when the initial ring has
surely formed, ``tok`` the token timeout.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any, Callable

from .checker import InvariantSet, LivenessWindow, Violation
from .config import FaultRates, SimConfig
from .faults import FaultEvent
from .network import DropRule, PacketContext
from .runspec import RunSpec, Windows, assemble
from .simulator import Simulator, core_of
from .workload import draw_service, draw_size, make_payload
from . import trace as tr

Built = tuple[Simulator, list[InvariantSet], Windows, str]
SCENARIO = "scenario"


class Script:
    """Collects a scenario's faults, drop rules, hooks and "did it happen" checks."""

    def __init__(self, cfg: SimConfig) -> None:
        p = cfg.params
        self.cfg = cfg
        self.tok = p.token_timeout
        self.formed = 2 * p.consensus_timeout + p.merge_interval + 0.2
        self.plan: list[FaultEvent] = []
        self.rules: list[DropRule] = []
        self.hooks: list[Callable[[Simulator, int, str, str], None]] = []
        self.checks: list[Callable[[Simulator], str | None]] = []
        self.calls: list[tuple[float, Callable[[Simulator], None]]] = []
        self.end = self.formed
        # False: the protocol itself keeps changing membership after the faults (so no
        # liveness or progress windows; self-delivery at the end still holds)
        self.steady = True

    def at(self, t: float, kind: str, node: int = 0, arg: Any = None) -> None:
        self.plan.append(FaultEvent(t, kind, node, arg))
        self.end = max(self.end, t)

    def drop(self, name: str, match: Callable[[PacketContext], bool], start: float,
             end: float, limit: int = 10 ** 9) -> DropRule:
        rule = DropRule(name, match, limit, start, end)
        self.rules.append(rule)

        def fired(sim: Simulator) -> str | None:
            return None if rule.fired else f"drop rule {rule.name!r} never matched a packet"
        self.checks.append(fired)
        self.end = max(self.end, min(end, start + 10 * self.tok))
        return rule

    def burst(self, t: float, nodes: tuple[int, ...], count: int) -> None:
        """At ``t`` each of ``nodes`` submits ``count`` workload messages (AGREED/SAFE),
        or its group clients send ``count`` messages when a group layer drives."""
        def go(sim: Simulator) -> None:
            for n in nodes:
                node = sim.nodes[n]
                app_burst = getattr(sim.app, "burst", None)
                if app_burst is not None:
                    app_burst(n, count)
                    continue
                for _ in range(count):
                    size = draw_size(self.cfg.workload, self.cfg.params.max_packet, sim.work_rng)
                    sim.submit(n, make_payload(n, node.inc, node.counter, min(size, 400),
                                               sim.work_rng),
                               draw_service(self.cfg.workload, sim.work_rng))
        self.calls.append((t, go))

    def expect_state(self, state_change: str, after: float, what: str) -> None:
        """Fail unless some node logged a state change containing ``state_change``."""
        def check(sim: Simulator) -> str | None:
            for r in sim.log.records:
                if r.kind == tr.STATE and r.time >= after and state_change in r.data:
                    return None
            return f"expected {what} ({state_change!r} after {after:.3f}) never happened"
        self.checks.append(check)


def _sim(spec: RunSpec, script: Script, printer: Callable[[str], None] | None,
         cfg: SimConfig) -> Built:
    cfg = replace(cfg, fault_duration=script.end + 2 * script.tok)
    master = random.Random(cfg.seed)
    sim, sets, windows = assemble(spec, cfg, script.plan, random.Random(master.getrandbits(64)),
                                  printer, drop_rules=script.rules, state_hooks=script.hooks)
    for t, fn in script.calls:
        sim.call_at(t, lambda fn=fn: fn(sim))  # type: ignore[misc]
    if not script.steady:
        def windows() -> tuple[LivenessWindow, ...]:
            return ()

    def scenario_check() -> list[Violation]:
        return [Violation(SCENARIO, msg) for msg in (c(sim) for c in script.checks) if msg]

    sim.scenario_check = scenario_check  # type: ignore[attr-defined]
    return sim, sets, windows, spec.scenario or ""


def _base(spec: RunSpec, nodes: int | None = None, **params: Any) -> SimConfig:
    cfg = spec.cfg
    if params:
        cfg = replace(cfg, params=replace(cfg.params, **params))
    return replace(cfg, nodes=nodes or max(3, cfg.nodes), faults=FaultRates(),
                   link=cfg.link.calm())


# -- the scenarios ------------------------------------------------------------------------
def token_loss_operational(spec: RunSpec, printer: Any) -> Built:
    cfg = _base(spec)
    s = Script(cfg)
    t = s.formed
    s.drop("token from n2 while OPERATIONAL", lambda c: c.ptype == "TOKEN" and c.src == 2
           and c.sender_state == "OPERATIONAL", t, t + 1.5 * s.tok)
    s.expect_state("token_loss", t, "a token-loss gather")
    return _sim(spec, s, printer, cfg)


def token_loss_recovery(spec: RunSpec, printer: Any) -> Built:
    cfg = _base(spec)
    s = Script(cfg)
    t = s.formed
    last = cfg.nodes
    s.at(t, "crash", last)
    s.at(t + 3 * s.tok, "restart", last, True)
    s.drop("tokens while RECOVERY", lambda c: c.ptype == "TOKEN"
           and c.sender_state == "RECOVERY", t, t + 8 * s.tok, limit=12)
    s.expect_state("RECOVERY->GATHER", t, "a recovery aborted by token loss")
    return _sim(spec, s, printer, cfg)


def join_loss_gather(spec: RunSpec, printer: Any) -> Built:
    cfg = _base(spec)
    s = Script(cfg)
    t = s.formed
    rng = random.Random(cfg.seed ^ 0x4A4F494E)
    s.at(t, "partition", 0, ((tuple(range(1, cfg.nodes)), (cfg.nodes,)), ()))
    s.at(t + 2 * s.tok, "heal")
    s.drop("half the JOINs while GATHER", lambda c: c.ptype == "JOIN"
           and c.sender_state == "GATHER" and rng.random() < 0.5, t, t + 4 * s.tok)
    return _sim(spec, s, printer, cfg)


def encap_loss_recovery(spec: RunSpec, printer: Any) -> Built:
    """Old-ring packets re-sent (ENCAP) during recovery are lost, first time round."""
    cfg = _base(spec)
    cfg = replace(cfg, workload=replace(cfg.workload, rate=max(cfg.workload.rate, 60.0)))
    s = Script(cfg)
    t = s.formed
    victim = cfg.nodes
    # n2 misses the last old-ring packets, then the ring breaks: recovery must re-send them.
    # The drop lasts until the token is surely lost (0.95 token timeouts after the split):
    # a token still on its way round before it reaches n5 would otherwise bring n2
    # the retransmissions, and the recovery would re-send nothing (seeds 5 and 10).
    s.drop("MCASTs to n2 around the split", lambda c: c.ptype == "MCAST" and c.dst == 2,
           t - 0.5 * s.tok, t + 0.95 * s.tok)
    s.at(t, "partition", 0, ((tuple(range(1, victim)), (victim,)), ()))
    s.at(t + 4 * s.tok, "heal")
    rng = random.Random(cfg.seed ^ 0x454E4341)

    def encap(c: PacketContext) -> bool:
        if c.ptype != "MCAST" or c.sender_state != "RECOVERY" or rng.random() >= 0.5:
            return False
        return bool(getattr(c.packet(), "encap", False))
    s.drop("ENCAP re-sends while RECOVERY", encap, t, t + 8 * s.tok, limit=200)
    return _sim(spec, s, printer, cfg)


def recovery_dropout(spec: RunSpec, printer: Any) -> Built:
    """Members of T miss the token once one of them installed (core/PROTOCOL_NOTES.md 1).

    One of n4's last packets reaches nobody and n5 misses the others' last ones too;
    then n4 crashes. n1, n2, n3 and n5 recover with a gap (n4's packet) followed by
    packets of their own, some SAFE, which are delivered in T although the gap precedes
    them, and by n4's later packets, which are not (they may depend on the lost one). n5
    also misses the first re-sends of the recovery and catches up by retransmission:
    nobody may install before it holds everything (``token.aru >= install_seq``). The
    first token a member sends after it installed is lost, and so are its
    retransmissions, while the next member still recovers: that member and the ones
    after it drop out of a recovery another member completed, and n5 is cut off from
    the others as the first drops out. The dropouts must still deliver all the
    installers delivered in T, including post-gap packets of senders outside their own
    next transitional configuration; and n5 must have held everything before anyone
    installed, since no co-member will re-send it what it lacks.
    """
    cfg = _base(spec, nodes=5)
    cfg = replace(cfg, workload=replace(cfg.workload, rate=max(cfg.workload.rate, 60.0)))
    s = Script(cfg)
    t = s.formed
    s.burst(t - 0.4 * s.tok, (4,), 3)       # n4 surely sends in the window
    lost: list[bytes] = []

    def one_of_n4s(c: PacketContext) -> bool:
        if c.ptype != "MCAST" or c.src != 4:
            return False
        if not lost:
            lost.append(c.data)
        return c.data == lost[0]           # every copy, retransmissions included
    s.drop("one of n4's packets before it crashes", one_of_n4s, t - 0.4 * s.tok, t)
    s.drop("MCASTs to n5 around the crash", lambda c: c.ptype == "MCAST" and c.dst == 5,
           t - 0.4 * s.tok, t + 0.95 * s.tok)
    s.at(t, "crash", 4)
    s.at(t + 12 * s.tok, "restart", 4, True)
    state: dict[int, str] = {}
    recovering: dict[int, tuple[Any, float]] = {}     # node -> (ring it recovers, since)
    dropped_out: list[tuple[int, Any]] = []

    def first_resends_to_n5(c: PacketContext) -> bool:
        since = recovering.get(5, (None, -1.0))[1]
        return (state.get(5) == "RECOVERY" and c.ptype == "MCAST" and c.dst == 5
                and c.time < since + 0.15 * s.tok and bool(getattr(c.packet(), "encap", False)))
    s.drop("first re-sends to n5 in its recovery", first_resends_to_n5, t, t + 10 * s.tok)

    def installed_to_recovering(c: PacketContext) -> bool:
        return (not dropped_out and c.ptype == "TOKEN" and c.sender_state == "OPERATIONAL"
                and state.get(c.dst) == "RECOVERY")
    s.drop("tokens of a member that installed to one still recovering",
           installed_to_recovering, t, t + 10 * s.tok)

    def hook(sim: Simulator, node: int, old: str, new: str) -> None:
        state[node] = new
        if sim.now <= t:
            return
        if new == "RECOVERY":
            recovering[node] = (core_of(sim.engine(node)).ring_id, sim.now)
        elif old == "RECOVERY" and new == "GATHER" and node in recovering:
            if not dropped_out:
                sim.schedule_fault(FaultEvent(sim.now, "partition", 0,
                                              (((1, 2, 3), (4, 5)), ())))
            dropped_out.append((node, recovering[node][0]))
    s.hooks.append(hook)
    s.at(t + 8 * s.tok, "heal")

    def check(sim: Simulator) -> str | None:
        for node, ring in dropped_out:
            if any(r.kind == tr.CONFIG and r.node != node and r.data.ring_id == ring
                   for r in sim.log.records):
                return None
        return "nobody dropped out of a recovery that another member completed"
    s.checks.append(check)
    s.end = t + 12 * s.tok
    return _sim(spec, s, printer, cfg)


def lowest_member_behind(spec: RunSpec, printer: Any) -> Built:
    """n1 misses the last rotation's packets and tokens: it holds its old ring without a
    gap up to a lower seq than the others, so every received flag is 1 and only the
    differing arus tell the recovery to re-send (n1's entry comes first in the commit
    token, so nobody's flag reflects the others' higher aru)."""
    cfg = _base(spec)
    s = Script(cfg)
    t = s.formed
    s.burst(t, cfg.node_ids[1:], 3)         # sent before the token gets back to n1
    s.drop("the last rotation to n1", lambda c: c.ptype in ("MCAST", "TOKEN") and c.dst == 1,
           t, t + 1.2 * s.tok)
    s.expect_state("GATHER (token_loss", t, "the ring breaking at n1")
    return _sim(spec, s, printer, cfg)


def commit_loss_rotation1(spec: RunSpec, printer: Any) -> Built:
    cfg = _base(spec)
    s = Script(cfg)
    t = s.formed
    s.at(t, "crash", cfg.nodes)
    s.at(t + 4 * s.tok, "restart", cfg.nodes, False)
    s.drop("commit token, rotation 1", lambda c: c.ptype == "COMMIT"
           and c.sender_state == "COMMIT", t, t + 8 * s.tok,
           limit=2 + cfg.params.token_retransmits * 2)
    s.expect_state("COMMIT->GATHER", t, "a commit-token loss in rotation 1")
    return _sim(spec, s, printer, cfg)


def commit_loss_rotation2(spec: RunSpec, printer: Any) -> Built:
    cfg = _base(spec)
    s = Script(cfg)
    t = s.formed
    s.at(t, "crash", cfg.nodes)
    s.at(t + 4 * s.tok, "restart", cfg.nodes, True)
    s.drop("commit token, rotation 2", lambda c: c.ptype == "COMMIT"
           and c.sender_state == "RECOVERY", t, t + 8 * s.tok, limit=3)
    return _sim(spec, s, printer, cfg)


def _crash_in_recovery(spec: RunSpec, printer: Any, victim_of: Callable[[SimConfig], int],
                       ) -> Built:
    cfg = _base(spec, nodes=max(4, spec.cfg.nodes))
    s = Script(cfg)
    t = s.formed
    s.at(t, "partition", 0, ((tuple(range(1, cfg.nodes)), (cfg.nodes,)), ()))
    s.at(t + 2.5 * s.tok, "heal")
    done: list[float] = []
    victim = victim_of(cfg)

    def hook(sim: Simulator, node: int, old: str, new: str) -> None:
        if new == "RECOVERY" and not done and sim.now > t and sim.nodes[victim].alive:
            done.append(sim.now)
            sim.schedule_fault(FaultEvent(sim.now, "crash", victim))
            sim.schedule_fault(FaultEvent(sim.now + 2 * s.tok, "restart", victim,
                                          random.Random(cfg.seed).random() < 0.5))

    s.hooks.append(hook)
    s.checks.append(lambda sim: None if done else "no node ever entered RECOVERY after the "
                    "partition, so the crash never happened")
    s.end = t + 6 * s.tok
    return _sim(spec, s, printer, cfg)


def crash_during_recovery(spec: RunSpec, printer: Any) -> Built:
    return _crash_in_recovery(spec, printer, lambda cfg: 2)


def rep_crash_during_recovery(spec: RunSpec, printer: Any) -> Built:
    return _crash_in_recovery(spec, printer, lambda cfg: 1)


def cascading_split_merge(spec: RunSpec, printer: Any) -> Built:
    cfg = _base(spec, nodes=max(6, spec.cfg.nodes))
    s = Script(cfg)
    t, c = s.formed, cfg.params.consensus_timeout
    n = cfg.node_ids
    half = len(n) // 2
    s.at(t, "partition", 0, ((n[:half], n[half:]), ()))
    s.at(t + 0.5 * c, "partition", 0, ((n[:1], n[1:half], n[half:-1], n[-1:]), ()))
    s.at(t + 3 * c, "partition", 0, ((n[:half + 1], n[half + 1:]), ()))
    s.at(t + 3 * c + 0.4 * cfg.params.merge_interval, "heal")
    s.at(t + 6 * c, "partition", 0, ((n[0::2], n[1::2]), ()))
    s.at(t + 6 * c + 0.8 * c, "heal")
    s.expect_state("GATHER", t, "gathers after the splits")
    return _sim(spec, s, printer, cfg)


def _rep_restart(spec: RunSpec, printer: Any, keep: bool) -> Built:
    cfg = _base(spec, nodes=max(4, spec.cfg.nodes))
    s = Script(cfg)
    t = s.formed
    s.at(t, "crash", 1)
    s.at(t + 0.2 * s.tok, "restart", 1, keep)     # back before the others time out
    s.expect_state("GATHER", t, "the ring noticing the restarted representative")
    return _sim(spec, s, printer, cfg)


def rep_restart_kept(spec: RunSpec, printer: Any) -> Built:
    return _rep_restart(spec, printer, True)


def rep_restart_lost(spec: RunSpec, printer: Any) -> Built:
    return _rep_restart(spec, printer, False)


def rewound_restart(spec: RunSpec, printer: Any) -> Built:
    """n2 restarts with incarnation 1000 and rejoins; later it crashes and comes back with
    its state lost and its clock behind: incarnation 500, below what the others saw. It
    must be let back in (core/lives.py) once its old life has been silent long enough."""
    cfg = _base(spec, nodes=max(3, spec.cfg.nodes))
    s = Script(cfg)
    t = s.formed
    p = cfg.params
    s.at(t, "crash", 2)
    s.at(t + 0.5 * s.tok, "restart", 2, (True, 1000))
    t2 = t + 2 * s.formed
    s.at(t2, "crash", 2)
    s.at(t2 + 0.5 * s.tok, "restart", 2, (False, 500))
    s.end = t2 + 6 * p.consensus_timeout + 2 * p.merge_interval

    def rewound(sim: Simulator) -> str | None:
        if sim.nodes[2].inc != 500:
            return f"n2 runs incarnation {sim.nodes[2].inc}, not the rewound 500"
        taken = sum(getattr(getattr(core_of(n.engine), "lives", None), "rewinds", 0)
                    for n in sim.nodes.values() if n.alive and n.node_id != 2)
        return None if taken else "no node took n2's smaller incarnation as a new life"
    s.checks.append(rewound)  # and the stable tail checks that n2 is back in
    return _sim(spec, s, printer, cfg)


def lost_seq_after_peer_restart(spec: RunSpec, printer: Any) -> Built:
    """n2 restarts with its ring seq lost, the ring re-forms under n1; then n1 restarts with
    its ring seq lost too, before the others time out, and forms a ring alone."""
    cfg = _base(spec, nodes=max(3, spec.cfg.nodes))
    s = Script(cfg)
    t = s.formed
    s.at(t, "crash", 2)
    back = t + 0.1 * s.tok
    s.at(back, "restart", 2, False)
    # the others hear only n2's first JOIN (carrying its fresh floor), nothing later that
    # carries the seq of n2's singleton ring: n1 builds the next ring right on that floor
    first: list[int] = []

    def after_first_join(c: PacketContext) -> bool:
        if c.src != 2:
            return False
        if c.ptype == "JOIN" and (not first or first[0] == id(c.data)):
            first[:] = [id(c.data)]
            return False
        return True
    s.drop("n2's packets after its first JOIN", after_first_join, back,
           back + 3 * cfg.params.consensus_timeout)
    t2 = back + 3 * cfg.params.consensus_timeout + s.formed
    s.at(t2, "crash", 1)
    s.at(t2 + 0.1 * s.tok, "restart", 1, False)
    return _sim(spec, s, printer, cfg)


def seq_wraparound(spec: RunSpec, printer: Any) -> Built:
    cfg = _base(spec, seq_wrap_limit=60)
    cfg = replace(cfg, workload=replace(cfg.workload, rate=max(cfg.workload.rate, 40.0)))
    s = Script(cfg)
    s.end = s.formed + 6 * s.tok
    s.expect_state("seq_wrap", s.formed, "a new ring forced by sequence wraparound")
    # token_seq passes 60 every dozen rotations, idle or not: the ring re-forms every
    # ~0.1 s for ever, so a "stable" tail is not stable (5 of 25 runs in 2000 seeds of
    # --all-faults caught it between two rings at the settle point, or slow under loss)
    s.steady = False
    return _sim(spec, s, printer, cfg)


def pause_longer_than_token(spec: RunSpec, printer: Any) -> Built:
    cfg = _base(spec)
    s = Script(cfg)
    t = s.formed
    s.at(t, "pause", 2, 1.5 * s.tok)
    s.at(t + 3 * s.tok, "pause", 1, 0.6 * s.tok)
    s.expect_state("GATHER", t, "a membership change after the pause")
    return _sim(spec, s, printer, cfg)


def forged_extremes(spec: RunSpec, printer: Any) -> Built:
    """Well-formed packets, as if from a member, with a ring seq near 2**64 or the largest
    incarnation (issue 14): every node refuses and counts them (core/limits.py), nobody
    raises, the ring and its messages go on (the run's invariants), nothing is persisted
    beyond the limit."""
    from ..core import wire
    from ..core.limits import RING_SEQ_MAX
    from ..core.types import RingId
    cfg = _base(spec)
    s = Script(cfg)
    t = s.formed
    injected = [0]

    def forged(src: int, ring_rep: int) -> list[wire.Packet]:
        top = 2 ** 64 - 1
        return [wire.Beacon(src, 1, RingId(ring_rep, top - 5), 2, 0),
                wire.Hurry(src, 0xFFFFFFFF, RingId(ring_rep, 8)),
                wire.Join(src, 1, top, (1, 2, 3), ()),
                wire.Commit(src, 1, RingId(src, top - 255), 1, 1, (1, 2, 3),
                            (wire.CommitEntry(),) * 3)]

    def inject(sim: Simulator) -> None:
        for node in sim.nodes.values():
            if not node.alive:
                continue
            src = 2 if node.node_id != 2 else 1
            for pkt in forged(src, 1):
                sim._deliver_packet(node, src, wire.encode(pkt, sim.ecfg.cluster_id,
                                                           sim.ecfg.key))
                injected[0] += 1

    for k in range(3):
        s.calls.append((t + k * s.tok, inject))
    s.burst(t + 0.5 * s.tok, (1, 2), 5)
    s.end = t + 4 * s.tok

    def check(sim: Simulator) -> str | None:
        refused = 0
        for node in sim.nodes.values():
            drops = dict(core_of(node.engine).statistics().drops)
            refused += drops.get("ring_seq_limit", 0) + drops.get("incarnation_limit", 0)
            if node.persisted is not None and node.persisted > RING_SEQ_MAX:
                return f"n{node.node_id} persisted ring seq {node.persisted}"
        if refused != injected[0]:
            return f"{injected[0]} forged packets injected, {refused} refused as out of range"
        return None

    s.checks.append(check)
    return _sim(spec, s, printer, cfg)


SCENARIOS: dict[str, tuple[Callable[[RunSpec, Any], Built], str]] = {
    "token_loss_operational": (token_loss_operational,
                               "every token from n2 lost for 1.5 token timeouts"),
    "token_loss_recovery": (token_loss_recovery,
                            "a crash, then tokens lost while the others recover"),
    "join_loss_gather": (join_loss_gather, "half the JOINs lost while gathering after a split"),
    "encap_loss_recovery": (encap_loss_recovery,
                            "half the encapsulated old-ring re-sends lost during recovery"),
    "recovery_dropout": (recovery_dropout, "members of T miss the token once one installed; "
                         "they must still deliver what it delivered in T"),
    "commit_loss_rotation1": (commit_loss_rotation1, "commit token lost in its first rotation"),
    "commit_loss_rotation2": (commit_loss_rotation2, "commit token lost in its second rotation"),
    "crash_during_recovery": (crash_during_recovery, "n2 crashes as soon as anyone recovers"),
    "rep_crash_during_recovery": (rep_crash_during_recovery,
                                  "the representative crashes during recovery"),
    "cascading_split_merge": (cascading_split_merge,
                              "split, split again mid-change, merge, split, merge"),
    "rep_restart_kept": (rep_restart_kept, "representative restarts fast, ring seq persisted"),
    "rep_restart_lost": (rep_restart_lost, "representative restarts fast, ring seq lost"),
    "rewound_restart": (rewound_restart, "n2 comes back with its state lost and its clock "
                        "behind (a smaller incarnation) and must be let back in"),
    "lost_seq_after_peer_restart": (lost_seq_after_peer_restart,
                                    "n2 then n1 restart with lost ring seqs (ring id reuse)"),
    "lowest_member_behind": (lowest_member_behind, "n1 misses the last rotation: every "
                             "received flag is 1 but the arus differ"),
    "seq_wraparound": (seq_wraparound, "seq_wrap_limit 60 forces new rings under load"),
    "pause_longer_than_token": (pause_longer_than_token,
                                "a process frozen for 1.5 token timeouts, then one for 0.6"),
    "forged_extremes": (forged_extremes, "packets with a ring seq near 2**64 or the largest "
                        "incarnation are refused and counted; the ring goes on"),
}


#: with ``--all-faults`` every ``SCENARIO_EVERY``-th seed runs a scripted scenario
SCENARIO_EVERY = 5


#: the scenarios that guard issue 12's fixes come first in the mix (seeds 4, 9, 14)
MIX_FIRST = ("recovery_dropout", "lowest_member_behind", "encap_loss_recovery")


def mixed_scenario(seed: int) -> str | None:
    """The scenario seed ``seed`` runs in the ``--all-faults`` mix: seeds 4, 9, 14, ...
    run ``MIX_FIRST`` and then the others in name order, round and round; the other
    seeds are random runs."""
    if seed % SCENARIO_EVERY != SCENARIO_EVERY - 1:
        return None
    names = list(MIX_FIRST) + sorted(set(SCENARIOS) - set(MIX_FIRST))
    return names[(seed // SCENARIO_EVERY) % len(names)]


def build_scenario(spec: RunSpec, printer: Any) -> Built:
    assert spec.scenario is not None
    builder, _doc = SCENARIOS[spec.scenario]
    return builder(spec, printer)
