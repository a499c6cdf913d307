"""Engine statistics: one frozen snapshot of an engine's health (STYLE.md habit 8).

Owns ``EngineStats``, the record ``Engine.statistics()`` returns. Diagnostics, the
``status`` command and tests all read this one model instead of parsing logs.
``drops`` is a sorted tuple of (reason, count): the reasons are the stable tokens of
``MalformedPacket`` plus engine-level ones (unknown_sender, stale_incarnation, own,
join_flushed, bad_chunk, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

from .types import GatherReason, MemberState, NodeId, RingId


@dataclass(frozen=True, slots=True)
class EngineStats:
    node_id: int
    incarnation: int
    state: MemberState
    ring_id: RingId
    members: tuple[NodeId, ...]
    gather_reason: GatherReason
    gather_from: int | None
    state_since: float
    gathers: int
    configs_installed: int
    token_rotations: int
    rotation_time_last: float | None
    packets_sent: int
    packets_received: int
    retransmits_sent: int
    retransmit_requests: int
    token_retransmits: int
    delivered_msgs: int
    delivered_bytes: int
    send_queue_len: int
    buffer_len: int
    pauses_detected: int
    drops: tuple[tuple[str, int], ...]
    reply_holds: int = 0             # tokens kept for a local reply (core/reply_window.py)
    reply_hits: int = 0              # ... released early by a local submit
    reply_waiter_releases: int = 0   # ... released early: the client waits again
    quiet_holds: int = 0             # tokens kept by this node as the quiet ring's holder
    tokens_lent: int = 0             # quiet tokens this holder lent to a lone sender
    lent_holds: int = 0              # lent tokens this node kept (it sends alone)
    late_tokens: int = 0             # visits overdue: this node asked every member (HURRY)

    def drop_count(self, reason: str | None = None) -> int:
        """Drops for one reason, or all drops when ``reason`` is None."""
        if reason is None:
            return sum(c for _r, c in self.drops)
        return dict(self.drops).get(reason, 0)
