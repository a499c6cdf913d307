"""Message types of the fleet tests (imported as ``fleet_msgs`` by the robot subprocess and
as ``tests.bridge.fleet_msgs`` here: the fingerprint ignores the module, so both match)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Odom:
    robot: str
    seq: int
    x: float


@dataclass(frozen=True, slots=True)
class Goal:
    name: str
    x: float
    y: float
