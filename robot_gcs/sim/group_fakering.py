"""A model ring with EVS delivery semantics, for testing group layers without the token ring.

What it owns: ``ModelRing``, a handful of ``GroupEngine``s over ``ModelEngine``s that
deliver through an explicit, scriptable model of Extended Virtual Synchrony instead of
packets and timers. Tests (and anyone writing a layer on top of ``GroupEngine``) use it
to put the group layer through partitions, merges, crashes and transitional deliveries
in a few lines, deterministically.

The model (PROTOCOL.md section 3):

* Each ring has a log; ``run()`` sequences queued submissions (CONTROL lane always,
  NORMAL only when the node's lane is open; submission order kept within a lane) and
  each member delivers its log prefix in order, as far as it *holds* the entries.
  ``hold(nodes)`` makes entries sequenced meanwhile reach only those nodes (plus their
  sender): the others see a gap, like packets lost just before a failure.
* ``reconfigure(components)`` installs one new ring per component. For every old ring
  and every new component, the transitional set ``T = old members & component`` first
  brings every member of T to the highest regular delivery point within T (what one
  member delivered in R, all of T deliver in R), then gets ``DeliverConfig(TRANSITIONAL)``,
  then delivers the remaining entries any member of T holds with ``in_transitional``,
  and then every member of the component gets ``DeliverConfig(REGULAR)``. Lanes close at
  reconfiguration; unsequenced submissions stay queued for the new ring.
* ``crash(node)`` drops a node; ``restart(node)`` gives it a new incarnation, alone,
  until the next ``reconfigure`` puts it in a component.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from ..core.actions import Action, Deliver, DeliverConfig
from ..core.groups import GroupEngine, ToClient
from ..core.types import ConfigKind, Lane, NodeId, RingId, Service, TimerId
from ..errors import LocalProtocolError


class ModelEngine:
    """Stands in for ``core.engine.Engine``: queues submissions, the ModelRing orders them."""

    def __init__(self, node_id: int, incarnation: int,
                 max_message: int = 4 * 1024 * 1024) -> None:
        self.node_id = node_id
        self.incarnation = incarnation
        self.max_message = max_message
        self.queue: list[tuple[bytes, Service, Lane]] = []
        self.normal_open = False

    def start(self, now: float) -> list[Action]:
        return []

    def handle_packet(self, now: float, src: Any, data: bytes) -> list[Action]:
        return []

    def handle_timer(self, now: float, timer_id: TimerId) -> list[Action]:
        return []

    def submit(self, now: float, payload: bytes, service: Service = Service.AGREED,
               lane: Lane = Lane.NORMAL, urgent: bool = False,
               owner: object = None, bounded: bool = True) -> list[Action]:
        """(The model orders by submission: ``urgent`` changes nothing here.) Refuses
        a message over ``max_message`` as core/packing.py does."""
        if len(payload) > self.max_message:
            raise LocalProtocolError(f"message of {len(payload)} bytes exceeds the maximum "
                                     f"of {self.max_message}")
        self.queue.append((bytes(payload), service.ring_service, lane))
        return []

    def open_normal_lane(self, now: float) -> list[Action]:
        self.normal_open = True
        return []

    def reply_expected(self, client: str | None) -> None:
        """No tokens in the model: nothing waits for a reply."""

    def reply_not_coming(self, now: float, client: str) -> list[Action]:
        return []

    def reply_waits_for(self, client: str) -> bool:
        return False

    def local_burst(self, now: float, owner: object, begins: bool) -> list[Action]:
        """No tokens in the model: a burst changes nothing."""
        return []

    def leave(self, now: float) -> list[Action]:
        return []


@dataclass(slots=True)
class _Entry:
    seq: int
    sender: int
    inc: int
    payload: bytes
    service: Service
    holders: set[int]


@dataclass(slots=True)
class _Ring:
    ring_id: RingId
    members: tuple[int, ...]
    log: list[_Entry] = field(default_factory=list)
    cursor: dict[int, int] = field(default_factory=dict)     # node -> entries delivered


class ModelRing:
    """Group engines over a model EVS ring. ``events[node]`` collects ToClient actions."""

    def __init__(self, nodes: int, listener: Callable[[int, list[Any]], None] | None = None,
                 group_options: dict[str, Any] | None = None) -> None:
        self.names = {n: f"d{n}" for n in range(1, nodes + 1)}
        self.group_options = dict(group_options or {})   # GroupEngine keyword arguments
        self.listener = listener
        self.now = 0.0
        self.engines: dict[int, ModelEngine] = {}
        self.groups: dict[int, GroupEngine] = {}
        self.events: dict[int, list[ToClient]] = {}
        self._ring_of: dict[int, _Ring] = {}
        self._ring_seq = 0
        self._holding: set[int] | None = None
        self.incarnations: dict[int, int] = {}
        for n in self.names:
            self.restart(n)
        self.reconfigure([set(self.names)])

    # ------------------------------------------------------------ plumbing

    def _feed(self, node: int, actions: Sequence[Action]) -> None:
        out = self.groups[node].on_engine_actions(self.now, list(actions))
        self._record(node, out)

    def _record(self, node: int, out: list[Any]) -> None:
        self.events.setdefault(node, []).extend(a for a in out if isinstance(a, ToClient))
        if self.listener is not None:
            self.listener(node, out)

    def call(self, node: int, method: str, *args: Any) -> bool:
        """``group_engine.method(now, *args)``; False if the node is down."""
        if node not in self.groups:
            return False
        out = getattr(self.groups[node], method)(self.now, *args)
        self._record(node, out)
        return True

    def take(self, node: int) -> list[Any]:
        """Events received on ``node`` since the last take, as (client, event) pairs."""
        evs = self.events.get(node, [])
        self.events[node] = []
        return [(a.client, a.event) for a in evs]

    # ------------------------------------------------------------ ordering

    def hold(self, holders: Iterable[int] | None) -> None:
        """Entries sequenced from now on reach only ``holders`` (None: everyone)."""
        self._holding = set(holders) if holders is not None else None

    def run(self, rounds: int = 100) -> None:
        for _ in range(rounds):
            progressed = False
            for ring in self._rings():
                live = [n for n in ring.members if n in self.groups]
                for n in live:
                    progressed |= self._sequence(ring, n)
                for n in live:
                    progressed |= self._deliver(ring, n, len(ring.log), False)
            if not progressed:
                return
        raise AssertionError("model ring did not quiesce")

    def _rings(self) -> list[_Ring]:
        seen: dict[RingId, _Ring] = {}
        for n in sorted(self._ring_of):
            r = self._ring_of[n]
            seen.setdefault(r.ring_id, r)
        return [seen[k] for k in sorted(seen)]

    def _sequence(self, ring: _Ring, node: int) -> bool:
        eng = self.engines[node]
        take = [q for q in eng.queue if q[2] is Lane.CONTROL or eng.normal_open]
        if not take:
            return False
        eng.queue = [q for q in eng.queue if not (q[2] is Lane.CONTROL or eng.normal_open)]
        for payload, service, _ in take:
            holders = set(ring.members) if self._holding is None else (self._holding | {node})
            ring.log.append(_Entry(len(ring.log) + 1, node, eng.incarnation, payload, service,
                                   holders & set(ring.members)))
        return True

    def _deliver(self, ring: _Ring, node: int, upto: int, trans: bool,
                 held_by: set[int] | None = None) -> bool:
        """Deliver ring entries to ``node`` up to index ``upto``; stop at a gap unless trans."""
        i = ring.cursor.get(node, 0)
        acts: list[Action] = []
        holders = held_by if held_by is not None else {node}
        gap = False
        while i < upto:
            e = ring.log[i]
            if not (e.holders & holders) or (gap and e.sender not in holders):
                if not trans:
                    break
                gap = True
                i += 1
                continue
            acts.append(Deliver(NodeId(e.sender), e.inc, e.payload, e.service, ring.ring_id,
                                e.seq, trans))
            i += 1
        ring.cursor[node] = i
        if acts:
            self._feed(node, acts)
        return bool(acts)

    # ------------------------------------------------------------ configurations

    def reconfigure(self, components: Iterable[Iterable[int]]) -> None:
        """Install one ring per component (live nodes only); EVS transitional delivery first."""
        self.run()
        comps = [tuple(sorted(n for n in c if n in self.groups)) for c in components]
        comps = [c for c in comps if c]
        trans_of: dict[int, tuple[int, ...]] = {}
        for c in comps:                          # transitional phase, per old ring and component
            olds: dict[RingId, _Ring] = {}
            for n in c:
                if n in self._ring_of:
                    olds.setdefault(self._ring_of[n].ring_id, self._ring_of[n])
            fresh = [n for n in c if n not in self._ring_of]
            for old in (olds[k] for k in sorted(olds)):
                trans = tuple(n for n in old.members if n in c)
                trans_of.update((n, trans) for n in trans)
                high = max(old.cursor.get(n, 0) for n in trans)
                for n in trans:
                    self._deliver(old, n, high, False, held_by=set(trans))
                left = tuple(n for n in old.members if n not in c)
                for n in trans:
                    self._feed(n, [DeliverConfig(ConfigKind.TRANSITIONAL, old.ring_id,
                                                 tuple(NodeId(m) for m in trans),
                                                 tuple(NodeId(m) for m in left), ())])
                for n in trans:
                    self._deliver(old, n, len(old.log), True, held_by=set(trans))
            for n in fresh:
                trans_of[n] = (n,)
                self._feed(n, [DeliverConfig(ConfigKind.TRANSITIONAL, RingId(0, 0),
                                             (NodeId(n),), (), ())])
        for c in comps:
            self._ring_seq += 4
            ring = _Ring(RingId(c[0], self._ring_seq), c)
            for n in c:
                self.engines[n].normal_open = False
                self._ring_of[n] = ring
            for n in c:
                self._feed(n, [DeliverConfig(ConfigKind.REGULAR, ring.ring_id,
                                             tuple(NodeId(m) for m in c), (),
                                             tuple(NodeId(m) for m in c if m not in trans_of[n]))])
        self.run()

    def crash(self, node: int) -> None:
        self.groups.pop(node, None)
        self.engines.pop(node, None)
        self._ring_of.pop(node, None)

    def restart(self, node: int) -> None:
        self.crash(node)
        inc = self.incarnations.get(node, 0) + 1
        self.incarnations[node] = inc
        self.engines[node] = ModelEngine(node, inc, self.group_options.get(
            "max_message", 4 * 1024 * 1024))
        self.groups[node] = GroupEngine(self.engines[node], self.names, **self.group_options)
        self.events[node] = []

    def live(self) -> tuple[int, ...]:
        return tuple(sorted(self.groups))
