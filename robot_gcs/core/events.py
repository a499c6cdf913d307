"""Events a client receives: data messages, group views, transitional signals.

These are the public event values of the Session API (re-exported by ``robot_gcs``).
The group layer (``core/groups.py``) produces them; sessions hand them to clients as is
(in-process) or encoded (socket sessions). Frozen, so they cross threads safely.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Union

from .types import Service


class Cause(enum.Enum):
    """Why a group view changed."""

    JOIN = "join"
    LEAVE = "leave"
    DISCONNECT = "disconnect"
    NETWORK = "network"


@dataclass(frozen=True, slots=True)
class DataMessage:
    """A message delivered to a client.

    ``sender`` is the sender's private name ``#client#daemon``; ``groups`` the groups it
    was sent to. ``payload`` is bytes, or (in-process topics only) the very object the
    publisher passed, never copied.
    """

    sender: str
    groups: tuple[str, ...]
    service: Service
    payload: Any
    msg_type: int = 0


@dataclass(frozen=True, slots=True)
class GroupView:
    """A group's membership, agreed by every member at the same point of the order.

    ``view_id`` is ``(ring_rep, ring_seq, index)``; ``changed`` lists the members that
    joined or left; ``transitional`` is True for the signal that a configuration change
    is under way (the regular view follows).
    """

    group: str
    view_id: tuple[int, int, int]
    members: tuple[str, ...]
    cause: Cause
    changed: tuple[str, ...] = ()
    transitional: bool = False


Event = Union[DataMessage, GroupView]


def private_name(client: str, daemon: str) -> str:
    """A member's private name, Spread style: ``#client#daemon``."""
    return f"#{client}#{daemon}"
