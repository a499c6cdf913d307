"""Typed topics cannot fail silently (issue 16, item 1): the type is required or found,
rclpy's argument order works, a mismatch names both types and is counted."""

from __future__ import annotations

import pytest

from robot_gcs.errors import LocalProtocolError
from robot_gcs.pubsub.node import Node
from robot_gcs.pubsub.qos import QoS

from pubsub_fakebus import FakeBus, Odom, OdomV2


def node(bus: FakeBus, name: str, daemon: str = "d1", **kw) -> Node:
    return Node(name, bus.connect(name, daemon), type_wait=0.5, **kw)


def test_rclpy_argument_order_and_the_topic_first_order_both_work() -> None:
    bus = FakeBus()
    a, b = node(bus, "a"), node(bus, "b", "d2")
    got1: list[Odom] = []
    got2: list[Odom] = []
    b.create_subscription(Odom, "/odom", got1.append, 10)            # rclpy
    s2 = b.create_subscription("/odom", got2.append, QoS(depth=3), Odom)
    pub = a.create_publisher(Odom, "/odom", 10)                       # rclpy
    pub2 = a.create_publisher("/odom", Odom)
    assert pub.qos.depth == 10 and s2.qos.depth == 3 and pub2.msg_type is Odom
    pub.publish(Odom(1.0, 2.0))
    b.spin_once()
    assert got1 == got2 == [Odom(1.0, 2.0)]


@pytest.mark.parametrize("call", [
    lambda n: n.create_publisher("/a", "/b"),
    lambda n: n.create_publisher(Odom, QoS()),
    lambda n: n.create_subscription(Odom, print, "/odom"),
    lambda n: n.create_subscription("/odom", print, msg_type=Odom(1.0, 2.0)),
    lambda n: n.create_subscription(Odom, "/odom", print, msg_type=OdomV2),
])
def test_ambiguous_arguments_are_refused_showing_both_forms(call) -> None:
    n = node(FakeBus(), "n")
    with pytest.raises(LocalProtocolError) as e:
        call(n)
    assert "create_" in str(e.value)


def test_a_subscription_without_a_type_is_an_error_not_raw_bytes() -> None:
    n = node(FakeBus(), "n")
    with pytest.raises(LocalProtocolError, match=r"no message type for /odom: pass it"):
        n.create_subscription("/odom", print)


def test_the_type_comes_from_the_launch_declaration() -> None:
    n = node(FakeBus(), "n", topic_types={"/odom": Odom})
    assert n.create_subscription("/odom", print).msg_type is Odom
    with pytest.raises(LocalProtocolError, match=r"declared as .*:Odom in the launch file, not .*:OdomV2"):
        n.create_publisher(OdomV2, "/odom")


def test_the_type_comes_from_the_registry() -> None:
    bus = FakeBus()
    a = node(bus, "a")
    a.create_publisher(Odom, "/odom")
    b = node(bus, "b", "d2")
    a.spin_once()                 # a sees b join the registry and announces again
    sub = b.create_subscription("/odom", print)
    assert sub.msg_type is Odom


def test_a_mismatch_names_both_types_and_counts() -> None:
    bus = FakeBus()
    a, b = node(bus, "a"), node(bus, "b", "d2")
    errors = []
    sub = b.create_subscription(OdomV2, "/odom", print, on_error=errors.append)
    raw = a.create_publisher(bytes, "/odom")
    b.spin_once()                 # a's announcement: the registry knows its type
    raw.publish(b"hello")
    raw.publish(b"again")
    b.spin_once()
    assert sub.type_errors == 2 and len(errors) == 2
    text = str(errors[0])
    assert "expects pubsub_fakebus:OdomV2" in text and "#a#d1 publishes bytes" in text
    st = [s for s in b.statistics() if s.role == "sub"][0]
    assert st.type_errors == 2 and "publishes bytes" in st.last_error
