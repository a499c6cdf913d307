"""Random group clients: connects, joins, leaves, disconnects and multi-group sends.

What it owns: the client side of a group-layer simulation. For each live daemon it keeps
a few clients, drives random operations through a ``Host`` (the simulator, or the fake
ring of the unit tests), records every accepted send in a ``GroupChecker`` and feeds the
checker every ``ToClient`` event the daemons emit.

Rules:

* Everything random comes from the rng given at construction (same seed, same run).
* A message id is ``(node, incarnation, client, counter)``; the payload starts with it
  (``node:inc:client:counter|``) followed by filler, and one message in ``local_share``
  also carries a ``local_payload`` object ``("local", id)`` so the in-process path is
  exercised (local receivers get the object, others the bytes).
* A send is recorded before the daemon sees it (a delivery may come back at once) and
  withdrawn if the daemon refuses it (Backpressure, node down).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from ..core.events import DataMessage, private_name
from ..core.types import Service
from .group_checker import GroupChecker

SERVICES = (Service.UNRELIABLE, Service.RELIABLE, Service.FIFO, Service.CAUSAL,
            Service.AGREED, Service.SAFE)


class Host(Protocol):
    def call(self, node: int, method: str, *args: Any) -> bool:
        """Run ``group_engine.method(now, *args)`` on ``node``; False if refused or down."""


@dataclass(frozen=True, slots=True)
class ClientModel:
    clients_per_node: int = 3
    groups: int = 5
    max_groups_per_send: int = 3
    join_p: float = 0.20
    leave_p: float = 0.08
    disconnect_p: float = 0.02
    private_p: float = 0.05
    open_send_p: float = 0.10      # send to a group the client is not in
    self_discard_p: float = 0.2
    local_share: float = 0.1
    filler_max: int = 200


@dataclass(slots=True)
class _Client:
    name: str
    groups: set[str] = field(default_factory=set)
    counter: int = 0


@dataclass(slots=True)
class _Node:
    inc: int
    daemon: str
    clients: dict[str, _Client] = field(default_factory=dict)
    next_index: int = 0


def message_id(payload: Any) -> tuple[Any, ...] | None:
    """The id a payload made by this module carries (None if it is not one of ours)."""
    if isinstance(payload, tuple) and len(payload) == 2 and payload[0] == "local":
        return tuple(payload[1])
    if isinstance(payload, (bytes, bytearray)):
        head, sep, _ = bytes(payload).partition(b"|")
        parts = head.split(b":")
        if sep and len(parts) == 4:
            try:
                return (int(parts[0]), int(parts[1]), parts[2].decode(), int(parts[3]))
            except ValueError:
                return None
    return None


class GroupClients:
    """Random client activity on every daemon, checked by a GroupChecker."""

    def __init__(self, rng: random.Random, model: ClientModel, daemon_names: dict[int, str],
                 checker: GroupChecker | None = None) -> None:
        self.rng = rng
        self.model = model
        self.names = dict(daemon_names)
        self.checker = checker or GroupChecker()
        self.groups = tuple(f"g{i}" for i in range(model.groups))
        self._nodes: dict[int, _Node] = {}
        self.ops = 0
        self.refused = 0

    # ------------------------------------------------------------ node lives

    def node_started(self, node: int, inc: int) -> None:
        self._nodes[node] = _Node(inc, self.names.get(node, str(node)))

    def node_stopped(self, node: int) -> None:
        self._nodes.pop(node, None)

    def live_nodes(self) -> tuple[int, ...]:
        return tuple(sorted(self._nodes))

    # ------------------------------------------------------------ events from daemons

    def on_actions(self, node: int, actions: Sequence[Any]) -> None:
        st = self._nodes.get(node)
        if st is None:
            return
        for a in actions:
            client = getattr(a, "client", None)
            event = getattr(a, "event", None)
            if client is None or event is None:
                continue
            key = (node, st.inc, client)
            name = private_name(client, st.daemon)
            mid = message_id(event.payload) if isinstance(event, DataMessage) else None
            self.checker.received(key, name, event, mid)

    # ------------------------------------------------------------ random operations

    def step(self, host: Host, node: int) -> None:
        """One random client operation on ``node``."""
        st = self._nodes.get(node)
        if st is None:
            return
        rng, m = self.rng, self.model
        self.ops += 1
        if len(st.clients) < m.clients_per_node and (not st.clients or rng.random() < 0.3):
            name = f"c{st.next_index}"
            st.next_index += 1
            if host.call(node, "client_connect", name):
                st.clients[name] = _Client(name)
            return
        c = st.clients[rng.choice(sorted(st.clients))]
        r = rng.random()
        if r < m.disconnect_p:
            if self._request(host, node, st, c, "disconnect", ""):
                del st.clients[c.name]
            return
        r -= m.disconnect_p
        if r < m.join_p:
            g = rng.choice(self.groups)
            if self._request(host, node, st, c, "join", g):
                c.groups.add(g)
            return
        r -= m.join_p
        if r < m.leave_p and c.groups:
            g = rng.choice(sorted(c.groups))
            if self._request(host, node, st, c, "leave", g):
                c.groups.discard(g)
            return
        self._send(host, node, st, c)

    def _request(self, host: Host, node: int, st: _Node, c: _Client, op: str,
                 group: str) -> bool:
        """A membership request, recorded in the checker before the daemon sees it."""
        name = private_name(c.name, st.daemon)
        self.checker.requested(name, op, group)
        args = (c.name, group) if group else (c.name,)
        if host.call(node, f"client_{op}", *args):
            return True
        self.checker.requested(name, op, group, undo=True)
        return False

    def send_now(self, host: Host, node: int) -> bool:
        """One random send by a random client of ``node`` (False: it has none)."""
        st = self._nodes.get(node)
        if st is None or not st.clients:
            return False
        self._send(host, node, st, st.clients[self.rng.choice(sorted(st.clients))])
        return True

    def _send(self, host: Host, node: int, st: _Node, c: _Client) -> None:
        rng, m = self.rng, self.model
        targets: tuple[str, ...]
        if rng.random() < m.private_p:
            targets = (self._random_private(),)
        else:
            pool = sorted(c.groups) if c.groups and rng.random() >= m.open_send_p else list(self.groups)
            k = rng.randint(1, min(m.max_groups_per_send, len(pool)))
            targets = tuple(rng.sample(pool, k))
        service = rng.choice(SERVICES)
        self_discard = rng.random() < m.self_discard_p and not targets[0].startswith("#")
        c.counter += 1
        mid = (node, st.inc, c.name, c.counter)
        head = f"{node}:{st.inc}:{c.name}:{c.counter}|".encode()
        payload = head + bytes(rng.getrandbits(8) for _ in range(rng.randint(0, m.filler_max)))
        local = ("local", mid) if rng.random() < m.local_share else None
        key = (node, st.inc, c.name)
        self.checker.sent(key, private_name(c.name, st.daemon), mid, targets, service, self_discard)
        if not host.call(node, "client_multicast", c.name, targets, payload, service, 0,
                         self_discard, local):
            self.checker.withdraw(mid)
            self.refused += 1

    def _random_private(self) -> str:
        live = [(n, c) for n, st in sorted(self._nodes.items()) for c in sorted(st.clients)]
        if not live or self.rng.random() < 0.1:
            return private_name("nobody", self.names.get(1, "1"))
        n, c = self.rng.choice(live)
        return private_name(c, self._nodes[n].daemon)
