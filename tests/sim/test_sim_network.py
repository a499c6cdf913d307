"""The simulated network and clock do what the fault model says, reproducibly."""

from __future__ import annotations

import random

from robot_gcs.sim.network import LinkModel, Network, corrupt, peek_type
from robot_gcs.sim.scheduler import Scheduler

NODES = (1, 2, 3)


def fates(model: LinkModel, n: int = 4000, seed: int = 1) -> list[list[tuple[float, bytes, str]]]:
    net = Network(NODES, model, random.Random(seed))
    return [net.transmit(i * 0.001, 1, 2, b"\x47\x43\x01\x02" + bytes(40), "TOKEN")
            for i in range(n)]


def test_events_at_the_same_time_run_in_scheduling_order() -> None:
    s = Scheduler()
    s.push(2.0, 0, ("late",))
    for i in range(5):
        s.push(1.0, 0, (i,))
    got = []
    while (item := s.pop_until(10.0)) is not None:
        got.append(item[2][0])
    assert got == [0, 1, 2, 3, 4, "late"]
    assert s.now == 2.0


def test_scheduler_never_goes_back_in_time() -> None:
    s = Scheduler()
    s.push(5.0, 0)
    s.pop_until(10.0)
    s.push(1.0, 0)
    assert s.pop_until(10.0)[0] == 5.0


def test_loss_rate_matches_the_link_probability() -> None:
    lost = sum(1 for f in fates(LinkModel(loss=0.1)) if not f)
    assert 300 < lost < 500          # 10 % of 4000, seeded


def test_gilbert_bursts_cluster_losses() -> None:
    def mean_run(fs: list[list]) -> float:
        runs, cur = [], 0
        for f in fs:
            if not f:
                cur += 1
            elif cur:
                runs.append(cur)
                cur = 0
        return sum(runs) / max(1, len(runs))
    bursty = fates(LinkModel(burst_enter=0.02, burst_leave=0.2, burst_loss=0.9))
    rate = sum(1 for f in bursty if not f) / len(bursty)
    independent = fates(LinkModel(loss=rate))
    assert mean_run(bursty) > 2 * mean_run(independent)


def test_duplication_and_reordering_happen_at_their_rates() -> None:
    fs = fates(LinkModel(dup=0.1, reorder=0.1, reorder_delay=0.01))
    dups = sum(1 for f in fs if len(f) == 2)
    assert 300 < dups < 500
    arrivals = [t for f in fs for t, _, _ in f]
    inversions = sum(1 for a, b in zip(arrivals, arrivals[1:]) if b < a)
    assert inversions > 100


def test_delay_is_base_plus_jitter() -> None:
    fs = fates(LinkModel(delay=0.002, jitter=0.001), n=500)
    delays = [f[0][0] - i * 0.001 for i, f in enumerate(fs)]
    assert min(delays) >= 0.002 and max(delays) <= 0.003 + 1e-12


def test_corruption_changes_the_bytes() -> None:
    fs = fates(LinkModel(corrupt=1.0), n=200)
    original = b"\x47\x43\x01\x02" + bytes(40)
    assert all(f[0][1] != original and f[0][2] == "corrupted" for f in fs)
    rng = random.Random(3)
    assert corrupt(b"", rng) != b""


def test_partitions_and_one_way_links() -> None:
    net = Network(NODES, LinkModel(), random.Random(0))
    net.set_components([[1, 2], [3]])
    assert net.reachable(1, 2) and not net.reachable(1, 3) and not net.reachable(3, 2)
    assert net.transmit(0.0, 1, 3, b"x", "?") == []
    assert net.stats.partitioned == 1
    net.heal()
    net.blocked = {(1, 2)}
    assert not net.reachable(1, 2) and net.reachable(2, 1)
    net.set_components([[1]])          # unlisted nodes are isolated from each other
    assert not net.reachable(2, 3)
    assert net.components() == [(1,), (2,), (3,)]


def test_packet_types_are_peeked_from_the_header() -> None:
    assert peek_type(b"\x47\x43\x01\x02rest") == "TOKEN"
    assert peek_type(b"\x47\x43\x01\x04") == "COMMIT"
    assert peek_type(b"junk") == "?"


def test_same_seed_same_fate() -> None:
    m = LinkModel(loss=0.2, dup=0.1, reorder=0.1, corrupt=0.05, burst_enter=0.01)
    assert fates(m, seed=7) == fates(m, seed=7)
    assert fates(m, seed=7) != fates(m, seed=8)
