"""Launch-file loader: YAML -> LaunchFile, with errors that name file, line and field.

What it owns: parsing and validating ``launch/*.yaml`` (shape in model.py). Everything
that can be checked before anything runs is checked here:

* unknown keys anywhere (typos must not be ignored), wrong value types and ranges;
* topic names, services, depths, rates, deadlines; message types import and are
  encodable dataclasses (or ``bytes``);
* the ring config loads, and every processor is one of its daemons;
* every component class imports; topics it declares in ``publishes``/``subscribes``
  are declared in the launch file; parameters it does not know (when it declares
  ``params`` defaults) are rejected, and values of the wrong type (``rate_hz: fast``
  where the default is ``50.0``) too, including ``--set`` overrides (params.py);
* misspelt keys, classes, modules, topics and parameters get a "did you mean", and a
  tab in the indentation gets its column and "YAML indents with spaces".

The document is composed with ``yaml.compose`` so each node keeps its line; every error
is ``ConfigError(problem, path, line, field)`` with a dotted field such as
``processors.cpu1.components[0].class``.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import pkgutil
import sys
from typing import Any, Iterable, Mapping

import yaml

from ..errors import ConfigError, LocalProtocolError
from ..hints import did_you_mean
from ..pubsub.codec import codec_for, import_type
from ..pubsub.qos import PRIORITIES, QoS, check_topic, parse_service
from .model import ComponentSpec, LaunchFile, ProcessorSpec, Restart, TopicSpec, frozen_params
from .params import check_param

TOP_KEYS = ("robot", "config", "pythonpath", "topics", "groups", "processors")
TOPIC_KEYS = ("type", "service", "depth", "rate", "deadline", "latched", "priority")
PROCESSOR_KEYS = ("restart", "cpus", "components", "bridges")
COMPONENT_KEYS = ("name", "class", "restart", "max_restarts", "params")


def _tab_at(text: str, line: int | None) -> int | None:
    """Column (0-based) of a tab in the indentation of ``line`` or the line before (the
    YAML scanner often notices a tab one line late), else None."""
    lines = text.splitlines()
    for i in (line, None if line is None else line - 1):
        if i is not None and 0 <= i < len(lines):
            indent = lines[i][:len(lines[i]) - len(lines[i].lstrip(" \t"))]
            if "\t" in indent:
                return indent.index("\t")
    return None


class _Doc:
    """A composed YAML document: values plus the line of every node."""

    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self._loader = yaml.SafeLoader(text)
        try:
            self.root = self._loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            tab = _tab_at(text, mark.line if mark else None)
            if tab is not None:
                raise ConfigError(f"column {tab + 1}: a tab character in the indentation; "
                                  "YAML indents with spaces, not tabs", path,
                                  mark.line + 1 if mark else None) from None
            line = mark.line + 1 if mark else None
            raise ConfigError(f"not valid YAML: {exc.problem}", path, line) from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"not valid YAML: {exc}", path) from None

    def error(self, node: yaml.Node | None, field: str, problem: str) -> ConfigError:
        line = node.start_mark.line + 1 if node is not None else None
        return ConfigError(problem, self.path, line, field or None)

    def value(self, node: yaml.Node) -> Any:
        return self._loader.construct_object(node, deep=True)

    def mapping(self, node: yaml.Node | None, field: str,
                allowed: Iterable[str] | None) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """Keys -> (key node, value node); unknown or duplicate keys are errors."""
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, field, "expected a mapping")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        allowed_t = tuple(allowed) if allowed is not None else None
        for k, v in node.value:
            key = self.value(k)
            if not isinstance(key, str):
                raise self.error(k, field, f"keys must be strings, got {key!r}")
            sub = f"{field}.{key}" if field else key
            if allowed_t is not None and key not in allowed_t:
                raise self.error(k, sub, f"unknown key{did_you_mean(key, allowed_t)} "
                                         f"(expected one of {', '.join(allowed_t)})")
            if key in out:
                raise self.error(k, sub, "duplicate key")
            out[key] = (k, v)
        return out

    def sequence(self, node: yaml.Node, field: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, field, "expected a list")
        return list(node.value)


def _str(doc: _Doc, node: yaml.Node, field: str) -> str:
    v = doc.value(node)
    if not isinstance(v, str) or not v:
        raise doc.error(node, field, f"expected a non-empty string, got {v!r}")
    return v


def _number(doc: _Doc, node: yaml.Node, field: str, positive: bool = True) -> float:
    v = doc.value(node)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (positive and v <= 0):
        raise doc.error(node, field, f"expected a number > 0, got {v!r}")
    return float(v)


def _int(doc: _Doc, node: yaml.Node, field: str, lo: int) -> int:
    v = doc.value(node)
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise doc.error(node, field, f"expected an integer >= {lo}, got {v!r}")
    return v


def _cpus(doc: _Doc, node: yaml.Node, field: str) -> tuple[int, ...]:
    items = doc.sequence(node, field)
    if not items:
        raise doc.error(node, field, "expected a non-empty list of CPU numbers")
    return tuple(sorted({_int(doc, n, field, 0) for n in items}))


def _restart(doc: _Doc, node: yaml.Node, field: str) -> Restart:
    v = doc.value(node)
    try:
        return Restart(v)
    except ValueError:
        raise doc.error(node, field, f"expected one of {', '.join(r.value for r in Restart)}, "
                                     f"got {v!r}") from None


def _resolve(doc: _Doc, node: yaml.Node, field: str, path: str) -> Any:
    try:
        return import_type(path)
    except ValueError as exc:
        raise doc.error(node, field, str(exc)) from None
    except ImportError as exc:
        hint = _module_hint(path.split(":")[0])
        raise doc.error(node, field, f"cannot import {path}: {exc}{hint}") from None
    except AttributeError:
        mod_name, _, attr = path.partition(":")
        module = importlib.import_module(mod_name)
        classes = [n for n in dir(module) if isinstance(getattr(module, n), type)]
        raise doc.error(node, field, f"{path}: no such class in that module"
                                     f"{did_you_mean(attr, classes)}") from None


def _module_hint(mod: str) -> str:
    """"did you mean" among the modules next to ``mod`` (its package's, or top-level ones)."""
    parent = mod.rpartition(".")[0]
    if parent:
        try:
            paths = getattr(importlib.import_module(parent), "__path__", None)
        except ImportError:
            return ""
        if paths is None:
            return ""
        names = [f"{parent}.{m.name}" for m in pkgutil.iter_modules(paths)]
    else:
        names = [m.name for m in pkgutil.iter_modules()]
    return did_you_mean(mod, names)


def _topics(doc: _Doc, node: yaml.Node) -> tuple[TopicSpec, ...]:
    out = []
    for name, (knode, vnode) in doc.mapping(node, "topics", None).items():
        field = f"topics.{name}"
        try:
            check_topic(name)
        except LocalProtocolError as exc:
            raise doc.error(knode, field, str(exc)) from None
        if isinstance(vnode, yaml.ScalarNode) and doc.value(vnode) is None:
            spec: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        else:
            spec = doc.mapping(vnode, field, TOPIC_KEYS)
        type_path, msg_type = "bytes", None
        if "type" in spec:
            tnode = spec["type"][1]
            type_path = _str(doc, tnode, f"{field}.type")
            if type_path != "bytes":
                msg_type = _resolve(doc, tnode, f"{field}.type", type_path)
                try:
                    codec_for(msg_type)
                except (LocalProtocolError, TypeError) as exc:
                    raise doc.error(tnode, f"{field}.type", f"not a message type: {exc}") from None
        kw: dict[str, Any] = {}
        if "service" in spec:
            snode = spec["service"][1]
            try:
                kw["service"] = parse_service(doc.value(snode))
            except LocalProtocolError as exc:
                raise doc.error(snode, f"{field}.service", str(exc)) from None
        if "depth" in spec:
            kw["depth"] = _int(doc, spec["depth"][1], f"{field}.depth", 1)
        if "deadline" in spec:
            kw["deadline"] = _number(doc, spec["deadline"][1], f"{field}.deadline")
        if "latched" in spec:
            lv = doc.value(spec["latched"][1])
            if not isinstance(lv, bool):
                raise doc.error(spec["latched"][1], f"{field}.latched", f"expected true/false, got {lv!r}")
            kw["latched"] = lv
        if "priority" in spec:
            pv = doc.value(spec["priority"][1])
            if pv not in PRIORITIES:
                raise doc.error(spec["priority"][1], f"{field}.priority",
                                f"expected one of {', '.join(PRIORITIES)}, got {pv!r}")
            kw["priority"] = pv
        rate = _number(doc, spec["rate"][1], f"{field}.rate") if "rate" in spec else None
        out.append(TopicSpec(name, type_path, msg_type, QoS(**kw), rate, knode.start_mark.line + 1))
    return tuple(out)


def _component(doc: _Doc, node: yaml.Node, field: str, topics: set[str]) -> ComponentSpec:
    from ..client.session import check_client_name
    m = doc.mapping(node, field, COMPONENT_KEYS)
    for req in ("name", "class"):
        if req not in m:
            raise doc.error(node, f"{field}.{req}", "missing")
    name_node = m["name"][1]
    name = _str(doc, name_node, f"{field}.name")
    try:
        check_client_name(name)
    except LocalProtocolError as exc:
        raise doc.error(name_node, f"{field}.name", str(exc)) from None
    cnode = m["class"][1]
    class_path = _str(doc, cnode, f"{field}.class")
    cls = _resolve(doc, cnode, f"{field}.class", class_path)
    if not callable(cls):
        raise doc.error(cnode, f"{field}.class", f"{class_path} is not a class")
    for attr in ("publishes", "subscribes"):
        for t in getattr(cls, attr, ()) or ():
            if t not in topics:
                raise doc.error(cnode, f"{field}.class",
                                f"{class_path} {attr} topic {t}, which the launch file does not "
                                f"declare under 'topics'{did_you_mean(t, topics)}")
    params: dict[str, Any] = {}
    defaults = dict(getattr(cls, "params", {}) or {})
    params.update(defaults)
    if "params" in m:
        pnode = m["params"][1]
        if not (isinstance(pnode, yaml.ScalarNode) and doc.value(pnode) is None):
            for key, (knode, vnode) in doc.mapping(pnode, f"{field}.params", None).items():
                try:
                    params[key] = check_param(cls, class_path, key, doc.value(vnode))
                except KeyError as exc:
                    raise doc.error(knode, f"{field}.params.{key}", exc.args[0]) from None
                except TypeError as exc:
                    raise doc.error(vnode, f"{field}.params.{key}", str(exc)) from None
    restart = _restart(doc, m["restart"][1], f"{field}.restart") if "restart" in m else Restart.ON_FAILURE
    max_restarts = _int(doc, m["max_restarts"][1], f"{field}.max_restarts", 0) if "max_restarts" in m else 5
    return ComponentSpec(name, class_path, cls, frozen_params(params), restart, max_restarts,
                         node.start_mark.line + 1)


def parse_launch(text: str, path: str, config_override: str | None = None,
                 check_config: bool = True) -> LaunchFile:
    """Parse and validate a launch file's text (``path`` is used for messages and paths)."""
    doc = _Doc(text, path)
    top = doc.mapping(doc.root, "", TOP_KEYS)
    for req in ("robot", "config", "processors"):
        if req not in top:
            raise doc.error(doc.root, req, "missing")
    base = os.path.dirname(os.path.abspath(path))
    robot = _str(doc, top["robot"][1], "robot")
    cfg_node = top["config"][1]
    config_path = config_override or os.path.normpath(os.path.join(base, _str(doc, cfg_node, "config")))
    pythonpath: list[str] = []
    if "pythonpath" in top:
        for i, n in enumerate(doc.sequence(top["pythonpath"][1], "pythonpath")):
            pythonpath.append(os.path.normpath(os.path.join(base, _str(doc, n, f"pythonpath[{i}]"))))
    for p in reversed(pythonpath):
        if p not in sys.path:
            sys.path.insert(0, p)
    topics = _topics(doc, top["topics"][1]) if "topics" in top else ()
    groups: list[str] = []
    if "groups" in top:
        for i, n in enumerate(doc.sequence(top["groups"][1], "groups")):
            g = _str(doc, n, f"groups[{i}]")
            if len(g.encode()) > 64 or g.startswith("t:"):
                raise doc.error(n, f"groups[{i}]", "group names are at most 64 bytes and may not start with 't:'")
            groups.append(g)
    ring_names: set[str] | None = None
    if check_config:
        from ..config import GcsConfig
        if not os.path.exists(config_path):
            raise doc.error(cfg_node, "config", f"ring config {config_path} does not exist")
        ring = GcsConfig.from_file(config_path)
        ring_names = {d.name for d in ring.daemons}
    topic_names = {t.name for t in topics}
    procs = []
    for pname, (knode, vnode) in doc.mapping(top["processors"][1], "processors", None).items():
        field = f"processors.{pname}"
        if ring_names is not None and pname not in ring_names:
            raise doc.error(knode, field, f"no daemon named {pname} in ring config {config_path} "
                                          f"(daemons: {', '.join(sorted(ring_names))})")
        pm = doc.mapping(vnode, field, PROCESSOR_KEYS)
        restart = _restart(doc, pm["restart"][1], f"{field}.restart") if "restart" in pm else Restart.NEVER
        comps: list[ComponentSpec] = []
        if "components" in pm:
            for i, cnode in enumerate(doc.sequence(pm["components"][1], f"{field}.components")):
                c = _component(doc, cnode, f"{field}.components[{i}]", topic_names)
                if any(o.name == c.name for o in comps):
                    raise doc.error(cnode, f"{field}.components[{i}].name", f"duplicate component {c.name}")
                comps.append(c)
        if "bridges" in pm:        # ROS 2 and fleet bridges run as components (bridges.py)
            from .bridges import parse_bridges
            comps.extend(parse_bridges(doc, pm["bridges"][1], f"{field}.bridges", topics,
                                       tuple(groups), robot, [c.name for c in comps]))
        cpus = _cpus(doc, pm["cpus"][1], f"{field}.cpus") if "cpus" in pm else None
        procs.append(ProcessorSpec(pname, tuple(comps), restart, knode.start_mark.line + 1, cpus))
    if not procs:
        raise doc.error(top["processors"][1], "processors", "no processors")
    return LaunchFile(path, robot, config_path, topics, tuple(groups), tuple(procs), tuple(pythonpath))


def load_launch(path: str, config_override: str | None = None, overrides: Iterable[str] = (),
                check_config: bool = True) -> LaunchFile:
    """Load ``path``; ``overrides`` are ``component.key=value`` (``*`` = every component)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read launch file: {exc.strerror}", path) from None
    lf = parse_launch(text, path, config_override, check_config)
    return apply_overrides(lf, overrides)


def apply_overrides(lf: LaunchFile, overrides: Iterable[str]) -> LaunchFile:
    """Apply ``--set component.key=value`` overrides (value parsed as YAML)."""
    sets: list[tuple[str, str, Any]] = []
    for ov in overrides:
        target, eq, raw = ov.partition("=")
        comp, dot, key = target.partition(".")
        if not eq or not dot or not comp or not key:
            raise ConfigError(f"bad override {ov!r}: expected component.key=value", None, None, "--set")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        sets.append((comp, key, value))
    if not sets:
        return lf
    known = {c.name for p in lf.processors for c in p.components}
    for comp, key, _ in sets:
        if comp != "*" and comp not in known:
            raise ConfigError(f"no component named {comp}{did_you_mean(comp, known)} "
                              f"(have: {', '.join(sorted(known))})", lf.path, None, "--set")
    procs = []
    for p in lf.processors:
        comps = []
        for c in p.components:
            params = dict(c.params)
            for comp, key, value in sets:
                if comp in ("*", c.name):
                    try:
                        params[key] = check_param(c.cls, c.class_path, key, value)
                    except KeyError as exc:
                        if comp == "*":
                            continue       # a wildcard only touches components that know the key
                        raise ConfigError(f"{c.name}: {exc.args[0]}", lf.path, c.line,
                                          "--set") from None
                    except TypeError as exc:
                        raise ConfigError(f"{c.name}: {exc}", lf.path, c.line, "--set") from None
            comps.append(ComponentSpec(c.name, c.class_path, c.cls, frozen_params(params), c.restart,
                                       c.max_restarts, c.line))
        procs.append(dataclasses.replace(p, components=tuple(comps)))
    return LaunchFile(lf.path, lf.robot, lf.config_path, lf.topics, lf.groups, tuple(procs), lf.pythonpath)


def params_of(lf: LaunchFile, processor: str, component: str) -> Mapping[str, Any]:
    for c in lf.processor(processor).components:
        if c.name == component:
            return c.params
    raise KeyError(component)
