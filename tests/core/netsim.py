"""A tiny deterministic network for engine tests (the full simulator is robot_gcs/sim/).

A heap of (time, counter, event) drives several engines: Send actions become packet
events after ``latency`` (optionally lost with a seeded rng, or blocked by a partition),
SetTimer/CancelTimer keep one deadline per (node, timer); as in the runtime
(runtime/engine_host.py ``settle``), timers that came due run after each packet or
timer of their node, and one with ``slack`` fires by itself only at ``deadline + slack``. Deliver/DeliverConfig actions
are recorded per node in ``log[node]``. Unicast-peer-list semantics: BROADCAST_RING goes
to ``engine.ring_targets``, BROADCAST_ALL to every other configured peer.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from typing import Any, Callable

from robot_gcs.core.actions import (BROADCAST_ALL, BROADCAST_RING, Action, CancelTimer, Deliver,
                                    DeliverConfig, Persist, Send, SetTimer)
from robot_gcs.core.engine import Engine
from robot_gcs.core.params import EngineConfig, ProtocolParams
from robot_gcs.core.types import MemberState, TimerId


@dataclass
class Net:
    ids: list[int]
    params: ProtocolParams = field(default_factory=ProtocolParams)
    latency: float = 0.0005
    loss: float = 0.0
    seed: int = 1
    key: bytes | None = None

    def __post_init__(self) -> None:
        self.now = 0.0
        self.rng = random.Random(self.seed)
        self.heap: list[tuple[float, int, str, Any]] = []
        self.counter = 0
        self.cfg = EngineConfig(peers=tuple(self.ids), cluster_id=7, key=self.key,
                                params=self.params)
        self.engines: dict[int, Engine] = {}
        self.timers: dict[tuple[int, TimerId], float] = {}
        self.log: dict[int, list[Action]] = {i: [] for i in self.ids}
        self.history: dict[tuple[int, int], list[Action]] = {}   # per (node, incarnation)
        self.on_deliver: Callable[[int, Action], None] | None = None
        self.persisted: dict[int, int] = {}
        self.blocked: set[tuple[int, int]] = set()
        self.packets = 0
        self.incarnation: dict[int, int] = {i: 0 for i in self.ids}
        self.last_incarnation = 0
        self.tap: Callable[[int, int, bytes], bool] | None = None   # return False to drop

    # -- nodes ---------------------------------------------------------------
    def start(self, node: int, keep_persisted: bool = True) -> Engine:
        # incarnations increase cluster-wide (as the runtime's clock-derived ones do)
        self.last_incarnation += 1
        self.incarnation[node] = self.last_incarnation
        ps = self.persisted.get(node) if keep_persisted else None
        e = Engine(self.cfg, node, self.incarnation[node], ps, rng_seed=self.seed * 100 + node)
        self.engines[node] = e
        self._run(node, e.start(self.now))
        return e

    def start_all(self) -> None:
        for i in self.ids:
            self.start(i)

    def crash(self, node: int) -> None:
        self.engines.pop(node, None)
        for k in [k for k in self.timers if k[0] == node]:
            del self.timers[k]

    def partition(self, *groups: list[int]) -> None:
        self.blocked = set()
        for g in groups:
            for h in groups:
                if g is not h:
                    self.blocked |= {(a, b) for a in g for b in h}

    def heal(self) -> None:
        self.blocked = set()

    def submit(self, node: int, payload: bytes, **kw: Any) -> None:
        """Submits at one instant go in before any timer they make due runs: one
        burst, as a Node's timers that are due together (``Session.batch``)."""
        self._run(node, self.engines[node].submit(self.now, payload, **kw))

    def _settle(self, node: int) -> None:
        """After an input: run ``node``'s timers that came due (a slack timer's event
        may still be ahead; the deadline check there skips it)."""
        for _ in range(4):
            due = [k for k, d in self.timers.items() if k[0] == node and d <= self.now]
            if not due:
                return
            for k in due:
                if k in self.timers and self.timers[k] <= self.now:
                    del self.timers[k]
                    e = self.engines.get(node)
                    if e is not None:
                        self._run(node, e.handle_timer(self.now, k[1]))

    # -- actions -------------------------------------------------------------
    def _push(self, t: float, kind: str, data: Any) -> None:
        self.counter += 1
        heapq.heappush(self.heap, (t, self.counter, kind, data))

    def _run(self, node: int, actions: list[Action]) -> None:
        e = self.engines.get(node)
        for a in actions:
            if isinstance(a, Send):
                if a.dest == BROADCAST_RING:
                    dests = list(e.ring_targets) if e else []
                elif a.dest == BROADCAST_ALL:
                    dests = [i for i in self.ids if i != node]
                else:
                    dests = [a.dest]
                for d in dests:
                    self.packets += 1
                    if (node, d) in self.blocked or (self.loss and self.rng.random() < self.loss):
                        continue
                    if self.tap is not None and not self.tap(node, d, a.data):
                        continue
                    self._push(self.now + self.latency, "pkt", (node, d, a.data))
            elif isinstance(a, SetTimer):
                self.timers[(node, a.timer_id)] = a.deadline
                self._push(max(a.deadline + a.slack, self.now), "timer",
                           (node, a.timer_id, a.deadline))
            elif isinstance(a, CancelTimer):
                self.timers.pop((node, a.timer_id), None)
            elif isinstance(a, Persist):
                self.persisted[node] = a.ring_seq
            elif isinstance(a, (Deliver, DeliverConfig)):
                self.log[node].append(a)
                self.history.setdefault((node, self.incarnation[node]), []).append(a)
                if self.on_deliver is not None:
                    self.on_deliver(node, a)

    def run_until(self, t_end: float, stop: Callable[[], bool] | None = None) -> None:
        while self.heap and self.heap[0][0] <= t_end:
            t, _c, kind, data = heapq.heappop(self.heap)
            self.now = t
            if kind == "pkt":
                src, dst, payload = data
                e = self.engines.get(dst)
                if e is not None:
                    self._run(dst, e.handle_packet(t, src, payload))
                    self._settle(dst)
            else:
                node, tid, deadline = data
                if self.timers.get((node, tid)) != deadline:
                    continue
                del self.timers[(node, tid)]
                e = self.engines.get(node)
                if e is not None:
                    self._run(node, e.handle_timer(t, tid))
                    self._settle(node)
            if stop is not None and stop():
                return
        self.now = max(self.now, t_end)

    # -- queries ---------------------------------------------------------------
    def stable(self, nodes: list[int] | None = None) -> bool:
        """All given nodes OPERATIONAL in one ring consisting exactly of them."""
        nodes = sorted(nodes if nodes is not None else self.engines)
        es = [self.engines[n] for n in nodes]
        return all(e.state is MemberState.OPERATIONAL and list(e.members) == nodes
                   and e.ring_id == es[0].ring_id for e in es)

    def run_until_stable(self, nodes: list[int] | None = None, limit: float = 30.0) -> bool:
        self.run_until(self.now + limit, lambda: self.stable(nodes))
        return self.stable(nodes)

    def delivered(self, node: int) -> list[bytes]:
        return [a.payload for a in self.log[node] if isinstance(a, Deliver)]

    def configs(self, node: int) -> list[DeliverConfig]:
        return [a for a in self.log[node] if isinstance(a, DeliverConfig)]
