"""Packing: small messages share packets, large ones fragment and reassemble (1 MB works)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_gcs.core.packing import CHUNK, Assembler, Packer, decode_chunks
from robot_gcs.core.types import Lane, Service
from robot_gcs.errors import Backpressure, LocalProtocolError, MalformedPacket

CAP = 1296


def _drain(p: Packer, per_visit: int = 15) -> list[tuple[Service, bytes]]:
    out: list[tuple[Service, bytes]] = []
    while p.has_work():
        got = p.take(per_visit)
        assert got, "packer has work but produced nothing"
        out.extend(got)
    return out


def _reassemble(packets: list[tuple[Service, bytes]]) -> list[tuple[Service, bytes]]:
    asm = Assembler()
    msgs = []
    for service, payload in packets:
        assert len(payload) <= CAP
        for c in decode_chunks(payload):
            m = asm.feed(7, 1, c)
            if m is not None:
                msgs.append((service, m))
    return msgs


def test_small_same_service_messages_share_one_packet() -> None:
    p = Packer(CAP, 100, 10**7)
    for i in range(10):
        p.submit(b"m%d" % i, Service.AGREED, Lane.NORMAL)
    packets = _drain(p)
    assert len(packets) == 1
    assert [m for _s, m in _reassemble(packets)] == [b"m%d" % i for i in range(10)]


def test_service_change_closes_the_packet() -> None:
    p = Packer(CAP, 100, 10**7)
    p.submit(b"a", Service.AGREED, Lane.NORMAL)
    p.submit(b"b", Service.SAFE, Lane.NORMAL)
    p.submit(b"c", Service.FIFO, Lane.NORMAL)     # carried as AGREED
    packets = _drain(p)
    assert [s for s, _ in packets] == [Service.AGREED, Service.SAFE, Service.AGREED]


def test_one_megabyte_message_fragments_and_reassembles() -> None:
    p = Packer(CAP, 100, 4 * 2**20)
    big = bytes(range(256)) * 4096                  # 1 MiB
    p.submit(b"before", Service.AGREED, Lane.NORMAL)
    p.submit(big, Service.AGREED, Lane.NORMAL)
    p.submit(b"after", Service.AGREED, Lane.NORMAL)
    packets = _drain(p)
    assert len(packets) >= len(big) // CAP
    assert [m for _s, m in _reassemble(packets)] == [b"before", big, b"after"]


@given(st.lists(st.tuples(st.integers(0, 5000), st.sampled_from([Service.AGREED, Service.SAFE])),
                max_size=30), st.integers(1, 20))
@settings(max_examples=100, deadline=None)
def test_any_message_mix_comes_out_whole_and_in_order(spec: list[tuple[int, Service]],
                                                      per_visit: int) -> None:
    p = Packer(CAP, 100, 10**6)
    msgs = [(s, bytes([i % 256]) * n) for i, (n, s) in enumerate(spec)]
    for s, m in msgs:
        p.submit(m, s, Lane.NORMAL)
    assert _reassemble(_drain(p, per_visit)) == msgs


def test_closed_normal_lane_holds_normal_but_not_control() -> None:
    p = Packer(CAP, 100, 10**6)
    p.normal_open = False
    p.submit(b"n", Service.AGREED, Lane.NORMAL)
    p.submit(b"c", Service.AGREED, Lane.CONTROL)
    assert [m for _s, m in _reassemble(_drain(p))] == [b"c"]
    p.normal_open = True
    assert [m for _s, m in _reassemble(_drain(p))] == [b"n"]


def test_partly_sent_message_is_resent_whole_after_restart() -> None:
    p = Packer(CAP, 100, 10**6)
    big = b"x" * (CAP * 5)
    p.submit(big, Service.AGREED, Lane.NORMAL)
    first = p.take(2)                  # two fragments sequenced in the old ring
    assert len(first) == 2
    asm = Assembler()
    for _s, pl in first:
        for c in decode_chunks(pl):
            assert asm.feed(1, 1, c) is None
    asm.clear()                        # install drops partial assemblies
    p.restart_partial()
    rest = _drain(p)
    assert [m for _s, m in _reassemble(rest)] == [big]


def test_full_queue_raises_backpressure_and_huge_message_is_caller_error() -> None:
    p = Packer(CAP, 2, 1000)
    p.submit(b"1", Service.AGREED, Lane.NORMAL)
    p.submit(b"2", Service.AGREED, Lane.NORMAL)
    with pytest.raises(Backpressure):
        p.submit(b"3", Service.AGREED, Lane.NORMAL)
    with pytest.raises(LocalProtocolError):
        p.submit(b"x" * 1001, Service.AGREED, Lane.CONTROL)


def test_unexpected_fragment_discards_the_assembly() -> None:
    p = Packer(CAP, 100, 10**6)
    p.submit(b"y" * (CAP * 3), Service.AGREED, Lane.NORMAL)
    packets = _drain(p)
    asm = Assembler()
    chunks = [c for _s, pl in packets for c in decode_chunks(pl)]
    assert asm.feed(1, 1, chunks[0]) is None
    assert asm.feed(1, 1, chunks[2]) is None        # fragment 1 missing
    assert asm.discarded == 1
    assert asm.feed(1, 1, chunks[1]) is None        # no assembly left to continue


@pytest.mark.parametrize("junk", [b"", b"\x00" * (CHUNK.size - 1),
                                  CHUNK.pack(1, 0, 1, 50) + b"short",
                                  CHUNK.pack(1, 2, 2, 0)])
def test_bad_chunks_are_malformed(junk: bytes) -> None:
    with pytest.raises(MalformedPacket) as exc:
        decode_chunks(junk)
    assert exc.value.reason == "bad_chunk"
