"""Quality of service for topics, and the topic -> group name mapping.

What it owns: the ``QoS`` value a publisher or subscription is created with, and the one
rule that turns a topic name into the name of the process group that carries it.

Rules:

* A topic is named like a ROS topic: ``/odom``, ``/arm/joint_states``: a leading ``/``,
  then segments of ``[A-Za-z0-9_]`` separated by single ``/``.
* Topic ``/odom`` is carried by the group ``t:/odom``. Group names are at most 64 bytes
  (PROTOCOL.md section 2, group envelope), so a topic name is at most 62 bytes.
* ``QoS.service`` is the delivery service of the publisher's messages (FIFO for sensor
  streams, AGREED for plans and commands, SAFE for an e-stop).
* ``QoS.depth`` bounds a subscription's queue of received-but-not-yet-handled messages
  with keep-last semantics: when the queue is full the oldest waiting message is
  dropped and counted. The publisher never stalls because a subscriber is slow.
* ``QoS.deadline`` (seconds, subscriptions): a topic silent for longer is flagged once
  per silent period (counted, logged, optional callback).
* ``QoS.latched`` (transient-local): the publisher keeps its last value and hands it to
  members that join the topic group, triggered by the group's agreed view change.
* ``QoS.priority`` (publishers): ``"high"`` puts each message ahead of other sessions'
  messages still waiting on this daemon, so an e-stop published during a burst enters the
  total order at the next token visit (runtime/commands.py, core/packing.py). A node's
  own earlier messages are never overtaken (per-session FIFO).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ..core.types import Service
from ..errors import LocalProtocolError

TOPIC_GROUP_PREFIX = "t:"
MAX_GROUP_NAME = 64
_TOPIC_RE = re.compile(r"^(/[A-Za-z0-9_]+)+$")

_SERVICE_NAMES: dict[str, Service] = {s.name.lower(): s for s in Service}
PRIORITIES = ("normal", "high")


def check_topic(topic: str) -> str:
    """Return ``topic`` if it is a valid topic name, else raise LocalProtocolError."""
    if not isinstance(topic, str) or not _TOPIC_RE.match(topic):
        raise LocalProtocolError(
            f"bad topic name {topic!r}: use '/name' segments of letters, digits and '_'")
    if len((TOPIC_GROUP_PREFIX + topic).encode()) > MAX_GROUP_NAME:
        raise LocalProtocolError(
            f"topic name {topic!r} too long: at most {MAX_GROUP_NAME - len(TOPIC_GROUP_PREFIX)} bytes")
    return topic


def topic_group(topic: str) -> str:
    """The group that carries ``topic``: ``/odom`` -> ``t:/odom``."""
    if not isinstance(topic, str):
        check_topic(topic)                 # raises: the cache below needs a str
    return _topic_group(topic)


@functools.lru_cache(maxsize=4096)         # per published message: skip the regex
def _topic_group(topic: str) -> str:
    return TOPIC_GROUP_PREFIX + check_topic(topic)


@functools.lru_cache(maxsize=4096)         # per delivered message; bounded, as group
def group_topic(group: str) -> str | None: # names come from other processes
    """The topic a group carries, or None if ``group`` is not a topic group."""
    if group.startswith(TOPIC_GROUP_PREFIX) and _TOPIC_RE.match(group[len(TOPIC_GROUP_PREFIX):]):
        return group[len(TOPIC_GROUP_PREFIX):]
    return None


def parse_service(value: "str | Service") -> Service:
    """``"agreed"`` / ``"SAFE"`` / ``Service.FIFO`` -> Service; LocalProtocolError otherwise."""
    if isinstance(value, Service):
        return value
    if isinstance(value, str) and value.lower() in _SERVICE_NAMES:
        return _SERVICE_NAMES[value.lower()]
    raise LocalProtocolError(
        f"unknown service {value!r}: one of {', '.join(sorted(_SERVICE_NAMES))}")


@dataclass(frozen=True, slots=True)
class QoS:
    """Quality of service of one publisher or subscription.

    ``service`` accepts a Service or its lower-case name. ``depth`` >= 1. ``deadline`` in
    seconds or None. ``latched`` makes a publisher hand its last value to late joiners.
    """

    service: Service = Service.AGREED
    depth: int = 10
    deadline: float | None = None
    latched: bool = False
    priority: str = "normal"          # "normal" or "high" (publishers)

    def __post_init__(self) -> None:
        object.__setattr__(self, "service", parse_service(self.service))
        if not isinstance(self.depth, int) or isinstance(self.depth, bool) or self.depth < 1:
            raise LocalProtocolError(f"QoS depth must be an int >= 1, got {self.depth!r}")
        if self.deadline is not None:
            if not isinstance(self.deadline, (int, float)) or self.deadline <= 0:
                raise LocalProtocolError(f"QoS deadline must be > 0 seconds, got {self.deadline!r}")
            object.__setattr__(self, "deadline", float(self.deadline))
        if not isinstance(self.latched, bool):
            raise LocalProtocolError(f"QoS latched must be true/false, got {self.latched!r}")
        if self.priority not in PRIORITIES:
            raise LocalProtocolError(f"QoS priority must be one of {', '.join(PRIORITIES)}, "
                                     f"got {self.priority!r}")

    @property
    def urgent(self) -> bool:
        """Messages go ahead of other sessions' waiting ones (``priority: high``)."""
        return self.priority == "high"

    @classmethod
    def sensor(cls, depth: int = 1, deadline: float | None = None) -> "QoS":
        """FIFO, keep-last ``depth``: the usual choice for sensor streams."""
        return cls(service=Service.FIFO, depth=depth, deadline=deadline)
