"""Launch-file model: frozen values describing a robot, and the Component base class.

What it owns: the shape a loaded launch file has (``loader.py`` builds it, ``runtime.py``
and ``supervisor.py`` run it) and the small contract a component class follows.

A launch file names the ring config, declares every topic with its QoS defaults, lists
extra process groups, and says per processor which components run there::

    robot: rover-demo
    config: ../config/robot_demo.yaml   # ring config, relative to this file
    pythonpath: [..]                    # dirs (relative to this file) for component imports
    topics:
      /odom: {type: pkg.msgs:Odometry, service: fifo, depth: 1, rate: 50, deadline: 0.1}
    groups: [ctl]
    processors:
      cpu1:
        restart: never                  # process restart by `launch --all`
        cpus: [2]                       # optional: pin this processor's program to CPUs
        components:
          - name: controller
            class: pkg.components:Controller
            restart: on-failure         # never | on-failure | always
            max_restarts: 5
            params: {gain: 0.8}
        bridges: [...]                  # ROS 2 / fleet bridges, run as components
                                        # (syntax: launch/bridges.py)

Component contract: a class (subclass of ``Component``, or duck-typed alike) constructed
as ``cls(node, params)`` that creates its publishers, subscriptions and timers on the
given Node; the runtime spins the node on a thread of its own. Class attributes
``publishes`` / ``subscribes`` (topic names), ``params`` (defaults) and ``param_types``
(types of parameters whose default does not say, e.g. ``None``) let the loader catch an
undeclared topic, an unknown parameter or a value of the wrong type at load time, and the
node refuses topics not declared in the launch file at run time. ``params`` is the node's
live parameter mapping: a value set at run time (``robot-gcs param set``) is what the
component reads next.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Mapping

from ..pubsub.node import Node
from ..pubsub.qos import QoS


class Restart(enum.Enum):
    NEVER = "never"
    ON_FAILURE = "on-failure"
    ALWAYS = "always"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    type_path: str                 # "module:Class" or "bytes"
    msg_type: Any                  # the resolved class (None for raw bytes)
    qos: QoS
    rate: float | None = None      # expected publish rate in Hz (diagnostics)
    line: int | None = None


@dataclass(frozen=True, slots=True)
class ComponentSpec:
    name: str
    class_path: str
    cls: Any
    params: Mapping[str, Any]
    restart: Restart = Restart.ON_FAILURE
    max_restarts: int = 5
    line: int | None = None


@dataclass(frozen=True, slots=True)
class ProcessorSpec:
    name: str
    components: tuple[ComponentSpec, ...]
    restart: Restart = Restart.NEVER
    line: int | None = None
    cpus: tuple[int, ...] | None = None      # CPU affinity of the whole program (None: any)


@dataclass(frozen=True, slots=True)
class LaunchFile:
    path: str
    robot: str
    config_path: str
    topics: tuple[TopicSpec, ...]
    groups: tuple[str, ...]
    processors: tuple[ProcessorSpec, ...]
    pythonpath: tuple[str, ...] = ()

    def processor(self, name: str) -> ProcessorSpec:
        for p in self.processors:
            if p.name == name:
                return p
        raise KeyError(name)

    def topic(self, name: str) -> TopicSpec:
        for t in self.topics:
            if t.name == name:
                return t
        raise KeyError(name)

    @property
    def topic_qos(self) -> dict[str, QoS]:
        return {t.name: t.qos for t in self.topics}

    @property
    def topic_types(self) -> dict[str, type]:
        """Declared message type per topic (``bytes`` for raw topics)."""
        return {t.name: t.msg_type if t.msg_type is not None else bytes for t in self.topics}


class Component:
    """Base class for launchable components (optional; duck typing works too).

    ``node`` is the component's own Node (spun by the launch runtime on the component's
    thread); ``config`` is the node's parameters: the launch file's ``params`` over the
    class's ``params`` defaults, as set now. Override ``close()`` to release what the
    component holds.
    """

    publishes: ClassVar[tuple[str, ...]] = ()
    subscribes: ClassVar[tuple[str, ...]] = ()
    params: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    param_types: ClassVar[Mapping[str, type]] = MappingProxyType({})

    def __init__(self, node: Node, params: Mapping[str, Any]) -> None:
        self.node = node
        self.config = params            # live: the node's parameters

    def close(self) -> None:
        """Called once when the component stops (after its node stopped spinning)."""


def frozen_params(d: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(d))

