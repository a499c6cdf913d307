"""The ring's topic registry: who publishes, subscribes, serves and leads what.

What it owns: one member's picture of the registry group ``t:#registry``. Every Node (and
every tool that reads the registry: ``robot-gcs topic``, the console) is a member and
announces its endpoints there as one JSON document (AGREED, ``REGISTRY_MSG_TYPE``) when
they change and whenever the group's view shows a newcomer. ``Registry`` turns those
announcements and the group's views into queries; the Node and the console's watcher
(diagnostics/attach.py) both use it, so the console sees every node -- launched
components and hand-written programs alike.

Rules:

* An announcement replaces the sender's previous one. It counts only while the sender is
  in the registry view; a member that leaves the view is forgotten, with the view's cause
  (``departures``), so a node that stopped on purpose (LEAVE, DISCONNECT) can be told
  from one that was lost (NETWORK).
* The picture is *complete* when every member of the current view (but this one) has
  announced: tools wait for that before they answer "nobody publishes /x".
* Malformed announcements (not JSON, wrong shape) are counted in ``bad`` and dropped.

The document (``Endpoints.to_json``)::

    {"node": "planner", "pubs": [[topic, type path, fingerprint hex, service]], "subs": [...],
     "srvs": [[service name, request type path, fingerprint hex]],
     "leads": [[group, active private name or null]], "tool": true (tools and consoles only)}

Only the holder's thread touches a Registry (a Node's spinning thread, the console's
main thread).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..core.events import GroupView

REGISTRY_GROUP = "t:#registry"
REGISTRY_MSG_TYPE = 85          # DataMessage.msg_type of registry announcements


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    """One announced publisher or subscription (or a service, with ``service`` "")."""

    topic: str
    type_path: str
    fingerprint: int
    service: str = ""


@dataclass(frozen=True, slots=True)
class Endpoints:
    """What one member announced."""

    node: str
    pubs: tuple[EndpointInfo, ...] = ()
    subs: tuple[EndpointInfo, ...] = ()
    srvs: tuple[EndpointInfo, ...] = ()
    leads: tuple[tuple[str, str | None], ...] = ()      # (group, active as this member sees it)
    tool: bool = False                                  # a command-line tool or console

    def to_json(self) -> bytes:
        def rows(eps: tuple[EndpointInfo, ...], with_service: bool) -> list[list[str]]:
            return [[e.topic, e.type_path, f"{e.fingerprint:016x}"]
                    + ([e.service] if with_service else []) for e in eps]
        doc: dict[str, Any] = {"node": self.node, "pubs": rows(self.pubs, True), "subs": rows(self.subs, True),
               "srvs": rows(self.srvs, False), "leads": [list(x) for x in self.leads]}
        if self.tool:
            doc["tool"] = True
        return json.dumps(doc, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "Endpoints":
        """Parse an announcement; ``ValueError`` for anything malformed."""
        try:
            doc = json.loads(bytes(data))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("node"), str):
            raise ValueError("not an announcement")

        def rows(key: str) -> tuple[EndpointInfo, ...]:
            out = []
            for r in doc.get(key) or []:
                if not isinstance(r, list) or len(r) < 3 or not all(isinstance(x, str) for x in r):
                    raise ValueError(f"bad {key} row {r!r}")
                out.append(EndpointInfo(r[0], r[1], int(r[2], 16), r[3] if len(r) > 3 else ""))
            return tuple(out)
        leads = []
        for r in doc.get("leads") or []:
            if not isinstance(r, list) or len(r) != 2 or not isinstance(r[0], str) \
                    or not (r[1] is None or isinstance(r[1], str)):
                raise ValueError(f"bad leads row {r!r}")
            leads.append((r[0], r[1]))
        return cls(doc["node"], rows("pubs"), rows("subs"), rows("srvs"), tuple(leads),
                   doc.get("tool") is True)


@dataclass(slots=True)
class Departure:
    """A member that left the registry view, and the view's cause (JOIN/LEAVE/...)."""

    member: str
    cause: str
    had: Endpoints | None


@dataclass(slots=True)
class ViewChange:
    """What a registry view changed: newcomers (re-announce) and departures."""

    newcomers: tuple[str, ...] = ()
    departures: tuple[Departure, ...] = field(default_factory=tuple)


class Registry:
    """One member's picture of the registry group (``me`` is its private name)."""

    def __init__(self, me: str) -> None:
        self.me = me
        self.members: tuple[str, ...] = ()
        self.viewed = False                # at least one regular view arrived
        self.bad = 0
        self._graph: dict[str, Endpoints] = {}

    # ------------------------------------------------------------ inputs

    def on_view(self, ev: GroupView) -> ViewChange:
        """A regular view of the registry group."""
        self.members = tuple(ev.members)
        self.viewed = True
        gone = [m for m in self._graph if m not in ev.members]
        departures = tuple(Departure(m, ev.cause.name, self._graph.pop(m)) for m in gone)
        newcomers = tuple(m for m in ev.changed if m in ev.members and m != self.me)
        return ViewChange(newcomers, departures)

    def on_announcement(self, sender: str, payload: Any) -> Endpoints | None:
        """An announcement from ``sender``; None (counted) if malformed or stale."""
        try:
            eps = Endpoints.from_json(payload)
        except (ValueError, TypeError):
            self.bad += 1
            return None
        if self.viewed and sender not in self.members:
            return None                       # sent before it left the view
        self._graph[sender] = eps
        return eps

    # ------------------------------------------------------------ queries

    def graph(self) -> dict[str, Endpoints]:
        """Member private name -> its announced endpoints (this member not included)."""
        return dict(self._graph)

    def complete(self) -> bool:
        """Every member of the current view but this one has announced."""
        return self.viewed and all(m in self._graph for m in self.members if m != self.me)

    def topic_types(self, topic: str) -> dict[str, tuple[int, list[str]]]:
        """Type path -> (fingerprint, members announcing it) over publishers and subscribers."""
        out: dict[str, tuple[int, list[str]]] = {}
        for member, eps in sorted(self._graph.items()):
            for e in eps.pubs + eps.subs:
                if e.topic == topic:
                    fp, who = out.setdefault(e.type_path, (e.fingerprint, []))
                    if member not in who:
                        who.append(member)
        return out

    def publishers(self, topic: str) -> list[str]:
        return sorted(m for m, eps in self._graph.items() if any(e.topic == topic for e in eps.pubs))

    def servers(self, service: str) -> list[tuple[str, EndpointInfo]]:
        """(member, announced service) for every server of ``service``, sorted by member."""
        return sorted((m, e) for m, eps in self._graph.items() for e in eps.srvs
                      if e.topic == service)

    def type_name(self, fingerprint: int) -> str | None:
        """The type path some member announced with ``fingerprint`` (None: nobody did)."""
        for eps in self._graph.values():
            for e in eps.pubs + eps.subs + eps.srvs:
                if e.fingerprint == fingerprint:
                    return e.type_path
        return None

    def leaders(self) -> dict[str, dict[str, str | None]]:
        """Group -> {member: the active it sees} over every member that runs an election."""
        out: dict[str, dict[str, str | None]] = {}
        for member, eps in self._graph.items():
            for group, active in eps.leads:
                out.setdefault(group, {})[member] = active
        return out
