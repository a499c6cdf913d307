"""Running seeds: one seed -> one checked run; many seeds -> a sweep over worker processes.

Owns ``SeedResult``, random runs (``build_random``: the fault plan and the simulator's
rng derived from the seed, per-link loss rates, the phase switches and windows of
``runspec.py``), ``run_spec`` (one random or scripted run, optionally under a core
mutation of ``mutations.py``, checked by every invariant set) and ``sweep``, which
distributes seeds over ``jobs`` processes; callers sort results by seed, so output
never depends on scheduling.
"""

from __future__ import annotations

import multiprocessing
import random
import time
import traceback
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator

from . import mutations
from .checker import InvariantSet, RunRecord, Violation, check_run
from .config import SimConfig
from .faults import random_plan
from .runspec import PluginParts, RunSpec, Windows, assemble, load_plugins, phase_events, windows_for
from .scenarios import build_scenario
from .simulator import Simulator
from .trace import excerpt

__all__ = ["Failure", "PluginParts", "RunSpec", "SeedResult", "build_random", "load_plugins",
           "measure_idle_rate", "phase_events", "run_spec", "run_spec_safe", "summarize",
           "sweep", "windows_for"]


@dataclass(frozen=True, slots=True)
class Failure:
    invariant: str
    message: str
    excerpt: tuple[str, ...]


@dataclass(slots=True)
class SeedResult:
    seed: int
    nodes: int
    failures: list[Failure] = field(default_factory=list)
    delivered: int = 0
    delivered_bytes: int = 0
    configs: int = 0
    submitted: int = 0
    rejected: int = 0
    packets: int = 0
    events: int = 0
    sim_time: float = 0.0
    wall: float = 0.0
    cpu: float = 0.0
    digest: str = ""
    note: str = ""
    net: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


def build_random(spec: RunSpec, printer: Callable[[str], None] | None = None
                 ) -> tuple[Simulator, list[InvariantSet], Windows]:
    """The simulator of one random seed, its invariant sets and a window getter."""
    cfg = spec.cfg
    master = random.Random(cfg.seed)
    plan = random_plan(cfg, random.Random(master.getrandbits(64)))
    link_rng = random.Random(master.getrandbits(64))
    link_loss = {(a, b): cfg.link.loss * link_rng.uniform(0.5, 1.5)
                 for a in cfg.node_ids for b in cfg.node_ids if a != b}
    return assemble(spec, cfg, plan, random.Random(master.getrandbits(64)), printer,
                    link_loss=link_loss)


def run_spec(spec: RunSpec, printer: Callable[[str], None] | None = None) -> SeedResult:
    """Run and check one seed (random or scripted)."""
    with mutations.applied(spec.mutant):
        return _run_spec(spec, printer)


def _run_spec(spec: RunSpec, printer: Callable[[str], None] | None) -> SeedResult:
    wall0 = time.perf_counter()
    cpu0 = time.process_time()
    if spec.scenario is not None:
        sim, sets, windows, note = build_scenario(spec, printer)
    else:
        sim, sets, windows = build_random(spec, printer)
        note = ""
    log = sim.run()
    cfg = sim.cfg
    run = RunRecord(cfg.seed, cfg.node_ids, cfg.params, log.records, cfg.end_time, windows(),
                    quiescent=True, extra={"sim": sim})
    violations = check_run(run, sets)
    check_extra = getattr(sim, "scenario_check", None)
    if check_extra is not None:
        violations.extend(check_extra())
    res = summarize(spec, sim, violations, log.records, note)
    res.wall = time.perf_counter() - wall0
    res.cpu = time.process_time() - cpu0
    res.digest = log.digest()
    return res


def summarize(spec: RunSpec, sim: Simulator, violations: list[Violation], records: list[Any],
              note: str) -> SeedResult:
    failures = []
    for v in violations:
        ex = tuple(excerpt(records, v.record, node=v.node)) if v.record is not None else ()
        failures.append(Failure(v.invariant, v.message, ex))
    st = sim.net.stats
    return SeedResult(
        seed=sim.cfg.seed, nodes=sim.cfg.nodes, failures=failures,
        delivered=sim.delivered, delivered_bytes=sim.delivered_bytes, configs=sim.configs,
        submitted=sum(1 for r in records if r.kind == "submit"), rejected=sim.rejected,
        packets=st.sent, events=sim.sched.processed, sim_time=sim.now, note=note,
        net={"lost": st.lost + st.burst_lost, "partitioned": st.partitioned,
             "duplicated": st.duplicated, "reordered": st.reordered, "corrupted": st.corrupted,
             "targeted": st.targeted, "paused_drops": sim.dropped_paused,
             "slow_drops": sim.dropped_slow})


def run_spec_safe(spec: RunSpec) -> SeedResult:
    """``run_spec`` that turns a simulator crash into a reported failure (for workers)."""
    try:
        return run_spec(spec)
    except Exception:  # noqa: BLE001 - reported as a failure of this seed
        return SeedResult(spec.cfg.seed, spec.cfg.nodes,
                          [Failure("simulator", "the simulation itself raised",
                                   tuple(traceback.format_exc().splitlines()[-12:]))])


def sweep(specs: list[RunSpec], jobs: int = 1) -> Iterator[SeedResult]:
    """Yield results as they complete (use ``sorted(..., key=seed)`` for a stable report)."""
    if jobs <= 1 or len(specs) <= 1:
        for s in specs:
            yield run_spec_safe(s)
        return
    ctx = multiprocessing.get_context("fork" if hasattr(multiprocessing, "get_context") else None)
    with ctx.Pool(jobs) as pool:
        yield from pool.imap_unordered(run_spec_safe, specs, chunksize=1)


def measure_idle_rate(cfg: SimConfig, seconds: float = 10.0) -> tuple[float, dict[str, float]]:
    """Packets per simulated second of an idle, fault-free ring of ``cfg.nodes`` nodes."""
    cfg = replace(cfg, fault_duration=0.0, ring_clients=False, lossy_tail=False)
    sim = Simulator(cfg, [], rng=random.Random(cfg.seed))
    settle = cfg.liveness_bound
    sim.run(until=settle)
    before = dict(sim.net.stats.by_type)
    sent0 = sim.net.stats.sent
    sim.run(until=settle + seconds)
    by = {k: (v - before.get(k, 0)) / seconds for k, v in sorted(sim.net.stats.by_type.items())}
    return (sim.net.stats.sent - sent0) / seconds, by
