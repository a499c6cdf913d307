"""Fault plans: the node and network faults of a run, as a time-ordered list.

Owns ``FaultEvent`` and the random plan generator. A plan is data, made before the run
from the seeded rng, so it can be printed and replayed. Rules that keep the liveness
check meaningful (PROTOCOL.md section 6.2 item 11): every fault lies in the fault phase
``[0, T0)``; every crashed or departed node restarts before ``T0``; every pause ends by
``T0``; at ``T0`` one-way blocks are lifted and the network is either healed or left in
a symmetric partition that then stays fixed.

Kinds: ``partition`` (groups, blocked one-way links), ``heal``, ``crash`` (node),
``leave`` (node), ``restart`` (node, keep persisted ring seq?), ``pause`` (node,
seconds), ``wake`` (node: end its pause now; scripted scenarios), ``slow`` (node,
per-packet cost, queue capacity).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .config import SimConfig


@dataclass(frozen=True, slots=True)
class FaultEvent:
    time: float
    kind: str
    node: int = 0
    arg: Any = None

    def describe(self) -> str:
        who = f" n{self.node}" if self.node else ""
        return f"fault {self.kind}{who}" + (f" {self.arg}" if self.arg is not None else "")


def random_split(nodes: tuple[int, ...], rng: random.Random) -> list[tuple[int, ...]]:
    """A random partition of ``nodes`` into 1-3 non-empty groups."""
    k = rng.randint(1, min(3, len(nodes)))
    groups: list[list[int]] = [[] for _ in range(k)]
    order = list(nodes)
    rng.shuffle(order)
    for i, n in enumerate(order):
        groups[i if i < k else rng.randrange(k)].append(n)
    return sorted(tuple(sorted(g)) for g in groups)


def random_plan(cfg: SimConfig, rng: random.Random) -> list[FaultEvent]:
    """Draw the faults of one random run."""
    f = cfg.faults
    t0 = cfg.fault_duration
    nodes = cfg.node_ids
    tok = cfg.params.token_timeout
    events: list[FaultEvent] = []

    def poisson_times(rate: float) -> list[float]:
        out: list[float] = []
        if rate <= 0:
            return out
        t = rng.expovariate(rate)
        while t < t0:
            out.append(t)
            t += rng.expovariate(rate)
        return out

    for t in poisson_times(f.partitions):
        if rng.random() < 0.3:
            events.append(FaultEvent(t, "heal"))
            continue
        groups = random_split(nodes, rng)
        blocked: list[tuple[int, int]] = []
        if rng.random() < f.one_way and len(nodes) > 1:
            for _ in range(rng.randint(1, 3)):
                a, b = rng.sample(nodes, 2)
                blocked.append((a, b))
        events.append(FaultEvent(t, "partition", 0, (tuple(groups), tuple(sorted(set(blocked))))))

    down_until: dict[int, float] = {}
    for t in poisson_times(f.crashes):
        n = rng.choice(nodes)
        if down_until.get(n, -1.0) >= t:
            continue
        kind = "leave" if rng.random() < f.leave_fraction else "crash"
        # down for a short while (restart before others time out) or longer
        down = rng.uniform(0.02, 0.4 * tok) if rng.random() < 0.3 else rng.uniform(0.5 * tok, 4 * tok)
        back = min(t + down, t0 - 1e-6)
        if back <= t:
            continue
        keep = rng.random() < 0.5
        events.append(FaultEvent(t, kind, n))
        events.append(FaultEvent(back, "restart", n, keep))
        down_until[n] = back

    for t in poisson_times(f.pauses):
        n = rng.choice(nodes)
        d = min(rng.uniform(0.01, f.pause_max * tok), t0 - t)
        if d > 0:
            events.append(FaultEvent(t, "pause", n, d))

    if f.slow_receivers and rng.random() < 0.5:
        n = rng.choice(nodes)
        events.append(FaultEvent(rng.uniform(0, t0 / 2), "slow", n, (rng.uniform(2e-4, 2e-3), 64)))
        events.append(FaultEvent(t0 - 1e-6, "slow", n, (0.0, 0)))

    if f.partitions > 0 and rng.random() < f.final_partition:
        final = random_split(nodes, rng)
        events.append(FaultEvent(t0, "partition", 0, (tuple(final), ())))
    else:
        events.append(FaultEvent(t0, "heal"))
    events.sort(key=lambda e: (e.time, e.kind, e.node))
    return events
