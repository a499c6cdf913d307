"""Test helpers for the runtime: a local-only fake group engine and temp configs.

The fake implements the driver API of core/groups.GroupEngine (start/handle_packet/
handle_timer/leave/client_*) with purely local delivery, so the runtime's plumbing
(threads, queues, backpressure, overflow, timers, shutdown) is tested on its own.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robot_gcs.config import GcsConfig, load_config
from robot_gcs.core.actions import BROADCAST_ALL, Persist, Send, SetTimer
from robot_gcs.core.events import Cause, DataMessage, GroupView, private_name
from robot_gcs.core.types import TimerId
from robot_gcs.errors import Backpressure, LocalProtocolError
from robot_gcs.testing import free_udp_ports, write_ring_config  # noqa: F401  (free_udp_ports: re-exported to the runtime tests)


@dataclass(frozen=True, slots=True)
class FakeToClient:
    client: str
    event: Any


@dataclass(frozen=True, slots=True)
class FakeStats:
    send_queue_len: int
    drops: tuple[tuple[str, int], ...]


class FakeGroupEngine:
    TICK = 0.02

    def __init__(self, daemon: str, ring_seq: int | None) -> None:
        self.daemon = daemon
        self.persisted = ring_seq
        self.groups: dict[str, set[str]] = {}
        self.clients: set[str] = set()
        self.blocked = False
        self.ticks = 0
        self.left = False
        self.packets = 0
        self.drops: Counter[str] = Counter()
        self.ring_targets: tuple[int, ...] = ()
        self.index = 0

    def start(self, now: float) -> list[Any]:
        return [Persist((self.persisted or 0) + 4), SetTimer(TimerId.TICK, now + self.TICK)]

    def handle_timer(self, now: float, tid: TimerId) -> list[Any]:
        self.ticks += 1
        return [SetTimer(TimerId.TICK, now + self.TICK)]

    def handle_packet(self, now: float, src: Any, data: bytes) -> list[Any]:
        if data[:4] == b"FAKE":
            self.packets += 1
        else:
            self.drops["bad_magic"] += 1
        return []

    def leave(self, now: float) -> list[Any]:
        self.left = True
        return [Send(BROADCAST_ALL, b"FAKE-LEAVE")]

    def statistics(self) -> FakeStats:
        return FakeStats(0, tuple(sorted(self.drops.items())))

    def _pn(self, c: str) -> str:
        return private_name(c, self.daemon)

    def _views(self, group: str, cause: Cause, changed: str) -> list[Any]:
        self.index += 1
        members = tuple(sorted(self._pn(c) for c in self.groups.get(group, ())))
        v = GroupView(group, (1, 1, self.index), members, cause, (self._pn(changed),))
        return [FakeToClient(c, v) for c in sorted(self.groups.get(group, ()))]

    def client_connect(self, now: float, client: str) -> list[Any]:
        self.clients.add(client)
        return []

    def client_join(self, now: float, client: str, group: str) -> list[Any]:
        if client not in self.clients:
            raise LocalProtocolError("unknown client")
        self.groups.setdefault(group, set()).add(client)
        return self._views(group, Cause.JOIN, client)

    def client_leave(self, now: float, client: str, group: str) -> list[Any]:
        out = [FakeToClient(client, GroupView(group, (1, 1, self.index + 1), (), Cause.LEAVE,
                                              (self._pn(client),)))]
        self.groups.get(group, set()).discard(client)
        return out + self._views(group, Cause.LEAVE, client)

    def client_multicast(self, now: float, client: str, groups: tuple[str, ...], payload: bytes,
                         service: Any, msg_type: int = 0, self_discard: bool = False,
                         local_payload: Any = None) -> list[Any]:
        if self.blocked:
            raise Backpressure("fake engine queue full")
        targets: set[str] = set()
        for g in groups:
            targets |= self.groups.get(g, set())
        if self_discard:
            targets.discard(client)
        body = local_payload if local_payload is not None else payload
        ev = DataMessage(self._pn(client), groups, service, body, msg_type)
        return [FakeToClient(c, ev) for c in sorted(targets)]

    def client_disconnect(self, now: float, client: str) -> list[Any]:
        self.clients.discard(client)
        out: list[Any] = []
        for g in sorted(self.groups):
            if client in self.groups[g]:
                self.groups[g].discard(client)
                out += self._views(g, Cause.DISCONNECT, client)
        return out


def fake_factory(config: GcsConfig, me: Any, incarnation: int, ring_seq: int | None,
                 seed: int) -> FakeGroupEngine:
    return FakeGroupEngine(me.name, ring_seq)


def write_config(tmp: Path, n: int, *, name: str = "testring", token_ms: int | None = 1000,
                 consensus_ms: int | None = None, extra_ring: str = "",
                 sockets: bool = False) -> tuple[Path, GcsConfig]:
    """token_ms None: the engine defaults (core/params.py)."""
    path = write_ring_config(tmp, n, name=name, token_ms=token_ms, consensus_ms=consensus_ms,
                             extra_ring=extra_ring, sockets=sockets)
    return path, load_config(path)
