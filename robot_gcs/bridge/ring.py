"""The ring side of a bridge: messages of bridged topics as they cross, in both directions.

What it owns: ``RingMessage`` (one ring message on its way out: the envelope's fingerprint
and sender, and the body or the publisher's object, turned into the other lazily) and
``Inbound`` (the thread and the ring Node that publish what comes from outside).

Outbound (ring -> outside): the bridge's node joins the group of every outbound topic
(``t:/odom``) with a group handler, so it sees each message with its *sender* -- which is
what loop prevention needs (core.py) -- and its raw envelope, so the fleet bridge forwards
the body without decoding it. A message from another process is the envelope bytes; one
from a node of this process is the publisher's ``Sample`` (the daemon hands the object
over, codec.py), encoded only if the outside wants bytes.

Inbound (outside -> ring): the outside's threads (Cyclone listeners, Zenoh callbacks) only
put ``(rule index, raw item)`` on a ``queue.SimpleQueue``. One thread owns a second Node
(``bridge.<name>.in``) and its publishers: it takes items off the queue, converts them
(the outside's ``to_ring``), passes the rule's gate and publishes; between items, and at
least every ``IDLE`` seconds, it spins its node once so the node keeps up with the
registry. The queue is bounded by ``MAX_QUEUE``: beyond it items are dropped and counted
in ``overflow`` (the outside never blocks on the ring). The rules' counters belong to the
inbound thread; ``overflow`` to the outside's threads (an int bumped under the GIL).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable, Sequence

from ..errors import GcsError, MalformedPacket
from ..pubsub.codec import Sample, codec_for, decode_envelope
from ..pubsub.node import TOPIC_MSG_TYPE, Node
from .core import CameBack, Counters, Gate, Verdict
from .spec import InRule

log = logging.getLogger(__name__)

IDLE = 0.05          # longest wait of the inbound thread before it spins its node
MAX_QUEUE = 10000    # inbound items waiting for the ring


class RingMessage:
    """One message of an outbound topic: ``fingerprint``, ``sender``, and its ``value()``
    / ``body()`` made on demand (``MalformedPacket`` if the bytes do not decode)."""

    __slots__ = ("fingerprint", "sender", "_value", "_body", "_msg_type")

    def __init__(self, payload: Any, sender: str, msg_type: Any) -> None:
        self.sender = sender
        self._msg_type = msg_type
        if isinstance(payload, Sample):
            self.fingerprint = payload.fingerprint
            self._value: Any = payload.value
            self._body: bytes | None = None
        else:
            hdr, body = decode_envelope(bytes(payload))
            self.fingerprint = hdr.fingerprint
            self._value = None
            self._body = bytes(body)

    @property
    def has_body(self) -> bool:
        """True if the body bytes are at hand (the message came from another process)."""
        return self._body is not None

    def body(self) -> bytes:
        if self._body is None:
            self._body = codec_for(type(self._value)).encode(self._value)
        return self._body

    def value(self) -> Any:
        if self._value is None:
            codec = codec_for(self._msg_type)
            if self.fingerprint != codec.fingerprint:
                raise MalformedPacket("bridge_type", f"fingerprint {self.fingerprint:016x} is not "
                                      f"{getattr(self._msg_type, '__name__', self._msg_type)}")
            self._value = codec.decode(self.body())
        return self._value

    @staticmethod
    def is_topic_message(ev: Any) -> bool:
        return getattr(ev, "msg_type", None) == TOPIC_MSG_TYPE


ToRing = Callable[[int, Any], Any]      # (in-rule index, raw outside item) -> ring value


class Inbound:
    """The inbound thread and its Node. ``start()``, then ``deliver()`` from any thread."""

    def __init__(self, node_name: str, daemon: Any, rules: Sequence[InRule], to_ring: ToRing,
                 counters: Sequence[Counters], node_kwargs: dict[str, Any] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rules = tuple(rules)
        self.gates = [Gate(r.rate) for r in rules]
        self.counters = counters
        self.overflow = 0
        self._to_ring = to_ring
        self._clock = clock
        self._q: "queue.SimpleQueue[tuple[int, Any]]" = queue.SimpleQueue()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._name = node_name
        self._daemon = daemon
        self._node_kwargs = dict(node_kwargs or {})
        self.node: Node | None = None
        self._thread = threading.Thread(target=self._main, name=f"{node_name}", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        """Start the thread; returns once its node and publishers exist (re-raises their
        creation error)."""
        self._thread.start()
        self._ready.wait(timeout)
        if self._error is not None:
            raise self._error

    @property
    def thread_id(self) -> int | None:
        """The inbound thread's native id (for CPU accounting)."""
        return self._thread.native_id

    def deliver(self, index: int, item: Any) -> None:
        """Hand one outside item to the ring (any thread; never blocks)."""
        if self._q.qsize() >= MAX_QUEUE:
            self.overflow += 1             # the outside's threads' only counter
            return
        self._q.put((index, item))

    def _main(self) -> None:
        try:
            node = Node(self._name, self._daemon, **self._node_kwargs)
            pubs = [node.create_publisher(r.topic, r.msg_type, r.ring_qos) for r in self.rules]
        except BaseException as exc:       # handed to start()'s caller
            self._error = exc
            self._ready.set()
            return
        self.node = node
        self._ready.set()
        try:
            while not self._stop.is_set():
                try:
                    index, item = self._q.get(timeout=IDLE)
                except queue.Empty:
                    node.spin_once(0)
                    continue
                self._forward(pubs, index, item)
                n = 0
                while n < 1000:
                    try:
                        index, item = self._q.get_nowait()
                    except queue.Empty:
                        break
                    self._forward(pubs, index, item)
                    n += 1
                node.spin_once(0)
        finally:
            node.destroy()

    def _forward(self, pubs: list[Any], index: int, item: Any) -> None:
        if index < 0:               # stop() wakes the thread
            return
        c = self.counters[index]
        now = self._clock()
        verdict = self.gates[index].admit(now)
        if verdict is not Verdict.PASS:
            c.dropped(verdict)
            return
        try:
            value = self._to_ring(index, item)
            pub = pubs[index]
            before = pub.bytes
            pub.publish(value)
        except CameBack:
            c.dropped(Verdict.LOOP)
            return
        except (GcsError, ValueError, TypeError, AttributeError) as exc:
            c.failed(f"{type(exc).__name__}: {exc}")
            log.debug("bridge %s: dropped an inbound message for %s: %s", self._name,
                      self.rules[index].topic, exc)
            return
        c.sent(pub.bytes - before, now)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._q.put((-1, None))
        if self._thread.is_alive():
            self._thread.join(timeout)
