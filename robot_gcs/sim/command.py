"""``robot-gcs sim``: sweep random seeds through the simulator and check every invariant.

Owns the command line of the simulator. Each seed is one random run (PROTOCOL.md
section 6): faults for ``--duration`` simulated seconds, then a stable tail for the
liveness check (and ``--lossy-tail``: another with 1 % loss, checked for progress).
Prints a progress line, every failing seed with the invariant, a short trace excerpt
and the command that replays it, then a summary; exits 1 on any violation. ``--seed N
--trace`` replays one seed and prints its whole trace. ``--scenario NAME`` runs a
scripted scenario; ``--all-faults`` turns every fault kind on, adds the lossy tail and
runs the scripted scenarios in turn on every fifth seed (``scenarios.mixed_scenario``).
``--mutant NAME`` runs against a mutated core (``mutations.py``).

Plug-ins: every module ``robot_gcs.sim.group_*`` that defines ``SIM_PLUGIN = True``
gets ``add_arguments(parser)`` here and ``make(options, cfg)`` in each run (runner.py).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import random
import sys
import time
from dataclasses import replace
from typing import Any

from .config import FaultRates, SimConfig, fast_params
from .network import LinkModel
from .mutations import MUTATIONS
from .runner import RunSpec, SeedResult, measure_idle_rate, run_spec, sweep
from .scenarios import SCENARIO_EVERY, SCENARIOS, mixed_scenario
from .workload import WorkloadModel

_NODE_SALT = 0x6E6F6465


def plugin_modules() -> list[str]:
    """Names of the simulator plug-in modules present in this package (sorted)."""
    import robot_gcs.sim as pkg
    names = []
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("group_"):
            name = f"{pkg.__name__}.{info.name}"
            try:
                mod = importlib.import_module(name)
            except Exception:  # noqa: BLE001 - a broken plug-in must not break the command
                continue
            if getattr(mod, "SIM_PLUGIN", False):
                names.append(name)
    return sorted(names)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nodes", type=int, default=5, help="nodes per run (default 5)")
    p.add_argument("--min-nodes", type=int, help="draw the node count per seed from "
                   "[--min-nodes, --max-nodes]")
    p.add_argument("--max-nodes", type=int)
    p.add_argument("--seeds", type=int, default=20, help="number of seeds (default 20)")
    p.add_argument("--first-seed", type=int, default=0, help="first seed of the sweep")
    p.add_argument("--seed", type=int, help="run only this seed (replay)")
    p.add_argument("--duration", type=float, default=10.0,
                   help="simulated seconds of the fault phase (stable tails come after)")
    p.add_argument("--loss", type=float, default=0.0, help="per-link loss probability")
    p.add_argument("--burst", type=float, default=0.0,
                   help="Gilbert burst loss: per-packet chance a link turns BAD")
    p.add_argument("--dup", type=float, default=0.0, help="duplication probability")
    p.add_argument("--reorder", type=float, default=0.0, help="reordering probability")
    p.add_argument("--corrupt", type=float, default=0.0,
                   help="corruption probability (runs with a packet MAC key)")
    p.add_argument("--delay", type=float, default=0.2, help="base one-way delay, ms")
    p.add_argument("--jitter", type=float, default=0.3, help="uniform extra delay, ms")
    p.add_argument("--partitions", type=float, nargs="?", const=0.5, default=0.0,
                   metavar="RATE", help="partition changes per simulated second (0.5)")
    p.add_argument("--crashes", type=float, nargs="?", const=0.3, default=0.0,
                   metavar="RATE", help="crashes/leaves per simulated second (0.3)")
    p.add_argument("--pauses", type=float, nargs="?", const=0.3, default=0.0,
                   metavar="RATE", help="process pauses per simulated second (0.3)")
    p.add_argument("--slow", action="store_true", help="slow receivers (bounded queue)")
    p.add_argument("--drift", type=float, default=0.0, help="max clock-rate error per node")
    p.add_argument("--all-faults", action="store_true",
                   help="shorthand: --loss 0.05 --burst 0.01 --dup 0.02 --reorder 0.02 "
                        "--corrupt 0.005 --partitions --crashes --pauses --slow --lossy-tail, "
                        f"and every {SCENARIO_EVERY}th seed runs the next scripted scenario")
    p.add_argument("--multicast", action="store_true",
                   help="multicast semantics: ring broadcasts reach every peer")
    p.add_argument("--lossy-tail", action="store_true",
                   help="after the stable tail, repeat the liveness check with --tail-loss "
                        "and check progress under that loss")
    p.add_argument("--tail-loss", type=float, default=0.01,
                   help="per-link loss in the lossy tail (default 0.01)")
    p.add_argument("--rate", type=float, default=20.0,
                   help="ring workload: submissions per node per simulated second")
    p.add_argument("--lone-sender", type=int, default=0, metavar="NODE",
                   help="node NODE submits at --rate, every other node at a twentieth of it "
                        "(a lone sender borrows the quiet token; default 0: all at --rate)")
    p.add_argument("--bursts", type=float, default=0.0, metavar="SHARE",
                   help="share of submissions that open a local burst of 2-5 messages "
                        "(Engine.local_burst, as a Node's timers due together; default 0)")
    p.add_argument("--timeouts", choices=("default", "fast"), default="default",
                   help="protocol timeouts: PROTOCOL.md defaults, or 5x shorter (fast)")
    p.add_argument("--seq-wrap", type=int, help="seq_wrap_limit (tiny values force wraps)")
    p.add_argument("--clients", type=int, default=0,
                   help="group-layer clients per node (0: ring-level workload only)")
    p.add_argument("--scenario", help="run a scripted scenario instead of random faults "
                   "(--scenario list shows them)")
    p.add_argument("--mutant", help="run against a mutated core (--mutant list shows them)")
    p.add_argument("--trace", action="store_true", help="print the whole trace (one seed)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--idle-rate", action="store_true",
                   help="also measure an idle ring's packets per simulated second")
    for name in plugin_modules():
        mod = importlib.import_module(name)
        if hasattr(mod, "add_arguments"):
            mod.add_arguments(p)


def config_for(args: argparse.Namespace, seed: int) -> SimConfig:
    if args.all_faults:
        args.loss = args.loss or 0.05
        args.burst = args.burst or 0.01
        args.dup = args.dup or 0.02
        args.reorder = args.reorder or 0.02
        args.corrupt = args.corrupt or 0.005
        args.partitions = args.partitions or 0.5
        args.crashes = args.crashes or 0.3
        args.pauses = args.pauses or 0.3
        args.slow = True
        args.lossy_tail = True
    nodes = args.nodes
    if args.min_nodes is not None or args.max_nodes is not None:
        lo = args.min_nodes if args.min_nodes is not None else 2
        hi = args.max_nodes if args.max_nodes is not None else max(lo, args.nodes)
        nodes = random.Random(seed ^ _NODE_SALT).randint(lo, hi)
    extra: dict[str, Any] = {}
    if args.seq_wrap is not None:
        extra["seq_wrap_limit"] = args.seq_wrap
    if args.timeouts == "fast":
        params = fast_params(**extra)
    else:
        from ..core.params import ProtocolParams
        params = ProtocolParams(**extra)
    link = LinkModel(loss=args.loss, burst_enter=args.burst, dup=args.dup, reorder=args.reorder,
                     corrupt=args.corrupt, delay=args.delay / 1000, jitter=args.jitter / 1000)
    faults = FaultRates(partitions=args.partitions, crashes=args.crashes, pauses=args.pauses,
                        slow_receivers=args.slow, drift=args.drift)
    return SimConfig(seed=seed, nodes=nodes, fault_duration=args.duration, params=params,
                     link=link, faults=faults,
                     workload=WorkloadModel(rate=args.rate, lone=args.lone_sender,
                                            bursts=args.bursts),
                     multicast=args.multicast, lossy_tail=args.lossy_tail,
                     tail_loss=args.tail_loss,
                     key=b"robot-gcs-sim-key" if args.corrupt > 0 else None)


def replay_command(argv: list[str], seed: int) -> str:
    """The command line that replays one seed with its trace."""
    keep: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("--seeds", "--seed", "--first-seed", "--jobs"):
            skip = True
            continue
        if a.startswith(("--seeds=", "--seed=", "--first-seed=", "--jobs=")) or a == "--trace":
            continue
        keep.append(a)
    return "robot-gcs sim " + " ".join(keep + [f"--seed {seed}", "--trace"])


def print_failures(res: SeedResult, argv: list[str], out: Any) -> None:
    print(f"\nseed {res.seed} ({res.nodes} nodes): {len(res.failures)} violation(s)"
          + (f" [{res.note}]" if res.note else ""), file=out)
    for f in res.failures:
        print(f"  {f.invariant}: {f.message}", file=out)
        for line in f.excerpt:
            print(f"      {line}", file=out)
    print(f"  replay: {replay_command(argv, res.seed)}", file=out)


def spec_for(args: argparse.Namespace, seed: int) -> RunSpec:
    """The run ``robot-gcs sim`` makes of seed ``seed`` with these arguments."""
    options = tuple(sorted((k, v) for k, v in vars(args).items()
                           if not k.startswith("_") and isinstance(v, (int, float, str, bool,
                                                                       type(None)))))
    return RunSpec(config_for(args, seed), tuple(plugin_modules()), options,
                   scenario_for(args, seed), mutant=args.mutant)


def scenario_for(args: argparse.Namespace, seed: int) -> str | None:
    """The scripted scenario seed ``seed`` runs (None: a random run)."""
    if args.scenario is not None:
        return str(args.scenario)
    return mixed_scenario(seed) if args.all_faults else None


def run(args: argparse.Namespace) -> int:
    out = sys.stdout
    argv = sys.argv[sys.argv.index("sim") + 1:] if "sim" in sys.argv else sys.argv[1:]
    if args.scenario == "list":
        for name, (_, doc) in sorted(SCENARIOS.items()):
            print(f"{name:28} {doc}", file=out)
        return 0
    if args.mutant == "list":
        for name, m in sorted(MUTATIONS.items()):
            print(f"{name:34} {m.doc}{' (groups: --clients N)' if m.group else ''}", file=out)
        return 0
    if args.mutant is not None and args.mutant not in MUTATIONS:
        print(f"unknown mutant {args.mutant!r}; --mutant list shows them", file=sys.stderr)
        return 2
    seeds = [args.seed] if args.seed is not None else list(
        range(args.first_seed, args.first_seed + args.seeds))
    if args.scenario is not None and args.scenario not in SCENARIOS:
        print(f"unknown scenario {args.scenario!r}; --scenario list shows them", file=sys.stderr)
        return 2
    specs = [spec_for(args, s) for s in seeds]

    if args.trace:
        if len(specs) != 1:
            print("--trace replays one seed: add --seed N", file=sys.stderr)
            return 2
        res = run_spec(specs[0], printer=lambda line: print(line, file=out))
        results = [res]
        wall = res.wall
    else:
        results = []
        t0 = time.perf_counter()
        tty = sys.stderr.isatty()
        for res in sweep(specs, max(1, args.jobs)):
            results.append(res)
            bad = sum(1 for r in results if not r.ok)
            line = (f"[{len(results)}/{len(specs)}] seeds run, {bad} failing, "
                    f"{sum(r.delivered for r in results)} msgs delivered, "
                    f"{time.perf_counter() - t0:.1f}s")
            if tty:
                print("\r" + line, end="", file=sys.stderr, flush=True)
            elif len(results) % max(1, len(specs) // 10) == 0 or len(results) == len(specs):
                print(line, file=sys.stderr, flush=True)
        if tty:
            print(file=sys.stderr)
        wall = time.perf_counter() - t0
    results.sort(key=lambda r: r.seed)
    for res in results:
        if not res.ok:
            print_failures(res, argv, out)
    violations = sum(len(r.failures) for r in results)
    delivered = sum(r.delivered for r in results)
    configs = sum(r.configs for r in results)
    sim_time = sum(r.sim_time for r in results)
    cpu = sum(r.cpu for r in results)
    scripted = sum(1 for r in results if r.note)
    print(f"\nsummary: {len(results)} seeds" + (f" ({scripted} scripted)" if scripted else "")
          + f", {sum(1 for r in results if not r.ok)} failing, {violations} violations",
          file=out)
    print(f"  {delivered} msgs delivered ({sum(r.submitted for r in results)} submitted, "
          f"{sum(r.rejected for r in results)} refused by backpressure), "
          f"{configs} regular configurations installed", file=out)
    packets = sum(r.packets for r in results)
    print(f"  {packets} packets, {sim_time:.1f} simulated s in {wall:.1f} wall s "
          f"({cpu:.1f} CPU s)", file=out)
    print(f"  speed: {delivered / cpu if cpu else 0:.0f} simulated msgs delivered and "
          f"{packets / cpu if cpu else 0:.0f} packets per CPU second; "
          f"{delivered / wall if wall else 0:.0f} msgs per wall second with "
          f"{max(1, args.jobs)} jobs", file=out)
    if len(results) == 1:
        print(f"  trace hash {results[0].digest}", file=out)
    if args.idle_rate:
        base = config_for(args, seeds[0])
        rate, by = measure_idle_rate(replace(base, link=base.link.calm()))
        parts = ", ".join(f"{k} {v:.0f}" for k, v in by.items())
        print(f"  idle ring of {base.nodes} nodes: {rate:.0f} packets per simulated second "
              f"({parts})", file=out)
    return 1 if violations else 0
