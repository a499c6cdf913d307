"""What one simulation run is made of: the spec, plug-ins, phases, liveness windows.

Owns ``RunSpec`` (everything a worker needs, picklable), the plug-in contract
(``PluginParts``, ``load_plugins``), the phase switches of ``config.py`` (calm links at
T0, ``tail_loss`` in the optional lossy tail), the liveness windows they imply, and
``assemble``: a simulator with its invariant sets and a window getter that captures
the components at T0. ``runner.py`` (random seeds) and ``scenarios.py`` (scripted
runs) both build their runs with it; neither imports the other's internals.

Plug-ins (for example the group layer's ``sim/group_*.py``) are modules exposing
``make(options: dict, cfg: SimConfig) -> PluginParts | None``; ``options`` is the
CLI namespace as a dict. Parts may replace the engine factory, add an application
layer, add invariant sets, and switch the built-in ring workload off.
"""

from __future__ import annotations

import importlib
import random
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable

from .checker import InvariantSet, LivenessWindow
from .config import SimConfig
from .faults import FaultEvent
from .network import DropRule
from .ring_invariants import RingInvariants
from .simulator import AppLayer, EngineFactory, Simulator

Windows = Callable[[], tuple[LivenessWindow, ...]]
StateHook = Callable[[Simulator, int, str, str], None]


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
    mutant: str | None = None            # a core mutation (mutations.py) for this run


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
    """Link-model switches: calm from T0, ``tail_loss`` in the lossy tail."""
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


def assemble(spec: RunSpec, cfg: SimConfig, plan: list[FaultEvent], rng: random.Random,
             printer: Callable[[str], None] | None = None, *,
             drop_rules: Iterable[DropRule] = (), state_hooks: Iterable[StateHook] = (),
             link_loss: dict[tuple[int, int], float] | None = None
             ) -> tuple[Simulator, list[InvariantSet], Windows]:
    """The simulator of one run (plan + phase switches), its invariant sets, its windows."""
    parts = load_plugins(spec.plugins, dict(spec.options), cfg)
    if parts.ring_clients is not None:
        cfg = replace(cfg, ring_clients=parts.ring_clients)
    sim = Simulator(cfg, plan + phase_events(cfg), engine_factory=parts.engine_factory,
                    app=parts.app, printer=printer, drop_rules=drop_rules,
                    state_hooks=state_hooks, rng=rng)
    if link_loss is not None:
        sim.net.link_loss = link_loss
    captured: list[tuple[tuple[int, ...], ...]] = []

    def capture() -> None:
        up = {n for n in cfg.node_ids if sim.nodes[n].alive}
        comps = tuple(tuple(n for n in c if n in up) for c in sim.net.components())
        captured.append(tuple(c for c in comps if c))

    sim.call_at(cfg.fault_duration + 1e-9, capture)
    sets: list[InvariantSet] = [RingInvariants(), *parts.invariant_sets]
    return sim, sets, lambda: windows_for(cfg, captured[0] if captured else ())
