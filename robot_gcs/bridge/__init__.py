"""Bridges beyond one robot: ROS 2 over DDS (ros2.py) and the fleet over Zenoh (fleet.py).

Both are built on one core: rules and options (spec.py), loop prevention, rate limits and
counters (core.py), the ring side (ring.py) and the facade that wires them to an outside
engine (bridge.py). ``cyclonedds``, ``rosbags`` and ``eclipse-zenoh`` are imported only
when a bridge of that kind is made (``pip install 'robot_gcs[bridges]'``).
"""

from .bridge import Bridge, Outside, make_outside
from .core import (BRIDGE_PREFIX, Counters, Gate, RuleStats, Verdict, bridge_node_name,
                   came_through_bridge, fleet_key, ros_dds_topic)
from .spec import BridgeSpec, DdsOptions, InRule, OutRule, RemoteQoS, ZenohOptions

__all__ = ["Bridge", "Outside", "make_outside", "BridgeSpec", "DdsOptions", "ZenohOptions",
           "InRule", "OutRule", "RemoteQoS", "RuleStats", "Gate", "Counters", "Verdict",
           "BRIDGE_PREFIX", "bridge_node_name", "came_through_bridge", "fleet_key",
           "ros_dds_topic"]
