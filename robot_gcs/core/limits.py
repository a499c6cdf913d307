"""Field ranges the engine refuses to trust, even in an authenticated packet.

Theory of operation
-------------------
A ring seq is a u64 and a new ring's seq steps above every seq seen
(core/commit.py ``next_ring_seq``): a packet claiming a seq near 2**64 would make the next
ring id overflow its field (issue 14: one forged BEACON stopped a ring for good and
poisoned every state file). An incarnation is a u32 that only grows: a packet claiming
the largest one would make every later genuine packet of that sender look stale.

``out_of_range(pkt)`` names the first such field (a drop reason the engine counts) or
returns None. Limits leave room that a genuine ring never reaches: ring seqs grow by 256
per membership change from at most ``incarnation << 32``, so 2**64 - 2**16 is ~2**56
membership changes away. Stateless.
"""

from __future__ import annotations

from .wire import Beacon, Commit, Hurry, Join, Mcast, Packet, Token

__all__ = ["RING_SEQ_MAX", "INCARNATION_MAX", "out_of_range"]

RING_SEQ_MAX = (1 << 64) - (1 << 16)
INCARNATION_MAX = (1 << 32) - 2


def out_of_range(pkt: Packet) -> str | None:
    """``ring_seq_limit`` / ``incarnation_limit`` when a field is at its limit, else None."""
    if pkt.incarnation > INCARNATION_MAX:
        return "incarnation_limit"
    if isinstance(pkt, Join):
        seq = pkt.ring_seq
    elif isinstance(pkt, (Mcast, Token, Beacon, Hurry)):
        seq = pkt.ring.seq
    else:
        assert isinstance(pkt, Commit)
        seq = pkt.ring.seq
        for e in pkt.entries:
            if e.old_ring.seq > RING_SEQ_MAX:
                return "ring_seq_limit"
            if e.incarnation > INCARNATION_MAX:
                return "incarnation_limit"
    return "ring_seq_limit" if seq > RING_SEQ_MAX else None

