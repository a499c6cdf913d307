"""Random seeds and scripted scenarios through the real engine: zero violations.

The default run keeps every seed short (fast timeouts, a 1.5 s fault phase, 2 ms links);
the big sweeps are marked slow. A failing seed prints the invariant, a trace excerpt and
the command line that replays it.
"""

from __future__ import annotations

import random

import pytest

from robot_gcs.sim.config import FaultRates, SimConfig, fast_params
from robot_gcs.sim.network import LinkModel
from robot_gcs.sim.runner import RunSpec, SeedResult, run_spec
from robot_gcs.sim.scenarios import SCENARIOS
from robot_gcs.sim.workload import WorkloadModel

FAST = fast_params()


def random_cfg(seed: int, *, nodes: tuple[int, int] = (2, 5), multicast: bool = False,
               fault_duration: float = 1.5, lossy_tail: bool = False,
               workload: WorkloadModel = WorkloadModel()) -> SimConfig:
    rng = random.Random(seed * 7919)
    return SimConfig(
        seed=seed, nodes=rng.randint(*nodes), fault_duration=fault_duration, params=FAST,
        link=LinkModel(delay=0.002, jitter=0.001, loss=rng.choice((0.0, 0.02, 0.1)),
                       burst_enter=rng.choice((0.0, 0.01)), dup=0.02, reorder=0.02,
                       corrupt=0.005),
        faults=FaultRates(partitions=1.0, crashes=0.7, pauses=0.7, slow_receivers=True,
                          drift=1e-4),
        multicast=multicast, lossy_tail=lossy_tail, liveness_slack=1.0, key=b"k" * 16,
        workload=workload)


def report(results: list[SeedResult]) -> str:
    lines = []
    for r in results:
        for f in r.failures:
            lines.append(f"seed {r.seed} ({r.nodes} nodes) {f.invariant}: {f.message}")
            lines.extend("    " + x for x in f.excerpt)
    return "\n".join(lines[:200])


def sweep(seeds: range, **kw: object) -> list[SeedResult]:
    results = [run_spec(RunSpec(random_cfg(s, **kw))) for s in seeds]  # type: ignore[arg-type]
    bad = [r for r in results if not r.ok]
    assert not bad, report(bad)
    assert sum(r.delivered for r in results) > 0
    return results


@pytest.mark.parametrize("block", range(8))
def test_random_seeds_with_every_fault_kind_keep_every_invariant(block: int) -> None:
    results = sweep(range(block * 25, block * 25 + 25))
    assert sum(r.configs for r in results) > 25


def test_random_seeds_with_multicast_semantics(block: int = 0) -> None:
    sweep(range(1000, 1015), multicast=True)


def test_random_seeds_with_a_lossy_tail() -> None:
    sweep(range(2000, 2010), lossy_tail=True)


def test_random_seeds_with_a_lone_sender() -> None:
    # node 1 sends 20 times as often as the others: the quiet token is lent to it
    # (core/token_flow.py _lends) between the faults
    sweep(range(3000, 3015), workload=WorkloadModel(rate=60.0, lone=1))


def test_random_seeds_with_local_bursts() -> None:
    # half the submissions open a burst of 2-5 messages (Engine.local_burst): a kept
    # token waits for the burst's end; crashes and pauses land inside bursts
    sweep(range(4000, 4015), workload=WorkloadModel(rate=40.0, bursts=0.5))


# Engine bugs found by the simulator and not fixed yet (see /work/brief/violations.md).
# strict: once the engine is fixed the test XPASSes and fails, so the mark gets removed.
KNOWN_ENGINE_BUGS: dict[str, str] = {
    # fixed in 7dc2412 (ring seqs carry the rep's incarnation); kept as a regression scenario:
    # "lost_seq_after_peer_restart": "ring id reused after two restarts that lost their ring seq",
}


def scenario_params(names: list[str]) -> list[object]:
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN_ENGINE_BUGS[n]))
            if n in KNOWN_ENGINE_BUGS else n for n in names]


@pytest.mark.parametrize("name", scenario_params(sorted(SCENARIOS)))
def test_scripted_scenario_keeps_every_invariant(name: str) -> None:
    cfg = SimConfig(seed=1, nodes=4, params=FAST, liveness_slack=0.3,
                    link=LinkModel(delay=0.001, jitter=0.001))
    res = run_spec(RunSpec(cfg, scenario=name))
    assert res.ok, report([res])
    assert res.configs > 0


@pytest.mark.slow
@pytest.mark.parametrize("block", range(10))
def test_many_random_seeds(block: int) -> None:
    sweep(range(10_000 + block * 100, 10_000 + block * 100 + 100), nodes=(2, 8),
          fault_duration=4.0)


@pytest.mark.slow
@pytest.mark.parametrize("name", scenario_params(sorted(SCENARIOS)))
def test_scripted_scenarios_many_seeds(name: str) -> None:
    for seed in range(2, 12):
        cfg = SimConfig(seed=seed, nodes=4 + seed % 3, params=FAST, liveness_slack=0.3,
                        link=LinkModel(delay=0.001, jitter=0.001, loss=0.01 * (seed % 2)))
        res = run_spec(RunSpec(cfg, scenario=name))
        assert res.ok, report([res])


@pytest.mark.slow
def test_random_seeds_with_default_timeouts() -> None:
    for seed in range(20):
        cfg = SimConfig(seed=seed, nodes=5, fault_duration=10.0,
                        link=LinkModel(loss=0.05, dup=0.02, reorder=0.02),
                        faults=FaultRates(partitions=0.3, crashes=0.2, pauses=0.2))
        res = run_spec(RunSpec(cfg))
        assert res.ok, report([res])
