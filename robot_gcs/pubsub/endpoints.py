"""Publishers, subscriptions and timers: the endpoint objects a Node hands out.

What it owns: per-endpoint state and statistics. The Node (node.py) owns the session,
the event loop and dispatch; these classes only hold what belongs to one endpoint, and
reach their node through ``EndpointOwner`` (the few things they need of it), so this
module does not import node.py:

* ``Publisher``: a per-instance random id and sequence number stamped into every
  envelope (subscribers use them to drop a latched hand-over they already have), the
  last value when latched, and counters.
* ``Subscription``: taking in a topic message (type check, decoding its body into the
  subscription's type), its keep-last queue (``QoS.depth``; overflow drops the oldest
  waiting message and counts it), deadline tracking, hand-over de-duplication, type mismatch
  records, and an arrival-time window for the rate. The deadline is *armed* when a
  publisher of the topic is first seen (its first message, or its registry announcement):
  a topic nobody publishes yet is not late. The node disarms it when every publisher
  stopped on purpose (left the registry with LEAVE or DISCONNECT), not when one was lost.
* ``Timer``: a periodic callback; an overrun skips missed periods (counted) instead of
  firing a burst.

Statistics are frozen ``TopicStats`` records (read by diagnostics and ``topic hz``).
"""

from __future__ import annotations

import collections
import logging
import random
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from ..errors import GcsError, MalformedPacket
from .codec import MessageCodec, RawCodec, Sample, codec_for, new_sample, type_path
from .qos import QoS

log = logging.getLogger(__name__)

QueueEntry = list[Any]      # [owner, item, alive]: one entry of the Node's callback queue


class EndpointOwner(Protocol):
    """What a publisher or subscription needs of the Node that created it.

    ``Node`` implements it; the underscored methods are the Node's side of the endpoint's
    ``publish()`` and ``destroy()`` and are not for users.
    """

    @property
    def name(self) -> str: ...

    @property
    def clock(self) -> Callable[[], float]: ...

    @property
    def wall_clock(self) -> Callable[[], float]: ...

    def _send_sample(self, pub: "Publisher", sample: Sample, body: bytes) -> None: ...

    def _remove_publisher(self, pub: "Publisher") -> None: ...

    def _remove_subscription(self, sub: "Subscription") -> None: ...

    def _type_name(self, fingerprint: int) -> str: ...


class TopicTypeError(GcsError):
    """A subscriber's message type does not match what a publisher sends on the topic.

    Not raised into the spin loop: the message is dropped, counted in the
    subscription's statistics (``type_errors``, ``last_error``), logged once per publisher
    and passed to the subscription's ``on_error`` callback. The message names both types
    (the publisher's from the registry; "an unknown type" when it never announced it).
    Fix the deployment: both ends must use the same message class (same name, field
    names and field types).
    """

    def __init__(self, topic: str, sender: str, expected: str, expected_fp: int, got_fp: int,
                 got: str = "") -> None:
        self.topic = topic
        self.sender = sender
        self.expected = expected
        self.expected_fp = expected_fp
        self.got_fp = got_fp
        self.got = got or f"an unknown type (fingerprint {got_fp:016x})"
        super().__init__(
            f"type mismatch on {topic}: this subscriber expects {expected} but {sender} "
            f"publishes {self.got}; message dropped")


@dataclass(frozen=True, slots=True)
class TopicStats:
    """Statistics of one endpoint. Ages and rates are in seconds / Hz at ``now``."""

    topic: str
    role: str                 # "pub" or "sub"
    node: str
    msg_type: str
    service: str
    count: int                # published or received (handed to the callback)
    dropped: int              # keep-last overflow (sub only)
    type_errors: int          # sub only
    deadline_misses: int      # sub only
    last_age: float | None    # seconds since the last message (None: never)
    rate_hz: float            # over the recent arrival window
    last_error: str = ""
    bytes: int = 0            # message body bytes published / received
    deadline: float | None = None


class Publisher:
    """Publishes messages of one type on one topic. Create with ``Node.create_publisher``."""

    def __init__(self, node: EndpointOwner, topic: str, msg_type: "type | None", qos: QoS,
                 rng: random.Random) -> None:
        self.node = node
        self.topic = topic
        self.qos = qos
        self.msg_type = msg_type
        self.codec: MessageCodec | RawCodec = codec_for(msg_type)
        self.publisher_id = rng.getrandbits(32)
        self.seq = 0
        self.count = 0
        self.bytes = 0
        self.last_sample: Sample | None = None
        self.last_body: bytes | None = None
        self.handovers = 0
        self._times: collections.deque[float] = collections.deque(maxlen=64)

    def publish(self, value: Any) -> None:
        """Encode and multicast ``value`` with this publisher's QoS (never blocks long).

        Raises LocalProtocolError if ``value`` is not of the publisher's type, and
        Backpressure / SessionClosed from the session; a refused value uses no sequence
        number (a recording counts gaps in them as missed), so publishing it again is fine.
        """
        body = self.codec.encode(value)
        sample = new_sample(self.codec.fingerprint, self.publisher_id, self.seq + 1,
                        self.node.wall_clock(), value, False, len(body))
        self.node._send_sample(self, sample, body)
        self.seq += 1                  # only once sent: a refused publish leaves no gap
        self.count += 1
        self.bytes += len(body)
        self._times.append(self.node.clock())
        if self.qos.latched:
            self.last_sample = sample
            self.last_body = body

    def statistics(self, now: float) -> TopicStats:
        return TopicStats(self.topic, "pub", self.node.name, type_path(self.msg_type),
                          self.qos.service.name.lower(), self.count, 0, 0, 0,
                          (now - self._times[-1]) if self._times else None, _rate(self._times), "",
                          self.bytes, None)

    def destroy(self) -> None:
        self.node._remove_publisher(self)


class Subscription:
    """Receives one topic's messages. Create with ``Node.create_subscription``."""

    def __init__(self, node: EndpointOwner, topic: str, msg_type: "type | None", callback: Callable[[Any], Any],
                 qos: QoS, now: float, on_deadline: Callable[[str, float], Any] | None,
                 on_error: Callable[[TopicTypeError], Any] | None, raw_sample: bool) -> None:
        self.node = node
        self.topic = topic
        self.msg_type = msg_type
        self.codec: MessageCodec | RawCodec = codec_for(msg_type)
        self.callback = callback
        self.qos = qos
        self.on_deadline = on_deadline
        self.on_error = on_error
        self.raw_sample = raw_sample      # callback gets the Sample, not just the value
        self.pending: collections.deque[QueueEntry] = collections.deque()
        self.count = 0
        self.bytes = 0
        self.dropped = 0
        self.type_errors = 0
        self.deadline_misses = 0
        self.last_error = ""
        self.last_seen = now
        self.ever_seen = False
        self.armed = False                # a publisher was seen: the deadline counts
        self.deadline_flagged = False
        self._seen: dict[tuple[str, int], int] = {}   # (sender, publisher id) -> last seq
        self._reported: set[tuple[str, int]] = set()
        self._times: collections.deque[float] = collections.deque(maxlen=64)

    # -- called by the Node -------------------------------------------------------------

    def accept(self, sender: str, sample: Sample, now: float) -> bool:
        """Type check and de-duplicate; True if the sample should be queued."""
        if sample.fingerprint != self.codec.fingerprint:
            self.type_errors += 1
            err = TopicTypeError(self.topic, sender, type_path(self.msg_type),
                                 self.codec.fingerprint, sample.fingerprint,
                                 self.node._type_name(sample.fingerprint))
            self.last_error = str(err)
            key = (sender, sample.fingerprint)
            if key not in self._reported:
                self._reported.add(key)
                log.error("node %s: %s (counted in its statistics: type_errors)",
                          self.node.name, err)
            if self.on_error is not None:
                self.on_error(err)
            return False
        key2 = (sender, sample.publisher_id)
        last = self._seen.get(key2)
        if sample.handover and last is not None and sample.seq <= last:
            return False                    # a latched hand-over we already have
        if last is None or sample.seq > last:
            self._seen[key2] = sample.seq
        self.last_seen = now
        self.bytes += sample.size
        self.ever_seen = True
        self.armed = True
        self.deadline_flagged = False
        self._times.append(now)
        return True

    def receive(self, sender: str, hdr: Sample, body: Any, now: float,
                push: Callable[[Any, Sample], QueueEntry]) -> bool:
        """A topic message for this subscription: ``accept``ed, its ``body`` decoded (None:
        ``hdr`` already carries the publisher's object, same process) and queued through
        ``push``. False: the body does not decode as this subscription's type."""
        if not self.accept(sender, hdr, now):
            return True
        sample = hdr
        if body is not None:
            try:
                value = self.codec.decode(body)
            except MalformedPacket as exc:
                self.type_errors += 1
                self.last_error = f"undecodable message from {sender}: {exc}"
                return False
            sample = new_sample(hdr.fingerprint, hdr.publisher_id, hdr.seq, hdr.stamp, value,
                                hdr.handover, hdr.size)
        self.enqueue(push(self, sample))
        return True

    def enqueue(self, entry: QueueEntry) -> None:
        """Queue ``entry`` ([sub, sample, alive]); keep-last: drop the oldest when full."""
        self.pending.append(entry)
        if len(self.pending) > self.qos.depth:
            old = self.pending.popleft()
            old[2] = False
            self.dropped += 1

    def arm(self, now: float) -> None:
        """A publisher of the topic was seen: from now on silence counts."""
        if not self.armed:
            self.armed = True
            self.last_seen = now
            self.deadline_flagged = False

    def disarm(self) -> None:
        """Every publisher stopped on purpose: silence is expected."""
        self.armed = False
        self.deadline_flagged = False

    def check_deadline(self, now: float) -> None:
        dl = self.qos.deadline
        if dl is None or self.deadline_flagged or not self.armed:
            return
        silent = now - self.last_seen
        if silent > dl:
            self.deadline_flagged = True
            self.deadline_misses += 1
            log.warning("deadline missed on %s (node %s): silent for %.3f s > %.3f s",
                        self.topic, self.node.name, silent, dl)
            if self.on_deadline is not None:
                self.on_deadline(self.topic, silent)

    def next_deadline(self) -> float | None:
        if self.qos.deadline is None or self.deadline_flagged or not self.armed:
            return None
        return self.last_seen + self.qos.deadline

    def statistics(self, now: float) -> TopicStats:
        return TopicStats(self.topic, "sub", self.node.name, type_path(self.msg_type),
                          self.qos.service.name.lower(), self.count, self.dropped,
                          self.type_errors, self.deadline_misses,
                          (now - self.last_seen) if self.ever_seen else None,
                          _rate(self._times), self.last_error, self.bytes, self.qos.deadline)

    def destroy(self) -> None:
        self.node._remove_subscription(self)


class Timer:
    """A periodic callback driven by ``Node.spin``. ``cancel()`` stops it."""

    def __init__(self, period: float, callback: Callable[[], Any], now: float) -> None:
        self.period = period
        self.callback = callback
        self.next_due = now + period
        self.fired = 0
        self.overruns = 0
        self.cancelled = False
        self.last_run = 0.0         # s the callback took last time (callbacks.py batches)

    def cancel(self) -> None:
        self.cancelled = True

    def advance(self, now: float) -> None:
        self.next_due += self.period
        if self.next_due <= now:               # we fell behind: skip, never burst
            missed = int((now - self.next_due) / self.period) + 1
            self.overruns += missed
            self.next_due += missed * self.period


def _rate(times: "collections.deque[float]") -> float:
    if len(times) < 2:
        return 0.0
    span = times[-1] - times[0]
    return (len(times) - 1) / span if span > 0 else 0.0
