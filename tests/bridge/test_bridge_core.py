"""The bridge core without any network: gates (loop rule, token-bucket rate limit with the
time passed in), counters, name mapping, the fleet payload, and ROS / user message types
on both sides of the DDS conversion."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import pytest

from robot_gcs.bridge.core import (CameBack, Counters, Gate, Verdict, bridge_node_name,
                                   came_through_bridge, fleet_key, ring_topic_of, ros_dds_topic)
from robot_gcs.bridge.spec import BridgeSpec, DdsOptions, InRule, OutRule, RemoteQoS, ZenohOptions
from robot_gcs.errors import LocalProtocolError, MalformedPacket
from robot_gcs.pubsub.codec import codec_for


def test_names_map_between_ring_ros_and_fleet() -> None:
    assert ros_dds_topic("odom") == ros_dds_topic("/odom") == "rt/odom"
    assert ros_dds_topic("/arm/joint_states") == "rt/arm/joint_states"
    assert ring_topic_of("cmd_vel") == "/cmd_vel"
    assert fleet_key("r1", "/odom") == "fleet/r1/odom"
    assert bridge_node_name("ros") == "bridge.ros" and bridge_node_name("ros", "in") == "bridge.ros.in"
    assert came_through_bridge("#bridge.ros.in#cpu1") and came_through_bridge("bridge.fleet")
    assert not came_through_bridge("#planner#cpu1") and not came_through_bridge("#bridgehead#cpu1")
    with pytest.raises(LocalProtocolError):
        ring_topic_of("bad name")


def test_gate_drops_loops_and_meters_the_rate_with_time_passed_in() -> None:
    g = Gate(10.0)                        # 10 Hz, no burst
    assert g.admit(0.0, "#bridge.x.in#d1") is Verdict.LOOP
    assert g.admit(0.0, "#app#d1") is Verdict.PASS
    assert g.admit(0.05, "#app#d1") is Verdict.RATE      # 50 ms < 100 ms
    assert g.admit(0.10, "#app#d1") is Verdict.PASS
    # 1 kHz for 1 s through a 10 Hz gate: 10 pass (one per 100 ms), the rest are dropped
    passed = sum(g.admit(1.0 + i / 1000) is Verdict.PASS for i in range(1000))
    assert passed == 10
    unlimited = Gate(None)
    assert all(unlimited.admit(i * 1e-6) is Verdict.PASS for i in range(100))
    burst = Gate(1.0, burst=3.0)
    assert [burst.admit(0.0) for _ in range(4)] == [Verdict.PASS] * 3 + [Verdict.RATE]


def test_counters_record_what_happened() -> None:
    c = Counters("out", "/odom", "rt/odom")
    c.dropped(Verdict.LOOP)
    c.dropped(Verdict.RATE)
    c.dropped(Verdict.RATE)
    c.sent(200, 5.0)
    c.failed("ValueError: too big")
    s = c.stats()
    assert (s.forwarded, s.loops, s.rate_dropped, s.errors, s.bytes, s.last_time) == (1, 1, 2, 1, 200, 5.0)
    assert s.last_error == "ValueError: too big" and s.remote == "rt/odom"


def test_specs_refuse_nonsense() -> None:
    with pytest.raises(LocalProtocolError, match="rate"):
        OutRule("/odom", bytes, rate=0)
    with pytest.raises(LocalProtocolError, match="depth"):
        RemoteQoS(depth=0)
    with pytest.raises(LocalProtocolError, match="outside name"):
        InRule("", "/x")
    with pytest.raises(LocalProtocolError, match="ZenohOptions"):
        BridgeSpec("b", "fleet", options=DdsOptions())
    with pytest.raises(LocalProtocolError, match="robot name"):
        ZenohOptions("a/b")


@dataclass(frozen=True, slots=True)
class Tiny:
    robot: str
    n: int


def test_fleet_payload_carries_fingerprint_origin_and_body() -> None:
    from robot_gcs.bridge.fleet import decode_message, decode_payload, encode_payload
    codec = codec_for(Tiny)
    data = encode_payload(codec.fingerprint, "r1", codec.encode(Tiny("r1", 3)))
    fp, origin, body = decode_payload(data)
    assert (fp, origin, bytes(body)) == (codec.fingerprint, "r1", codec.encode(Tiny("r1", 3)))
    assert decode_message(data, Tiny) == ("r1", Tiny("r1", 3))
    with pytest.raises(MalformedPacket, match="fleet_type"):
        decode_message(data, bytes)
    for junk in (b"", b"RG", b"XX" + data[2:], data[:13] + b"\xff" * 3):
        with pytest.raises(MalformedPacket):
            decode_payload(junk)


def test_fleet_inbound_refuses_its_own_messages_and_wrong_types() -> None:
    from robot_gcs.bridge.fleet import ZenohOutside, encode_payload
    spec = BridgeSpec("f", "fleet", inbound=(InRule("fleet/r2/tiny", "/tiny", Tiny),),
                      options=ZenohOptions("r1"))
    z = ZenohOutside(spec)                # opens nothing until open()
    codec = codec_for(Tiny)
    assert z.to_ring(0, encode_payload(codec.fingerprint, "r2", codec.encode(Tiny("r2", 1)))) == Tiny("r2", 1)
    with pytest.raises(CameBack):
        z.to_ring(0, encode_payload(codec.fingerprint, "r1", codec.encode(Tiny("r1", 1))))
    with pytest.raises(MalformedPacket):
        z.to_ring(0, encode_payload(codec_for(bytes).fingerprint, "r2", b"x"))


class Mode(enum.IntEnum):
    IDLE = 0
    DRIVE = 1


@dataclass
class Inner:
    label: str = ""
    values: list[float] = field(default_factory=list)


@dataclass
class UserMsg:
    mode: Mode
    count: int
    ok: bool
    blob: bytes
    inner: Inner
    inners: tuple[Inner, ...] = ()


def test_ros_types_and_user_dataclasses_convert_both_ways() -> None:
    pytest.importorskip("cyclonedds")
    pytest.importorskip("rosbags")
    from robot_gcs.bridge.idl import dds_type
    from robot_gcs.bridge.ros_types import ros_class
    Image = ros_class("sensor_msgs/msg/Image")
    img = Image(height=2, width=3, encoding="mono8", step=3, data=bytes(range(6)))
    img.header.frame_id = "cam"
    dt = dds_type(Image)
    assert dt.type_name == "sensor_msgs::msg::dds_::Image_"
    wire = dt.to_dds(img).serialize()
    assert dt.from_dds(dt.idl_cls.deserialize(wire)) == img
    NavSatFix = ros_class("sensor_msgs/NavSatFix")     # short form, constants kept
    assert NavSatFix.COVARIANCE_TYPE_KNOWN == 3 and len(NavSatFix().position_covariance) == 9
    m = UserMsg(Mode.DRIVE, -5, True, b"\x00\x01", Inner("a", [1.5]), (Inner("b", []),))
    du = dds_type(UserMsg)
    assert du.type_name == f"{UserMsg.__module__.split('.')[0]}::msg::dds_::UserMsg_"
    back = du.from_dds(du.idl_cls.deserialize(du.to_dds(m).serialize()))
    assert back == m and type(back.mode) is Mode and type(back.inners) is tuple
    bad = ros_class("std_msgs/msg/Int32")(data=2**40)     # does not fit int32
    with pytest.raises(Exception):
        dds_type(type(bad)).to_dds(bad).serialize()

    @dataclass
    class Pair:
        xy: tuple[int, float]
    with pytest.raises(LocalProtocolError, match="no DDS counterpart"):
        dds_type(Pair)
    with pytest.raises(LocalProtocolError, match="unknown ROS message type"):
        ros_class("nav_msgs/msg/Odometri")
