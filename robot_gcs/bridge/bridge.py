"""A bridge: the shared core and ring side wired to one outside (DDS or Zenoh).

What it owns: one bridge's wiring -- its rules' gates and counters, the ``Inbound`` thread
(ring.py) and the ``Outside`` engine (ros2.py or fleet.py). The outbound direction runs
on the thread that spins the bridge's node (a launch component's thread, or the caller's):
the node's group handlers pass each message of an outbound topic through the rule's gate
(loop, rate) and hand it to ``Outside.send``. The inbound direction runs on the inbound
thread. Each rule's counters belong to the thread of its direction; ``statistics()`` may
be read from anywhere.

``Outside`` is the small Protocol both engines implement; the bridge never imports DDS or
Zenoh itself.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Mapping, Protocol

from ..errors import GcsError
from ..pubsub.node import Node
from ..pubsub.qos import topic_group
from .core import Counters, Gate, RuleStats, Verdict, bridge_node_name
from .ring import Inbound, RingMessage
from .spec import BridgeSpec

log = logging.getLogger(__name__)

Deliver = Callable[[int, Any], None]


class Outside(Protocol):
    """What a bridge needs of the outside world's engine."""

    tick_period: float | None

    def remote_out(self, index: int) -> str: ...

    def remote_in(self, index: int) -> str: ...

    def open(self, deliver: Deliver) -> None:
        """Connect; from now on call ``deliver(in-rule index, raw item)`` (any thread)."""

    def send(self, index: int, msg: RingMessage) -> int:
        """Send one message of out-rule ``index``; returns the bytes sent."""

    def to_ring(self, index: int, item: Any) -> Any:
        """Turn a raw item of in-rule ``index`` into the ring topic's value."""

    def watch(self) -> Mapping[str, Callable[[Any], Any]]:
        """Ring groups (and their handlers) the outside wants to see views of."""

    def tick(self, members: tuple[str, ...], now: float) -> None:
        """Every ``tick_period`` seconds on the node thread, with the registry's members."""

    def close(self) -> None: ...


def make_outside(spec: BridgeSpec) -> Outside:
    """The engine of ``spec.kind`` (imports its library lazily)."""
    if spec.kind == "ros2":
        from .ros2 import DdsOutside
        return DdsOutside(spec)
    from .fleet import ZenohOutside
    return ZenohOutside(spec)


class Bridge:
    """Runs ``spec`` on ``node`` (spun by its owner) and ``daemon`` (for the inbound node).

    ``node`` should be named ``bridge_node_name(spec.name)``: bridges recognise each
    other's messages by that prefix (core.py). Raises ``LocalProtocolError`` for a type
    the outside cannot carry, and the outside library's error if it cannot start.
    """

    def __init__(self, node: Node, daemon: Any, spec: BridgeSpec, outside: Outside | None = None,
                 *, node_kwargs: Mapping[str, Any] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self.node = node
        self._clock = clock
        self.outside = outside if outside is not None else make_outside(spec)
        self.out_counters = [Counters("out", r.topic, self.outside.remote_out(i))
                             for i, r in enumerate(spec.out)]
        self.in_counters = [Counters("in", r.topic, self.outside.remote_in(i))
                            for i, r in enumerate(spec.inbound)]
        self._gates = [Gate(r.rate) for r in spec.out]
        self.inbound = Inbound(bridge_node_name(spec.name, "in"), daemon, spec.inbound,
                               self.outside.to_ring, self.in_counters, dict(node_kwargs or {}),
                               clock)
        self._closed = False
        self._daemon: Any = None
        try:
            self.outside.open(self.inbound.deliver)
            self.inbound.start()
            for i, rule in enumerate(spec.out):
                node.join_group(topic_group(rule.topic), self._handler(i))
            for group, handler in self.outside.watch().items():
                node.join_group(group, handler)
            period = self.outside.tick_period
            if period is not None:
                node.create_timer(period, self._tick)
                self._tick()
        except BaseException:
            self.close()
            raise
        self._daemon = daemon
        from ..diagnostics.bridges import add_bridge
        add_bridge(daemon, self)          # its counters join the daemon's health snapshot

    def _handler(self, index: int) -> Callable[[Any], None]:
        rule = self.spec.out[index]
        gate = self._gates[index]
        counters = self.out_counters[index]
        send = self.outside.send

        def on_event(ev: Any) -> None:
            if not RingMessage.is_topic_message(ev):
                return                     # views of the topic group
            now = self._clock()
            verdict = gate.admit(now, ev.sender)
            if verdict is not Verdict.PASS:
                counters.dropped(verdict)
                return
            try:
                size = send(index, RingMessage(ev.payload, ev.sender, rule.msg_type))
            except GcsError as exc:
                counters.failed(str(exc))
                return
            except Exception as exc:       # the outside library's own errors
                counters.failed(f"{type(exc).__name__}: {exc}")
                log.debug("bridge %s: could not send %s: %s", self.spec.name, rule.topic, exc)
                return
            counters.sent(size, now)
        return on_event

    def _tick(self) -> None:
        self.outside.tick(self.node.registry_members(), self._clock())

    def statistics(self) -> tuple[RuleStats, ...]:
        """Counters of every rule (outbound first), as frozen records."""
        return tuple(c.stats() for c in self.out_counters + self.in_counters)

    def health(self, now: float) -> list[Any]:
        """The rules' counters as ``BridgeHealth`` rows (diagnostics/bridges.py); ``now``
        is on the bridge's clock."""
        from ..diagnostics.model import BridgeHealth
        return [BridgeHealth(self.spec.name, self.spec.kind, s.direction, s.topic, s.remote,
                             s.forwarded, s.rate_dropped, s.loops, s.errors, s.bytes,
                             None if s.last_time is None else max(0.0, now - s.last_time),
                             s.last_error)
                for s in self.statistics()]

    def close(self) -> None:
        """Stop the inbound thread and close the outside (idempotent)."""
        if self._closed:
            return
        self._closed = True
        daemon = self._daemon
        if daemon is not None:
            from ..diagnostics.bridges import remove_bridge
            remove_bridge(daemon, self)
        self.inbound.stop()
        try:
            self.outside.close()
        except Exception:
            log.debug("bridge %s: closing the outside failed", self.spec.name, exc_info=True)
