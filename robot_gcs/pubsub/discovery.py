"""A node's part in discovery: what it announces in the registry group and what it does
with the other nodes' announcements and departures.

Theory of operation
-------------------
Every node joins ``t:#registry`` (registry.py) and announces its endpoints there: its
publishers, subscriptions, announced services and election leaders, and whether it is a
tool (listings leave tools out). ``announce()`` runs whenever one of those changes and
when the registry's view shows newcomers, so a node that joins late learns everybody's
endpoints from the announcements their views trigger. An announcement arms the deadlines
of this node's subscriptions to the topics it publishes; a departure that was not a
network partition and took a topic's last publisher disarms them (the publisher stopped on
purpose), and pending service calls to a departed node fail (services.py).

Owner: a ``Discovery`` belongs to its Node and runs on the thread that spins it. It reads
the node's endpoint collections (the same list and dicts the Node mutates in place) and
never changes them; it sends through ``send_announcement`` because a tool may wrap the
node's session after the node was made.
"""

from __future__ import annotations

from typing import Callable

from ..core.events import DataMessage, GroupView
from .codec import RAW_FINGERPRINT, type_path
from .election import ActiveStandby
from .endpoints import Publisher, Subscription
from .registry import Departure, EndpointInfo, Endpoints, Registry
from .services import ServiceTable


class Discovery:
    """Announcements out, announcements and departures in, for one node."""

    def __init__(self, name: str, registry: Registry, publishers: list[Publisher],
                 subs: dict[str, list[Subscription]], services: ServiceTable,
                 elections: dict[str, ActiveStandby], tool: bool,
                 send_announcement: Callable[[bytes], None]) -> None:
        self.name = name
        self.registry = registry
        self._publishers = publishers
        self._subs = subs
        self._services = services
        self._elections = elections
        self._tool = tool
        self._send = send_announcement

    def endpoints(self) -> Endpoints:
        """What this node announces."""
        def info(topic: str, mtype: type | None, fp: int, service: str = "") -> EndpointInfo:
            return EndpointInfo(topic, type_path(mtype), fp, service)
        return Endpoints(
            self.name,
            tuple(info(p.topic, p.msg_type, p.codec.fingerprint, p.qos.service.name.lower())
                  for p in self._publishers),
            tuple(info(s.topic, s.msg_type, s.codec.fingerprint, s.qos.service.name.lower())
                  for subs in self._subs.values() for s in subs),
            tuple(EndpointInfo(s.name, type_path(s.srv_type), s.req.fingerprint)
                  for s in self._services.announced()),
            tuple((g, e.active) for g, e in sorted(self._elections.items())), self._tool)

    def announce(self) -> None:
        self._send(self.endpoints().to_json())

    def on_view(self, ev: GroupView) -> None:
        """A regular view of the registry group."""
        change = self.registry.on_view(ev)
        if change.newcomers:
            self.announce()
        if change.departures:
            self._services.on_departures(change.departures)
            self._publishers_gone(change.departures)

    def on_announcement(self, ev: DataMessage, now: float) -> bool:
        """Another node's announcement; False when it does not decode."""
        eps = self.registry.on_announcement(ev.sender, ev.payload)
        if eps is None:
            return False
        for e in eps.pubs:
            for sub in self._subs.get(e.topic, ()):
                sub.arm(now)
        return True

    def type_name(self, fingerprint: int) -> str:
        """The type path behind a message fingerprint, as far as this node knows it."""
        if fingerprint == RAW_FINGERPRINT:
            return "bytes (raw)"
        for ep in self._publishers:
            if ep.codec.fingerprint == fingerprint:
                return type_path(ep.msg_type)
        return self.registry.type_name(fingerprint) or ""

    def _publishers_gone(self, departures: tuple[Departure, ...]) -> None:
        """Disarm deadlines of topics whose every publisher stopped on purpose."""
        for d in departures:
            if d.had is None or d.cause == "NETWORK":
                continue
            for e in d.had.pubs:
                if self.registry.publishers(e.topic) or \
                        any(p.topic == e.topic for p in self._publishers):
                    continue
                for sub in self._subs.get(e.topic, ()):
                    sub.disarm()
