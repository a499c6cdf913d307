"""Playing a recording back into a ring: the recorded topic messages, in recorded order.

What it owns: ``Player``, the publishers it creates on its Node (one per played topic
and type) and the pacing. The thread that calls ``play`` owns it and the Node.

Rules:

* Messages are published in file order -- the agreed order of the recording -- from one
  Node, so every subscriber of the ring gets them in that order (one sender's messages
  keep their order in every service; a single player never interleaves differently).
* Timing: message i is due at ``start + (log_time_i - log_time_0) / rate``, the recorded
  delivery times scaled; ``rate=0`` publishes as fast as the ring takes them. Waiting
  spins the Node (its session stays drained), it never sleeps blind. When the daemon
  pushes back (``Backpressure``) the player spins briefly and tries again: nothing is
  skipped.
* Each topic is published with the type the recording names (its channel metadata; it
  must import here) and the service it was recorded with, unless ``service`` says
  otherwise. Messages recorded raw before their type was announced are decoded with the
  type a later channel of the same topic and fingerprint names (bag.channel_types);
  without one they are skipped and counted. Raw topics (``bytes``) are played as bytes.
* ``select`` filters topics (selection.py), ``remap`` renames them (``/a`` -> ``/b``).
* ``loops`` plays the recording that many times (0: until stopped).
* Before ``play`` returns, every message it published is in the ring's order: it sends a
  marker to its own private name (AGREED, ``SETTLE_MSG_TYPE``) and spins until the
  marker comes back. A daemon takes one client's frames in order, so the marker is
  ordered after all of them; closing the session earlier could leave the last messages
  unread in the daemon's socket buffer when it sees the client go. An ``ObservedSession``
  (tee.py) under the Node spots the marker.
Errors: a type path that does not import is a ``BagError`` naming the topic.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from ..cli.tools import ToolError, load_type, publish_waiting
from ..core.events import DataMessage
from ..pubsub.codec import codec_for
from ..pubsub.endpoints import Publisher
from ..pubsub.node import Node
from ..pubsub.qos import QoS, parse_service
from .bag import BagRecord, channel_types, read_bag
from .schema import ORDER_KEY, BagError, json_form
from .selection import Selection
from .tee import ObservedSession


SETTLE_MSG_TYPE = 0x504C      # DataMessage.msg_type of the player's own settle marker
SETTLE_WAIT = 60.0            # seconds to wait for it (then play returns, unsettled)
PUBLISH_WAIT = 3600.0         # a player waits this long for room in the daemon's queue


@dataclass(frozen=True, slots=True)
class PlayStats:
    published: int
    skipped: int              # records of channels that cannot be played (unknown type)
    loops: int
    settled: bool = True      # every published message was seen in the order


class Player:
    """Publishes one recording through one Node (see the module doc)."""

    def __init__(self, node: Node, paths: list[str], *, rate: float = 1.0,
                 select: Selection | None = None, remap: Mapping[str, str] | None = None,
                 service: str | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        if rate < 0:
            raise BagError(f"rate must be >= 0 (0: as fast as possible), got {rate}")
        self.node = node
        self.paths = paths
        self.rate = rate
        self.select = select or Selection()
        self.remap = dict(remap or {})
        self.service = parse_service(service) if service else None
        self.clock = clock
        self._pubs: dict[tuple[str, str], tuple[Publisher, Callable[[Any], Any]]] = {}
        self._late_types = channel_types(paths)
        self.published = 0
        self.skipped = 0
        self.loops = 0
        self.settled = False
        self._stop = False
        self._markers_back = 0
        node.session = ObservedSession(node.session, self._observe)

    def stop(self) -> None:
        self._stop = True

    def statistics(self) -> PlayStats:
        return PlayStats(self.published, self.skipped, self.loops, self.settled)

    def play(self, loops: int = 1) -> PlayStats:
        while not self._stop and (loops == 0 or self.loops < loops):
            self._play_once()
            self.loops += 1
        self.settle()
        return self.statistics()

    def settle(self, timeout: float = SETTLE_WAIT) -> bool:
        """Wait until everything published so far is in the order (see the module doc)."""
        want = self._markers_back + 1
        me = self.node.session.private_name
        # waits for room in the daemon's queue (Backpressure only after ``timeout``)
        self.node.session.multicast(me, b"settle", msg_type=SETTLE_MSG_TYPE, timeout=timeout)
        deadline = self.clock() + timeout
        while self._markers_back < want and self.clock() < deadline:
            self.node.spin_once(0.05)
        self.settled = self._markers_back >= want
        return self.settled

    def _observe(self, ev: Any) -> None:
        if type(ev) is DataMessage and ev.msg_type == SETTLE_MSG_TYPE:
            self._markers_back += 1

    def _records(self) -> Iterable[BagRecord]:
        for r in read_bag(self.paths):
            if r.kind == "topic" and self.select.takes(r.topic):
                yield r

    def _play_once(self) -> None:
        start = self.clock()
        t0: int | None = None
        for r in self._records():
            if self._stop:
                return
            entry = self._publisher(r)
            if entry is None:
                self.skipped += 1
                continue
            pub, from_json = entry
            doc = r.doc()
            doc.pop(ORDER_KEY, None)
            value = from_json(doc)
            if t0 is None:
                t0 = r.log_time
            if self.rate > 0:
                due = start + (r.log_time - t0) / 1e9 / self.rate
                while (left := due - self.clock()) > 0:
                    self.node.spin_once(left)
            self._publish(pub, value)

    def _publish(self, pub: Publisher, value: Any) -> None:
        publish_waiting(self.node, pub, value, PUBLISH_WAIT)
        self.published += 1

    def _publisher(self, r: BagRecord) -> tuple[Publisher, Callable[[Any], Any]] | None:
        key = (r.topic, r.type_path or r.meta.get("fingerprint", ""))
        if key in self._pubs:
            return self._pubs[key]
        path = r.type_path or self._late_types.get((r.topic, r.meta.get("fingerprint", "")), "")
        if not path:
            return None
        try:
            cls = None if path == "bytes" else load_type(path)
        except ToolError as exc:
            raise BagError(f"cannot play {r.topic}: {exc} (run where its message types "
                           "import, or leave the topic out)") from None
        service = self.service or parse_service(r.meta.get("service", "agreed") or "agreed")
        topic = self.remap.get(r.topic, r.topic)
        base = self.node.qos_for(topic, None)
        pub = self.node.create_publisher(topic, cls if cls is not None else bytes,
                                         QoS(service=service, depth=base.depth))
        from_json = json_form(cls).from_json
        if not r.type_path:                      # recorded raw: the body's own encoding
            decode = codec_for(cls).decode
            raw = json_form(None).from_json
            from_json = lambda doc: decode(raw(doc))      # noqa: E731
        entry = (pub, from_json)
        self._pubs[key] = entry
        return entry
