"""Test helpers for the runtime: a local-only fake group engine and temp configs.

The fakes satisfy ``runtime.engine_port.HostedEngine`` (the API of core/groups.GroupEngine)
with purely local delivery, so the runtime's plumbing (threads, queues, backpressure,
overflow, timers, shutdown) is tested on its own. ``QuietEngine`` answers every input
with nothing; ``FakeGroupEngine`` keeps groups and hands views and messages to local
clients.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robot_gcs.config import GcsConfig, load_config
from robot_gcs.core.actions import BROADCAST_ALL, Persist, Send, SetTimer
from robot_gcs.core.events import Cause, DataMessage, GroupView, private_name
from robot_gcs.core.groups import ClientGone, ToClient
from robot_gcs.core.stats import EngineStats
from robot_gcs.core.types import NULL_RING, GatherReason, MemberState, TimerId
from robot_gcs.errors import Backpressure, LocalProtocolError
from robot_gcs.testing import free_udp_ports, write_ring_config  # noqa: F401  (free_udp_ports: re-exported to the runtime tests)


FakeToClient = ToClient


def FakeStats(send_queue_len: int, drops: tuple[tuple[str, int], ...]) -> EngineStats:
    """An EngineStats of an engine that never formed a ring."""
    return EngineStats(
        node_id=1, incarnation=1, state=MemberState.GATHER, ring_id=NULL_RING, members=(),
        gather_reason=GatherReason.START, gather_from=None, state_since=0.0, gathers=0,
        configs_installed=0, token_rotations=0, rotation_time_last=None, packets_sent=0,
        packets_received=0, retransmits_sent=0, retransmit_requests=0, token_retransmits=0,
        delivered_msgs=0, delivered_bytes=0, send_queue_len=send_queue_len, buffer_len=0,
        pauses_detected=0, drops=drops)


class QuietEngine:
    """Every input gives no actions; statistics are empty."""

    ring_targets: tuple[int, ...] = ()

    def start(self, now: float) -> list[Any]:
        return []

    def handle_packet(self, now: float, src: Any, data: bytes) -> list[Any]:
        return []

    def handle_timer(self, now: float, tid: TimerId) -> list[Any]:
        return []

    def leave(self, now: float) -> list[Any]:
        return []

    def client_connect(self, now: float, client: str) -> list[Any]:
        return []

    def client_disconnect(self, now: float, client: str) -> list[Any]:
        return [ClientGone(client)]

    def client_join(self, now: float, client: str, group: str) -> list[Any]:
        return []

    def client_leave(self, now: float, client: str, group: str) -> list[Any]:
        return []

    def client_multicast(self, now: float, client: str, groups: Any, payload: bytes,
                         service: Any = None, msg_type: int = 0, self_discard: bool = False,
                         local_payload: Any = None, priority: bool = False) -> list[Any]:
        return []

    def client_send_private(self, now: float, client: str, target: str, payload: bytes,
                            service: Any = None, msg_type: int = 0,
                            local_payload: Any = None, priority: bool = False) -> list[Any]:
        return []

    def client_waiting(self, now: float, client: str) -> list[Any]:
        return []

    def statistics(self) -> Any:
        return None

    def ring_statistics(self) -> EngineStats:
        return FakeStats(0, ())

    def group_table(self) -> tuple[Any, ...]:
        return ()


class FakeGroupEngine(QuietEngine):
    TICK = 0.02

    def __init__(self, daemon: str, ring_seq: int | None) -> None:
        self.daemon = daemon
        self.persisted = ring_seq
        self.groups: dict[str, set[str]] = {}
        self.clients: set[str] = set()
        self.blocked = False                 # client_multicast raises Backpressure
        self.refused = threading.Event()     # ... and did so at least once
        self.hold: threading.Event | None = None   # client_multicast waits for it
        self.holding = threading.Event()     # ... and a caller is waiting in it now
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

    def ring_statistics(self) -> EngineStats:
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
                         local_payload: Any = None, priority: bool = False) -> list[Any]:
        if self.hold is not None and not self.hold.is_set():
            self.holding.set()
            self.hold.wait(30)
        if self.blocked:
            self.refused.set()
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
        if client not in self.clients:
            raise LocalProtocolError("unknown client")
        self.clients.discard(client)
        out: list[Any] = []
        for g in sorted(self.groups):
            if client in self.groups[g]:
                self.groups[g].discard(client)
                out += self._views(g, Cause.DISCONNECT, client)
        return out + [ClientGone(client)]


def fake_factory(config: GcsConfig, me: Any, incarnation: int, ring_seq: int | None,
                 seed: int) -> FakeGroupEngine:
    return FakeGroupEngine(me.name, ring_seq)


class FakeFactory:
    """An engine factory that remembers the fakes it made, by daemon name."""

    def __init__(self) -> None:
        self.engines: dict[str, FakeGroupEngine] = {}

    def __call__(self, config: GcsConfig, me: Any, incarnation: int, ring_seq: int | None,
                 seed: int) -> FakeGroupEngine:
        e = self.engines[me.name] = FakeGroupEngine(me.name, ring_seq)
        return e


def write_config(tmp: Path, n: int, *, name: str = "testring", token_ms: int | None = 1000,
                 consensus_ms: int | None = None, extra_ring: str = "",
                 sockets: bool = False) -> tuple[Path, GcsConfig]:
    """token_ms None: the engine defaults (core/params.py)."""
    path = write_ring_config(tmp, n, name=name, token_ms=token_ms, consensus_ms=consensus_ms,
                             extra_ring=extra_ring, sockets=sockets)
    return path, load_config(path)
