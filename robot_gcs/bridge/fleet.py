"""The fleet side of a bridge: Zenoh keys for topics, views and the robot's membership.

What it owns: one Zenoh session with a publisher per outbound rule, a subscriber per
inbound rule and the robot's liveliness token (``_Link``: built whole by whoever connects
-- ``open`` or the connector thread -- then published in one assignment and only read
until ``close``), and what it last published about membership and views (node thread). ``zenoh`` (eclipse-zenoh) is imported here, when a fleet bridge is made.

Keys (``<robot>`` is ``ZenohOptions.robot``):

* ``fleet/<robot>/<topic>``: an outbound topic (``/odom`` -> ``fleet/r1/odom``) unless
  the rule names another key; inbound rules name any key (``fleet/r2/odom``).
* ``fleet/<robot>/membership``: a ``Membership`` message -- the daemons and nodes alive on
  board (the ring registry's members) -- put when it changes and every ``period``
  seconds, so a base station that connects late learns it within one period.
* ``fleet/<robot>/view/<group>``: a ``ViewMessage`` on each regular view of a group named
  in ``views`` (the bridge's own node is left out of the members).
* ``fleet/<robot>/alive``: a liveliness token. When the bridge's process dies, its Zenoh
  session goes and the base station's liveliness subscriber sees the token's DELETE.

Payload of every key: ``"RG" | version u8 | fingerprint u64 | origin length u8 | origin
(UTF-8 robot name) | body`` where body is the message's robot_gcs encoding (codec.py) --
the topic's own bytes -- and the fingerprint its type's, so a robot_gcs node anywhere
decodes it (``decode_payload``) and a wrong type is refused, never misread.

Loop prevention: subscribers take remote samples only (``Locality.REMOTE``), and an
inbound payload whose origin is this robot is dropped and counted as a loop.

Resilience: Zenoh reconnects by itself when the other side (router or peer) goes away and
comes back; a client that finds no router when it starts keeps trying on a thread of its
own (``open``) instead of failing; puts meanwhile go nowhere (data is live, not queued) and the periodic
membership put refreshes the other side when it returns. Publishers use congestion
control DROP, so a slow network never stalls the ring thread.

Network: multicast scouting and gossip are off unless ``scouting`` is set; the session
listens and connects only where the options say (no listen endpoints: it listens nowhere).
"""

from __future__ import annotations

import json
import logging
import struct
import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..core.events import GroupView
from ..errors import GcsError, LocalProtocolError, MalformedPacket
from ..pubsub.codec import codec_for
from .core import CameBack, came_through_bridge, fleet_key
from .ring import RingMessage
from .spec import BridgeSpec, ZenohOptions

log = logging.getLogger(__name__)

HEADER = struct.Struct("!2sBQB")
RETRY = 1.0                   # seconds between attempts of a client that found no router
MAGIC = b"RG"
VERSION = 1
_BAD_KEY_CHARS = "*$?#"


class NotConnected(GcsError):
    """The fleet bridge has no Zenoh session yet (a client still looking for its router):
    the message is dropped and counted as an error of its rule."""


@dataclass(frozen=True, slots=True)
class _Link:
    """An open Zenoh session with the bridge's publishers, subscribers and token."""

    session: Any
    pubs: list[Any]
    subs: list[Any]
    token: Any


@dataclass(frozen=True, slots=True)
class Membership:
    """Who is alive on board one robot: daemons and nodes (client names), sorted."""

    robot: str
    daemons: tuple[str, ...]
    nodes: tuple[str, ...]
    seq: int


@dataclass(frozen=True, slots=True)
class ViewMessage:
    """One regular view of a ring group, as the fleet sees it."""

    robot: str
    group: str
    members: tuple[str, ...]
    seq: int


def encode_payload(fingerprint: int, origin: str, body: bytes) -> bytes:
    o = origin.encode()
    return HEADER.pack(MAGIC, VERSION, fingerprint, len(o)) + o + body


def decode_payload(data: bytes) -> tuple[int, str, memoryview]:
    """(fingerprint, origin robot, body); ``MalformedPacket`` if it is not a fleet payload."""
    if len(data) < HEADER.size:
        raise MalformedPacket("fleet_truncated", f"{len(data)} bytes")
    magic, version, fp, olen = HEADER.unpack_from(data, 0)
    if magic != MAGIC or version != VERSION:
        raise MalformedPacket("fleet_magic", f"{magic!r} v{version}")
    end = HEADER.size + olen
    if end > len(data):
        raise MalformedPacket("fleet_truncated", "origin runs past the end")
    try:
        origin = bytes(data[HEADER.size:end]).decode()
    except UnicodeDecodeError as exc:
        raise MalformedPacket("fleet_origin", str(exc)) from None
    return fp, origin, memoryview(data)[end:]


def decode_message(data: bytes, msg_type: Any) -> tuple[str, Any]:
    """(origin, value) of a fleet payload carrying ``msg_type`` (``MalformedPacket`` if
    the fingerprint is another type's or the body does not decode)."""
    fp, origin, body = decode_payload(data)
    codec = codec_for(msg_type)
    if fp != codec.fingerprint:
        raise MalformedPacket("fleet_type", f"fingerprint {fp:016x} is not {codec.description}")
    return origin, codec.decode(body)


def zenoh_config(opts: ZenohOptions) -> Any:
    import zenoh
    c = zenoh.Config()
    c.insert_json5("mode", json.dumps(opts.mode))
    c.insert_json5("listen/endpoints", json.dumps(list(opts.listen)))
    c.insert_json5("connect/endpoints", json.dumps(list(opts.connect)))
    c.insert_json5("scouting/multicast/enabled", json.dumps(opts.scouting))
    c.insert_json5("scouting/gossip/enabled", json.dumps(opts.scouting))
    return c


def check_key(what: str, s: str) -> None:
    if not s or any(c in s for c in _BAD_KEY_CHARS):
        raise LocalProtocolError(f"{what} {s!r} cannot be part of a Zenoh key "
                                 f"(no {', '.join(_BAD_KEY_CHARS)})")


class ZenohOutside:
    """The ``Outside`` of a fleet bridge (bridge.py)."""

    def __init__(self, spec: BridgeSpec) -> None:
        opts = spec.options
        assert isinstance(opts, ZenohOptions)
        self.spec = spec
        self.options = opts
        self.robot = opts.robot
        for i in range(len(spec.out)):
            check_key("key", self.remote_out(i))
        for g in opts.views:
            check_key("group", g)
        for ir in spec.inbound:
            check_key("key", ir.remote.replace("*", "x"))   # wildcards are fine inbound
        self._in_codecs = [codec_for(r.msg_type) for r in spec.inbound]
        self.tick_period: float | None = min(0.25, opts.period)
        self._link: _Link | None = None
        self._stop = threading.Event()
        self._connector: threading.Thread | None = None
        self.connect_failures = 0
        self._last_members: tuple[str, ...] | None = None
        self._last_put = float("-inf")
        self._seq = 0
        self.membership: Membership | None = None

    def remote_out(self, index: int) -> str:
        r = self.spec.out[index]
        return r.remote or fleet_key(self.robot, r.topic)

    def remote_in(self, index: int) -> str:
        return self.spec.inbound[index].remote

    @property
    def membership_key(self) -> str:
        return fleet_key(self.robot, "membership")

    @property
    def alive_key(self) -> str:
        return fleet_key(self.robot, "alive")

    def view_key(self, group: str) -> str:
        return fleet_key(self.robot, f"view/{group}")

    def open(self, deliver: Callable[[int, Any], None]) -> None:
        """Open the session now, or -- when a client finds no router yet -- keep trying
        every ``RETRY`` seconds on a thread of its own (sends fail and are counted until
        then). A bad config still raises here."""
        import zenoh
        try:
            self._link = self._connect(deliver)
        except zenoh.ZError as exc:
            if self.options.mode != "client" or "connect" not in str(exc).lower():
                raise
            log.warning("fleet bridge %s: no Zenoh router yet (%s); retrying every %.1f s",
                        self.robot, exc, RETRY)
            self.connect_failures += 1
            self._connector = threading.Thread(target=self._keep_connecting, args=(deliver,),
                                               name=f"zenoh-connect-{self.robot}", daemon=True)
            self._connector.start()

    def _connect(self, deliver: Callable[[int, Any], None]) -> "_Link":
        import zenoh
        session: Any = zenoh.open(zenoh_config(self.options))
        try:
            pubs = [session.declare_publisher(self.remote_out(i),
                                              congestion_control=zenoh.CongestionControl.DROP)
                    for i in range(len(self.spec.out))]
            subs = [session.declare_subscriber(self.remote_in(i), self._receiver(i, deliver),
                                               allowed_origin=zenoh.Locality.REMOTE)
                    for i in range(len(self.spec.inbound))]
            token = session.liveliness().declare_token(self.alive_key)
        except BaseException:
            session.close()
            raise
        return _Link(session, pubs, subs, token)

    def _keep_connecting(self, deliver: Callable[[int, Any], None]) -> None:
        while not self._stop.wait(RETRY):
            try:
                link = self._connect(deliver)
            except Exception:
                self.connect_failures += 1
                continue
            if self._stop.is_set():
                link.session.close()
                return
            self._link = link
            log.info("fleet bridge %s: connected to Zenoh", self.robot)
            return

    def _need_link(self) -> "_Link":
        link = self._link
        if link is None:
            raise NotConnected(f"fleet bridge {self.robot}: not connected to Zenoh yet")
        return link

    @staticmethod
    def _receiver(index: int, deliver: Callable[[int, Any], None]) -> Callable[[Any], None]:
        def on_sample(sample: Any) -> None:
            deliver(index, sample.payload.to_bytes())
        return on_sample

    def send(self, index: int, msg: RingMessage) -> int:
        body = msg.body()
        self._need_link().pubs[index].put(encode_payload(msg.fingerprint, self.robot, body))
        return len(body)

    def to_ring(self, index: int, item: Any) -> Any:
        fp, origin, body = decode_payload(bytes(item))
        if origin == self.robot:
            raise CameBack(f"a message of {self.robot} came back on {self.remote_in(index)}")
        codec = self._in_codecs[index]
        if fp != codec.fingerprint:
            raise MalformedPacket("fleet_type", f"{origin} sends fingerprint {fp:016x} on "
                                  f"{self.remote_in(index)}, not {codec.description}")
        return codec.decode(body)

    def watch(self) -> Mapping[str, Callable[[Any], Any]]:
        return {g: self._view_handler(g) for g in self.options.views}

    def _view_handler(self, group: str) -> Callable[[Any], None]:
        key = self.view_key(group)
        codec = codec_for(ViewMessage)

        def on_event(ev: Any) -> None:
            if not isinstance(ev, GroupView) or ev.transitional or self._link is None:
                return
            self._seq += 1
            members = tuple(m for m in ev.members if not came_through_bridge(m))
            msg = ViewMessage(self.robot, group, members, self._seq)
            self._put(key, codec.fingerprint, codec.encode(msg))
        return on_event

    def tick(self, members: tuple[str, ...], now: float) -> None:
        if self._link is None or not members:
            return                     # no registry view yet: nothing true to say
        if members == self._last_members and now - self._last_put < self.options.period:
            return
        self._last_members = members
        self._last_put = now
        self._seq += 1
        daemons = sorted({m.split("#")[2] for m in members if m.count("#") >= 2})
        nodes = sorted({m.split("#")[1] for m in members if m.count("#") >= 2})
        self.membership = Membership(self.robot, tuple(daemons), tuple(nodes), self._seq)
        codec = codec_for(Membership)
        self._put(self.membership_key, codec.fingerprint, codec.encode(self.membership))

    def _put(self, key: str, fingerprint: int, body: bytes) -> None:
        import zenoh
        try:
            self._need_link().session.put(key, encode_payload(fingerprint, self.robot, body),
                              congestion_control=zenoh.CongestionControl.DROP)
        except Exception as exc:     # the session is closing, or Zenoh refused
            log.debug("fleet bridge %s: put on %s failed: %s", self.robot, key, exc)

    def close(self) -> None:
        self._stop.set()
        if self._connector is not None:
            self._connector.join(10)
        link, self._link = self._link, None
        if link is not None:
            link.session.close()
