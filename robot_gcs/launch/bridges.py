"""Launch-file syntax for bridges: ``bridges:`` of a processor -> bridge components.

What it owns: reading one processor's ``bridges:`` list into ``BridgeSpec`` values
(bridge/spec.py) and wrapping each as a ``ComponentSpec`` the launch runtime runs like any
component: on its own thread, with its node (``bridge.<name>``) and restart policy.
Every mistake is a ``ConfigError`` naming file, line and dotted field, as in loader.py::

    processors:
      cpu1:
        components: [...]
        bridges:
          - name: ros                       # the ring node is bridge.ros
            kind: ros2                      # ros2 | fleet
            domain: 0                       # ros2: DDS domain id
            dds_config: file:///etc/cyclonedds.xml   # ros2: optional Cyclone XML (or text)
            out:                            # ring topic -> outside
              - {topic: /odom, ros: odom, rate: 20, reliability: best_effort, depth: 5}
            in:                             # outside -> ring topic
              - {ros: cmd_vel, topic: /cmd_vel, durability: transient_local}
          - name: fleet
            kind: fleet
            robot: rover1                   # default: the launch file's robot
            mode: client                    # peer | client (of a Zenoh router)
            connect: [tcp/192.168.1.10:7447]
            listen: []
            scouting: false                 # Zenoh multicast scouting and gossip
            views: [ctl]                    # groups whose views are published
            period: 1.0                     # membership re-published every period s
            out: [{topic: /odom, rate: 10}] # key: fleet/<robot>/odom unless key: given
            in: [{key: fleet/base/goal, topic: /goal}]
            restart: on-failure             # as for components; max_restarts too

Rules checked here: every topic a bridge names is declared under ``topics:`` (its type is
what crosses; a ROS 2 bridge needs a typed topic whose type has a DDS counterpart, checked
now when the bridges extra is installed), ``views`` are declared ``groups``, names are
unique among the processor's components and bridges, and ``rate``/``depth``/
``reliability``/``durability`` take what they say.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Protocol

import yaml

from ..errors import ConfigError, LocalProtocolError
from ..hints import did_you_mean
from ..pubsub.node import Node
from .model import ComponentSpec, Restart, TopicSpec, frozen_params

BRIDGE_KEYS = {
    "ros2": ("name", "kind", "domain", "dds_config", "out", "in", "restart", "max_restarts"),
    "fleet": ("name", "kind", "robot", "mode", "connect", "listen", "scouting", "views",
              "period", "out", "in", "restart", "max_restarts"),
}
QOS_KEYS = ("rate", "reliability", "depth", "durability")
RULE_KEYS = {("ros2", "out"): ("topic", "ros") + QOS_KEYS,
             ("ros2", "in"): ("ros", "topic") + QOS_KEYS,
             ("fleet", "out"): ("topic", "key") + QOS_KEYS,
             ("fleet", "in"): ("key", "topic") + QOS_KEYS}
RELIABILITY = ("reliable", "best_effort")
DURABILITY = ("volatile", "transient_local")


class Doc(Protocol):
    """What this module needs of loader.py's composed document."""

    def error(self, node: yaml.Node | None, field: str, problem: str) -> ConfigError: ...

    def value(self, node: yaml.Node) -> Any: ...

    def mapping(self, node: yaml.Node | None, field: str,
                allowed: Iterable[str] | None) -> dict[str, tuple[yaml.Node, yaml.Node]]: ...

    def sequence(self, node: yaml.Node, field: str) -> list[yaml.Node]: ...


class BridgeFactory:
    """The "class" of a bridge component: the runtime calls ``build_with_daemon(node,
    params, daemon)`` (launch/runtime.py) and gets a running ``Bridge``."""

    def __init__(self, spec: Any) -> None:
        self.spec = spec

    def build_with_daemon(self, node: Node, params: Mapping[str, Any], daemon: Any) -> Any:
        from ..bridge.bridge import Bridge
        return Bridge(node, daemon, self.spec)

    def __call__(self, node: Node, params: Mapping[str, Any]) -> Any:
        raise LocalProtocolError("a bridge needs its daemon: use build_with_daemon")


class _Reader:
    """Typed reads of one bridge's mapping, each error at its node's line."""

    def __init__(self, doc: Doc, m: dict[str, tuple[yaml.Node, yaml.Node]], field: str) -> None:
        self.doc = doc
        self.m = m
        self.field = field

    def node(self, key: str) -> yaml.Node:
        return self.m[key][1]

    def get(self, key: str, check: Callable[[Any], bool], expect: str, default: Any) -> Any:
        if key not in self.m:
            return default
        v = self.doc.value(self.m[key][1])
        if not check(v):
            raise self.doc.error(self.m[key][1], f"{self.field}.{key}", f"expected {expect}, got {v!r}")
        return v

    def choice(self, key: str, options: tuple[str, ...], default: str) -> str:
        v: str = self.get(key, lambda x: x in options, f"one of {', '.join(options)}", default)
        return v

    def strings(self, key: str) -> tuple[str, ...]:
        if key not in self.m:
            return ()
        out = []
        for i, n in enumerate(self.doc.sequence(self.m[key][1], f"{self.field}.{key}")):
            v = self.doc.value(n)
            if not isinstance(v, str) or not v:
                raise self.doc.error(n, f"{self.field}.{key}[{i}]", f"expected a non-empty string, got {v!r}")
            out.append(v)
        return tuple(out)


def _is_text(v: Any) -> bool:
    return isinstance(v, str) and bool(v)


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_positive(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0


def parse_bridges(doc: Doc, node: yaml.Node, field: str, topics: tuple[TopicSpec, ...],
                  groups: tuple[str, ...], robot: str, taken: Iterable[str]) -> list[ComponentSpec]:
    """The bridges of one processor as components (``taken``: its component names)."""
    by_name = {t.name: t for t in topics}
    names = set(taken)
    out: list[ComponentSpec] = []
    for i, bnode in enumerate(doc.sequence(node, field)):
        bfield = f"{field}[{i}]"
        m = doc.mapping(bnode, bfield, None)
        kind_r = _Reader(doc, m, bfield)
        for req in ("name", "kind"):
            if req not in m:
                raise doc.error(bnode, f"{bfield}.{req}", "missing")
        kind = kind_r.choice("kind", tuple(BRIDGE_KEYS), "")
        m = doc.mapping(bnode, bfield, BRIDGE_KEYS[kind])
        r = _Reader(doc, m, bfield)
        name: str = r.get("name", _is_text, "a non-empty string", "")
        if "#" in name or "/" in name:
            raise doc.error(r.node("name"), f"{bfield}.name", "a bridge name has no '#' or '/'")
        from ..bridge.core import bridge_node_name
        cname = bridge_node_name(name)
        if name in names or cname in names:
            raise doc.error(r.node("name"), f"{bfield}.name", f"duplicate component or bridge {name}")
        names.update((name, cname))
        spec = _spec(doc, r, bnode, bfield, kind, name, by_name, groups, robot)
        restart = Restart(r.choice("restart", tuple(x.value for x in Restart), Restart.ON_FAILURE.value))
        max_restarts: int = r.get("max_restarts", _is_count, "an integer >= 0", 5)
        out.append(ComponentSpec(cname, f"robot_gcs.bridge:{kind}", BridgeFactory(spec),
                                 frozen_params({}), restart, max_restarts, bnode.start_mark.line + 1))
    return out


def _spec(doc: Doc, r: _Reader, bnode: yaml.Node, bfield: str, kind: str, name: str,
          by_name: dict[str, TopicSpec], groups: tuple[str, ...], robot: str) -> Any:
    from ..bridge.spec import BridgeSpec, DdsOptions, ZenohOptions
    options: Any
    try:
        if kind == "ros2":
            options = DdsOptions(r.get("domain", lambda v: _is_count(v) and v <= 232,
                                       "a DDS domain id 0..232", 0),
                                 r.get("dds_config", _is_text, "Cyclone XML or file://path", None))
        else:
            views = r.strings("views")
            for j, g in enumerate(views):
                if g not in groups:
                    raise doc.error(doc.sequence(r.node("views"), "")[j], f"{bfield}.views[{j}]",
                                    f"group {g} is not declared under 'groups'{did_you_mean(g, groups)}")
            options = ZenohOptions(r.get("robot", _is_text, "a robot name", robot),
                                   r.choice("mode", ("peer", "client"), "peer"),
                                   r.strings("listen"), r.strings("connect"),
                                   r.get("scouting", lambda v: isinstance(v, bool), "true/false", False),
                                   views, float(r.get("period", _is_positive, "seconds > 0", 1.0)))
    except LocalProtocolError as exc:
        raise doc.error(bnode, bfield, str(exc)) from None
    outs = tuple(_rule(doc, n, f"{bfield}.out[{j}]", kind, "out", by_name)
                 for j, n in enumerate(doc.sequence(r.node("out"), f"{bfield}.out"))) if "out" in r.m else ()
    ins = tuple(_rule(doc, n, f"{bfield}.in[{j}]", kind, "in", by_name)
                for j, n in enumerate(doc.sequence(r.node("in"), f"{bfield}.in"))) if "in" in r.m else ()
    if not outs and not ins:
        raise doc.error(bnode, bfield, "a bridge with neither 'out' nor 'in' rules does nothing")
    try:
        spec = BridgeSpec(name, kind, outs, ins, options, bnode.start_mark.line + 1)
    except LocalProtocolError as exc:
        raise doc.error(bnode, bfield, str(exc)) from None
    if kind == "fleet":
        _check_fleet(doc, bnode, bfield, spec)
    return spec


def _rule(doc: Doc, node: yaml.Node, field: str, kind: str, direction: str,
          by_name: dict[str, TopicSpec]) -> Any:
    from ..bridge.core import ring_topic_of
    from ..bridge.spec import InRule, OutRule, RemoteQoS
    m = doc.mapping(node, field, RULE_KEYS[(kind, direction)])
    r = _Reader(doc, m, field)
    remote_key = "ros" if kind == "ros2" else "key"
    remote: str = r.get(remote_key, _is_text, "a non-empty string", "")
    if kind == "fleet" and direction == "out" and remote:
        from ..bridge.fleet import check_key
        try:
            check_key("key", remote)
        except LocalProtocolError as exc:
            raise doc.error(r.node("key"), f"{field}.key", str(exc)) from None
    if "topic" in m:
        topic: str = r.get("topic", _is_text, "a topic name", "")
        tnode = r.node("topic")
    elif direction == "in" and kind == "ros2" and remote:
        try:
            topic = ring_topic_of(remote)
        except LocalProtocolError as exc:
            raise doc.error(r.node(remote_key), f"{field}.{remote_key}", str(exc)) from None
        tnode = r.node(remote_key)
    else:
        raise doc.error(node, f"{field}.topic", "missing")
    if direction == "in" and not remote:
        raise doc.error(node, f"{field}.{remote_key}", "missing")
    ts = by_name.get(topic)
    if ts is None:
        raise doc.error(tnode, f"{field}.topic", f"topic {topic} is not declared under 'topics'"
                                                 f"{did_you_mean(topic, by_name)}")
    msg_type = ts.msg_type if ts.msg_type is not None else bytes
    if kind == "ros2":
        _check_dds_type(doc, tnode, f"{field}.topic", topic, msg_type)
    qos = RemoteQoS(r.choice("reliability", RELIABILITY, "reliable") == "reliable",
                    r.get("depth", lambda v: _is_count(v) and v >= 1, "an integer >= 1", 10),
                    r.choice("durability", DURABILITY, "volatile") == "transient_local")
    rate = r.get("rate", _is_positive, "a rate in Hz > 0", None)
    line = node.start_mark.line + 1
    try:
        if direction == "out":
            return OutRule(topic, msg_type, remote, rate, qos, line)
        return InRule(remote, topic, msg_type, rate, qos, ts.qos, line)
    except LocalProtocolError as exc:
        raise doc.error(node, field, str(exc)) from None


def _check_dds_type(doc: Doc, node: yaml.Node, field: str, topic: str, msg_type: Any) -> None:
    try:
        from ..bridge.idl import dds_type
        dds_type(msg_type)
    except ImportError:
        raise doc.error(node, field, "the ROS 2 bridge needs cyclonedds and rosbags: "
                                     "pip install 'robot_gcs[bridges]'") from None
    except LocalProtocolError as exc:
        raise doc.error(node, field, f"{topic}: {exc}") from None


def _check_fleet(doc: Doc, bnode: yaml.Node, bfield: str, spec: Any) -> None:
    from ..bridge.fleet import ZenohOutside
    try:
        ZenohOutside(spec)        # checks keys and groups; opens nothing
    except LocalProtocolError as exc:
        raise doc.error(bnode, bfield, str(exc)) from None
