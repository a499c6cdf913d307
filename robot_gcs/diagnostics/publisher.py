"""Publishing a daemon's health on the diagnostics group, and listening to everyone's.

Owns ``HealthPublisher`` (one per daemon, in the daemon's process), the per-daemon
registry behind ``health_of(daemon)`` (what ``Daemon.health()`` returns) and the topic
source registry (``register_topic_source``, for topic statistics that do not come from a
Node: every Node made on a daemon is found by itself through pubsub/local.py). The registries are weak side tables keyed
by daemon object (many daemons per process work; a stopped daemon's entries vanish with
it), so no daemon class has to know about diagnostics beyond calling ``health_of``. A
daemon is reached only through its public surface, typed as ``WatchedDaemon``
(watched.py): ``name``, ``config``, ``statistics()`` and ``connect()``.

How it works:

* The publisher opens ONE in-process session on its daemon (client name ``diag``, so its
  private name is ``#diag#<daemon>``), joins ``DIAG_GROUP`` and runs one thread. The thread
  blocks in ``session.receive(timeout)`` until the next sample is due (no sleeping):
  group views tell it who listens, snapshots from other daemons go to its collector.
* Every ``sample_period`` it reads ``daemon.statistics()`` into a ``StatsSampler`` (the
  rotation-time window and the counter rates need regular samples). Every ``period`` it
  multicasts the snapshot to ``DIAG_GROUP`` -- but only while a listener (a member of
  the group that is not a publisher, i.e. a console) is in the group's view. An idle ring
  without a console gets no diagnostics traffic at all; a console adds one message per
  daemon per period, sent at wall-clock multiples of the period so all daemons'
  snapshots share token rotations (tests/diagnostics/test_monitor_load.py measures the
  cost). A new listener gets a snapshot from every daemon at once, so a console is
  complete within one round trip; a change of the group's view (a daemon came or went)
  also makes every publisher send at once, so consoles show the new ring without waiting
  for the next period.
* ``close()`` closes the session, which wakes the thread; the thread is joined.
* The publisher is also the daemon's presence on this machine: ``start()`` writes its
  record in the local daemons' directory (rundir.py) when the daemon serves socket
  sessions, ``close()`` removes it, so command-line tools find the ring unasked.
* Nothing here raises into the daemon: malformed snapshots are counted by the collector,
  a failing ``statistics()`` is logged and retried next period.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import weakref
from typing import Callable, Iterable

from ..client.session import Session
from ..core.events import DataMessage, GroupView
from ..core.types import Service
from ..errors import Backpressure, GcsError, SessionClosed
from ..pubsub import TopicStats
from ..pubsub.local import topic_statistics as local_topic_statistics
from .bridges import bridge_records
from .collector import DIAG_GROUP, MSG_TYPE, PUBLISHER_CLIENT, HealthCollector, encode_snapshot
from .health import StatsSampler
from .model import ClusterHealth, DaemonHealth
from .rules import RuleSet, load_rules
from .rundir import advertise, withdraw
from .topics import topic_records
from .watched import WatchedDaemon

log = logging.getLogger(__name__)

TopicSource = Callable[[], Iterable[TopicStats]]

_topic_sources: "weakref.WeakKeyDictionary[WatchedDaemon, list[TopicSource]]" = \
    weakref.WeakKeyDictionary()
_publishers: "weakref.WeakKeyDictionary[WatchedDaemon, HealthPublisher]" = \
    weakref.WeakKeyDictionary()
_samplers: "weakref.WeakKeyDictionary[WatchedDaemon, StatsSampler]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()
_failed_sources: set[int] = set()


def register_topic_source(daemon: WatchedDaemon, source: TopicSource) -> None:
    """Let ``source()`` (e.g. a Node's ``statistics``) feed per-topic health of ``daemon``."""
    with _lock:
        _topic_sources.setdefault(daemon, []).append(source)


def unregister_topic_source(daemon: WatchedDaemon, source: TopicSource) -> None:
    with _lock:
        sources = _topic_sources.get(daemon, [])
        if source in sources:
            sources.remove(source)


def _topics_of(daemon: WatchedDaemon) -> list[TopicStats]:
    """Every Node on ``daemon`` in this process (pubsub/local.py), plus registered sources."""
    with _lock:
        sources = list(_topic_sources.get(daemon, ()))
    out: list[TopicStats] = local_topic_statistics(daemon)
    for src in sources:
        try:
            out.extend(src())
        except Exception:  # a broken or racing source must not break health
            key = id(src)
            if key not in _failed_sources:
                _failed_sources.add(key)
                log.exception("topic statistics source %r failed (logged once)", src)
    return out


def sample_daemon(daemon: WatchedDaemon, sampler: StatsSampler, now: float,
                  wall: float) -> DaemonHealth:
    """One snapshot of ``daemon``: its statistics, its topics, names from its config."""
    health = sampler.sample(daemon.statistics(), now, wall, topic_records(_topics_of(daemon)),
                            node_names=daemon.config.names())
    bridges = bridge_records(daemon, now)          # bridges on this daemon (bridges.py)
    return dataclasses.replace(health, bridges=bridges) if bridges else health


def health_of(daemon: WatchedDaemon, rules: RuleSet | None = None) -> ClusterHealth:
    """The health model as seen from ``daemon`` (``Daemon.health()``).

    With a running publisher this is the whole ring (every daemon's last snapshot seen
    while a console listened, plus this daemon's fresh one); without, this daemon alone.
    """
    now, wall = time.monotonic(), time.time()
    with _lock:
        pub = _publishers.get(daemon)
        sampler = _samplers.get(daemon)
        if sampler is None:
            sampler = _samplers[daemon] = StatsSampler()
    if pub is not None:
        return pub.cluster()
    collector = HealthCollector(rules or load_rules(), source=daemon.name)
    collector.add(sample_daemon(daemon, sampler, now, wall), now)
    return collector.cluster(now, wall)


def ensure_publisher(daemon: WatchedDaemon, period: float = 1.0) -> "HealthPublisher":
    """The daemon's running publisher, started if it has none (one per daemon)."""
    with _lock:
        pub = _publishers.get(daemon)
    return pub if pub is not None else HealthPublisher(daemon, period).start()


class HealthPublisher:
    """Samples one daemon, publishes its snapshots while consoles listen, collects others'."""

    def __init__(self, daemon: WatchedDaemon, period: float = 1.0, sample_period: float = 0.25,
                 rules: RuleSet | None = None) -> None:
        self.daemon = daemon
        self.period = period
        self.sample_period = min(sample_period, period)
        self.name = daemon.name
        self.collector = HealthCollector(rules or load_rules(), source=self.name)
        self.sampler = StatsSampler()
        self.published = 0               # snapshots this publisher sent
        self.received = 0                # snapshots it received from other daemons
        self.listeners: tuple[str, ...] = ()
        self._cv = threading.Lock()
        self._session: Session | None = None
        self._thread: threading.Thread | None = None
        self._closing = False
        self._latest: DaemonHealth | None = None
        self._arrived_local = 0.0
        self._next_publish = 0.0
        self._record: str | None = None

    def start(self) -> "HealthPublisher":
        self._session = self.daemon.connect(PUBLISHER_CLIENT, reads_ring=False)
        self._session.join(DIAG_GROUP)
        address = self.daemon.client_address
        if address:
            cfg = self.daemon.config
            self._record = advertise(cfg.ring.name, cfg.path, self.name, address)
        with _lock:
            _publishers[self.daemon] = self
        self._thread = threading.Thread(target=self._run, name=f"health-{self.name}",
                                        daemon=True)
        self._thread.start()
        return self

    def close(self, timeout: float = 2.0) -> None:
        self._closing = True
        withdraw(self._record)
        self._record = None
        with _lock:
            if _publishers.get(self.daemon) is self:
                del _publishers[self.daemon]
        if self._session is not None:
            try:
                self._session.close()
            except GcsError:
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def cluster(self) -> ClusterHealth:
        """The graded model of every daemon this publisher has heard (thread-safe)."""
        now, wall = time.monotonic(), time.time()
        with self._cv:
            self._sample(now, wall)          # this daemon: always fresh
            return self.collector.cluster(now, wall)

    # ------------------------------------------------------------ the thread
    def _to_boundary(self, wall: float) -> float:
        """Seconds to the next multiple of ``period`` on the wall clock.

        Every daemon publishes at the same instants (clocks of one robot agree to a few
        ms), so their snapshots share token rotations: an idle ring holds its token after
        a run of quiet rotations, and one burst per period costs far fewer rotations than
        N bursts spread over it.
        """
        left = self.period - (wall % self.period)
        return left if left > self.sample_period / 2 else left + self.period

    def _sample(self, now: float, wall: float) -> DaemonHealth | None:
        try:
            h = sample_daemon(self.daemon, self.sampler, now, wall)
        except GcsError as exc:          # e.g. the daemon thread did not answer in time
            log.warning("no health sample of %s: %s", self.name, exc)
            return None
        except Exception:
            log.exception("statistics() of %s failed", self.name)
            return None
        self._latest, self._arrived_local = h, now
        self.collector.add(h, now)
        return h

    def _publish(self, h: DaemonHealth) -> None:
        assert self._session is not None          # start() opened it before the thread ran
        self._next_publish = time.monotonic() + self._to_boundary(time.time())
        try:
            self._session.multicast(DIAG_GROUP, encode_snapshot(h), service=Service.FIFO,
                                    msg_type=MSG_TYPE, self_discard=True)
            self.published += 1
        except Backpressure:
            log.debug("diagnostics snapshot skipped: send queue full")

    def _run(self) -> None:
        assert self._session is not None          # start() opened it before the thread ran
        next_sample = time.monotonic()
        try:
            while not self._closing:
                now = time.monotonic()
                due = bool(self.listeners) and now >= self._next_publish
                if now >= next_sample or due:
                    with self._cv:
                        h = self._sample(now, time.time())
                    next_sample = now + (self.sample_period if self.listeners else self.period)
                    if h is not None and due:
                        self._publish(h)
                wake = min(next_sample, self._next_publish) if self.listeners else next_sample
                ev = self._session.receive(timeout=max(0.0, wake - time.monotonic()))
                if ev is not None:
                    self._on_event(ev)
        except SessionClosed:
            pass
        except Exception:
            log.exception("health publisher of %s stopped", self.name)

    def _on_event(self, ev: DataMessage | GroupView) -> None:
        if isinstance(ev, GroupView) and ev.group == DIAG_GROUP:
            with self._cv:
                self.collector.on_view(ev.members, ev.changed, ev.cause.name, time.time(),
                                       ev.transitional)
            if ev.transitional:
                return
            self.listeners = self.collector.listeners(ev.members)
            if self.listeners:
                # a console arrived, or a daemon's publisher came or went (a membership
                # change): every console wants fresh snapshots now, not next period
                self._publish_now()
        elif isinstance(ev, DataMessage) and ev.msg_type == MSG_TYPE:
            self.received += 1
            with self._cv:
                self.collector.receive(ev.payload, time.monotonic())

    def _publish_now(self) -> None:
        now = time.monotonic()
        with self._cv:
            h = self._sample(now, time.time())
        if h is not None:
            self._publish(h)
