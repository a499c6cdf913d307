"""Single-point mutations of the core must be caught: a standing guard on the checker.

Each mutation of ``robot_gcs.sim.mutations`` changes one place of the core in memory;
the simulator must report it within a bounded number of seeds, under one of the
invariants the mutation names. If a check goes blind (or a fault kind stops firing),
the mutation it guarded survives and this fails.

The default run uses short seeds (fast timeouts, a 1.5 s fault phase, a lossy tail)
and stops at the first seed that catches; the slow test replays the acceptance
criterion of issue 12: every mutation caught within 50 seeds of the CLI's
``--all-faults`` mix (``--clients 10 --groups 20`` for group mutations).
"""

from __future__ import annotations

import argparse
import random

import pytest

from robot_gcs.sim import command, mutations
from robot_gcs.sim.config import FaultRates, SimConfig, fast_params
from robot_gcs.sim.network import LinkModel
from robot_gcs.sim.runner import RunSpec, run_spec

FAST = fast_params()
#: seeds a default-run mutation test may use before it fails
FAST_SEEDS = 8
#: how the default run looks for a mutation: "fast" short seeds (about 0.15 s each) or
#: "cli" seeds of the --all-faults mix (about 1 s each), optionally all of them one
#: scripted scenario (the one made for the mutation). Anything not listed: fast.
RECIPES: dict[str, tuple[str, str | None]] = {
    "install_without_aru": ("fast", "recovery_dropout"),
    "rescued_senders_ignored": ("fast", "recovery_dropout"),
    "salvage_skipped": ("fast", "recovery_dropout"),
    "changed_joiners_only": ("cli", None),
    "install_ignores_high_delivered": ("cli", None),
    "no_resend_when_arus_differ": ("fast", "lowest_member_behind"),
    "post_gap_any_sender": ("fast", "recovery_dropout"),
}
GROUP_OPTIONS = (("clients", 4), ("groups", 6), ("rate", 20.0))


def fast_spec(name: str, seed: int, scenario: str | None = None) -> RunSpec:
    m = mutations.MUTATIONS[name]
    rng = random.Random(seed * 7919)
    cfg = SimConfig(
        seed=seed, nodes=rng.randint(3, 5), fault_duration=1.5, params=FAST,
        link=LinkModel(delay=0.002, jitter=0.001, loss=rng.choice((0.02, 0.1)), dup=0.02,
                       reorder=0.02),
        faults=FaultRates(partitions=1.0, crashes=0.7, pauses=0.7),
        lossy_tail=True, tail_loss=0.05, liveness_slack=1.0)
    plugins: tuple[str, ...] = ()
    options: tuple[tuple[str, object], ...] = ()
    if m.group:
        plugins, options = ("robot_gcs.sim.group_plugin",), GROUP_OPTIONS
    return RunSpec(cfg, plugins, options, scenario, mutant=name)


def all_faults_spec(name: str, seed: int) -> RunSpec:
    """Seed ``seed`` of ``robot-gcs sim --all-faults --nodes 5`` against mutation ``name``
    (with ``--clients 10 --groups 20`` for a group mutation)."""
    m = mutations.MUTATIONS[name]
    p = argparse.ArgumentParser()
    command.add_arguments(p)
    args = p.parse_args(["--all-faults", "--nodes", "5"]
                        + (["--clients", "10", "--groups", "20"] if m.group else []))
    options = tuple(sorted((k, v) for k, v in vars(args).items()
                           if isinstance(v, (int, float, str, bool, type(None)))))
    return RunSpec(command.config_for(args, seed), tuple(command.plugin_modules()), options,
                   command.scenario_for(args, seed), mutant=name)


def caught_at(name: str, seeds: int) -> tuple[int | None, dict[int, set[str]]]:
    """The first seed of the mutation's recipe that reports one of the invariants the
    mutation names (None: no such seed), and what every failing seed up to it reported
    (a mutation may first show as a lost liveness before a later seed pins it down)."""
    how, scenario = RECIPES.get(name, ("fast", None))
    expect = mutations.MUTATIONS[name].expect
    seen: dict[int, set[str]] = {}
    for seed in range(seeds):
        spec = all_faults_spec(name, seed) if how == "cli" else fast_spec(name, seed, scenario)
        res = run_spec(spec)
        if not res.ok:
            seen[seed] = {f.invariant for f in res.failures}
            if seen[seed] & expect:
                return seed, seen
    return None, seen


def test_every_mutation_applies_and_is_undone() -> None:
    for name, m in sorted(mutations.MUTATIONS.items()):
        owner, attr, raw = mutations._resolve(m.target)
        with mutations.applied(name):
            now = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
            assert now is not raw, name
            func = getattr(now, "__func__", now)
            assert func.__code__.co_filename == f"<mutant {name}>", name
        back = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
        assert back is raw, name


def test_a_mutation_whose_fragment_is_gone_raises() -> None:
    m = mutations.MUTATIONS["rtr_skips_lowest"]
    gone = mutations.Mutation("gone", m.target, "no such text", "x", "", frozenset())
    with pytest.raises(LookupError, match="fragment found 0 times"):
        mutations.mutated(gone)


@pytest.mark.parametrize("name", sorted(mutations.MUTATIONS))
def test_the_simulator_catches_a_core_mutation(name: str) -> None:
    seed, seen = caught_at(name, FAST_SEEDS)
    m = mutations.MUTATIONS[name]
    assert seen, f"mutation {name} ({m.doc}) survived {FAST_SEEDS} short seeds"
    assert seed is not None, (f"mutation {name} caught in {FAST_SEEDS} short seeds only by "
                              f"{seen}, expected one of {sorted(m.expect)}")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(mutations.MUTATIONS))
def test_caught_within_50_seeds_of_the_all_faults_mix(name: str) -> None:
    for seed in range(50):
        res = run_spec(all_faults_spec(name, seed))
        if not res.ok:
            found = {f.invariant for f in res.failures}
            assert found & mutations.MUTATIONS[name].expect, (seed, found)
            return
    pytest.fail(f"mutation {name} survived 50 seeds of the --all-faults mix")
