"""The discrete-event simulator: engines, a virtual network and a virtual clock.

Owns the event loop that carries out engine actions (PROTOCOL.md section 5) on the
simulated network of ``network.py`` and the clock of ``scheduler.py``:

* ``Send``: unicast to a node id; ``BROADCAST_RING`` to ``engine.ring_targets``
  (unicast peer-list semantics) or to every peer (``multicast=True``);
  ``BROADCAST_ALL`` to every configured peer but the sender. The engine never gets its
  own broadcasts back.
* ``SetTimer`` replaces the node's pending timer of that id; stale timer events are
  filtered here (the engine tolerates them anyway). ``CancelTimer`` forgets it. A timer
  with ``slack`` fires at a random point of [deadline, deadline + slack] (a driver may
  fold it into a later wake-up; the runtime does), so the engine is tried at both ends.
* Replies (plain ring runs, no group layer): a node handed a message from another node
  tells its engine a local client got data (``reply_expected``) and, at random, answers
  at once with a message of its own -- so the reply window (core/reply_window.py) keeps
  tokens, is released by submits and runs out, in every ring sweep.
* ``Deliver`` / ``DeliverConfig`` are recorded for the checker; ``Persist`` goes to the
  node's durable store, which survives crashes (a restart keeps or loses it).

Node faults: crash (engine dropped, volatile state lost), restart with incarnation + 1
(or a scripted one, ``arg=(keep, incarnation)``: smaller for a rewound clock),
graceful leave, pause (events for the node are deferred and replayed in a burst when it
wakes; at most ``pause_rx_cap`` packets are kept), slow receiver (per-packet cost and a
bounded receive queue with tail drop), per-node clock rate (drift).

Plug-in points: ``engine_factory`` (e.g. a group layer wrapping the engine),
``app`` (an application layer that sees each node's actions after they ran and may
submit through ``Simulator.submit`` or schedule work with ``call_at``), and
``state_hooks`` (called on every membership state change; scripted scenarios use them
to crash a node "during recovery"). Everything random comes from one seeded rng.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Iterable, Protocol

from ..core.actions import (BROADCAST_ALL, BROADCAST_RING, CancelTimer, Deliver,
                            DeliverConfig, Persist, Send, SetTimer)
from ..core.params import EngineConfig
from ..core.types import ConfigKind, Lane, NodeId, Service
from ..errors import Backpressure
from . import trace as tr
from .config import SimConfig
from .faults import FaultEvent
from .network import DropRule, Network, PacketContext, peek_type
from .scheduler import Scheduler
from .workload import draw_service, draw_size, make_payload, next_gap

EngineFactory = Callable[[EngineConfig, int, int, "int | None", int], Any]

# event kinds
_PACKET, _TIMER, _SUBMIT, _FAULT, _WAKE, _PROCESS, _SAMPLE, _CALL = range(8)
REPLY_CLIENT = 0.5     # a plain ring node's 'client' is handed a message ...
REPLY_ANSWER = 0.3     # ... and answers it at once
_MAC_LEN = 16
_TOKEN_RTR_COUNT_AT = 57     # header 20 + token body offset of rtr_count (PROTOCOL.md 2)


class AppLayer(Protocol):
    """Optional per-node application layer riding on the engines."""

    def on_start(self, sim: "Simulator", node: int, now: float) -> None: ...
    def on_actions(self, sim: "Simulator", node: int, now: float, actions: list[Any]) -> None: ...
    def on_stop(self, sim: "Simulator", node: int, now: float, how: str) -> None: ...


def default_engine_factory(cfg: EngineConfig, node_id: int, inc: int,
                           persisted: int | None, seed: int) -> Any:
    from ..core.engine import Engine   # imported late: the simulator works without it
    return Engine(cfg, node_id, inc, persisted, seed)


def core_of(engine: Any) -> Any:
    """The ring engine inside a wrapper (a group layer exposes it as ``.engine``)."""
    inner = getattr(engine, "engine", None)
    return inner if inner is not None and hasattr(inner, "ring_targets") else engine


class SimNode:
    __slots__ = ("node_id", "inc", "engine", "alive", "paused_until", "deferred",
                 "timers", "persisted", "counter", "state", "busy_until", "rx_cost",
                 "rx_cap", "rx_pending", "rate", "ever_crashed")

    def __init__(self, node_id: int, rate: float) -> None:
        self.node_id = node_id
        self.inc = 0
        self.engine: Any = None
        self.alive = False
        self.paused_until = 0.0
        self.deferred: list[tuple[int, tuple[Any, ...]]] = []
        self.timers: dict[Any, float] = {}
        self.persisted: int | None = None
        self.counter = 0
        self.state = ""
        self.busy_until = 0.0
        self.rx_cost = 0.0
        self.rx_cap = 0
        self.rx_pending = 0
        self.rate = rate
        self.ever_crashed = False


class Simulator:
    """One run: ``run()`` executes the plan and returns the trace log."""

    def __init__(self, cfg: SimConfig, plan: Iterable[FaultEvent] = (), *,
                 engine_factory: EngineFactory | None = None, app: AppLayer | None = None,
                 printer: Callable[[str], None] | None = None,
                 drop_rules: Iterable[DropRule] = (),
                 state_hooks: Iterable[Callable[["Simulator", int, str, str], None]] = (),
                 pause_rx_cap: int = 256, sample_every: float = 0.25,
                 rng: random.Random | None = None) -> None:
        self.cfg = cfg
        self.rng = rng or random.Random(cfg.seed)
        master = self.rng
        self.net_rng = random.Random(master.getrandbits(64))
        self.work_rng = random.Random(master.getrandbits(64))
        self.node_rng = random.Random(master.getrandbits(64))
        self.timing_rng = random.Random(master.getrandbits(64))   # timer slack, replies
        self.sched = Scheduler()
        self.log = tr.TraceLog(printer)
        self.verbose = printer is not None
        ids = cfg.node_ids
        self.ecfg = EngineConfig(peers=tuple(NodeId(n) for n in ids), cluster_id=cfg.cluster_id, key=cfg.key,
                                 params=cfg.params, auto_open_lane=True)
        drift = cfg.faults.drift
        self.nodes: dict[int, SimNode] = {
            n: SimNode(n, 1.0 + (self.node_rng.uniform(-drift, drift) if drift else 0.0))
            for n in ids}
        self.net = Network(ids, cfg.link, self.net_rng)
        self.net.rules.extend(drop_rules)
        self.factory = engine_factory or default_engine_factory
        self.app = app
        self.state_hooks = list(state_hooks)
        self.pause_rx_cap = pause_rx_cap
        self.sample_every = sample_every
        self.max_packet = cfg.params.max_packet + (_MAC_LEN if self.ecfg.key else 0)
        self.t0 = cfg.fault_duration
        x = cfg.liveness_bound
        self.windows: list[tuple[float, float]] = [(0.0, self.t0 + x)]
        if cfg.lossy_tail:
            self.windows.append((self.t0 + 2 * x, self.t0 + 3 * x))
        self.rejected = 0
        self.delivered = 0
        self.delivered_bytes = 0
        self.configs = 0
        self.dropped_paused = 0
        self.dropped_slow = 0
        self.stats_samples = 0
        for ev in plan:
            self.sched.push(ev.time, _FAULT, (ev,))

    # -- public API for apps, scenarios and tests ------------------------------------
    @property
    def now(self) -> float:
        return self.sched.now

    def local_now(self, node: SimNode) -> float:
        return self.sched.now * node.rate

    def call_at(self, time: float, fn: Callable[[], None]) -> None:
        self.sched.push(time, _CALL, (fn,))

    def schedule_fault(self, ev: FaultEvent) -> None:
        self.sched.push(ev.time, _FAULT, (ev,))

    def engine(self, node_id: int) -> Any:
        return self.nodes[node_id].engine

    def is_up(self, node_id: int) -> bool:
        n = self.nodes[node_id]
        return n.alive and n.paused_until <= self.sched.now

    def in_submit_window(self, t: float) -> bool:
        return any(a <= t < b for a, b in self.windows)

    def submit(self, node_id: int, payload: bytes, service: Service = Service.AGREED,
               lane: Lane = Lane.NORMAL) -> bool:
        """Submit on a live, running node; False if down, paused or refused (Backpressure)."""
        node = self.nodes[node_id]
        if not self.is_up(node_id):
            return False
        try:
            actions = node.engine.submit(self.local_now(node), payload, service, lane)
        except Backpressure:
            self.rejected += 1
            return False
        except Exception as exc:  # noqa: BLE001 - the checker reports it
            self._error(node, "submit", exc)
            return False
        self.log.observe(self.now, node_id, node.inc, tr.SUBMIT,
                         tr.SubmitInfo(payload, service, node.counter, lane))
        node.counter += 1
        self._execute(node, actions)
        return True

    def call_engine(self, node_id: int, method: str, *args: Any) -> bool:
        """Call ``engine.method(now, *args)`` on a live node and carry out its actions."""
        node = self.nodes[node_id]
        if not self.is_up(node_id):
            return False
        try:
            actions = getattr(node.engine, method)(self.local_now(node), *args)
        except Backpressure:
            self.rejected += 1
            return False
        except Exception as exc:  # noqa: BLE001
            self._error(node, method, exc)
            return False
        self._execute(node, actions)
        return True

    # -- running ----------------------------------------------------------------------
    def run(self, until: float | None = None) -> tr.TraceLog:
        end = self.cfg.end_time if until is None else until
        if self.sched.processed == 0 and not any(n.alive for n in self.nodes.values()):
            for n in self.cfg.node_ids:
                self.sched.push(self.node_rng.uniform(0, self.cfg.start_spread), _FAULT,
                                (FaultEvent(0.0, "restart", n, True),))
            self.sched.push(self.sample_every, _SAMPLE, ())
        sched = self.sched
        handlers = (self._on_packet, self._on_timer, self._on_submit, self._on_fault,
                    self._on_wake, self._on_process, self._on_sample, self._on_call)
        while True:
            item = sched.pop_until(end)
            if item is None:
                break
            _, kind, args = item
            handlers[kind](*args)
        sched.advance_to(end)
        return self.log

    # -- event handlers -------------------------------------------------------------
    def _defer_if_paused(self, node: SimNode, kind: int, args: tuple[Any, ...]) -> bool:
        if node.paused_until > self.sched.now:
            if kind == _PACKET and sum(1 for k, _ in node.deferred if k == _PACKET) >= self.pause_rx_cap:
                self.dropped_paused += 1
                return True
            node.deferred.append((kind, args))
            return True
        return False

    def _on_packet(self, dst: int, src: int, data: bytes) -> None:
        node = self.nodes[dst]
        if not node.alive or self._defer_if_paused(node, _PACKET, (dst, src, data)):
            return
        if node.rx_cost > 0.0:
            if node.rx_pending >= node.rx_cap:
                self.dropped_slow += 1
                return
            start = max(self.sched.now, node.busy_until)
            node.busy_until = start + node.rx_cost
            node.rx_pending += 1
            self.sched.push(start, _PROCESS, (dst, src, data, node.inc))
            return
        self._deliver_packet(node, src, data)

    def _on_process(self, dst: int, src: int, data: bytes, inc: int) -> None:
        node = self.nodes[dst]
        if node.alive and node.inc == inc and self._defer_if_paused(node, _PROCESS,
                                                                      (dst, src, data, inc)):
            return          # a frozen process works through its queue after waking
        node.rx_pending = max(0, node.rx_pending - 1)
        if node.alive and node.inc == inc:
            self._deliver_packet(node, src, data)

    def _deliver_packet(self, node: SimNode, src: int, data: bytes) -> None:
        if self.verbose:
            self.log.event(self.now, f"recv n{node.node_id}<-n{src} {peek_type(data)} {len(data)}B")
        try:
            actions = node.engine.handle_packet(self.local_now(node), src, data)
        except Exception as exc:  # noqa: BLE001 - invariant 12: decoder/engine never raises
            self._error(node, "handle_packet", exc)
            return
        self._execute(node, actions)

    def _on_timer(self, node_id: int, inc: int, timer_id: Any, deadline: float) -> None:
        node = self.nodes[node_id]
        if not node.alive or node.inc != inc or node.timers.get(timer_id) != deadline:
            return
        if self._defer_if_paused(node, _TIMER, (node_id, inc, timer_id, deadline)):
            return
        del node.timers[timer_id]
        if self.verbose:
            self.log.event(self.now, f"timer n{node_id} {timer_id.name}")
        try:
            actions = node.engine.handle_timer(self.local_now(node), timer_id)
        except Exception as exc:  # noqa: BLE001
            self._error(node, "handle_timer", exc)
            return
        self._execute(node, actions)

    def _on_submit(self, node_id: int, inc: int) -> None:
        node = self.nodes[node_id]
        if not node.alive or node.inc != inc:
            return
        now = self.sched.now
        if self.in_submit_window(now) and node.paused_until <= now:
            w = self.cfg.workload
            rng = self.work_rng
            if w.bursts and rng.random() < w.bursts:
                self._burst(node, rng.randint(2, 5))
            else:
                self._submit_one(node)
        self._schedule_submit(node)

    def _submit_one(self, node: SimNode) -> None:
        w = self.cfg.workload
        rng = self.work_rng
        size = draw_size(w, self.cfg.params.max_packet, rng)
        payload = make_payload(node.node_id, node.inc, node.counter, size, rng)
        self.submit(node.node_id, payload, draw_service(w, rng))

    def _burst(self, node: SimNode, count: int) -> None:
        """A local burst (Engine.local_burst): opened, ``count`` messages up to 1 ms apart,
        closed after the last -- later if the node is paused then; a crash ends it."""
        nid, inc = node.node_id, node.inc
        if not self.call_engine(nid, "local_burst", "workload", True):
            return
        self._submit_one(node)
        t = self.now
        for _ in range(count - 1):
            t += self.work_rng.random() * 0.001
            self.call_at(t, lambda: self._burst_step(nid, inc, False))
        self.call_at(t + self.work_rng.random() * 0.001, lambda: self._burst_step(nid, inc, True))

    def _burst_step(self, nid: int, inc: int, last: bool) -> None:
        node = self.nodes[nid]
        if not node.alive or node.inc != inc:
            return                                   # a crash ended the burst
        if node.paused_until > self.now:
            self.call_at(node.paused_until, lambda: self._burst_step(nid, inc, last))
        elif last:
            self.call_engine(nid, "local_burst", "workload", False)
        else:
            self._submit_one(node)

    def _schedule_submit(self, node: SimNode) -> None:
        t = self.sched.now + next_gap(self.cfg.workload, self.work_rng, node.node_id)
        for a, b in self.windows:
            if t < a:
                t = a + next_gap(self.cfg.workload, self.work_rng, node.node_id)
            if t < b:
                self.sched.push(t, _SUBMIT, (node.node_id, node.inc))
                return

    def _on_wake(self, node_id: int, inc: int) -> None:
        node = self.nodes[node_id]
        if node.inc != inc or node.paused_until > self.sched.now:
            return
        burst, node.deferred = node.deferred, []
        self.log.event(self.now, f"wake n{node_id} replaying {len(burst)} events")
        for kind, args in burst:
            self.sched.push(self.sched.now, kind, args)

    def _on_sample(self) -> None:
        self.stats_samples += 1
        p = self.cfg.params
        for node in self.nodes.values():
            if not node.alive:
                continue
            st = core_of(node.engine).statistics()
            if st.buffer_len > p.buf_capacity:
                self._bound(node, f"buffer_len {st.buffer_len} > buf_capacity {p.buf_capacity}")
            if st.send_queue_len > p.send_queue_capacity:
                self._bound(node, f"send_queue_len {st.send_queue_len} > capacity "
                                  f"{p.send_queue_capacity}")
        self.sched.push(self.sched.now + self.sample_every, _SAMPLE, ())

    def _on_call(self, fn: Callable[[], None]) -> None:
        fn()

    def _on_fault(self, ev: FaultEvent) -> None:
        now = self.sched.now
        self.log.event(now, ev.describe())
        node = self.nodes.get(ev.node)
        if ev.kind == "partition":
            groups, blocked = ev.arg
            self.net.set_components([list(g) for g in groups])
            self.net.blocked = set(blocked)
        elif ev.kind == "heal":
            self.net.heal()
        elif ev.kind == "crash" and node is not None and node.alive:
            self._stop(node, tr.CRASH)
        elif ev.kind == "leave" and node is not None and node.alive:
            if node.paused_until > now:
                self._stop(node, tr.CRASH)      # a frozen process cannot say goodbye
            else:
                self.call_engine(node.node_id, "leave")
                self._stop(node, tr.LEAVE)
        elif ev.kind == "restart" and node is not None and not node.alive:
            keep, inc = ev.arg if isinstance(ev.arg, tuple) else (ev.arg, None)
            self._start(node, keep=bool(keep), inc=inc)
        elif ev.kind == "pause" and node is not None and node.alive:
            until = now + float(ev.arg)
            if until > node.paused_until:
                node.paused_until = until
                self.sched.push(until, _WAKE, (node.node_id, node.inc))
        elif ev.kind == "wake" and node is not None and node.alive \
                and node.paused_until > now:
            node.paused_until = now
            self.sched.push(now, _WAKE, (node.node_id, node.inc))
        elif ev.kind == "slow" and node is not None:
            node.rx_cost, node.rx_cap = ev.arg
        elif ev.kind == "links":
            model, link_loss = ev.arg
            self.net.model = model
            self.net.link_loss = dict(link_loss)

    # -- node lives -------------------------------------------------------------------
    def _start(self, node: SimNode, keep: bool, inc: int | None = None) -> None:
        """``inc``: this life's incarnation (scripted; default the last one + 1). A
        smaller one than before is a restart whose clock and state were lost."""
        if node.inc:
            node.ever_crashed = True
        node.inc = node.inc + 1 if inc is None else inc
        node.counter = 0
        node.timers = {}
        node.deferred = []
        node.paused_until = 0.0
        node.busy_until = 0.0
        persisted = node.persisted if keep else None
        node.persisted = persisted
        self.log.observe(self.now, node.node_id, node.inc, tr.START, persisted)
        node.engine = self.factory(self.ecfg, node.node_id, node.inc, persisted,
                                   self.node_rng.getrandbits(32))
        node.alive = True
        node.state = ""
        try:
            actions = node.engine.start(self.local_now(node))
        except Exception as exc:  # noqa: BLE001
            self._error(node, "start", exc)
            return
        self._execute(node, actions)
        if self.app is not None:
            self.app.on_start(self, node.node_id, self.now)
        if self.cfg.ring_clients:
            self._schedule_submit(node)

    def _stop(self, node: SimNode, how: str) -> None:
        self.log.observe(self.now, node.node_id, node.inc, how, None)
        node.alive = False
        node.engine = None
        node.timers = {}
        node.deferred = []
        node.paused_until = 0.0
        node.rx_pending = 0
        if self.app is not None:
            self.app.on_stop(self, node.node_id, self.now, how)

    # -- actions ----------------------------------------------------------------------
    def _execute(self, node: SimNode, actions: list[Any]) -> None:
        if not node.alive:
            return
        core = core_of(node.engine)
        state = core.state.name
        if state != node.state:
            old, node.state = node.state, state
            why = ""
            if state == "GATHER" and hasattr(core, "gather_reason"):
                why = f" ({core.gather_reason.value} from {core.gather_from})"
            self.log.observe(self.now, node.node_id, node.inc, tr.STATE,
                             f"{old or '-'}->{state}{why}")
            for hook in self.state_hooks:
                # run after this event's actions, never in the middle of them
                self.sched.push(self.now, _CALL, (lambda h=hook, o=old: h(self, node.node_id, o, state),))
        sched = self.sched
        for a in actions:
            t = type(a)
            if t is Send:
                self._send(node, a)
            elif t is SetTimer:
                node.timers[a.timer_id] = a.deadline
                at = a.deadline
                if a.slack:
                    at += self.timing_rng.uniform(0.0, a.slack)
                sched.push(at / node.rate, _TIMER,
                           (node.node_id, node.inc, a.timer_id, a.deadline))
            elif t is CancelTimer:
                node.timers.pop(a.timer_id, None)
            elif t is Deliver:
                self.delivered += 1
                self.delivered_bytes += len(a.payload)
                self.log.observe(self.now, node.node_id, node.inc, tr.DELIVER, a)
                if a.sender != node.node_id and core is node.engine:
                    self._maybe_reply(node)
            elif t is DeliverConfig:
                if a.kind is ConfigKind.REGULAR:
                    self.configs += 1
                self.log.observe(self.now, node.node_id, node.inc, tr.CONFIG, a)
            elif t is Persist:
                node.persisted = a.ring_seq
                self.log.observe(self.now, node.node_id, node.inc, tr.PERSIST, a.ring_seq)
        if self.app is not None and node.alive:
            self.app.on_actions(self, node.node_id, self.now, actions)

    def _maybe_reply(self, node: SimNode) -> None:
        """A plain ring node handed another node's message: its 'client' got data; now
        and then it answers at once (after this event), inside a submit window."""
        rng = self.timing_rng
        if rng.random() < REPLY_CLIENT:
            node.engine.reply_expected("app")
            if rng.random() < REPLY_ANSWER and self.in_submit_window(self.now):
                self.sched.push(self.now, _CALL,
                                (lambda nd=node.node_id, inc=node.inc: self._reply(nd, inc),))

    def _reply(self, node_id: int, inc: int) -> None:
        node = self.nodes[node_id]
        if node.inc != inc or not self.in_submit_window(self.now):
            return
        w = self.cfg.workload
        payload = make_payload(node_id, inc, node.counter,
                               draw_size(w, self.cfg.params.max_packet, self.timing_rng),
                               self.timing_rng)
        self.submit(node_id, payload, draw_service(w, self.timing_rng))

    def _send(self, node: SimNode, a: Send) -> None:
        src = node.node_id
        data = a.data
        if a.dest >= 0:
            dests: Iterable[int] = (a.dest,)
        elif a.dest == BROADCAST_RING and not self.cfg.multicast:
            dests = core_of(node.engine).ring_targets
        elif a.dest in (BROADCAST_RING, BROADCAST_ALL):
            dests = self.cfg.node_ids
        else:
            self._bound(node, f"Send to unknown destination {a.dest}")
            return
        ptype = peek_type(data)
        if len(data) > self.max_packet:
            self._bound(node, f"{ptype} packet of {len(data)} bytes > max_packet {self.max_packet}")
        if ptype == "TOKEN" and len(data) > _TOKEN_RTR_COUNT_AT:
            rtr = data[_TOKEN_RTR_COUNT_AT]
            if rtr > self.cfg.params.rtr_max:
                self._bound(node, f"token rtr_count {rtr} > rtr_max {self.cfg.params.rtr_max}")
        now = self.sched.now
        rules = self.net.rules
        state = node.state
        push = self.sched.push
        for dst in dests:
            if dst == src:
                continue
            if rules:
                ctx = PacketContext(now, src, dst, ptype, state, data, self.ecfg.key)
                hit = next((r for r in rules if r.take(ctx)), None)
                if hit is not None:
                    self.net.stats.targeted += 1
                    self.log.event(now, f"drop[{hit.name}] n{src}->n{dst} {ptype}")
                    continue
            for t, payload, note in self.net.transmit(now, src, dst, data, ptype):
                push(t, _PACKET, (dst, src, payload))
            if self.verbose:
                self.log.event(now, f"send n{src}->n{dst} {ptype} {len(data)}B")

    def _error(self, node: SimNode, where: str, exc: BaseException) -> None:
        self.log.observe(self.now, node.node_id, node.inc, tr.ERROR,
                         f"{where} raised {type(exc).__name__}: {exc}")

    def _bound(self, node: SimNode, text: str) -> None:
        self.log.observe(self.now, node.node_id, node.inc, tr.BOUND, text)
