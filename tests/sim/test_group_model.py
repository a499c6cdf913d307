"""Random group-layer runs on the model EVS ring, checked by the group checker.

The model ring (robot_gcs/sim/group_fakering.py) gives the group layer every EVS delivery
pattern on purpose: partial holds before a failure, transitional deliveries, partitions,
merges, crashes and restarts, cascaded reconfigurations during a state exchange. These
runs are fast (no packets, no timers), so the default suite sweeps a few hundred seeds.
"""

from __future__ import annotations

import random

import pytest

from robot_gcs.sim.group_checker import GroupChecker
from robot_gcs.sim.group_clients import ClientModel, GroupClients
from robot_gcs.sim.group_fakering import ModelRing


def random_components(rng: random.Random, nodes: tuple[int, ...]) -> list[set[int]]:
    k = rng.randint(1, min(3, len(nodes)))
    comps: list[set[int]] = [set() for _ in range(k)]
    for n in nodes:
        comps[rng.randrange(k)].add(n)
    return [c for c in comps if c]


def run_model(seed: int, steps: int = 300) -> tuple[GroupChecker, GroupClients, ModelRing]:
    rng = random.Random(seed)
    nodes = rng.randint(2, 6)
    model = ClientModel(clients_per_node=rng.randint(1, 4), groups=rng.randint(1, 8))
    checker = GroupChecker()
    box: list[GroupClients] = []
    ring = ModelRing(nodes, listener=lambda n, acts: box[0].on_actions(n, acts) if box else None)
    clients = GroupClients(random.Random(rng.getrandbits(32)), model, ring.names, checker)
    box.append(clients)
    for n in ring.live():
        clients.node_started(n, ring.incarnations[n])
    all_nodes = tuple(sorted(ring.names))
    for _ in range(steps):
        r = rng.random()
        live = ring.live()
        if r < 0.70 and live:
            clients.step(ring, rng.choice(live))
        elif r < 0.80:
            ring.run()
        elif r < 0.86:
            ring.hold(set(rng.sample(live, rng.randint(0, len(live)))) if live else None)
            for _ in range(rng.randint(1, 5)):
                if live:
                    clients.step(ring, rng.choice(live))
            ring.run()
            ring.hold(None)
            ring.reconfigure(random_components(rng, ring.live()))
        elif r < 0.92:
            ring.reconfigure(random_components(rng, ring.live()))
        elif r < 0.95 and len(live) > 1:
            n = rng.choice(live)
            ring.crash(n)
            clients.node_stopped(n)
        elif r < 0.98:
            down = [n for n in all_nodes if n not in ring.groups]
            if down:
                n = rng.choice(down)
                ring.restart(n)
                clients.node_started(n, ring.incarnations[n])
        else:
            # a reconfiguration while the state exchange is still running (cascade)
            ring.reconfigure(random_components(rng, ring.live()))
    ring.hold(None)
    ring.reconfigure([set(ring.live())])
    ring.run()
    return checker, clients, ring


@pytest.mark.parametrize("seed", range(150))
def test_random_group_runs_on_the_model_ring_keep_every_group_invariant(seed: int) -> None:
    checker, clients, _ = run_model(seed)
    violations = checker.check()
    assert not violations, f"seed {seed}: " + "; ".join(map(str, violations[:5]))
    assert checker.data_events > 0 or clients.ops < 20


def test_the_model_runs_really_exercise_views_and_data() -> None:
    totals = {"data_events": 0, "view_events": 0, "views": 0}
    for seed in range(10):
        checker, _, _ = run_model(seed)
        for k in totals:
            totals[k] += checker.summary()[k]
    assert totals["data_events"] > 500 and totals["view_events"] > 200 and totals["views"] > 50


@pytest.mark.slow
@pytest.mark.parametrize("block", range(2))
def test_many_more_model_seeds(block: int) -> None:
    for seed in range(1000 + block * 100, 1000 + (block + 1) * 100):
        checker, _, _ = run_model(seed, steps=600)
        violations = checker.check()
        assert not violations, f"seed {seed}: " + "; ".join(map(str, violations[:5]))
