"""The bridge core shared by the ROS 2 and the fleet bridge: what may cross, and counting it.

What it owns: per-rule gates and counters. ``Gate`` decides, for one message at time
``now`` (passed in, never read from a clock here), whether it crosses; ``Counters`` keeps
what happened to the messages of one rule and hands out frozen ``RuleStats``.

Rules:

* Loop prevention: a message that came into the ring through a bridge never goes out
  through a bridge again. Every bridge's ring nodes are named ``bridge.<name>...``
  (``BRIDGE_PREFIX``); the ring tells every receiver the sender of each message, so a
  bridge drops (and counts as ``loops``) what a bridge node published -- its own or
  another bridge's, in this process or another. Outside, each bridge also ignores its own
  DDS writers and Zenoh puts (ros2.py, fleet.py). Client names starting with
  ``bridge.`` are reserved for bridges.
* Rate limits: a token bucket per rule, refilled at ``rate`` per second up to ``burst``
  tokens (1 by default: no bursts). A message finding the bucket empty is dropped and
  counted as ``rate_dropped``; nothing is queued, so a limit never adds latency.
* Name mapping: ``ros_dds_topic("/odom") == "rt/odom"``; ``fleet_key(robot, "/odom") ==
  "fleet/<robot>/odom"``; ``ring_topic_of("cmd_vel") == "/cmd_vel"``.

Only the thread that runs a rule's direction (the bridge's node thread for outbound rules,
its inbound thread for inbound ones) touches that rule's Gate and Counters; ``stats()``
may be read from any thread (it copies ints, which the GIL keeps whole).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..pubsub.qos import check_topic

BRIDGE_PREFIX = "bridge."
FLEET_ROOT = "fleet"


def bridge_node_name(bridge: str, suffix: str = "") -> str:
    """The ring client name of a bridge's node: ``bridge.<bridge>[.<suffix>]``."""
    return BRIDGE_PREFIX + bridge + ("." + suffix if suffix else "")


def came_through_bridge(sender: str) -> bool:
    """True if ``sender`` (a private name ``#client#daemon``, or a bare client name) is a
    bridge's node: its messages came in from outside and must not go out again."""
    client = sender.split("#")[1] if sender.startswith("#") and sender.count("#") >= 2 else sender
    return client.startswith(BRIDGE_PREFIX)


def ros_dds_topic(ros_name: str) -> str:
    """ROS 2 topic name -> DDS topic name (``odom``/``/odom`` -> ``rt/odom``)."""
    return "rt/" + ros_name.lstrip("/")


def ring_topic_of(remote: str) -> str:
    """Default ring topic for an outside name: ``cmd_vel`` -> ``/cmd_vel``,
    ``fleet/r2/odom`` -> ``/fleet/r2/odom`` (validated as a topic name)."""
    return check_topic("/" + remote.lstrip("/"))


def fleet_key(robot: str, topic: str) -> str:
    """``fleet/<robot>/<topic without its leading slash>``."""
    return f"{FLEET_ROOT}/{robot}/{topic.lstrip('/')}"


class CameBack(Exception):
    """Raised by an outside's inbound conversion for a message this bridge itself sent
    (it came back around): dropped and counted as a loop."""


class Verdict(enum.Enum):
    PASS = "pass"
    LOOP = "loop"            # came in through a bridge
    RATE = "rate"            # over the rule's rate limit


@dataclass(frozen=True, slots=True)
class RuleStats:
    """What happened to one rule's messages so far."""

    direction: str           # "out" (ring -> outside) or "in" (outside -> ring)
    topic: str               # the ring topic
    remote: str              # the outside name (DDS topic or Zenoh key)
    forwarded: int
    rate_dropped: int
    loops: int
    errors: int              # undecodable / unconvertible / wrong type / send failed
    bytes: int               # ring body bytes (0 for a message a ROS 2 bridge got as an
                             # object from a node of its own process: it never encodes it)
    last_error: str
    last_time: float | None  # bridge clock of the last forwarded message


class Gate:
    """Loop check and token-bucket rate limit of one rule."""

    __slots__ = ("rate", "burst", "_tokens", "_last")

    def __init__(self, rate: float | None, burst: float = 1.0) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last: float | None = None

    def admit(self, now: float, sender: str = "") -> Verdict:
        if sender and came_through_bridge(sender):
            return Verdict.LOOP
        if self.rate is None:
            return Verdict.PASS
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return Verdict.PASS
        return Verdict.RATE


class Counters:
    """Counters of one rule; ``count(verdict)`` after the gate, ``sent``/``failed`` after."""

    def __init__(self, direction: str, topic: str, remote: str) -> None:
        self.direction = direction
        self.topic = topic
        self.remote = remote
        self.forwarded = 0
        self.rate_dropped = 0
        self.loops = 0
        self.errors = 0
        self.bytes = 0
        self.last_error = ""
        self.last_time: float | None = None

    def dropped(self, verdict: Verdict) -> None:
        if verdict is Verdict.LOOP:
            self.loops += 1
        elif verdict is Verdict.RATE:
            self.rate_dropped += 1

    def sent(self, size: int, now: float) -> None:
        self.forwarded += 1
        self.bytes += size
        self.last_time = now

    def failed(self, why: str) -> None:
        self.errors += 1
        self.last_error = why

    def stats(self) -> RuleStats:
        return RuleStats(self.direction, self.topic, self.remote, self.forwarded,
                         self.rate_dropped, self.loops, self.errors, self.bytes,
                         self.last_error, self.last_time)
