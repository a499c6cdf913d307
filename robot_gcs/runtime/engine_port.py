"""What the runtime needs from the engine it hosts: one typed Protocol.

Theory of operation
-------------------
The runtime drives a sans-IO engine; ``core.groups.GroupEngine`` (process groups over
the token ring of core/engine.py) is the real one, and the runtime tests drive a small
local fake. Both satisfy ``HostedEngine``, and nothing in the runtime probes an engine
for optional attributes. Every input method takes ``now`` and returns the actions to
carry out, in order: core ``Action`` values plus the group layer's ``ToClient`` and
``ClientGone`` (core/groups.py). Client operations raise ``LocalProtocolError`` for a
refusal (the caller's fault) and ``Backpressure`` when the send queue is full.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, Sequence

from ..config import DaemonEntry, GcsConfig
from ..core.groups import GroupAction, GroupEngine, GroupStats
from ..core.stats import EngineStats
from ..core.types import NodeId, Service, TimerId

__all__ = ["HostedEngine", "EngineFactory", "default_engine_factory"]


class HostedEngine(Protocol):
    """The engine side of runtime/engine_host.py."""

    def start(self, now: float) -> list[GroupAction]: ...
    def handle_packet(self, now: float, src: Any, data: bytes) -> list[GroupAction]: ...
    def handle_timer(self, now: float, timer_id: TimerId) -> list[GroupAction]: ...
    def leave(self, now: float) -> list[GroupAction]: ...

    def client_connect(self, now: float, client: str) -> list[GroupAction]: ...
    def client_disconnect(self, now: float, client: str) -> list[GroupAction]: ...
    def client_join(self, now: float, client: str, group: str) -> list[GroupAction]: ...
    def client_leave(self, now: float, client: str, group: str) -> list[GroupAction]: ...
    def client_multicast(self, now: float, client: str, groups: Sequence[str] | str,
                         payload: bytes, service: Service = ..., msg_type: int = ...,
                         self_discard: bool = ..., local_payload: Any = ...,
                         priority: bool = ...) -> list[GroupAction]: ...
    def client_send_private(self, now: float, client: str, private_name: str,
                            payload: bytes, service: Service = ..., msg_type: int = ...,
                            local_payload: Any = ..., priority: bool = ...) -> list[GroupAction]: ...
    def client_waiting(self, now: float, client: str) -> list[GroupAction]: ...
    def client_batch(self, now: float, client: str, begins: bool) -> list[GroupAction]: ...
    def waits_for(self, client: str) -> bool: ...

    @property
    def ring_targets(self) -> tuple[NodeId, ...]: ...
    def statistics(self) -> GroupStats: ...
    def ring_statistics(self) -> EngineStats: ...
    def group_table(self) -> tuple[tuple[str, tuple[str, ...]], ...]: ...


class EngineFactory(Protocol):
    def __call__(self, config: GcsConfig, me: DaemonEntry, incarnation: int,
                 ring_seq: int | None, seed: int) -> HostedEngine: ...


def default_engine_factory(config: GcsConfig, me: DaemonEntry, incarnation: int,
                           ring_seq: int | None, seed: int) -> HostedEngine:
    """The real engines: core Engine wrapped in the GroupEngine."""
    from ..core.engine import Engine
    ecfg = config.engine_config()
    if config.ring.key is not None:       # the transport seals: keep datagrams in one frame
        from ..security.sealer import SEAL_OVERHEAD, UDP_FRAME
        size = ecfg.params.max_packet
        if size <= UDP_FRAME < size + SEAL_OVERHEAD:
            params = dataclasses.replace(ecfg.params, max_packet=UDP_FRAME - SEAL_OVERHEAD)
            ecfg = dataclasses.replace(ecfg, params=params)
    engine = Engine(ecfg, int(me.node_id), incarnation, ring_seq, seed)
    return GroupEngine(engine, config.names(), max_message=engine.packer.max_message)
