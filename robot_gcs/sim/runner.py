"""Running seeds: one seed -> one checked run; many seeds -> a sweep over worker processes.

Owns ``RunSpec`` (everything a worker needs, picklable), ``SeedResult`` and the
plug-in contract. A run is: derive the fault plan and the simulator's rng from the
seed, add the phase switches of ``config.py`` (calm links at T0, 1 % loss in the
optional lossy tail), capture the components at T0 for the liveness windows, run,
then check every invariant set. A sweep distributes seeds over ``jobs`` processes
and returns results sorted by seed, so output never depends on scheduling.

Plug-ins (for example the group layer's ``sim/group_*.py``) are modules exposing
``make(options: dict, cfg: SimConfig) -> PluginParts | None``; ``options`` is the
CLI namespace as a dict. Parts may replace the engine factory, add an application
layer, add invariant sets, and switch the built-in ring workload off.
"""

from __future__ import annotations

import importlib
import multiprocessing
import random
import time
import traceback
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Iterator

from .checker import InvariantSet, LivenessWindow, RunRecord, Violation, check_run
from .ring_invariants import RingInvariants
from .config import SimConfig
from .faults import FaultEvent, random_plan
from .simulator import AppLayer, EngineFactory, Simulator
from .trace import excerpt


@dataclass
class PluginParts:
    engine_factory: EngineFactory | None = None
    app: AppLayer | None = None
    invariant_sets: tuple[InvariantSet, ...] = ()
    ring_clients: bool | None = None


@dataclass(frozen=True, slots=True)
class RunSpec:
    cfg: SimConfig
    plugins: tuple[str, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()
    scenario: str | None = None          # a scripted scenario name (scenarios.py)
    trace: bool = False


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


def load_plugins(names: Iterable[str], options: dict[str, Any], cfg: SimConfig) -> PluginParts:
    parts = PluginParts()
    for name in names:
        mod = importlib.import_module(name)
        got = mod.make(options, cfg)
        if got is None:
            continue
        parts.engine_factory = got.engine_factory or parts.engine_factory
        parts.app = got.app or parts.app
        parts.invariant_sets += tuple(got.invariant_sets)
        if got.ring_clients is not None:
            parts.ring_clients = got.ring_clients
    return parts


def phase_events(cfg: SimConfig) -> list[FaultEvent]:
    """Link-model switches: calm from T0, 1 % loss in the lossy tail."""
    t0, x = cfg.fault_duration, cfg.liveness_bound
    calm = cfg.link.calm()
    out = [FaultEvent(t0, "links", 0, (calm, ()))]
    if cfg.lossy_tail:
        out.append(FaultEvent(t0 + 2 * x, "links", 0, (replace(calm, loss=cfg.tail_loss), ())))
    return out


def windows_for(cfg: SimConfig, components: tuple[tuple[int, ...], ...]) -> tuple[LivenessWindow, ...]:
    t0, x = cfg.fault_duration, cfg.liveness_bound
    ws = [LivenessWindow(t0, t0 + x, t0 + x, t0 + 2 * x, components)]
    if cfg.lossy_tail:
        ws.append(LivenessWindow(t0 + 2 * x, t0 + 3 * x, t0 + 3 * x, t0 + 4 * x, components,
                                 cfg.tail_loss))
    return tuple(ws)


def build_random(spec: RunSpec, printer: Callable[[str], None] | None = None
                 ) -> tuple[Simulator, list[InvariantSet], Callable[[], tuple[LivenessWindow, ...]]]:
    """The simulator of one random seed, its invariant sets and a window getter."""
    cfg = spec.cfg
    master = random.Random(cfg.seed)
    plan = random_plan(cfg, random.Random(master.getrandbits(64)))
    parts = load_plugins(spec.plugins, dict(spec.options), cfg)
    if parts.ring_clients is not None:
        cfg = replace(cfg, ring_clients=parts.ring_clients)
    link_rng = random.Random(master.getrandbits(64))
    link_loss = {(a, b): cfg.link.loss * link_rng.uniform(0.5, 1.5)
                 for a in cfg.node_ids for b in cfg.node_ids if a != b}
    sim = Simulator(cfg, plan + phase_events(cfg), engine_factory=parts.engine_factory,
                    app=parts.app, printer=printer, rng=random.Random(master.getrandbits(64)))
    sim.net.link_loss = link_loss
    captured: list[tuple[tuple[int, ...], ...]] = []

    def capture() -> None:
        up = {n for n in cfg.node_ids if sim.nodes[n].alive}
        comps = tuple(tuple(n for n in c if n in up) for c in sim.net.components())
        captured.append(tuple(c for c in comps if c))

    sim.call_at(cfg.fault_duration + 1e-9, capture)
    sets: list[InvariantSet] = [RingInvariants(), *parts.invariant_sets]
    return sim, sets, lambda: windows_for(cfg, captured[0] if captured else ())


def run_spec(spec: RunSpec, printer: Callable[[str], None] | None = None) -> SeedResult:
    """Run and check one seed (random or scripted)."""
    wall0 = time.perf_counter()
    cpu0 = time.process_time()
    if spec.scenario is not None:
        from .scenarios import build_scenario
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
