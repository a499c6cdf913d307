"""The client wire protocol round-trips every frame and turns junk into RemoteProtocolError."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_gcs.client import wire
from robot_gcs.core.events import Cause, DataMessage, GroupView
from robot_gcs.core.types import Service
from robot_gcs.errors import LocalProtocolError, MalformedPacket, RemoteProtocolError

names = st.text(max_size=40)
name_tuples = st.lists(names, max_size=5).map(tuple)
payloads = st.binary(max_size=3000)
services = st.sampled_from(list(Service))
msg_types = st.integers(min_value=wire.MSG_TYPE_MIN, max_value=wire.MSG_TYPE_MAX)
u64 = st.integers(min_value=0, max_value=2 ** 64 - 1)

client_frames = st.one_of(
    st.builds(wire.Hello, names, st.integers(0, 255)),
    st.builds(wire.Join, names),
    st.builds(wire.Leave, names),
    st.builds(wire.Multicast, name_tuples, payloads, services, msg_types, st.booleans()),
    st.builds(wire.Bye, names),
    st.builds(wire.Private, names, payloads, services, msg_types),
)
server_frames = st.one_of(
    st.builds(wire.Welcome, names, st.integers(0, 255)),
    st.builds(wire.Closed, names, st.booleans()),
    st.builds(wire.Error, names),
    st.builds(DataMessage, names, name_tuples, services, payloads, msg_types),
    st.builds(GroupView, names, st.tuples(u64, u64, u64), name_tuples,
              st.sampled_from(list(Cause)), name_tuples, st.booleans()),
)


def _decode_in_chunks(accept: frozenset[int], data: bytes, cuts: list[int]) -> list[wire.Frame]:
    dec = wire.FrameDecoder(accept)
    out: list[wire.Frame] = []
    prev = 0
    for cut in sorted({c % (len(data) + 1) for c in cuts}) + [len(data)]:
        dec.feed(data[prev:cut])
        prev = cut
        out.extend(dec.frames())
    assert dec.buffered == 0
    return out


@given(st.lists(client_frames, max_size=8), st.lists(st.integers(0, 10 ** 6), max_size=10))
def test_client_frames_round_trip_across_any_split(frames: list[wire.Frame], cuts: list[int]) -> None:
    data = b"".join(wire.encode(f) for f in frames)
    assert _decode_in_chunks(wire.CLIENT_FRAME_TYPES, data, cuts) == frames


@given(st.lists(server_frames, max_size=8), st.lists(st.integers(0, 10 ** 6), max_size=10))
def test_server_frames_round_trip_across_any_split(frames: list[wire.Frame], cuts: list[int]) -> None:
    data = b"".join(wire.encode(f) for f in frames)
    assert _decode_in_chunks(wire.SERVER_FRAME_TYPES, data, cuts) == frames


@settings(max_examples=300)
@given(st.binary(max_size=400), st.sampled_from([wire.CLIENT_FRAME_TYPES, wire.SERVER_FRAME_TYPES]))
def test_random_bytes_never_raise_anything_but_remote_protocol_error(
        junk: bytes, accept: frozenset[int]) -> None:
    dec = wire.FrameDecoder(accept, max_frame=1000)
    dec.feed(junk)
    try:
        list(dec.frames())
    except RemoteProtocolError:
        with pytest.raises(RemoteProtocolError):   # the decoder stays broken
            dec.next_frame()


@settings(max_examples=200)
@given(server_frames, st.integers(0, 10 ** 6), st.integers(0, 255))
def test_corrupted_frames_decode_or_fail_cleanly(frame: wire.Frame, where: int, value: int) -> None:
    data = bytearray(wire.encode(frame))
    data[where % len(data)] = value
    dec = wire.FrameDecoder(wire.SERVER_FRAME_TYPES)
    dec.feed(bytes(data))
    try:
        list(dec.frames())
    except RemoteProtocolError:
        pass


def test_partial_frame_waits_for_more_bytes() -> None:
    data = wire.encode(wire.Join("control"))
    dec = wire.FrameDecoder(wire.CLIENT_FRAME_TYPES)
    dec.feed(data[:-1])
    assert dec.next_frame() is None
    dec.feed(data[-1:])
    assert dec.next_frame() == wire.Join("control")


def test_oversized_length_is_rejected_before_buffering_the_body() -> None:
    dec = wire.FrameDecoder(wire.SERVER_FRAME_TYPES, max_frame=100)
    dec.feed(b"\x7f\xff\xff\xff\x11")
    with pytest.raises(MalformedPacket) as info:
        dec.next_frame()
    assert info.value.reason == "bad_length"


def test_frame_of_the_wrong_direction_is_a_protocol_error() -> None:
    dec = wire.FrameDecoder(wire.SERVER_FRAME_TYPES)
    dec.feed(wire.encode(wire.Join("g")))
    with pytest.raises(MalformedPacket) as info:
        dec.next_frame()
    assert info.value.reason == "bad_type"


@pytest.mark.parametrize("mutate, reason", [
    (lambda b: b[:5] + b"XXXX" + b[9:], "bad_magic"),
    (lambda b: b + b"\x00", "trailing_bytes"),
])
def test_malformed_hello_reports_a_reason(mutate, reason: str) -> None:  # type: ignore[no-untyped-def]
    raw = bytearray(wire.encode(wire.Hello("planner")))
    raw = bytearray(mutate(bytes(raw)))
    raw[0:4] = (len(raw) - 4).to_bytes(4, "big")
    dec = wire.FrameDecoder(wire.CLIENT_FRAME_TYPES)
    dec.feed(bytes(raw))
    with pytest.raises(MalformedPacket) as info:
        dec.next_frame()
    assert info.value.reason == reason


def test_bad_utf8_and_bad_service_are_malformed() -> None:
    bad_name = wire._frame(wire.T_JOIN, b"\x00\x02\xff\xfe")
    bad_service = wire._frame(wire.T_MCAST, wire._MCAST.pack(99, 0, 0, 0))
    for raw, reason in [(bad_name, "bad_utf8"), (bad_service, "bad_service")]:
        dec = wire.FrameDecoder(wire.CLIENT_FRAME_TYPES)
        dec.feed(raw)
        with pytest.raises(MalformedPacket) as info:
            dec.next_frame()
        assert info.value.reason == reason


def test_unencodable_values_are_the_callers_fault() -> None:
    with pytest.raises(LocalProtocolError):
        wire.encode_multicast(("g",), b"", Service.AGREED, msg_type=2 ** 40)
    with pytest.raises(LocalProtocolError):
        wire.encode(wire.Join("x" * 70000))
    with pytest.raises(LocalProtocolError):
        wire.encode(GroupView("g", (-1, 0, 0), (), Cause.JOIN))
    with pytest.raises(LocalProtocolError, match="bytes needed"):
        wire.encode(DataMessage("#a#b", ("g",), Service.AGREED, object()))
