"""ROS 2 bridge acceptance: an independent DDS program (Cyclone used directly, ROS 2 types
written by hand, tests/bridge/dds_peer.py) reads ``rt/odom`` with ROS 2's type name and gets
what a robot_gcs publisher sent; its ``rt/cmd_vel`` writes reach a robot_gcs subscriber,
field values intact. Everything on loopback (Cyclone pinned to ``lo``, multicast off)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("cyclonedds")
pytest.importorskip("rosbags")

from robot_gcs.bridge import Bridge, BridgeSpec, DdsOptions, InRule, OutRule, bridge_node_name
from robot_gcs.bridge.ros2 import loopback_config
from robot_gcs.bridge.ros_types import ros_class
from robot_gcs.pubsub.node import Node
from robot_gcs.pubsub.qos import QoS

from .conftest import dds_domain, non_loopback_sockets, wait_for

PEER = Path(__file__).with_name("dds_peer.py")

Odometry = ros_class("nav_msgs/msg/Odometry")
Twist = ros_class("geometry_msgs/msg/Twist")


def start_peer(domain: int, twists: int) -> tuple[subprocess.Popen[str], "queue.Queue[dict]"]:
    env = dict(os.environ, CYCLONEDDS_URI=loopback_config(domain))
    proc = subprocess.Popen([sys.executable, str(PEER), str(domain), "--twist", str(twists)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    lines: "queue.Queue[dict]" = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(json.loads(line))
    threading.Thread(target=read, daemon=True).start()
    return proc, lines


def test_odom_out_and_cmd_vel_in_through_dds(make_ring, spinner) -> None:
    ring = make_ring("ros", 2)
    d1, d2 = ring.daemons
    domain = dds_domain()
    spec = BridgeSpec("ros2", "ros2",
                      out=(OutRule("/odom", Odometry, "odom"),
                           OutRule("/cmd_vel", Twist, "cmd_vel")),   # came in: must not go out
                      inbound=(InRule("cmd_vel", "/cmd_vel", Twist, ring_qos=QoS(depth=100)),),
                      options=DdsOptions(domain, loopback_config(domain)))
    bnode = Node(bridge_node_name("ros2"), d1)
    bridge = Bridge(bnode, d1, spec)
    spinner.spin(bnode)
    peer, lines = start_peer(domain, twists=1000)
    try:
        assert lines.get(timeout=60) == {"ready": True}
        app = Node("app", d2)
        got_twist: list = []
        app.create_subscription(Twist, "/cmd_vel", got_twist.append, QoS(depth=100))
        pub = app.create_publisher(Odometry, "/odom", 10)

        odom = Odometry()
        odom.header.stamp.sec = 1_700_000_000
        odom.header.stamp.nanosec = 123_456_789
        odom.header.frame_id = "odom"
        odom.child_frame_id = "base_link"
        odom.pose.pose.position.x = 12.5
        odom.pose.pose.orientation.w = 1.0
        odom.pose.covariance = tuple(float(i) for i in range(36))
        odom.twist.twist.linear.x = 0.75
        received: list[dict] = []

        def odom_arrived() -> bool:
            pub.publish(odom)                 # until the DDS side has matched and got one
            app.spin_once(0.02)
            while not lines.empty():
                received.append(lines.get())
            return bool(received) and bool(got_twist)
        wait_for(odom_arrived, 60, "odometry at the DDS program and a twist at robot_gcs")
        assert received[0] == {"sec": 1_700_000_000, "nanosec": 123_456_789, "frame_id": "odom",
                               "child": "base_link", "x": 12.5, "w": 1.0, "cov35": 35.0,
                               "vx": 0.75}
        t = got_twist[0]
        assert type(t) is Twist
        assert (t.linear.x, t.linear.y, t.angular.z) == (0.5, 0.0, -0.25)
        assert t.linear.z == int(t.linear.z) >= 0.0   # the peer's sequence number
        assert non_loopback_sockets([os.getpid(), peer.pid]) == []
        stats = {(s.direction, s.topic): s for s in bridge.statistics()}
        assert stats[("out", "/odom")].forwarded >= 1
        assert stats[("out", "/odom")].remote == "rt/odom"
        assert stats[("in", "/cmd_vel")].forwarded >= 1
        assert stats[("in", "/cmd_vel")].errors == 0
        # /cmd_vel is bridged both ways: what came in from DDS never goes back out
        wait_for(lambda: bridge.statistics()[1].loops >= 1, 30, "the loop rule to hold back a twist")
        back = {(s.direction, s.topic): s for s in bridge.statistics()}[("out", "/cmd_vel")]
        assert back.forwarded == 0 and back.remote == "rt/cmd_vel"
        app.destroy()
    finally:
        assert peer.stdin is not None
        try:
            peer.stdin.write("stop\n")
            peer.stdin.close()
        except OSError:
            pass
        try:
            peer.wait(20)
        except subprocess.TimeoutExpired:
            peer.kill()
            peer.wait(5)
        spinner.stop()
        bridge.close()
        bnode.destroy()
