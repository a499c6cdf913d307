"""Priority and the send-queue bounds (core/packing.py).

What a robot program relies on: an e-stop published during a burst enters the total
order at the next token visit, ahead of other clients' waiting messages but never ahead
of its own client's; a sender that outruns the ring is refused (Backpressure) instead of
queueing a growing delay; an urgent message is never refused for that.
"""

from __future__ import annotations

import pytest

from robot_gcs.core.packing import AGE_BOUND_BYTES, Assembler, Chunk, Packer, split_chunks
from robot_gcs.core.types import Lane, Service
from robot_gcs.errors import Backpressure


def _order(p: Packer) -> list[bytes]:
    """The messages in the order the packer sends them (fragments reassembled)."""
    out: list[bytes] = []
    asm = Assembler()
    while p.has_work():
        for _svc, payload in p.take(1):
            for msg_id, idx, cnt, data in split_chunks(payload):
                done = asm.feed(1, 1, Chunk(msg_id, idx, cnt, bytes(data)))
                if done is not None:
                    out.append(done)
    return out


def test_an_urgent_message_overtakes_other_owners_but_not_its_own() -> None:
    p = Packer(1300, 10_000, 1 << 20)
    for i in range(5):
        p.submit(b"a%d" % i, Service.AGREED, Lane.NORMAL, owner="a")
        p.submit(b"b%d" % i, Service.AGREED, Lane.NORMAL, owner="b")
    p.submit(b"STOP", Service.AGREED, Lane.NORMAL, urgent=True, owner="b")
    p.submit(b"STOP2", Service.AGREED, Lane.NORMAL, urgent=True, owner="c")
    got = _order(p)
    # b's queued messages go first, then its e-stop, then c's, then everyone else
    assert got[:7] == [b"b0", b"b1", b"b2", b"b3", b"b4", b"STOP", b"STOP2"]
    assert got[7:] == [b"a%d" % i for i in range(5)]


def test_a_fragmented_message_in_progress_finishes_before_an_urgent_one() -> None:
    p = Packer(200, 10_000, 1 << 20)
    p.submit(b"x" * 1000, Service.AGREED, Lane.NORMAL, owner="a")
    p.submit(b"later", Service.AGREED, Lane.NORMAL, owner="a")
    chunks = [c for _svc, payload in p.take(1) for c in split_chunks(payload)]
    p.submit(b"STOP", Service.AGREED, Lane.NORMAL, urgent=True, owner="b")
    while p.has_work():
        chunks += [c for _svc, payload in p.take(1) for c in split_chunks(payload)]
    ids = [msg_id for msg_id, _idx, _cnt, _data in chunks]
    big = ids[0]
    stop = next(m for m, _i, _c, d in chunks if bytes(d) == b"STOP")
    # every fragment of the big message, then the e-stop, then a's next message
    assert ids == [big] * ids.count(big) + [stop] + [ids[-1]] and ids[-1] not in (big, stop)


def test_a_sender_that_outruns_the_ring_is_refused_by_age_and_by_bytes() -> None:
    p = Packer(1300, 10_000, 1 << 20, max_bytes=64 * 1024, max_delay=0.01)
    p.submit(b"x" * 100, Service.AGREED, Lane.NORMAL, now=0.0)
    p.submit(b"x" * 100, Service.AGREED, Lane.NORMAL, now=0.02)    # a late token, light load:
    for _ in range(AGE_BOUND_BYTES // 100):                         # ... a flood is refused
        p.submit(b"x" * 100, Service.AGREED, Lane.NORMAL, now=0.005)
    with pytest.raises(Backpressure, match="waited 20 ms"):
        p.submit(b"x" * 100, Service.AGREED, Lane.NORMAL, now=0.02)
    p.submit(b"STOP", Service.AGREED, Lane.NORMAL, now=0.02, urgent=True)   # still gets in
    while p.has_work():
        p.take(100)                             # the token came: room again
    p.submit(b"x" * 40_000, Service.AGREED, Lane.NORMAL, now=0.03)
    with pytest.raises(Backpressure, match="bytes waiting"):
        p.submit(b"x" * 40_000, Service.AGREED, Lane.NORMAL, now=0.03)
    p.take(100)
    p.submit(b"x" * 100_000, Service.AGREED, Lane.NORMAL, now=0.04)  # alone: always fits
    assert p.normal_bytes == 100_000


def test_a_closed_lane_does_not_age_out_senders() -> None:
    p = Packer(1300, 10_000, 1 << 20, max_delay=0.01)
    p.normal_open = False                      # a membership change is under way
    big = b"x" * AGE_BOUND_BYTES
    p.submit(big, Service.AGREED, Lane.NORMAL, now=0.0)
    p.submit(b"m1", Service.AGREED, Lane.NORMAL, now=1.0)
    p.open_normal(1.0)                         # the waiting ones get a fresh max_delay
    p.submit(b"m2", Service.AGREED, Lane.NORMAL, now=1.005)
    with pytest.raises(Backpressure):
        p.submit(b"m3", Service.AGREED, Lane.NORMAL, now=1.02)
    assert _order(p) == [big, b"m1", b"m2"]
