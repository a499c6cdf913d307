"""Message types of the robot demo: plain frozen dataclasses, which a Node encodes itself
(the field types a message may use are listed in robot_gcs/pubsub/codec.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Odometry:
    """Pose and velocity of the (simulated) base, published by perception at 50 Hz."""

    seq: int
    stamp: float        # publisher's time.time()
    x: float
    y: float
    theta: float
    v: float
    w: float


@dataclass(frozen=True, slots=True)
class Plan:
    """The planner's current goal (latched: a late joiner gets the last plan)."""

    seq: int
    goal_x: float
    goal_y: float
    label: str


@dataclass(frozen=True, slots=True)
class Command:
    """A velocity command for one control step, issued by the active controller."""

    step: int
    stamp: float
    v: float
    w: float
    odom_seq: int
    controller: str


@dataclass(frozen=True, slots=True)
class EStop:
    """Emergency stop (SAFE service, latched). Every component obeys it."""

    stamp: float
    reason: str
    source: str
