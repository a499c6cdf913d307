"""Typed messages round-trip exactly, carry a fingerprint that tracks their shape, and
junk from the network is a MalformedPacket, never garbage."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import pytest
from hypothesis import given, strategies as st

from robot_gcs.errors import LocalProtocolError, MalformedPacket
from robot_gcs.pubsub.codec import (RAW_FINGERPRINT, Sample, codec_for, decode_envelope,
                                    encode_envelope, type_path)
from robot_gcs.pubsub.qos import QoS, group_topic, topic_group
from robot_gcs.core.types import Service


@dataclass(frozen=True, slots=True)
class Pose:
    x: float
    y: float
    theta: float


@dataclass(frozen=True, slots=True)
class Odom:
    stamp: float
    seq: int
    moving: bool
    pose: Pose
    frame: str
    covariance: tuple[float, ...]
    blob: bytes
    tags: list[str] = field(default_factory=list)


class Mode(enum.IntEnum):
    IDLE = 0
    DRIVE = 1


@dataclass(frozen=True, slots=True)
class Cmd:
    step: int
    mode: Mode
    pair: tuple[int, float]


@dataclass(frozen=True, slots=True)
class PoseRenamed:      # same layout as Pose, different field name
    x: float
    y: float
    yaw: float


finite = st.floats(allow_nan=False)


@given(st.builds(Odom, stamp=finite, seq=st.integers(-2**63, 2**63 - 1), moving=st.booleans(),
                 pose=st.builds(Pose, finite, finite, finite), frame=st.text(),
                 covariance=st.lists(finite, max_size=9).map(tuple), blob=st.binary(),
                 tags=st.lists(st.text(max_size=5), max_size=4)))
def test_typed_message_round_trips_exactly(msg: Odom) -> None:
    c = codec_for(Odom)
    assert c.decode(c.encode(msg)) == msg


def test_flat_message_is_compact() -> None:
    assert len(codec_for(Pose).encode(Pose(1.0, 2.0, 3.0))) == 24


def test_enums_and_fixed_tuples() -> None:
    c = codec_for(Cmd)
    m = Cmd(7, Mode.DRIVE, (3, 0.5))
    out = c.decode(c.encode(m))
    assert out == m and out.mode is Mode.DRIVE


def test_fingerprint_tracks_field_names_and_types() -> None:
    assert codec_for(Pose).fingerprint != codec_for(PoseRenamed).fingerprint
    assert codec_for(Pose).fingerprint == codec_for(Pose).fingerprint
    assert codec_for(Pose).fingerprint != RAW_FINGERPRINT
    assert codec_for(None).fingerprint == codec_for(bytes).fingerprint == RAW_FINGERPRINT
    assert "Pose{x:f64,y:f64,theta:f64}" == codec_for(Pose).description


def test_encoding_the_wrong_value_is_the_callers_fault() -> None:
    with pytest.raises(LocalProtocolError):
        codec_for(Pose).encode(PoseRenamed(1.0, 2.0, 3.0))
    with pytest.raises(LocalProtocolError):
        codec_for(Pose).encode(Pose("a", 2.0, 3.0))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        codec_for(None).encode("text")


def test_unsupported_field_types_are_rejected_at_definition_use() -> None:
    @dataclass
    class Bad:
        x: dict[str, int]
    with pytest.raises(LocalProtocolError, match="unsupported"):
        codec_for(Bad)


@given(st.binary(max_size=80))
def test_junk_bodies_never_decode_to_garbage(data: bytes) -> None:
    c = codec_for(Odom)
    try:
        c.decode(data)
    except MalformedPacket:
        pass


def test_truncated_and_trailing_bytes_are_malformed() -> None:
    c = codec_for(Pose)
    b = c.encode(Pose(1.0, 2.0, 3.0))
    with pytest.raises(MalformedPacket):
        c.decode(b[:-1])
    with pytest.raises(MalformedPacket):
        c.decode(b + b"x")


def test_envelope_round_trip_and_rejects_junk() -> None:
    s = Sample(codec_for(Pose).fingerprint, 0xdeadbeef, 42, 1234.5, None, True, 4)
    hdr, body = decode_envelope(encode_envelope(s, b"BODY"))
    assert hdr == s and bytes(body) == b"BODY"
    with pytest.raises(MalformedPacket):
        decode_envelope(b"short")
    with pytest.raises(MalformedPacket):
        decode_envelope(b"X" * 40)


def test_topic_names_map_to_groups_within_64_bytes() -> None:
    assert topic_group("/odom") == "t:/odom"
    assert group_topic("t:/arm/joints") == "/arm/joints"
    assert group_topic("control") is None
    for bad in ["odom", "/", "/a//b", "/a b", "/" + "x" * 62]:
        with pytest.raises(LocalProtocolError):
            topic_group(bad)
    topic_group("/" + "x" * 61)


def test_qos_validates_and_parses_service_names() -> None:
    assert QoS(service="safe").service is Service.SAFE
    assert QoS.sensor().service is Service.FIFO and QoS.sensor().depth == 1
    for bad in [dict(service="fast"), dict(depth=0), dict(deadline=-1), dict(latched="yes")]:
        with pytest.raises(LocalProtocolError):
            QoS(**bad)  # type: ignore[arg-type]


def test_type_path_names_the_class() -> None:
    assert type_path(Pose).endswith(":Pose") and type_path(None) == "bytes"
