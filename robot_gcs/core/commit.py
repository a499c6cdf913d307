"""The commit token: two rotations that turn a GATHER consensus into a ring (PROTOCOL.md 1.4.3).

Owns: building the commit token at the representative, each member's entry
(incarnation, old ring, old aru, high delivered, received flag), the acceptance test of
rotation 1, and the successor computation. The engine owns the state changes, timers,
Persist and the sends.

Rules:
* The rep picks ``ring_id = (me, next_ring_seq(max_ring_seq_seen, incarnation))`` (the next
  multiple of 256 above every seq seen, plus its incarnation mod 256) and
  ``members = sorted(proc - fail)``.
* A new life starts from ``persisted + 1``, or from ``incarnation << 32`` when the persisted
  seq was lost (incarnations increase cluster-wide, so no earlier ring id comes back).
* Rotation 1: a GATHER node accepts only if members == its ``proc - fail``, the ring seq
  exceeds every ring seq it adopted, and the token's ``memb_index`` points at it.
* ``received_flg``: I hold my old ring contiguously up to its high seq, and no earlier
  entry from my old ring has a higher aru. (Recovery additionally re-sends when the
  arus of the transitional members differ.)
* ``rescued``: the old ring's ``rescued_mask`` (ring.py), the senders whose packets a
  failed recovery of that ring may have delivered after a gap (recovery.py).
* Rotation 2 (memb_index == n): COMMIT -> RECOVERY; the rep originates the regular token once.
"""

from __future__ import annotations

from dataclasses import replace

from .limits import RING_SEQ_MAX
from .types import NULL_RING, RingId
from .wire import Commit, CommitEntry

#: a new ring's seq is the next multiple of 2**TAG_BITS above every seq seen, plus the
#: rep's incarnation modulo 2**TAG_BITS (see ``next_ring_seq``)
TAG_BITS = 8
#: floor of a life whose persisted ring seq was lost: ``incarnation << LOST_SEQ_SHIFT``.
#: Incarnations increase across the whole cluster's history (the runtime derives them
#: from the clock), so every ring seq any earlier life created is below this floor.
LOST_SEQ_SHIFT = 32


def initial_ring_seq_seen(persisted_ring_seq: int | None, incarnation: int) -> int:
    """The highest ring seq a new life may assume was used (PROTOCOL.md 7, ring id reuse);
    a persisted seq beyond core/limits.py's limit counts as lost."""
    if persisted_ring_seq is None or persisted_ring_seq > RING_SEQ_MAX:
        return (incarnation & 0xFFFFFFFF) << LOST_SEQ_SHIFT
    return persisted_ring_seq + 1


def next_ring_seq(max_ring_seq_seen: int, incarnation: int) -> int:
    """A ring seq above every seq seen, tagged with the rep's incarnation.

    PROTOCOL.md 1.4.3 allows any step that exceeds every seq seen. The tag is a second
    guard against ring id reuse besides the lost-persistence floor: two lives of one rep
    whose incarnations differ modulo 256 can never pick the same seq, even when a driver
    numbers incarnations per node (simulator seed 10194, scenario
    lost_seq_after_peer_restart).
    """
    high = (max_ring_seq_seen >> TAG_BITS) + 1
    return (high << TAG_BITS) | (incarnation & ((1 << TAG_BITS) - 1))


def new_commit(me: int, incarnation: int, max_ring_seq_seen: int,
               members: list[int]) -> Commit:
    ring = RingId(me, next_ring_seq(max_ring_seq_seen, incarnation))
    return Commit(me, incarnation, ring, 0, 0, tuple(members),
                  tuple(CommitEntry() for _ in members))


def acceptable(ct: Commit, me: int, live: list[int], ring_seq_floor: int) -> bool:
    """Rotation 1 acceptance test for a node in GATHER."""
    return (list(ct.members) == live and ct.ring.seq > ring_seq_floor
            and ct.memb_index < len(ct.members) and ct.members[ct.memb_index] == me)


def my_entry(ct: Commit, incarnation: int, old_ring: RingId, old_aru: int, old_high: int,
             high_delivered: int, rescued: int = 0) -> CommitEntry:
    flg = old_aru == old_high
    if flg and old_ring != NULL_RING:
        for e in ct.entries[:ct.memb_index]:
            if e.old_ring == old_ring and e.old_aru > old_aru:
                flg = False
                break
    return CommitEntry(incarnation, old_ring, old_aru, high_delivered, flg, rescued)


def with_entry(ct: Commit, me: int, incarnation: int, entry: CommitEntry) -> Commit:
    """Write my entry at ``memb_index`` and advance it (rotation 1)."""
    entries = list(ct.entries)
    entries[ct.memb_index] = entry
    return replace(ct, sender=me, incarnation=incarnation, memb_index=ct.memb_index + 1,
                   entries=tuple(entries), token_seq=ct.token_seq + 1)


def forwarded(ct: Commit, me: int, incarnation: int) -> Commit:
    """The copy I forward in rotation 2."""
    return replace(ct, sender=me, incarnation=incarnation, token_seq=ct.token_seq + 1)


def successor(members: tuple[int, ...], me: int) -> int:
    i = members.index(me)
    return members[(i + 1) % len(members)]
