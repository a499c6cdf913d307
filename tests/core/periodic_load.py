"""Robot-shaped periodic load in virtual time: what the token costs per message.

``run_periodic`` forms a ring in ``netsim.Net`` (one-way hop ``hop`` seconds; ``loss``, a
share of every packet dropped after the ring formed, default none) and
has every node submit a burst of ``burst`` messages every ``period`` seconds -- the
``robot-gcs bench --robot`` load, where a processor's topic timers fire together -- with
per-node phases drawn from a seeded rng. It counts, over ``seconds`` of virtual time
after a warm-up, the token rotations (the rep's visits), the packets sent, the HURRYs, the
token retransmissions and the submit -> deliver latency at every other node. No clock and no threads: the figures
depend only on the engine's decisions, so they are a regression check that machine
noise cannot move (the runtime adds its processing time on top).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from robot_gcs.core.actions import Action, Deliver
from robot_gcs.core.types import Service

from netsim import Net


@dataclass(frozen=True, slots=True)
class PeriodicFigures:
    rotations_per_s: float
    packets_per_s: float
    hurries_per_s: float
    messages_per_s: float       # submitted
    delivered: int
    expected: int
    p50_us: float
    p99_us: float
    token_retransmits: int = 0

    def line(self) -> str:
        return (f"rotations/s {self.rotations_per_s:.0f}, packets/s {self.packets_per_s:.0f}, "
                f"hurries/s {self.hurries_per_s:.0f}, messages/s {self.messages_per_s:.0f}, "
                f"delivered {self.delivered}/{self.expected}, latency p50/p99 "
                f"{self.p50_us:.0f}/{self.p99_us:.0f} us, token retransmissions "
                f"{self.token_retransmits}")


def run_periodic(nodes: int = 3, burst: int = 10, period: float = 0.010,
                 seconds: float = 2.0, hop: float = 0.0001, seed: int = 1,
                 service: Service = Service.FIFO, loss: float = 0.0) -> PeriodicFigures:
    net = Net(list(range(1, nodes + 1)), latency=hop, seed=seed)
    net.start_all()
    assert net.run_until_stable(limit=10)
    net.run_until(net.now + 1.0)                     # settle: the ring is idle now
    net.loss = loss
    rng = random.Random(seed)
    phase = {i: rng.random() * period for i in net.ids}
    sent_at: dict[bytes, float] = {}
    lat: list[float] = []
    start = net.now + 0.2                            # warm-up before the window
    end = start + seconds

    def on_deliver(node: int, a: Action) -> None:
        if isinstance(a, Deliver):
            t = sent_at.get(a.payload)
            if t is not None and not a.payload.startswith(b"%d:" % node):
                lat.append(net.now - t)
    net.on_deliver = on_deliver

    def counts() -> tuple[int, int, int, int]:
        es = net.engines.values()
        return (sum(e.statistics().token_rotations for e in es), net.packets,
                sum(e.n["hurries"] for e in es), sum(e.n["token_retransmits"] for e in es))

    base = net.now
    due = sorted((base + phase[i] + k * period, i) for i in net.ids
                 for k in range(int((end - base) / period) + 1))
    before: tuple[int, int, int, int] | None = None
    submitted = 0
    for t, node in due:
        if before is None and t >= start:
            net.run_until(start)
            before = counts()
        net.run_until(t)
        for b in range(burst):
            payload = b"%d:%f:%d" % (node, t, b)
            if start <= t < end:
                sent_at[payload] = t
                submitted += 1
            net.submit(node, payload, service=service)
    net.run_until(end)
    assert before is not None
    after = counts()
    net.run_until(end + 0.5)                          # the window's last messages arrive
    lat.sort()
    n = len(lat)
    return PeriodicFigures(
        rotations_per_s=(after[0] - before[0]) / seconds,
        packets_per_s=(after[1] - before[1]) / seconds,
        hurries_per_s=(after[2] - before[2]) / seconds,
        messages_per_s=submitted / seconds,
        delivered=n, expected=submitted * (nodes - 1),
        p50_us=lat[n // 2] * 1e6 if n else 0.0,
        p99_us=lat[min(n - 1, n * 99 // 100)] * 1e6 if n else 0.0,
        token_retransmits=after[3] - before[3])
