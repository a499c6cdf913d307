"""Basic value types shared by every layer of the core.

``NodeId`` and ``Seq`` are NewTypes so node ids and sequence numbers cannot be mixed up
by a type checker. ``RingId`` is (representative, ring_seq), compared by equality on both
fields (PROTOCOL.md section 7: a rep-only or seq-only compare confuses partitions' rings).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NewType

NodeId = NewType("NodeId", int)
Seq = NewType("Seq", int)

NONE_NODE = NodeId(0)


@dataclass(frozen=True, slots=True, order=True)
class RingId:
    """Identity of one ring instance: its representative (lowest node id) and ring seq."""

    rep: int
    seq: int

    def __str__(self) -> str:
        return f"{self.rep}.{self.seq}"

    @property
    def is_null(self) -> bool:
        return self.rep == 0 and self.seq == 0


NULL_RING = RingId(0, 0)

# Members of a plain Enum are singletons compared by identity; hashing them by identity
# (a C slot) instead of Enum's Python-level hash(name) keeps timer and state lookups
# cheap on the token path.
_identity_hash = object.__hash__


class Service(enum.IntEnum):
    """Delivery service, with Spread's meaning.

    The ring itself orders everything as AGREED or SAFE; the weaker services are
    carried as AGREED (total order implies causal, FIFO and reliable) so they never
    cross a view change.
    """

    UNRELIABLE = 0
    AGREED = 1
    SAFE = 2
    RELIABLE = 3
    FIFO = 4
    CAUSAL = 5

    @property
    def ring_service(self) -> "Service":
        """The ring-level service that carries this one (AGREED or SAFE)."""
        return Service.SAFE if self is Service.SAFE else Service.AGREED


class ConfigKind(enum.Enum):
    __hash__ = _identity_hash
    REGULAR = "regular"
    TRANSITIONAL = "transitional"


class Lane(enum.Enum):
    """Submission lanes: CONTROL is always eligible, NORMAL closes during a state exchange."""

    __hash__ = _identity_hash
    CONTROL = "control"
    NORMAL = "normal"


class TimerId(enum.Enum):
    __hash__ = _identity_hash
    TOKEN_LOSS = "token_loss"
    TOKEN_RETRANSMIT = "token_retransmit"
    TOKEN_HOLD = "token_hold"
    JOIN = "join"
    CONSENSUS = "consensus"
    MERGE_BEACON = "merge_beacon"
    TICK = "tick"
    REPLY_WINDOW = "reply_window"
    HURRY = "hurry"


class MemberState(enum.Enum):
    __hash__ = _identity_hash
    OPERATIONAL = "operational"
    GATHER = "gather"
    COMMIT = "commit"
    RECOVERY = "recovery"
    STOPPED = "stopped"


class GatherReason(enum.Enum):
    """Why a node entered GATHER (recorded, logged at DEBUG and counted)."""

    __hash__ = _identity_hash
    START = "start"
    TOKEN_LOSS = "token_loss"
    FOREIGN_PACKET = "foreign_packet"
    JOIN = "join"
    FAIL_TO_RECEIVE = "fail_to_receive"
    CONSENSUS_TIMEOUT = "consensus_timeout"
    COMMIT_LOSS = "commit_loss"
    RECOVERY_ABORT = "recovery_abort"
    SEQ_WRAP = "seq_wrap"
    RESTART_DETECTED = "restart_detected"
