"""Micro-benchmark: does the number of groups on a daemon slow its data delivery?

What it measures (``python -m robot_gcs.sim.group_bench``): the GroupEngine's cost to
turn one ordered G_DATA into ToClient actions for a busy group, with 0 .. N other
groups on the daemon, and the cost of one more join once N groups exist. The ring is
left out (a stub engine; deliveries are fed as ``Deliver`` actions), so the figures are
the group layer's own per-message CPU. Medians of repeated batches, microseconds.
"""

from __future__ import annotations

import argparse
import statistics
import time

from ..core import group_wire as gw
from ..core.actions import Deliver, DeliverConfig
from ..core.groups import GroupEngine
from ..core.types import ConfigKind, NodeId, RingId, Service
from .group_fakering import ModelEngine

RING = RingId(1, 4)


def _engine(others: int, clients: int = 5) -> tuple[GroupEngine, int]:
    ge = GroupEngine(ModelEngine(1, 1), {1: "d1", 2: "d2"})
    ge.on_engine_actions(0.0, [DeliverConfig(ConfigKind.TRANSITIONAL, RING, (NodeId(1),)),
                               DeliverConfig(ConfigKind.REGULAR, RING, (NodeId(1),))])
    for c in range(clients):
        ge.client_connect(0.0, f"c{c}")
    seq = 0
    acts = []
    for c in range(clients):
        seq += 1
        acts.append(Deliver(NodeId(1), 1, gw.encode(gw.GJoin("hot", 1, f"c{c}", seq)),
                            Service.AGREED, RING, seq, False))
    for g in range(others):
        for member in ((1, f"c{g % clients}"), (2, "r1"), (2, "r2")):
            seq += 1
            acts.append(Deliver(NodeId(member[0]), 1,
                                gw.encode(gw.GJoin(f"other{g}", member[0], member[1], seq)),
                                Service.AGREED, RING, seq, False))
    ge.on_engine_actions(0.0, acts)
    return ge, seq


def data_cost(others: int, batch: int = 2000, repeats: int = 7) -> float:
    """Median microseconds per delivered G_DATA (5 local receivers) with ``others`` groups."""
    ge, seq = _engine(others)
    msg = gw.encode(gw.GData(2, "r1", Service.AGREED, ("hot",), b"x" * 100, 0, False, 1))
    runs = []
    for _ in range(repeats):
        acts = [Deliver(NodeId(2), 1, msg, Service.AGREED, RING, seq + i, False)
                for i in range(1, batch + 1)]
        seq += batch
        t0 = time.perf_counter()
        ge.on_engine_actions(0.0, acts)
        runs.append((time.perf_counter() - t0) / batch * 1e6)
    return statistics.median(runs)


def join_cost(others: int, repeats: int = 200) -> float:
    """Median microseconds to process one more remote join once ``others`` groups exist."""
    ge, seq = _engine(others)
    times = []
    for i in range(repeats):
        seq += 1
        d = Deliver(NodeId(2), 1, gw.encode(gw.GJoin(f"new{i}", 2, "r1", seq)), Service.AGREED,
                    RING, seq, False)
        t0 = time.perf_counter()
        ge.on_engine_actions(0.0, [d])
        times.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--groups", type=int, nargs="*", default=[0, 999, 9999])
    args = p.parse_args(argv)
    print("other groups | us per G_DATA to a 5-client group | us per extra join")
    for n in args.groups:
        print(f"{n:12d} | {data_cost(n):33.2f} | {join_cost(n):17.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
