"""The group layer inside ``robot-gcs sim``: GroupEngines, random clients, group invariants.

What it owns: the simulator plug-in (``SIM_PLUGIN``; see runner.py) that, with
``--clients N`` (N > 0), wraps every simulated engine in a ``GroupEngine`` (NORMAL lane
closed until the state exchange ends), drives ``group_clients.GroupClients`` on every
live node at ``--rate`` operations per node per simulated second during the submit
windows, and adds the ``groups`` invariant set (``group_checker``) to the ring's.

Rules:

* ``--clients 0`` (the default) leaves the simulator in ring-only mode.
* ``--groups G`` groups; ``--vary-clients`` draws clients per node from [1, N] and
  groups from [1, G] per seed (seeded, so a seed replays exactly).
* Every ring submission of the group layer (envelopes, G_STATE) is recorded as a
  SUBMIT observation, so the ring checker's integrity/FIFO/liveness checks cover the
  group traffic too.
* Node names are ``d<node id>``; private names ``#client#d<id>``.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import replace
from typing import Any

from ..core.engine import Engine
from ..core.groups import GroupEngine
from ..core.params import EngineConfig
from ..core.types import Lane, Service
from . import trace as tr
from .checker import RunRecord, Violation
from .config import SimConfig
from .group_checker import GroupChecker
from .group_clients import ClientModel, GroupClients
from .runspec import PluginParts

SIM_PLUGIN = True
_SALT = 0x67726F7570


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--groups", type=int, default=5,
                   help="number of groups the clients use (with --clients > 0; default 5)")
    p.add_argument("--vary-clients", action="store_true",
                   help="per seed, draw clients per node from [1, --clients] and groups "
                        "from [1, --groups]")


class _Recorder:
    """Wraps the ring engine so every submission is observed by the simulator's log."""

    def __init__(self, engine: Engine, app: "GroupApp", node: int) -> None:
        self._engine = engine
        self._app = app
        self._node = node

    def submit(self, now: float, payload: bytes, service: Service = Service.AGREED,
               lane: Lane = Lane.NORMAL, urgent: bool = False,
               owner: object = None, bounded: bool = True) -> list[Any]:
        actions = self._engine.submit(now, payload, service, lane, urgent, owner, bounded)
        self._app.observe_submit(self._node, payload, service, lane)
        return actions

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


class GroupApp:
    """The application layer: client activity on every node, events into the checker."""

    def __init__(self, cfg: SimConfig, model: ClientModel, rate: float) -> None:
        self.cfg = cfg
        self.names = {n: f"d{n}" for n in cfg.node_ids}
        self.checker = GroupChecker()
        self.clients = GroupClients(random.Random(cfg.seed ^ _SALT), model, self.names,
                                    self.checker)
        self.rate = max(rate, 0.1)
        self.sim: Any = None
        self._pending: list[tuple[int, bytes, Service, Lane]] = []

    # -- engine factory ---------------------------------------------------------------
    def factory(self, ecfg: EngineConfig, node_id: int, inc: int, persisted: int | None,
                seed: int) -> GroupEngine:
        engine = Engine(replace(ecfg, auto_open_lane=False), node_id, inc, persisted, seed)
        return GroupEngine(_Recorder(engine, self, node_id), self.names, keep_deliveries=True)

    def observe_submit(self, node: int, payload: bytes, service: Service, lane: Lane) -> None:
        if self.sim is None:
            self._pending.append((node, payload, service, lane))
            return
        n = self.sim.nodes[node]
        self.sim.log.observe(self.sim.now, node, n.inc, tr.SUBMIT,
                             tr.SubmitInfo(payload, service, n.counter, lane=lane))
        n.counter += 1

    # -- AppLayer ---------------------------------------------------------------------
    def on_start(self, sim: Any, node: int, now: float) -> None:
        if self.sim is None:
            self.sim = sim
            pending, self._pending = self._pending, []
            for p in pending:
                self.observe_submit(*p)
        inc = sim.nodes[node].inc
        self.clients.node_started(node, inc)
        self._schedule(node, inc, now)

    def on_actions(self, sim: Any, node: int, now: float, actions: list[Any]) -> None:
        self.clients.on_actions(node, actions)

    def on_stop(self, sim: Any, node: int, now: float, how: str) -> None:
        self.clients.node_stopped(node)

    # -- client activity --------------------------------------------------------------
    def call(self, node: int, method: str, *args: Any) -> bool:
        return bool(self.sim.call_engine(node, method, *args))

    def _schedule(self, node: int, inc: int, now: float) -> None:
        sim = self.sim
        t = now + sim.work_rng.expovariate(self.rate)
        for a, b in sim.windows:
            if t < a:
                t = a + sim.work_rng.expovariate(self.rate)
            if t < b:
                sim.call_at(t, lambda: self._step(node, inc))
                return

    def _step(self, node: int, inc: int) -> None:
        sim = self.sim
        n = sim.nodes[node]
        if not n.alive or n.inc != inc:
            return
        if sim.is_up(node) and sim.in_submit_window(sim.now):
            self.clients.step(self, node)
        self._schedule(node, inc, sim.now)


class GroupInvariants:
    """The group checker's findings as simulator violations."""

    name = "groups"

    def __init__(self, app: GroupApp) -> None:
        self.app = app

    def check(self, run: RunRecord) -> list[Violation]:
        out = [Violation(f"group_{v.invariant}", v.detail) for v in self.app.checker.check()]
        out.extend(self.end_state())
        return out

    def end_state(self) -> list[Violation]:
        """At the end of the stable tail: exchanges finished, one table per ring."""
        sim = self.app.sim
        if sim is None:
            return []
        out: list[Violation] = []
        tables: dict[Any, tuple[int, Any]] = {}
        for n in sorted(sim.nodes):
            node = sim.nodes[n]
            if not node.alive or node.paused_until > sim.now:
                continue
            ge = node.engine
            if ge.table.unordered_ops:
                out.append(Violation("group_lane_discipline",
                                     f"n{n} delivered {ge.table.unordered_ops} NORMAL-lane group "
                                     f"operations before its state exchange ended"))
            if ge.phase.value != "operational":
                out.append(Violation("group_exchange_done",
                                     f"n{n} is still in group phase {ge.phase.value} at the end"))
                continue
            snap = ge.table.snapshot()
            ring = ge.table.ring_id
            seen = tables.setdefault(ring, (n, snap))
            if seen[1] != snap:
                out.append(Violation("group_table_agreement",
                                     f"n{n} and n{seen[0]} share ring {ring} but their group "
                                     f"tables differ"))
        return out


def make(options: dict[str, Any], cfg: SimConfig) -> PluginParts | None:
    clients = int(options.get("clients") or 0)
    if clients <= 0:
        return None
    groups = max(1, int(options.get("groups") or 5))
    if options.get("vary_clients"):
        rng = random.Random(cfg.seed ^ (_SALT << 1))
        clients = rng.randint(1, clients)
        groups = rng.randint(1, groups)
    model = ClientModel(clients_per_node=clients, groups=groups)
    app = GroupApp(cfg, model, float(options.get("rate") or 20.0))
    return PluginParts(engine_factory=app.factory, app=app,
                       invariant_sets=(GroupInvariants(app),), ring_clients=False)
