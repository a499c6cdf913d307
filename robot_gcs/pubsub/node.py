"""Node: topics, timers and group handlers on one Session, with an rclpy-like spin loop.

What it owns: one Session (its own, from ``daemon.connect(name)``, or one it was given),
the node's publishers, subscriptions, timers and group handlers, and the order in which
their callbacks run.

Rules:

* A topic is carried by one process group (``qos.topic_group``: ``/odom`` -> ``t:/odom``).
  A subscription joins the group; a publisher only sends to it (groups are open) unless it
  is latched, then it joins too so it sees the views that announce late joiners.
* Callbacks run in ``spin``/``spin_once`` on the calling thread, in the order the session
  delivered the events (the total order, for AGREED/SAFE). Each spin step first drains
  every event the session has ready into the node's queue, then runs callbacks: with
  ``depth=1`` a slow callback sees only the newest sample, older ones are dropped and
  counted -- never a stall. Keep-last dropping removes entries from the middle of the
  node queue, so the callbacks that do run keep their relative order across topics (an
  e-stop is seen at the same place among the commands by every node).
* Group handlers (``join_group``) get every DataMessage and regular GroupView of their
  group through the same queue, never dropped: use them for decisions that must follow
  the agreed order (leader election).
* Latched publishers re-send their last value (flagged HANDOVER) when a regular view of
  their topic group shows new members; subscribers drop a hand-over whose (publisher id,
  seq) they already saw.
* Type mismatches and bad envelopes from the network are counted and dropped, never raised
  out of spin (see ``TopicTypeError``). Exceptions raised by user callbacks propagate out
  of spin: the launch runtime applies the component's restart policy.
* Discovery: every node joins ``t:#registry`` and announces its endpoints (JSON, AGREED)
  when it creates one and whenever that group's view shows new members. ``Node.graph()``
  is what ``robot-gcs topic list`` prints.

Threads: one thread spins a node; publish from that thread (its callbacks and timers).
Only ``stop()`` may be called from another thread.

Time comes from ``clock`` (default ``time.monotonic``) for timers, deadlines and rates,
and ``wall_clock`` (``time.time``) for the envelope stamp, so tests can drive both.
"""

from __future__ import annotations

import collections
import heapq
import json
import logging
import random
import threading
import time
from typing import Any, Callable, Iterable

from ..core.events import DataMessage, GroupView
from ..core.types import Service
from ..errors import LocalProtocolError, MalformedPacket
from .codec import Sample, decode_envelope, encode_envelope, type_path
from .endpoints import (Publisher, QueueEntry, Subscription, Timer, TopicStats,
                        TopicTypeError)
from .qos import QoS, check_topic, group_topic, parse_service, topic_group

log = logging.getLogger(__name__)

TOPIC_MSG_TYPE = 84        # DataMessage.msg_type of topic envelopes
REGISTRY_MSG_TYPE = 85     # DataMessage.msg_type of registry announcements
REGISTRY_GROUP = "t:#registry"
MAX_DRAIN = 1000           # events moved from the session per spin step
IDLE_WAIT = 0.1            # longest single wait in spin(), so stop() is seen promptly

GroupCallback = Callable[[Any], Any]


class Node:
    """A named participant: ``Node("planner", daemon)`` or ``Node("planner", session)``."""

    def __init__(self, name: str, daemon_or_session: Any, *, announce: bool = True,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None,
                 allowed_topics: "Iterable[str] | None" = None,
                 allowed_groups: "Iterable[str] | None" = None,
                 default_qos: "dict[str, QoS] | None" = None) -> None:
        if hasattr(daemon_or_session, "connect") and not hasattr(daemon_or_session, "multicast"):
            self.session = daemon_or_session.connect(name)
            self._owns_session = True
        else:
            self.session = daemon_or_session
            self._owns_session = False
        self.name = name
        self.clock = clock
        self.wall_clock = wall_clock
        self._rng = rng or random.Random()
        self._allowed = frozenset(allowed_topics) if allowed_topics is not None else None
        self._allowed_groups = frozenset(allowed_groups) if allowed_groups is not None else None
        self._default_qos = dict(default_qos or {})
        self._publishers: list[Publisher] = []
        self._subs: dict[str, list[Subscription]] = {}
        self._group_handlers: dict[str, GroupCallback] = {}
        self._joined: dict[str, int] = {}           # group -> reference count
        self._timers: list[tuple[float, int, Timer]] = []
        self._timer_ids = 0
        self._queue: collections.deque[QueueEntry] = collections.deque()   # [owner, item, alive]
        self._stop = threading.Event()
        self._closed = False
        self.bad_messages = 0
        self._graph: dict[str, dict[str, Any]] = {}
        self._registry_members: tuple[str, ...] = ()
        self._announce = announce
        if announce:
            self._join(REGISTRY_GROUP)

    # ------------------------------------------------------------------ endpoints

    @property
    def private_name(self) -> str:
        return str(self.session.private_name)

    def qos_for(self, topic: str, qos: QoS | None) -> QoS:
        """``qos`` if given, else the launch file's default for ``topic``, else QoS()."""
        if qos is not None:
            return qos
        return self._default_qos.get(topic, QoS())

    def _check_allowed(self, topic: str) -> None:
        check_topic(topic)
        if self._allowed is not None and topic not in self._allowed:
            raise LocalProtocolError(
                f"node {self.name}: topic {topic} is not declared in the launch file")

    def create_publisher(self, topic: str, msg_type: "type | None" = None,
                         qos: QoS | None = None) -> Publisher:
        """A publisher of ``msg_type`` messages (a dataclass, or None/bytes for raw)."""
        self._check_closed()
        self._check_allowed(topic)
        pub = Publisher(self, topic, msg_type, self.qos_for(topic, qos), self._rng)
        self._publishers.append(pub)
        if pub.qos.latched:
            self._join(topic_group(topic))
        self._send_announcement()
        return pub

    def create_subscription(self, topic: str, callback: Callable[[Any], Any],
                            qos: QoS | None = None, msg_type: "type | None" = None, *,
                            on_deadline: Callable[[str, float], Any] | None = None,
                            on_error: Callable[[TopicTypeError], Any] | None = None,
                            raw_sample: bool = False) -> Subscription:
        """Subscribe ``callback(value)`` (or ``callback(sample)`` with raw_sample=True)."""
        self._check_closed()
        self._check_allowed(topic)
        sub = Subscription(self, topic, msg_type, callback, self.qos_for(topic, qos),
                           self.clock(), on_deadline, on_error, raw_sample)
        self._subs.setdefault(topic, []).append(sub)
        self._join(topic_group(topic))
        self._send_announcement()
        return sub

    def create_timer(self, period: float, callback: Callable[[], Any]) -> Timer:
        """Call ``callback()`` every ``period`` seconds from spin (overruns skip periods)."""
        self._check_closed()
        if not isinstance(period, (int, float)) or period <= 0:
            raise LocalProtocolError(f"timer period must be > 0 seconds, got {period!r}")
        t = Timer(float(period), callback, self.clock())
        self._timer_ids += 1
        heapq.heappush(self._timers, (t.next_due, self._timer_ids, t))
        return t

    def join_group(self, group: str, callback: GroupCallback) -> None:
        """Join ``group``; ``callback(event)`` gets its DataMessages and regular GroupViews."""
        self._check_closed()
        if self._allowed_groups is not None and group not in self._allowed_groups \
                and group_topic(group) is None:
            raise LocalProtocolError(
                f"node {self.name}: group {group!r} is not declared in the launch file (groups:)")
        if group in self._group_handlers:
            raise LocalProtocolError(f"node {self.name} already handles group {group!r}")
        self._group_handlers[group] = callback
        self._join(group)

    def leave_group(self, group: str) -> None:
        if self._group_handlers.pop(group, None) is not None:
            self._leave(group)

    def multicast(self, group: str, payload: bytes, service: "Service | str" = Service.AGREED,
                  msg_type: int = 0) -> None:
        """Send raw bytes to any group (not a topic envelope)."""
        self.session.multicast(group, payload, service=parse_service(service), msg_type=msg_type)

    # ------------------------------------------------------------------ spinning

    def spin(self) -> None:
        """Run callbacks until ``stop()`` is called (from a callback or another thread)."""
        while not self._stop.is_set():
            self.spin_once(IDLE_WAIT)

    def stop(self) -> None:
        """Make ``spin()`` return after the current step. Thread-safe."""
        self._stop.set()

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
        if self._queue:
            wait = 0.0
        ev = self.session.receive(timeout=wait)
        n = 0
        while ev is not None:
            self._ingest(ev)
            n += 1
            if n >= MAX_DRAIN:
                break
            ev = self.session.receive(timeout=0)
        ran = self._dispatch()
        ran += self._run_timers()
        now = self.clock()
        for subs in self._subs.values():
            for sub in subs:
                sub.check_deadline(now)
        return ran

    def _next_due(self) -> float | None:
        due: float | None = None
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        if self._timers:
            due = self._timers[0][0]
        for subs in self._subs.values():
            for sub in subs:
                d = sub.next_deadline()
                if d is not None and (due is None or d < due):
                    due = d
        return due

    def _run_timers(self) -> int:
        ran = 0
        now = self.clock()
        while self._timers and self._timers[0][0] <= now:
            _, tid, t = heapq.heappop(self._timers)
            if t.cancelled:
                continue
            t.fired += 1
            t.advance(now)
            heapq.heappush(self._timers, (t.next_due, tid, t))
            t.callback()
            ran += 1
        return ran

    def _dispatch(self) -> int:
        ran = 0
        q = self._queue
        while q:
            owner, item, alive = q.popleft()
            if not alive:
                continue
            if isinstance(owner, Subscription):
                owner.pending.popleft()
                owner.count += 1
                owner.callback(item if owner.raw_sample else item.value)
            else:
                owner(item)
            ran += 1
        return ran

    # ------------------------------------------------------------------ ingest

    def _ingest(self, ev: Any) -> None:
        if isinstance(ev, DataMessage):
            if ev.msg_type == TOPIC_MSG_TYPE:
                self._ingest_topic(ev)
            elif ev.msg_type == REGISTRY_MSG_TYPE and REGISTRY_GROUP in ev.groups:
                self._ingest_announcement(ev)
                return
            for g in ev.groups:
                cb = self._group_handlers.get(g)
                if cb is not None:
                    self._queue.append([cb, ev, True])
        elif isinstance(ev, GroupView):
            if ev.transitional:
                return
            if ev.group == REGISTRY_GROUP:
                self._on_registry_view(ev)
                return
            topic = group_topic(ev.group)
            if topic is not None:
                self._on_topic_view(topic, ev)
            cb = self._group_handlers.get(ev.group)
            if cb is not None:
                self._queue.append([cb, ev, True])

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
                if not sub.accept(ev.sender, hdr, now):
                    continue
                sample = hdr
                if body is not None:
                    try:
                        value = sub.codec.decode(body)
                    except MalformedPacket as exc:
                        sub.type_errors += 1
                        sub.last_error = f"undecodable message from {ev.sender}: {exc}"
                        self.bad_messages += 1
                        continue
                    sample = Sample(hdr.fingerprint, hdr.publisher_id, hdr.seq, hdr.stamp,
                                    value, hdr.handover, hdr.size)
                entry = [sub, sample, True]
                self._queue.append(entry)
                sub.enqueue(entry)

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
                self._send_sample(pub, handover, pub.last_body)

    # ------------------------------------------------------------------ sending

    def _send_sample(self, pub: Publisher, sample: Sample, body: bytes) -> None:
        data = encode_envelope(sample, body)
        self.session.multicast(topic_group(pub.topic), data, service=pub.qos.service,
                               msg_type=TOPIC_MSG_TYPE,
                               self_discard=pub.topic not in self._subs,
                               local_payload=sample, priority=pub.qos.urgent)

    # ------------------------------------------------------------------ registry

    def _endpoints(self) -> dict[str, Any]:
        return {
            "node": self.name,
            "pubs": [[p.topic, type_path(p.msg_type), f"{p.codec.fingerprint:016x}",
                      p.qos.service.name.lower()] for p in self._publishers],
            "subs": [[s.topic, type_path(s.msg_type), f"{s.codec.fingerprint:016x}",
                      s.qos.service.name.lower()] for subs in self._subs.values() for s in subs],
        }

    def _send_announcement(self) -> None:
        if not self._announce:
            return
        data = json.dumps(self._endpoints(), sort_keys=True).encode()
        self.session.multicast(REGISTRY_GROUP, data, service=Service.AGREED,
                               msg_type=REGISTRY_MSG_TYPE)

    def _on_registry_view(self, ev: GroupView) -> None:
        self._registry_members = ev.members
        for gone in [m for m in self._graph if m not in ev.members]:
            del self._graph[gone]
        if [m for m in ev.changed if m in ev.members and m != self.private_name]:
            self._send_announcement()

    def _ingest_announcement(self, ev: DataMessage) -> None:
        try:
            info = json.loads(bytes(ev.payload))
            if not isinstance(info, dict):
                raise ValueError("not an object")
        except (ValueError, TypeError):
            self.bad_messages += 1
            return
        if self._registry_members and ev.sender not in self._registry_members:
            return
        self._graph[ev.sender] = info

    def graph(self) -> dict[str, dict[str, Any]]:
        """Endpoints announced by every node in the registry group (incl. this one)."""
        g = dict(self._graph)
        g[self.private_name] = self._endpoints()
        return g

    def registry_members(self) -> tuple[str, ...]:
        return self._registry_members

    # ------------------------------------------------------------------ statistics

    def statistics(self) -> tuple[TopicStats, ...]:
        now = self.clock()
        out = [p.statistics(now) for p in self._publishers]
        out += [s.statistics(now) for subs in self._subs.values() for s in subs]
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

    def _check_closed(self) -> None:
        if self._closed:
            raise LocalProtocolError(f"node {self.name} is destroyed")

    def destroy(self) -> None:
        """Close the node: its own session is closed (leaving every group)."""
        if self._closed:
            return
        self._stop.set()
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
