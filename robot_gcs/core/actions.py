"""Actions: what the sans-IO engine asks its driver to do.

Every engine entry point returns ``list[Action]`` in execution order. The runtime carries
them out on real sockets and a timer heap; the simulator carries them out on a virtual
network and clock. Actions are frozen values, safe to hand across threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .types import ConfigKind, NodeId, RingId, Service, TimerId

# Destinations for Send besides a single NodeId.
BROADCAST_RING = -1   # every member of the current ring (multicast, or one datagram per member)
BROADCAST_ALL = -2    # every configured peer (membership traffic, beacons)


@dataclass(frozen=True, slots=True)
class Send:
    dest: int          # a NodeId, BROADCAST_RING or BROADCAST_ALL
    data: bytes


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Arm (or re-arm) ``timer_id`` to fire at ``deadline``; replaces a pending one.

    ``slack``: the timer may fire up to that much after ``deadline`` (a driver may fold
    it into a wake-up it makes anyway); never before ``deadline``.
    """

    timer_id: TimerId
    deadline: float
    slack: float = 0.0


@dataclass(frozen=True, slots=True)
class CancelTimer:
    timer_id: TimerId


@dataclass(frozen=True, slots=True)
class Deliver:
    """One application message, in total order."""

    sender: NodeId
    incarnation: int
    payload: bytes
    service: Service
    ring_id: RingId
    seq: int
    in_transitional: bool


@dataclass(frozen=True, slots=True)
class DeliverConfig:
    """A configuration change: TRANSITIONAL first, then REGULAR (EVS)."""

    kind: ConfigKind
    ring_id: RingId
    members: tuple[NodeId, ...]
    left: tuple[NodeId, ...] = ()
    joined: tuple[NodeId, ...] = ()


@dataclass(frozen=True, slots=True)
class Persist:
    """Store ``ring_seq`` durably before going on (restart must not reuse ring ids)."""

    ring_seq: int


Action = Union[Send, SetTimer, CancelTimer, Deliver, DeliverConfig, Persist]
