"""A failed recovery keeps what it collected; rescued senders pass the post-gap filter.

Unit tests of recovery.py and ring.py for issue 12 (core/PROTOCOL_NOTES.md section 1);
the simulator's scenario ``recovery_dropout`` exercises the same path end to end.
"""

from __future__ import annotations

from robot_gcs.core.actions import Deliver, DeliverConfig
from robot_gcs.core.packing import Assembler, Chunk, encode_chunks
from robot_gcs.core.recovery import Recovery
from robot_gcs.core.ring import RingState
from robot_gcs.core.types import ConfigKind, RingId, Service
from robot_gcs.core.wire import Commit, CommitEntry, Mcast, encode

OLD = RingId(1, 256)
NEW = RingId(1, 512)
MEMBERS = (1, 2, 3, 4)


def pkt(seq: int, sender: int, text: bytes) -> tuple[Mcast, bytes]:
    m = Mcast(sender, 1, OLD, seq, seq, Service.SAFE, encode_chunks([Chunk(seq, 0, 1, text)]))
    return m, encode(m)


def old_ring(held: dict[int, int]) -> RingState:
    """Node 1's view of OLD holding ``{seq: sender}``."""
    r = RingState(OLD, MEMBERS, 1, 1)
    for seq, sender in sorted(held.items()):
        m, data = pkt(seq, sender, b"m%d" % seq)
        r.store(m, data, 100)
    return r


def commit(trans: tuple[int, ...], rescued: dict[int, int] | None = None) -> Commit:
    entries = tuple(CommitEntry(1, OLD, 0, 0, False, (rescued or {}).get(p, 0)) for p in trans)
    return Commit(1, 1, NEW, 0, len(trans), trans, entries)


def test_absorb_fills_gaps_and_raises_the_aru_but_delivers_and_frees_nothing() -> None:
    r = old_ring({1: 2, 2: 3, 4: 2})
    assert (r.my_aru, r.high_seq) == (2, 4)
    r.absorb(dict([(3, pkt(3, 3, b"x")), (5, pkt(5, 2, b"y"))]), frozenset({2, 3}))
    assert (r.my_aru, r.high_seq, r.delivered, r.released) == (5, 5, 0, 0)
    assert sorted(r.buf) == [1, 2, 3, 4, 5] and r.rescued == {2, 3}
    r.absorb({}, frozenset({4}))
    assert r.rescued == {2, 3, 4}


def test_the_rescued_mask_names_old_ring_members_by_position() -> None:
    r = old_ring({})
    r.rescued = frozenset({2, 4})
    assert r.rescued_mask() == 0b1010
    assert r.unmask(0b1010) == {2, 4} and r.unmask(0) == frozenset()


def test_a_failed_recovery_rescues_only_once_it_held_everything() -> None:
    for holds_all, rescued in ((False, frozenset()), (True, frozenset({1, 2, 3}))):
        old = old_ring({1: 2})
        old.frozen = True
        rec = Recovery.begin(commit((1, 2, 3)), 1, old, RingState(NEW, (1, 2, 3), 1, 1))
        m, data = pkt(2, 3, b"z")
        rec.on_encap(Mcast(3, 1, NEW, 1, 1, Service.AGREED, data, encap=True), m)
        rec.holds_all = holds_all
        rec.salvage()
        assert 2 in old.buf and old.my_aru == 2
        assert old.rescued == rescued


def delivered_in_t(rescued: dict[int, int]) -> list[bytes]:
    # seq 1 (from n4, which left) is missing everywhere: a gap before n1's and n2's packets
    old = old_ring({2: 1, 3: 2})
    rec = Recovery.begin(commit((1, 3), rescued), 1, old, RingState(NEW, (1, 3), 1, 1))
    out = rec.install(Assembler(), (1, 3), NEW, [])
    kinds = [a.kind for a in out if isinstance(a, DeliverConfig)]
    assert kinds == [ConfigKind.TRANSITIONAL, ConfigKind.REGULAR]
    return [a.payload for a in out if isinstance(a, Deliver) and a.in_transitional]


def test_after_a_gap_rescued_senders_are_delivered_with_the_transitional_ones() -> None:
    assert delivered_in_t({}) == [b"m2"]                       # n2 left: skipped
    assert delivered_in_t({3: 0b0010}) == [b"m2", b"m3"]       # n3's entry rescued n2
