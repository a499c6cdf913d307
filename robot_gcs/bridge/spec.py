"""What a bridge is told to do: frozen values, built by the launch loader or by hand.

What it owns: the shape of a bridge's configuration -- which ring topics go out and under
which outside name, which outside names come in as which ring topics, per-rule rate limits
and outside QoS, and the options of each kind of bridge. Nothing here imports DDS or
Zenoh; the launch file syntax that builds these values is in launch/bridges.py, the
engines that run them are ros2.py and fleet.py.

Rules:

* A rule names a ring topic (``/odom``) and its message type (a message dataclass, or
  ``bytes`` for raw topics). An outbound rule (``OutRule``) sends what the ring
  publishes there; an inbound rule (``InRule``) publishes on the ring what arrives outside.
* ``remote`` is the outside name. ROS 2: the ROS topic name (``odom`` or ``/odom``;
  the DDS topic is ``rt/odom``). Fleet: the Zenoh key; outbound keys default to
  ``fleet/<robot>/<topic without its leading slash>``.
* ``rate`` (Hz, optional) caps how often the rule forwards; what comes faster is dropped
  and counted (core.py).
* ``RemoteQoS`` is the outside QoS: reliable or best effort, keep-last ``depth``,
  ``transient_local`` for latched topics (DDS maps it one to one; Zenoh ignores it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import LocalProtocolError
from ..pubsub.qos import QoS, check_topic

KINDS = ("ros2", "fleet")


@dataclass(frozen=True, slots=True)
class RemoteQoS:
    """QoS on the outside: ``reliable`` (else best effort), keep-last ``depth``,
    ``transient_local`` (a late reader gets the last ``depth`` values)."""

    reliable: bool = True
    depth: int = 10
    transient_local: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.depth, int) or isinstance(self.depth, bool) or self.depth < 1:
            raise LocalProtocolError(f"remote QoS depth must be an int >= 1, got {self.depth!r}")


@dataclass(frozen=True, slots=True)
class OutRule:
    """Ring topic ``topic`` (messages of ``msg_type``) goes out as ``remote``."""

    topic: str
    msg_type: Any = bytes
    remote: str = ""
    rate: float | None = None
    qos: RemoteQoS = field(default_factory=RemoteQoS)
    line: int | None = None

    def __post_init__(self) -> None:
        check_topic(self.topic)
        _check_rate(self.rate)


@dataclass(frozen=True, slots=True)
class InRule:
    """Outside name ``remote`` comes in as ring topic ``topic`` (``ring_qos`` on the ring)."""

    remote: str
    topic: str
    msg_type: Any = bytes
    rate: float | None = None
    qos: RemoteQoS = field(default_factory=RemoteQoS)
    ring_qos: QoS = field(default_factory=QoS)
    line: int | None = None

    def __post_init__(self) -> None:
        check_topic(self.topic)
        _check_rate(self.rate)
        if not self.remote:
            raise LocalProtocolError(f"inbound rule for {self.topic}: the outside name is empty")


@dataclass(frozen=True, slots=True)
class DdsOptions:
    """ROS 2 bridge: DDS ``domain`` id and an optional Cyclone DDS XML config (the text,
    or ``file://...``); without one Cyclone reads ``CYCLONEDDS_URI``."""

    domain: int = 0
    config: str | None = None


@dataclass(frozen=True, slots=True)
class ZenohOptions:
    """Fleet bridge: this ``robot``'s name, the Zenoh ``mode`` (peer or client), endpoints
    to ``listen`` on and ``connect`` to, multicast ``scouting`` (off unless asked for),
    the ring groups whose ``views`` are published and how often (``period`` seconds) the
    membership is re-published for late listeners."""

    robot: str
    mode: str = "peer"
    listen: tuple[str, ...] = ()
    connect: tuple[str, ...] = ()
    scouting: bool = False
    views: tuple[str, ...] = ()
    period: float = 1.0

    def __post_init__(self) -> None:
        if not self.robot or "/" in self.robot or any(c in self.robot for c in "*$?#"):
            raise LocalProtocolError(f"bad robot name {self.robot!r} for Zenoh keys")
        if self.mode not in ("peer", "client"):
            raise LocalProtocolError(f"zenoh mode must be peer or client, got {self.mode!r}")
        if not self.period > 0:
            raise LocalProtocolError(f"membership period must be > 0 s, got {self.period!r}")


@dataclass(frozen=True, slots=True)
class BridgeSpec:
    """One bridge: its ``name`` (the ring node is ``bridge.<name>``), ``kind``
    (``ros2`` or ``fleet``), its rules and the options of its kind."""

    name: str
    kind: str
    out: tuple[OutRule, ...] = ()
    inbound: tuple[InRule, ...] = ()
    options: DdsOptions | ZenohOptions = field(default_factory=DdsOptions)
    line: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise LocalProtocolError(f"bridge kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        want = DdsOptions if self.kind == "ros2" else ZenohOptions
        if not isinstance(self.options, want):
            raise LocalProtocolError(f"a {self.kind} bridge takes {want.__name__}, "
                                     f"got {type(self.options).__name__}")


def _check_rate(rate: float | None) -> None:
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float))
                             or not rate > 0):
        raise LocalProtocolError(f"rate limit must be a number of Hz > 0, got {rate!r}")
