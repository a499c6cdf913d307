"""Node: topics, services, parameters, a logger and timers on one Session, spun like rclpy.

What it owns: one Session (its own, from ``daemon.connect(name)``, or one it was given),
the node's publishers, subscriptions, timers, group handlers, elections, services,
parameters and logger, and the order in which their callbacks run. It composes the
registry picture (registry.py) and its announcements (discovery.py), the service table
(services.py), the parameter store (parameters.py) and the callback queue with the timers
(callbacks.py); the endpoint classes are in endpoints.py, elections are wired by leaders.py.

Rules:

* A topic is carried by one process group (``qos.topic_group``: ``/odom`` -> ``t:/odom``).
  A subscription joins the group; a publisher only sends to it (groups are open) unless it
  is latched, then it joins too so it sees the views that announce late joiners.
* Every endpoint has a message type (a message dataclass, or ``bytes`` for raw topics):
  given (either argument order, signature.py), else the launch file's declared type of
  the topic, else the type the ring's registry announces for it (waiting up to
  ``type_wait`` seconds for the registry to be complete). With none of these the call is a
  ``LocalProtocolError`` -- a topic never silently falls back to raw bytes. A type that
  contradicts the launch file's declaration is refused at creation.
* Callbacks run in ``spin``/``spin_once`` on the calling thread, in the order the session
  delivered the events (the total order, for AGREED/SAFE). Each spin step first drains
  every event the session has ready into the node's queue, then runs callbacks: with
  ``depth=1`` a slow callback sees only the newest sample, older ones are dropped and
  counted -- never a stall. Keep-last dropping removes entries from the middle of the
  node queue, so the callbacks that do run keep their relative order across topics.
* Group handlers (``join_group``) get every DataMessage and regular GroupView of their
  group through the same queue, never dropped: use them (or ``create_election``) for
  decisions that must follow the agreed order.
* Latched publishers re-send their last value (flagged HANDOVER) when a regular view of
  their topic group shows new members; subscribers drop a hand-over whose (publisher id,
  seq) they already saw.
* Type mismatches and bad envelopes from the network are counted and dropped, never raised
  out of spin (``TopicTypeError`` names both types). Exceptions raised by user callbacks
  propagate out of spin: the launch runtime applies the component's restart policy. A
  service handler's exception is answered to its caller instead (services.py).
* Discovery (discovery.py): nodes announce endpoints, services and election leaders in
  ``t:#registry``; ``Node.graph()`` is what ``topic list`` and the console show.
* A node made on a daemon enters ``local.py``'s table, so the daemon's health carries its
  topics.

Threads: one thread spins a node; publish, call and log from that thread (its callbacks
and timers). Only ``stop()`` may be called from another thread. ``spin()`` returns on
Ctrl-C and makes later Ctrl-Cs quiet while the program shuts down (shutdown.py).

Time comes from ``clock`` (default ``time.monotonic``) for timers, deadlines, rates and
call timeouts, and ``wall_clock`` (``time.time``) for stamps, so tests can drive both.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from typing import Any, Callable, Iterable, Mapping

from ..core.events import DataMessage, GroupView
from ..core.types import Service
from ..errors import LocalProtocolError, MalformedPacket
from ..hints import did_you_mean
from . import local
from .callbacks import Callbacks
from .codec import Sample, decode_envelope, encode_envelope
from .discovery import Discovery
from .election import ActiveStandby
from .endpoints import Publisher, Subscription, Timer, TopicStats, TopicTypeError
from .leaders import run_election
from .logs import LEVEL_PARAM, ROSOUT, Log, NodeLogger, check_level_params, parse_level
from .parameters import (PARAM_SERVICE, OnSet, Parameter, ParameterService, ParameterStore,
                         ParameterType, SetParametersResult)
from .qos import QoS, check_topic, group_topic, parse_service, topic_group
from .registry import REGISTRY_GROUP, REGISTRY_MSG_TYPE, Endpoints, Registry
from .services import SERVICE_MSG_TYPE, Client, ServiceServer, ServiceTable, check_service_name
from .shutdown import quiet_interrupts
from .signature import publisher_args, qos_arg, subscription_args
from .typeresolve import resolve_type

log = logging.getLogger(__name__)

TOPIC_MSG_TYPE = 84        # DataMessage.msg_type of topic envelopes
MAX_DRAIN = 1000           # events moved from the session per spin step
IDLE_WAIT = 0.1            # longest single wait in spin() on a session without wake()
TYPE_WAIT = 2.0            # seconds to wait for the registry when a topic's type is not given

GroupCallback = Callable[[Any], Any]

__all__ = ["Node", "TOPIC_MSG_TYPE", "REGISTRY_GROUP", "REGISTRY_MSG_TYPE"]


class Node:
    """A named participant: ``Node("planner", daemon)`` or ``Node("planner", session)``."""

    def __init__(self, name: str, daemon_or_session: Any, *, announce: bool = True,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None,
                 allowed_topics: "Iterable[str] | None" = None,
                 allowed_groups: "Iterable[str] | None" = None,
                 default_qos: "Mapping[str, QoS] | None" = None,
                 topic_types: "Mapping[str, type] | None" = None,
                 type_wait: float = TYPE_WAIT, tool: bool = False) -> None:
        self._daemon: Any = None
        if hasattr(daemon_or_session, "connect") and not hasattr(daemon_or_session, "multicast"):
            self._daemon = daemon_or_session
            self.session = daemon_or_session.connect(name)
            self._owns_session = True
        else:
            self.session = daemon_or_session
            self._owns_session = False
        self.name = name
        self.clock = clock
        self.wall_clock = wall_clock
        self.type_wait = type_wait
        self._rng = rng or random.Random()
        self._allowed = frozenset(allowed_topics) if allowed_topics is not None else None
        self._allowed_groups = frozenset(allowed_groups) if allowed_groups is not None else None
        self._default_qos = dict(default_qos or {})
        self._declared_types = dict(topic_types or {})
        self._publishers: list[Publisher] = []
        self._subs: dict[str, list[Subscription]] = {}
        self._group_handlers: dict[str, GroupCallback] = {}
        self._elections: dict[str, ActiveStandby] = {}
        self._joined: dict[str, int] = {}           # group -> reference count
        self._callbacks = Callbacks(clock)
        self._stop = threading.Event()
        self._closed = False
        self.bad_messages = 0
        self._registry = Registry(self.private_name)
        self._services = ServiceTable(self)
        self._params = ParameterStore(name)
        self._params.declare(LEVEL_PARAM, "info", description="this node's log level")
        self._params.add_on_set_callback(check_level_params)
        self._logger: NodeLogger | None = None
        self._rosout: Publisher | None = None
        self._services.add_server(PARAM_SERVICE, ParameterService, self._params.serve,
                                  announced=False)
        self._announce_enabled = announce
        self._discovery = Discovery(    # (tool: listings leave it out)
            name, self._registry, self._publishers, self._subs, self._services,
            self._elections, tool, lambda data: self.session.multicast(
                REGISTRY_GROUP, data, service=Service.AGREED, msg_type=REGISTRY_MSG_TYPE,
                priority=True))     # sent from spin_once on views: never refused (a full
                                    # send queue at start-up raised Backpressure out of spin)
        if announce:
            self._join(REGISTRY_GROUP)
            self._announce()
        if self._daemon is not None:
            local.add_node(self._daemon, self)

    # ------------------------------------------------------------------ identity

    @property
    def private_name(self) -> str:
        return str(self.session.private_name)

    @property
    def registry(self) -> Registry:
        return self._registry

    def qos_for(self, topic: str, qos: QoS | int | None) -> QoS:
        """``qos`` if given, else the launch file's default for ``topic``, else QoS(); an
        int (rclpy's depth) replaces only the depth of the latter."""
        if isinstance(qos, QoS):
            return qos
        base = self._default_qos.get(topic, QoS())
        return base if qos is None else dataclasses.replace(base, depth=qos)

    def _check_allowed(self, topic: str) -> None:
        check_topic(topic)
        if self._allowed is not None and topic not in self._allowed and topic != ROSOUT:
            raise LocalProtocolError(f"node {self.name}: topic {topic} is not declared in the "
                                     f"launch file" + did_you_mean(topic, self._allowed))

    # ------------------------------------------------------------------ topics

    def create_publisher(self, first: Any, second: Any = None, qos: Any = None, *,
                         msg_type: Any = None) -> Publisher:
        """A publisher: ``create_publisher(Odometry, "/odom", 10)`` (rclpy's order) or
        ``create_publisher("/odom", Odometry, qos)``. The type may be left out when the
        launch file or the registry declares the topic's type (``bytes``: raw)."""
        self._check_closed()
        topic, given, q = publisher_args(first, second, qos, msg_type)
        self._check_allowed(topic)
        mtype = self._resolve_type(topic, given)
        pub = Publisher(self, topic, mtype, self.qos_for(topic, q), self._rng)
        self._publishers.append(pub)
        if pub.qos.latched:
            self._join(topic_group(topic))
        for sub in self._subs.get(topic, ()):
            sub.arm(self.clock())
        self._announce()
        return pub

    def create_subscription(self, first: Any, second: Any, third: Any = None, fourth: Any = None,
                            *, qos: Any = None, msg_type: Any = None,
                            on_deadline: Callable[[str, float], Any] | None = None,
                            on_error: Callable[[TopicTypeError], Any] | None = None,
                            raw_sample: bool = False) -> Subscription:
        """Subscribe: ``create_subscription(Odometry, "/odom", cb, 10)`` (rclpy's order) or
        ``create_subscription("/odom", cb, qos, Odometry)``; ``callback(value)`` (or
        ``callback(sample)`` with raw_sample=True). The type may be left out as for
        publishers."""
        self._check_closed()
        topic, callback, q, given = subscription_args(first, second, third, fourth, msg_type)
        if qos is not None:
            if q is not None:
                raise LocalProtocolError("QoS given twice (positional and qos=)")
            q = qos_arg(qos)
        self._check_allowed(topic)
        mtype = self._resolve_type(topic, given)
        sub = Subscription(self, topic, mtype, callback, self.qos_for(topic, q),
                           self.clock(), on_deadline, on_error, raw_sample)
        self._subs.setdefault(topic, []).append(sub)
        if self._registry.publishers(topic) or any(p.topic == topic for p in self._publishers):
            sub.arm(self.clock())
        self._join(topic_group(topic))
        self._announce()
        return sub

    def _resolve_type(self, topic: str, given: type | None) -> type:
        return resolve_type(self.name, topic, given, self._declared_types, self._registry,
                            lambda: self._wait_until(self._registry.complete, self.type_wait))

    def create_timer(self, period: float, callback: Callable[[], Any]) -> Timer:
        """Call ``callback()`` every ``period`` seconds from spin (overruns skip periods)."""
        self._check_closed()
        if not isinstance(period, (int, float)) or period <= 0:
            raise LocalProtocolError(f"timer period must be > 0 seconds, got {period!r}")
        return self._callbacks.add_timer(float(period), callback)

    # ------------------------------------------------------------------ groups

    def join_group(self, group: str, callback: GroupCallback) -> None:
        """Join ``group``; ``callback(event)`` gets its DataMessages and regular GroupViews."""
        self._check_closed()
        if self._allowed_groups is not None and group not in self._allowed_groups \
                and group_topic(group) is None:
            raise LocalProtocolError(
                f"node {self.name}: group {group!r} is not declared in the launch file (groups:)"
                + did_you_mean(group, self._allowed_groups))
        if group in self._group_handlers:
            raise LocalProtocolError(f"node {self.name} already handles group {group!r}")
        self._group_handlers[group] = callback
        self._join(group)

    def leave_group(self, group: str) -> None:
        if self._group_handlers.pop(group, None) is not None:
            self._elections.pop(group, None)
            self._leave(group)

    def multicast(self, group: str, payload: bytes, service: "Service | str" = Service.AGREED,
                  msg_type: int = 0) -> None:
        """Send raw bytes to any group (not a topic envelope)."""
        self.session.multicast(group, payload, service=parse_service(service), msg_type=msg_type)

    def create_election(self, group: str, candidates: Iterable[str], *,
                        extra: Callable[[], dict[str, Any]] | None = None,
                        on_change: Callable[[str | None], Any] | None = None) -> ActiveStandby:
        """Elect one active member of ``group`` among ``candidates`` (private names, in order
        of preference) from the group's agreed views (election.py). ``on_change(active)``
        runs when the active member changes; the registry announces it (the console shows
        who leads). Candidates are required (leaders.py)."""
        election = run_election(self, group, candidates, extra, on_change)
        self._elections[group] = election
        return election

    # ------------------------------------------------------------------ services

    def create_service(self, srv_type: Any, name: str, handler: Callable[[Any], Any]) -> ServiceServer:
        """Serve ``name``: ``handler(request) -> srv_type.Response`` runs among the callbacks."""
        self._check_closed()
        return self._services.add_server(check_service_name(name), srv_type, handler)

    def create_client(self, srv_type: Any, name: str) -> Client:
        """A client of service ``name`` (``call``, ``call_async``, ``wait_for_service``)."""
        self._check_closed()
        return Client(self._services, check_service_name(name), srv_type)

    def parameter_client(self) -> Client:
        """A client of every node's built-in parameter service (``call(..., server=name)``)."""
        return Client(self._services, PARAM_SERVICE, ParameterService)

    # ------------------------------------------------------------------ parameters

    def declare_parameter(self, name: str, value: Any = None, *,
                          type: "ParameterType | type | None" = None, description: str = "",
                          read_only: bool = False) -> Parameter:
        """Declare ``name`` with a default (its type is the default's unless given)."""
        return self._params.declare(name, value, type, description, read_only)

    def has_parameter(self, name: str) -> bool:
        return self._params.has(name)

    def get_parameter(self, name: str) -> Parameter:
        return self._params.get(name)

    def get_parameters(self) -> tuple[Parameter, ...]:
        return self._params.list()

    def set_parameters(self, values: "Mapping[str, Any] | Iterable[Parameter]") -> SetParametersResult:
        """Set several parameters at once (all or nothing); ``ParameterError`` if refused."""
        if not isinstance(values, Mapping):
            values = {p.name: p.value for p in values}
        return self._params.set(values)

    def add_on_set_parameters_callback(self, callback: OnSet) -> None:
        """``callback(parameters) -> SetParametersResult | None`` may refuse a set."""
        self._params.add_on_set_callback(callback)

    @property
    def parameters(self) -> Mapping[str, Any]:
        """A live read-only mapping name -> current value."""
        return self._params.view()

    # ------------------------------------------------------------------ logging

    def get_logger(self) -> NodeLogger:
        """This node's logger: Python logging plus the ring topic ``/rosout``."""
        if self._logger is None:
            self._logger = NodeLogger(self)
        return self._logger

    def _log_level(self) -> int:
        return parse_level(self._params.get(LEVEL_PARAM).value)

    def _set_log_level(self, level: str) -> None:
        self._params.set({LEVEL_PARAM: level})

    def _publish_log(self, record: Log) -> None:
        if self._closed:
            return
        if self._rosout is None:
            self._rosout = self.create_publisher(ROSOUT, Log, QoS(service=Service.FIFO, depth=100))
        self._rosout.publish(record)

    # ------------------------------------------------------------------ spinning

    def spin(self) -> None:
        """Run callbacks until ``stop()`` (from a callback or another thread) or Ctrl-C.

        On Ctrl-C it returns, and later Ctrl-Cs are ignored while the program shuts down
        (so ``daemon.stop()`` finishes quietly; SIGTERM still ends a program that hangs).
        """
        wait = None if getattr(self.session, "can_wake", False) else IDLE_WAIT  # see stop()
        try:
            while not self._stop.is_set():
                self.spin_once(wait)
        except KeyboardInterrupt:
            self._stop.set()
            quiet_interrupts()
            log.info("node %s: interrupted, stopping", self.name)

    def stop(self) -> None:
        """Make ``spin()`` return after the current step; thread-safe (``Session.wake``)."""
        self._stop.set()
        getattr(self.session, "wake", lambda: None)()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def spin_once(self, timeout: float | None = 0.0) -> int:
        """Wait up to ``timeout`` (None: until something happens) and run what is due.

        Returns the number of callbacks run.
        """
        self._check_closed()
        now = self.clock()
        wait = timeout
        due = self._next_due()
        if due is not None:
            until = max(0.0, due - now)
            wait = until if wait is None else min(wait, until)
        if self._callbacks:
            wait = 0.0
        self._drain(wait)
        ran = self._callbacks.dispatch()
        ran += self._callbacks.run_timers(getattr(self.session, "batch", None))
        now = self.clock()
        self._services.expire(now)
        for subs in self._subs.values():
            for sub in subs:
                sub.check_deadline(now)
        return ran

    def _drain(self, wait: float | None) -> int:
        """Move what the session has (waiting up to ``wait`` for the first) into the queue."""
        ev = self.session.receive(timeout=wait)
        n = 0
        while ev is not None:
            self._ingest(ev)
            n += 1
            if n >= MAX_DRAIN:
                break
            ev = self.session.receive(timeout=0)
        return n

    def _wait_until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Read the session (queueing callbacks, running none) until ``done()`` or
        ``timeout`` seconds of real time passed; returns ``done()``."""
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                return done()
            self._drain(min(left, IDLE_WAIT))
            self._services.expire(self.clock())
        return True

    def _next_due(self) -> float | None:
        dues = [d for subs in self._subs.values() for s in subs
                if (d := s.next_deadline()) is not None]
        for d in (self._callbacks.next_timer(), self._services.next_deadline()):
            if d is not None:
                dues.append(d)
        return min(dues, default=None)

    def _queue_call(self, fn: Callable[[], Any]) -> None:
        self._callbacks.call(fn)

    def _now(self) -> float:
        return self.clock()

    # ------------------------------------------------------------------ ingest

    def _ingest(self, ev: Any) -> None:
        if isinstance(ev, DataMessage):
            if ev.msg_type == TOPIC_MSG_TYPE:
                self._ingest_topic(ev)
            elif ev.msg_type == REGISTRY_MSG_TYPE and REGISTRY_GROUP in ev.groups:
                if not self._discovery.on_announcement(ev, self.clock()):
                    self.bad_messages += 1
                return
            elif ev.msg_type == SERVICE_MSG_TYPE and self.private_name in ev.groups:
                self._services.on_message(ev.sender, ev.payload)
                return
            for g in ev.groups:
                cb = self._group_handlers.get(g)
                if cb is not None:
                    self._callbacks.push(cb, ev)
        elif isinstance(ev, GroupView):
            if ev.transitional:
                return
            if ev.group == REGISTRY_GROUP:
                self._discovery.on_view(ev)
                return
            topic = group_topic(ev.group)
            if topic is not None:
                self._on_topic_view(topic, ev)
            cb = self._group_handlers.get(ev.group)
            if cb is not None:
                self._callbacks.push(cb, ev)

    def _ingest_topic(self, ev: DataMessage) -> None:
        payload = ev.payload
        now = self.clock()
        for g in ev.groups:
            topic = group_topic(g)
            subs = self._subs.get(topic) if topic is not None else None
            if not subs:
                continue
            if isinstance(payload, Sample):
                hdr, body = payload, None
            else:
                try:
                    hdr, body = decode_envelope(bytes(payload))
                except (MalformedPacket, TypeError) as exc:
                    self.bad_messages += 1
                    log.debug("node %s: dropped bad topic message from %s: %s", self.name, ev.sender, exc)
                    return
            for sub in subs:
                if not sub.receive(ev.sender, hdr, body, now, self._callbacks.push):
                    self.bad_messages += 1

    def _on_topic_view(self, topic: str, ev: GroupView) -> None:
        me = self.private_name
        newcomers = [m for m in ev.changed if m in ev.members and m != me]
        if not newcomers:
            return
        for pub in self._publishers:
            if pub.topic == topic and pub.qos.latched and pub.last_sample is not None \
                    and pub.last_body is not None:
                s = pub.last_sample
                handover = Sample(s.fingerprint, s.publisher_id, s.seq, s.stamp, s.value, True, s.size)
                pub.handovers += 1
                self._send_sample(pub, handover, pub.last_body, urgent=True)   # from spin:
                # never refused (a Backpressure would end the program's spin loop)

    def _type_name(self, fingerprint: int) -> str:
        return self._discovery.type_name(fingerprint)

    # ------------------------------------------------------------------ sending

    def _send_sample(self, pub: Publisher, sample: Sample, body: bytes,
                     urgent: bool = False) -> None:
        data = encode_envelope(sample, body)
        self.session.multicast(topic_group(pub.topic), data, service=pub.qos.service,
                               msg_type=TOPIC_MSG_TYPE,
                               self_discard=pub.topic not in self._subs,
                               local_payload=sample, priority=urgent or pub.qos.urgent)

    def _send_private(self, target: str, data: bytes) -> None:
        self.session.send_private(target, data, service=Service.AGREED, msg_type=SERVICE_MSG_TYPE)

    # ------------------------------------------------------------------ registry

    def _announce(self) -> None:
        if self._announce_enabled and not self._closed:
            self._discovery.announce()

    def graph(self) -> dict[str, Endpoints]:
        """Endpoints announced by every node in the registry group (incl. this one)."""
        g = self._registry.graph()
        g[self.private_name] = self._discovery.endpoints()
        return g

    def registry_members(self) -> tuple[str, ...]:
        return self._registry.members

    # ------------------------------------------------------------------ statistics

    def statistics(self) -> tuple[TopicStats, ...]:
        now = self.clock()
        out = [p.statistics(now) for p in list(self._publishers)]
        out += [s.statistics(now) for subs in list(self._subs.values()) for s in list(subs)]
        return tuple(sorted(out, key=lambda t: (t.topic, t.role)))

    # ------------------------------------------------------------------ groups & teardown

    def _join(self, group: str) -> None:
        n = self._joined.get(group, 0)
        if n == 0:
            self.session.join(group)
        self._joined[group] = n + 1

    def _leave(self, group: str) -> None:
        n = self._joined.get(group, 0)
        if n <= 1:
            self._joined.pop(group, None)
            if n == 1 and not self._closed:
                self.session.leave(group)
        else:
            self._joined[group] = n - 1

    def _remove_publisher(self, pub: Publisher) -> None:
        if pub in self._publishers:
            self._publishers.remove(pub)
            if pub.qos.latched:
                self._leave(topic_group(pub.topic))
            self._announce()

    def _remove_subscription(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.topic, [])
        if sub in subs:
            subs.remove(sub)
            for e in sub.pending:
                e[2] = False
            sub.pending.clear()
            if not subs:
                del self._subs[sub.topic]
            self._leave(topic_group(sub.topic))
            self._announce()

    def _check_closed(self) -> None:
        if self._closed:
            raise LocalProtocolError(f"node {self.name} is destroyed")

    def destroy(self) -> None:
        """Close the node: its own session is closed (leaving every group)."""
        if self._closed:
            return
        self._stop.set()
        if self._daemon is not None:
            local.remove_node(self._daemon, self)
        if self._owns_session:
            self._closed = True
            self.session.close()
        else:
            for g in sorted(self._joined):
                try:
                    self.session.leave(g)
                except Exception:      # the session may already be gone
                    pass
            self._joined.clear()
            self._closed = True

    def __enter__(self) -> "Node":
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

