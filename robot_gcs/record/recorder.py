"""The recorder: a tool Node's event stream written to MCAP in the agreed order.

What it owns: one recording -- the groups it is in, the channel of each (topic, type),
the agreed-position tracker (order.py), per-publisher sequence checks and the BagWriter
(writer.py). The thread that spins the recorder's Node owns all of it (the observer runs
inside the Node's ``receive``); ``statistics()`` returns a frozen copy for others.

How it works:

* ``Recorder(node, selection, writer)`` puts an ``ObservedSession`` (tee.py) under the
  Node, so every event reaches ``_observe`` in delivery order, views and transitional
  signals included. It joins the selected groups straight on the session (the Node has
  no handler for them and ignores their traffic) and the diagnostics group, whose view
  lists one ``#diag#<daemon>`` member per daemon of the ring: that is the ring membership.
* ``tick()`` (from the spin loop, about every 0.1 s) joins topics that patterns or
  ``--all`` now match in the registry, and lets the writer flush or split.
* A topic message becomes one record on the channel of (topic, message type): the
  message as JSON (schema.py) plus the reserved key ``_gcs``::

      "_gcs": {"view": [ring rep, ring seq, view index], "n": N, "from": "#pub#cpu2",
               "pub": [publisher id, publisher seq], "handover": true (latched re-send only)}

  ``view`` and ``n`` are the agreed position (order.py): the same message has the same
  pair in every recording of the ring. ``log_time`` is this recorder's wall clock at
  delivery, ``publish_time`` the publisher's stamp, ``sequence`` the record's index in
  the recording. Types come from the launch file, the registry's announced type paths,
  or the object itself (in-process sessions); a fingerprint nobody explains is recorded
  raw (``{"data": base64}``, channel metadata ``fingerprint``), and looked up again
  after each registry announcement: once the type is announced (a publisher's
  announcement can come after its first messages) a typed channel takes over.
* Plain groups (``ctl``) record each message raw with its ``msg_type``.
* Views of the recorded groups go to ``#gcs/views`` (group, view id, members, cause,
  changed, transitional); views of the diagnostics group to ``#gcs/ring`` (ring id,
  daemons). Every new file of a split recording starts with the current views again.
* ``missed`` counts gaps in a publisher's sequence numbers on a topic: messages this
  recorder never got. It is an upper bound: a ``publish()`` that raised Backpressure has
  used its number too (pubsub/endpoints.py numbers before sending). Bad envelopes are
  counted in ``bad`` and skipped.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from ..client.session import Session
from ..core.events import DataMessage, GroupView
from ..diagnostics.collector import DIAG_GROUP
from ..errors import LocalProtocolError, MalformedPacket
from ..pubsub.codec import MessageCodec, RawCodec, Sample, codec_for, decode_envelope, type_path
from ..pubsub.node import TOPIC_MSG_TYPE
from ..pubsub.qos import group_topic
from ..pubsub.registry import REGISTRY_MSG_TYPE, Registry
from .order import OrderTracker, Position
from .schema import ORDER_KEY, JsonForm, json_form
from .selection import Selection
from .tee import ObservedSession
from .writer import WriterStats

VIEWS_TOPIC = "#gcs/views"
RING_TOPIC = "#gcs/ring"
DISCOVERY_PERIOD = 1.0

TypeLookup = Callable[[str, int], "type | None"]     # (topic, fingerprint) -> class or None

_VIEW_SCHEMA = {
    "title": "GroupView", "type": "object",
    "properties": {"group": {"type": "string"}, "view": {"type": "array", "items": {"type": "integer"}},
                   "members": {"type": "array", "items": {"type": "string"}},
                   "cause": {"type": "string"}, "changed": {"type": "array", "items": {"type": "string"}},
                   "transitional": {"type": "boolean"}, "carried": {"type": "boolean"}}}
_RING_SCHEMA = {
    "title": "RingMembership", "type": "object",
    "properties": {"ring": {"type": "array", "items": {"type": "integer"}},
                   "daemons": {"type": "array", "items": {"type": "string"}},
                   "cause": {"type": "string"}, "changed": {"type": "array", "items": {"type": "string"}},
                   "transitional": {"type": "boolean"}}}
_GROUP_SCHEMA = {
    "title": "GroupMessage", "type": "object",
    "properties": {"data": {"type": "string", "contentEncoding": "base64"},
                   "msg_type": {"type": "integer"}}}


def _fixed_form(schema: dict[str, Any]) -> JsonForm:
    def to_json(v: Any) -> Any:
        return v

    return JsonForm(str(schema["title"]), schema, to_json, to_json)


VIEW_FORM = _fixed_form(_VIEW_SCHEMA)
RING_FORM = _fixed_form(_RING_SCHEMA)
GROUP_FORM = _fixed_form(_GROUP_SCHEMA)


class ToolNode(Protocol):
    """What the recorder needs of its Node: the session (it swaps in a tee) and the
    registry (types, discovery)."""

    session: Session

    @property
    def registry(self) -> Registry: ...


class RecordSink(Protocol):
    """Where records go: an MCAP file (writer.BagWriter) or Foxglove (live.FoxgloveSink)."""

    on_new_file: Callable[[], None] | None

    def channel(self, topic: str, form: JsonForm, metadata: dict[str, str]) -> int: ...
    def wanted(self, channel: int) -> bool: ...
    def write(self, channel: int, log_time: float, publish_time: float, data: bytes) -> None: ...
    def tick(self) -> None: ...
    def close(self) -> None: ...
    def statistics(self) -> WriterStats: ...


@dataclass(frozen=True, slots=True)
class RecorderStats:
    messages: int            # records of topic and group messages
    views: int
    missed: int              # gaps in publishers' sequence numbers
    bad: int                 # envelopes that did not decode
    groups: tuple[str, ...]
    files: tuple[str, ...]
    bytes: int


@dataclass(slots=True)
class _TopicChannel:
    channel: int
    form: JsonForm
    codec: MessageCodec | RawCodec | None    # the message type's codec (None: unknown, raw)
    known: bool                              # the type is known (or the topic is raw)
    asked: int                               # unknown: registry announcements when last asked


def view_doc(ev: GroupView, carried: bool = False) -> dict[str, Any]:
    doc: dict[str, Any] = {"group": ev.group, "view": list(ev.view_id), "members": list(ev.members),
                           "cause": ev.cause.name, "changed": list(ev.changed),
                           "transitional": ev.transitional}
    if carried:
        doc["carried"] = True
    return doc


def ring_doc(ev: GroupView) -> dict[str, Any]:
    daemons = sorted(m.rsplit("#", 1)[-1] for m in ev.members if m.startswith("#diag#"))
    return {"ring": list(ev.view_id[:2]), "daemons": daemons, "cause": ev.cause.name,
            "changed": [m.rsplit("#", 1)[-1] for m in ev.changed if m.startswith("#diag#")],
            "transitional": ev.transitional}


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


class Recorder:
    """One recording (see the module doc)."""

    def __init__(self, node: ToolNode, selection: Selection, writer: RecordSink, *,
                 types: TypeLookup | None = None, ring: bool = True,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.node = node
        self.selection = selection
        self.writer = writer
        self._types = types
        self._wall = wall_clock
        self._order = OrderTracker()
        self._joined: set[str] = set()
        self._topics: dict[tuple[str, int], _TopicChannel] = {}
        self._groups: dict[str, int] = {}
        self._pub_seq: dict[tuple[str, str, int], int] = {}
        self._senders: dict[str, str] = {}
        self._last_views: dict[str, GroupView] = {}
        self._messages = 0
        self._views = 0
        self._missed = 0
        self._bad = 0
        self._announcements = 0
        self._next_discovery = 0.0
        self._views_channel = writer.channel(VIEWS_TOPIC, VIEW_FORM, {"kind": "views"})
        self._ring_channel = writer.channel(RING_TOPIC, RING_FORM, {"kind": "ring"})
        writer.on_new_file = self._carry_views
        node.session = ObservedSession(node.session, self._observe)
        if ring:
            node.session.join(DIAG_GROUP)
        self._join_selected()

    # ------------------------------------------------------------ driving

    def tick(self, now: float) -> None:
        """Join newly matching topics (about once a second) and flush/split the file."""
        if now >= self._next_discovery:
            self._next_discovery = now + DISCOVERY_PERIOD
            self._join_selected()
        self.writer.tick()

    def close(self) -> None:
        self.writer.close()

    @property
    def messages(self) -> int:
        """Topic and group messages recorded so far."""
        return self._messages

    def statistics(self) -> RecorderStats:
        w = self.writer.statistics()
        return RecorderStats(self._messages, self._views, self._missed, self._bad,
                             tuple(sorted(self._joined)), w.files, w.bytes)

    def _join_selected(self) -> None:
        announced = {e.topic for eps in self.node.registry.graph().values()
                     for e in eps.pubs + eps.subs}
        for g in sorted(self.selection.groups_for(announced) - self._joined):
            self._joined.add(g)
            self.node.session.join(g)

    # ------------------------------------------------------------ events

    def _observe(self, ev: Any) -> None:
        if type(ev) is DataMessage:
            if ev.msg_type == TOPIC_MSG_TYPE:
                self._on_topic(ev)
            elif ev.msg_type == REGISTRY_MSG_TYPE:
                self._announcements += 1       # the Node reads it right after this
            elif self._joined.intersection(ev.groups):
                self._on_group_message(ev)
        elif isinstance(ev, GroupView):
            self._on_view(ev)

    def _on_view(self, ev: GroupView) -> None:
        now = self._wall()
        if ev.group == DIAG_GROUP:
            self.writer.write(self._ring_channel, now, now, _dumps(ring_doc(ev)))
        elif ev.group in self._joined:
            self._order.on_view(ev)
            self._last_views[ev.group] = ev
            self.writer.write(self._views_channel, now, now, _dumps(view_doc(ev)))
        else:
            return
        self._views += 1

    def _carry_views(self) -> None:
        """A new file starts with the views in force (flagged ``carried``)."""
        now = self._wall()
        for ev in self._last_views.values():
            self.writer.write(self._views_channel, now, now, _dumps(view_doc(ev, carried=True)))

    def _position(self, ev: DataMessage) -> Position | None:
        pos = self._order.on_message(ev.groups)
        if pos is None:
            self._bad += 1          # data of a group before its view: cannot be placed
        return pos

    def _sender(self, name: str) -> str:
        s = self._senders.get(name)
        if s is None:
            s = self._senders[name] = json.dumps(name)
        return s

    def _on_topic(self, ev: DataMessage) -> None:
        pos = self._position(ev)
        if pos is None:
            return
        topic = group_topic(pos.group)
        if topic is None:                  # sent to a plain group first: keep it as such
            self._write_group_message(ev, pos)
            return
        payload = ev.payload
        if isinstance(payload, Sample):          # in-process: the publisher's object
            hdr, body = payload, None
        else:
            try:
                hdr, body = decode_envelope(bytes(payload))
            except (MalformedPacket, TypeError):
                self._bad += 1
                return
        ch = self._topic_channel(topic, hdr.fingerprint,
                                 type(payload.value) if body is None else None, ev.service.name)
        key = (ev.sender, topic, hdr.publisher_id)
        last = self._pub_seq.get(key)
        if last is not None and hdr.seq > last + 1:
            self._missed += hdr.seq - last - 1
        if last is None or hdr.seq > last:
            self._pub_seq[key] = hdr.seq
        if not self.writer.wanted(ch.channel):
            return
        if ch.codec is None:
            value = bytes(body) if body is not None else _raw_body(payload)
        else:
            try:
                # in-process: the publisher's object, through its bytes (an int given for
                # a float field must come out as the float every other daemon decodes)
                value = ch.codec.decode(ch.codec.encode(payload.value) if body is None else body)
            except (MalformedPacket, LocalProtocolError):
                self._bad += 1
                return
        text = ch.form.dumps(value)
        v = pos.view
        extra = ',"handover":true' if hdr.handover else ""
        order = (f'"{ORDER_KEY}":{{"view":[{v[0]},{v[1]},{v[2]}],"n":{pos.n},'
                 f'"from":{self._sender(ev.sender)},"pub":[{hdr.publisher_id},{hdr.seq}]{extra}}}')
        data = (text[:-1] + ("," if len(text) > 2 else "") + order + "}").encode()
        self.writer.write(ch.channel, self._wall(), hdr.stamp, data)
        self._messages += 1

    def _on_group_message(self, ev: DataMessage) -> None:
        pos = self._position(ev)
        if pos is not None:
            self._write_group_message(ev, pos)

    def _write_group_message(self, ev: DataMessage, pos: Position) -> None:
        ch = self._groups.get(pos.group)
        if ch is None:
            ch = self._groups[pos.group] = self.writer.channel(
                pos.group, GROUP_FORM, {"kind": "group", "group": pos.group})
        payload = ev.payload if isinstance(ev.payload, bytes) else bytes(ev.payload)
        doc = {"data": _b64(payload), "msg_type": ev.msg_type,
               ORDER_KEY: {"view": list(pos.view), "n": pos.n, "from": ev.sender}}
        now = self._wall()
        self.writer.write(ch, now, now, _dumps(doc))
        self._messages += 1

    def _topic_channel(self, topic: str, fingerprint: int, cls: type | None,
                       service: str) -> _TopicChannel:
        ch = self._topics.get((topic, fingerprint))
        types = self._types
        if ch is not None and (ch.known or types is None or ch.asked == self._announcements):
            return ch
        if ch is not None and types is not None:   # recorded raw so far: type announced now?
            ch.asked = self._announcements
            if types(topic, fingerprint) is None:
                return ch
        if cls is None and self._types is not None:
            cls = self._types(topic, fingerprint)
        codec: MessageCodec | RawCodec = codec_for(cls)
        known = codec.fingerprint == fingerprint
        if not known:                             # nobody explains it: keep the bytes
            cls, codec = None, codec_for(None)
        form = json_form(cls)
        meta = {"kind": "topic", "type": type_path(cls) if known else "",
                "fingerprint": f"{fingerprint:016x}",
                "description": codec.description if known else "", "service": service.lower()}
        ch = _TopicChannel(self.writer.channel(topic, form, meta), form,
                           codec if known else None, known, self._announcements)
        self._topics[(topic, fingerprint)] = ch
        return ch


def _raw_body(sample: Sample) -> bytes:
    """The body bytes of an in-process sample whose type nobody here knows."""
    return codec_for(type(sample.value)).encode(sample.value)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
