"""Wire format: every packet round-trips, and any byte string decodes or raises MalformedPacket."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_gcs.core import wire
from robot_gcs.core.types import RingId, Service
from robot_gcs.core.wire import (Beacon, Commit, CommitEntry, Hurry, Join, Mcast, Token, decode,
                                 encode)
from robot_gcs.errors import MalformedPacket

u32 = st.integers(1, 2**32 - 1)
u32z = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
rings = st.builds(RingId, u32, u64)
ids = st.lists(u32, max_size=32, unique=True).map(lambda v: tuple(sorted(v)))


def _token(sender: int, inc: int, ring: RingId, tseq: int, seq: int, aru: int, aru_id: int,
           fcc: int, backlog: int, flg: bool, rtr: list[int], lent: bool) -> Token:
    return Token(sender, inc, ring, tseq, seq, min(aru, seq), aru_id, fcc, backlog, flg,
                 tuple(rtr), lent)


def _commit(sender: int, inc: int, ring: RingId, tseq: int, members: tuple[int, ...],
            data: st.DataObject) -> Commit:
    entries = tuple(CommitEntry(data.draw(u32z), data.draw(st.builds(RingId, u32z, u64)),
                                data.draw(u32z), data.draw(u32z), data.draw(st.booleans()),
                                data.draw(u32z))
                    for _ in members)
    index = data.draw(st.integers(0, len(members)))
    return Commit(sender, inc, ring, tseq, index, members, entries)


mcasts = st.builds(Mcast, u32, u32z, rings, u32, u32z,
                   st.sampled_from([Service.AGREED, Service.SAFE]),
                   st.binary(max_size=1300), st.booleans())
tokens = st.builds(_token, u32, u32z, rings, u32z, u32z, u32z, u32z, u32z, u32z, st.booleans(),
                   st.lists(u32z, max_size=64), st.booleans())
joins = st.builds(Join, u32, u32z, u64, ids, ids, st.booleans())
beacons = st.builds(Beacon, u32, u32z, rings, st.integers(0, 65535), st.integers(0, 255))
hurries = st.builds(Hurry, u32, u32z, rings)


@st.composite
def commits(draw: st.DrawFn) -> Commit:
    members = draw(st.lists(u32, min_size=1, max_size=32, unique=True).map(
        lambda v: tuple(sorted(v))))
    return _commit(draw(u32), draw(u32z), draw(rings), draw(u32z), members, draw(st.data()))


packets = st.one_of(mcasts, tokens, joins, beacons, hurries, commits())
keys = st.one_of(st.none(), st.binary(min_size=16, max_size=32))


@given(packets, keys, u32z)
def test_every_packet_type_round_trips(pkt: wire.Packet, key: bytes | None, cid: int) -> None:
    data = encode(pkt, cid, key)
    assert decode(data, key, cid) == pkt


@given(st.binary(max_size=200), keys)
def test_random_bytes_decode_or_raise_malformed(data: bytes, key: bytes | None) -> None:
    try:
        decode(data, key, 5)
    except MalformedPacket as exc:
        assert exc.reason


@given(packets, keys, st.data())
@settings(max_examples=300)
def test_truncations_and_bit_flips_only_raise_malformed(pkt: wire.Packet, key: bytes | None,
                                                        data: st.DataObject) -> None:
    raw = encode(pkt, 9, key)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(MalformedPacket):
        decode(raw[:cut], key, 9)
    pos = data.draw(st.integers(0, len(raw) - 1))
    bit = data.draw(st.integers(0, 7))
    flipped = bytearray(raw)
    flipped[pos] ^= 1 << bit
    try:
        out = decode(bytes(flipped), key, 9)
    except MalformedPacket as exc:
        assert exc.reason
    else:
        assert key is None, "a flipped bit must never pass the MAC"
        assert out != pkt or bytes(flipped) == raw


def test_bad_mac_and_missing_mac_are_reported() -> None:
    pkt = Hurry(1, 1, RingId(1, 4))
    raw = encode(pkt, 0, b"k" * 16)
    with pytest.raises(MalformedPacket) as e1:
        decode(raw, b"x" * 16, 0)
    assert e1.value.reason == "bad_mac"
    with pytest.raises(MalformedPacket) as e2:
        decode(encode(pkt, 0, None), b"k" * 16, 0)
    assert e2.value.reason in ("bad_mac", "truncated")


@pytest.mark.parametrize("mutate,reason", [
    (lambda b: b[:10], "truncated"),
    (lambda b: b"\x00\x00" + b[2:], "bad_magic"),
    (lambda b: b[:2] + b"\x01" + b[3:], "bad_version"),     # the version before LENT
    (lambda b: b[:3] + b"\x09" + b[4:], "bad_type"),
    (lambda b: b + b"\x00", "bad_length"),
])
def test_each_defect_has_a_stable_reason(mutate, reason: str) -> None:  # type: ignore[no-untyped-def]
    raw = encode(Hurry(3, 1, RingId(1, 4)), 0)
    with pytest.raises(MalformedPacket) as exc:
        decode(mutate(raw), None, 0)
    assert exc.value.reason == reason


def test_foreign_cluster_is_dropped() -> None:
    raw = encode(Hurry(3, 1, RingId(1, 4)), 11)
    with pytest.raises(MalformedPacket) as exc:
        decode(raw, None, 12)
    assert exc.value.reason == "foreign_cluster"


def test_header_and_body_sizes_match_protocol() -> None:
    assert wire.HEADER.size == 20
    assert wire.MCAST_BODY.size == 24
    assert wire.TOKEN_BODY.size == 38
    assert wire.JOIN_BODY.size == 12
    assert wire.COMMIT_BODY.size == 20
    assert wire.COMMIT_ENTRY.size == 32
    assert wire.BEACON_BODY.size == 16
    assert wire.HURRY_BODY.size == 12
    full = Commit(1, 1, RingId(1, 8), 0, 0, tuple(range(1, 33)), tuple(CommitEntry()
                                                                         for _ in range(32)))
    assert len(encode(full, 0, b"k" * 16)) <= 1400
    tok = Token(1, 1, RingId(1, 8), 0, 0, 0, 0, 0, 0, False, tuple(range(64)))
    assert len(encode(tok)) - wire.HEADER.size <= 314


def test_is_token_reads_only_the_type_byte() -> None:
    r = RingId(1, 256)
    tok = wire.encode(Token(1, 1, r, 5, 10, 10, 0, 0, 0, False), 7)
    mc = wire.encode(Mcast(1, 1, r, 1, 1, Service.AGREED, b"x"), 7)
    assert wire.is_token(tok) and not wire.is_token(mc)
    assert not wire.is_token(tok[:3]) and not wire.is_token(b"")


def test_only_a_token_may_say_lent() -> None:
    # the TOKEN flag (core/token_flow.py lending) round-trips; on a HURRY the same bit
    # is a reserved one
    tok = Token(1, 1, RingId(1, 8), 3, 10, 10, 0, 0, 0, False, (), True)
    raw = encode(tok, 0)
    assert raw[4] == wire.FLAG_LENT and decode(raw, None, 0) == tok
    hurry = bytearray(encode(Hurry(3, 1, RingId(1, 4)), 0))
    hurry[4] = wire.FLAG_LENT
    with pytest.raises(MalformedPacket) as exc:
        decode(bytes(hurry), None, 0)
    assert exc.value.reason == "bad_field"
