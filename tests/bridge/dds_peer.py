"""An independent ROS 2-style DDS program for the bridge tests: Cyclone DDS used directly,
with the ROS 2 message types written out by hand (nothing from robot_gcs).

It reads ``rt/odom`` (``nav_msgs::msg::dds_::Odometry_``) and prints each sample as one
JSON line; with ``--twist N`` it also writes N ``geometry_msgs::msg::dds_::Twist_``
samples on ``rt/cmd_vel``, one every 20 ms, unless stdin says "stop". The config comes
from ``CYCLONEDDS_URI`` as for any Cyclone program; argv[1] is the domain id. (No
``from __future__ import annotations``: Cyclone resolves the annotations itself.)
"""


import json
import sys
import threading
from dataclasses import dataclass

from cyclonedds.core import Listener, Policy, Qos
from cyclonedds.domain import DomainParticipant
from cyclonedds.idl import IdlStruct
from cyclonedds.idl import types as t
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration


@dataclass
class Time(IdlStruct, typename="builtin_interfaces::msg::dds_::Time_"):
    sec: t.int32
    nanosec: t.uint32


@dataclass
class Header(IdlStruct, typename="std_msgs::msg::dds_::Header_"):
    stamp: Time
    frame_id: str


@dataclass
class Point(IdlStruct, typename="geometry_msgs::msg::dds_::Point_"):
    x: t.float64
    y: t.float64
    z: t.float64


@dataclass
class Quaternion(IdlStruct, typename="geometry_msgs::msg::dds_::Quaternion_"):
    x: t.float64
    y: t.float64
    z: t.float64
    w: t.float64


@dataclass
class Pose(IdlStruct, typename="geometry_msgs::msg::dds_::Pose_"):
    position: Point
    orientation: Quaternion


@dataclass
class PoseWithCovariance(IdlStruct, typename="geometry_msgs::msg::dds_::PoseWithCovariance_"):
    pose: Pose
    covariance: t.array[t.float64, 36]


@dataclass
class Vector3(IdlStruct, typename="geometry_msgs::msg::dds_::Vector3_"):
    x: t.float64
    y: t.float64
    z: t.float64


@dataclass
class Twist(IdlStruct, typename="geometry_msgs::msg::dds_::Twist_"):
    linear: Vector3
    angular: Vector3


@dataclass
class TwistWithCovariance(IdlStruct, typename="geometry_msgs::msg::dds_::TwistWithCovariance_"):
    twist: Twist
    covariance: t.array[t.float64, 36]


@dataclass
class Odometry(IdlStruct, typename="nav_msgs::msg::dds_::Odometry_"):
    header: Header
    child_frame_id: str
    pose: PoseWithCovariance
    twist: TwistWithCovariance


def main() -> int:
    domain = int(sys.argv[1])
    twists = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--twist" else 0
    qos = Qos(Policy.Reliability.Reliable(duration(seconds=1)), Policy.History.KeepLast(10))
    dp = DomainParticipant(domain)
    out_lock = threading.Lock()

    def on_odom(reader: DataReader) -> None:
        for s in reader.take(64):
            if isinstance(s, Odometry):
                doc = {"sec": s.header.stamp.sec, "nanosec": s.header.stamp.nanosec,
                       "frame_id": s.header.frame_id, "child": s.child_frame_id,
                       "x": s.pose.pose.position.x, "w": s.pose.pose.orientation.w,
                       "cov35": s.pose.covariance[35], "vx": s.twist.twist.linear.x}
                with out_lock:
                    print(json.dumps(doc), flush=True)

    reader = DataReader(dp, Topic(dp, "rt/odom", Odometry), qos=qos,
                        listener=Listener(on_data_available=on_odom))
    with out_lock:
        print(json.dumps({"ready": True}), flush=True)
    stop = threading.Event()

    def watch_stdin() -> None:
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        stop.set()
    threading.Thread(target=watch_stdin, daemon=True).start()
    if twists:
        writer = DataWriter(dp, Topic(dp, "rt/cmd_vel", Twist), qos=qos)
        for i in range(twists):
            writer.write(Twist(Vector3(0.5, 0.0, float(i)), Vector3(0.0, 0.0, -0.25)))
            if stop.wait(0.02):
                break
    stop.wait(60)
    del reader
    return 0


if __name__ == "__main__":
    sys.exit(main())
