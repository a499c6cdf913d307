"""Grading rules: thresholds that turn health metrics into OK / WARN / ERROR / STALE.

Owns the rule model, the metric catalogue, the YAML loader and the grading function.
Like ROS's diagnostic_aggregator, a rule names a metric, optionally a glob over the
subject (daemon name, ``daemon/session`` or topic name) and a WARN and/or ERROR limit.

Rule file (``diagnostics/default.yaml`` is the shipped one)::

    version: 1
    stale_after_s: 3.0            # no snapshot for this long -> the daemon is STALE
    rules:
      - metric: loop_lag_p99_ms   # see METRICS for the names
        match: "*"                # fnmatch glob over the subject (default "*")
        warn: 20                  # value > warn  -> WARN
        error: 100                # value > error -> ERROR
      - metric: topic.rate_hz
        match: "/odom"
        below: true               # value < warn -> WARN, value < error -> ERROR
        warn: 40
        error: 10

A site file may start from another one: ``extends: default`` (the shipped rules) or
``extends: other.yaml`` (relative to this file); its rules come after the base's, and
``stale_after_s`` overrides the base's only when given.

Rules: for one metric and subject the LAST matching rule wins, so a specific rule placed
after a general one (or in a file extending it) overrides it. A metric whose value is unknown (None) is
not graded. Every mistake in a rule file raises ``ConfigError(path, line, field)``; node
lines come from ``yaml.compose`` (the loader never guesses).
"""

from __future__ import annotations

import fnmatch
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from ..errors import ConfigError
from .model import DaemonHealth, Finding, Grade, SessionHealth, TopicHealth

log = logging.getLogger(__name__)

DEFAULT_RULES_PATH = Path(__file__).resolve().parents[2] / "diagnostics" / "default.yaml"


def _age_over_deadline(t: TopicHealth) -> float | None:
    if t.deadline_s is None or t.deadline_s <= 0 or t.age_s is None:
        return None
    return t.age_s / t.deadline_s


# metric name -> (scope, extractor, help). Scopes: "daemon", "session", "topic".
DAEMON_METRICS: dict[str, tuple[Callable[[DaemonHealth], float | None], str]] = {
    "not_operational_s": (lambda h: h.not_operational_s, "seconds outside OPERATIONAL"),
    "rotation_p50_ms": (lambda h: h.rotation_p50_ms, "token rotation time, median"),
    "rotation_p99_ms": (lambda h: h.rotation_p99_ms, "token rotation time, 99th percentile"),
    "loop_lag_worst_ms": (lambda h: h.loop_lag_worst_ms, "daemon loop lag, worst"),
    "loop_lag_p99_ms": (lambda h: h.loop_lag_p99_ms, "daemon loop lag, 99th percentile"),
    "retransmits_per_s": (lambda h: h.retransmits_per_s, "packets re-sent per second"),
    "drops_per_s": (lambda h: h.drops_per_s, "dropped datagrams per second (all reasons)"),
    "send_queue_len": (lambda h: float(h.send_queue_len), "messages waiting for the token"),
    "delivered_msgs_per_s": (lambda h: h.delivered_msgs_per_s, "messages delivered per second"),
    "ring_size": (lambda h: float(len(h.members)), "daemons in the ring"),
}
SESSION_METRICS: dict[str, tuple[Callable[[SessionHealth], float | None], str]] = {
    "session.queue_depth": (lambda s: float(s.queue_depth), "events waiting for the client"),
    "session.drops": (lambda s: float(s.drops), "events dropped for the client (total)"),
    "session.drops_per_s": (lambda s: s.drops_per_s, "events dropped for the client, per second"),
}
TOPIC_METRICS: dict[str, tuple[Callable[[TopicHealth], float | None], str]] = {
    "topic.rate_hz": (lambda t: t.rate_hz, "messages per second"),
    "topic.age_s": (lambda t: t.age_s, "seconds since the last message"),
    "topic.age_over_deadline": (_age_over_deadline, "age divided by the topic's deadline"),
    "topic.deadline_misses": (lambda t: float(t.deadline_misses), "deadline misses"),
    "topic.drops": (lambda t: float(t.drops), "messages dropped by keep-last queues"),
    "topic.type_errors": (lambda t: float(t.type_errors),
                          "messages dropped because their type did not match the subscriber's"),
}
METRICS: frozenset[str] = frozenset(DAEMON_METRICS) | frozenset(SESSION_METRICS) | frozenset(TOPIC_METRICS)


@dataclass(frozen=True, slots=True)
class Rule:
    metric: str
    match: str = "*"
    warn: float | None = None
    error: float | None = None
    below: bool = False
    line: int | None = None        # where it was written (for messages)

    def grade(self, value: float) -> tuple[Grade, float | None]:
        """Grade ``value`` against this rule; returns (grade, limit crossed or None)."""
        def crossed(limit: float | None) -> bool:
            if limit is None:
                return False
            return value < limit if self.below else value > limit
        if crossed(self.error):
            return Grade.ERROR, self.error
        if crossed(self.warn):
            return Grade.WARN, self.warn
        return Grade.OK, None


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    stale_after_s: float = 3.0
    path: str | None = None

    def rule_for(self, metric: str, subject: str) -> Rule | None:
        found: Rule | None = None
        for r in self.rules:
            if r.metric == metric and fnmatch.fnmatchcase(subject, r.match):
                found = r
        return found

    def _grade(self, metric: str, subject: str, value: float | None) -> Finding | None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        rule = self.rule_for(metric, subject)
        if rule is None:
            return None
        g, limit = rule.grade(value)
        return Finding(metric, subject, float(value), g, limit)

    def grade_daemon(self, h: DaemonHealth) -> tuple[Finding, ...]:
        out = [self._grade(m, h.name, fn(h)) for m, (fn, _) in sorted(DAEMON_METRICS.items())]
        return tuple(f for f in out if f is not None)

    def grade_session(self, daemon: str, s: SessionHealth) -> tuple[Finding, ...]:
        subject = f"{daemon}/{s.name}"
        out = [self._grade(m, subject, fn(s)) for m, (fn, _) in sorted(SESSION_METRICS.items())]
        return tuple(f for f in out if f is not None)

    def grade_topic(self, t: TopicHealth) -> tuple[Finding, ...]:
        out = [self._grade(m, t.topic, fn(t)) for m, (fn, _) in sorted(TOPIC_METRICS.items())]
        return tuple(f for f in out if f is not None)


# ---------------------------------------------------------------- loading

_RULE_KEYS = {"metric", "match", "warn", "error", "below"}
_TOP_KEYS = {"version", "extends", "stale_after_s", "rules"}
_MAX_EXTENDS = 8


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


_default_cache: list[RuleSet] = []


def load_rules(path: str | Path | None = None, _depth: int = 0) -> RuleSet:
    """Load a rule file (the shipped default when ``path`` is None, read once).

    The default lives in the source tree (``diagnostics/default.yaml``); an installation
    without it gets no thresholds (only STALE grading) and a logged warning, never an
    error: health must not stop a daemon from starting.
    """
    if path is None:
        if not _default_cache:
            if DEFAULT_RULES_PATH.exists():
                _default_cache.append(load_rules(DEFAULT_RULES_PATH))
            else:
                log.warning("default health rules %s not found: grading only STALE",
                            DEFAULT_RULES_PATH)
                _default_cache.append(RuleSet((), 3.0, None))
        return _default_cache[0]
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read rule file: {exc.strerror or exc}", str(p)) from None
    return parse_rules(text, str(p), _depth)


def parse_rules(text: str, path: str = "<rules>", _depth: int = 0) -> RuleSet:
    """Parse rule-file text; every problem raises ConfigError with path, line and field."""
    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            raise ConfigError(f"not valid YAML: {exc.problem or exc}", path,
                              mark.line + 1 if mark else None) from None

        def value(node: yaml.Node) -> Any:
            try:
                return loader.construct_object(node, deep=True)
            except yaml.YAMLError as exc:
                raise ConfigError(f"bad value: {exc}", path, _line(node)) from None

        if root is None:
            raise ConfigError("rule file is empty", path, 1)
        if not isinstance(root, yaml.MappingNode):
            raise ConfigError("top level must be a mapping with 'rules'", path, _line(root))
        top: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for k, v in root.value:
            key = value(k)
            if key not in _TOP_KEYS:
                raise ConfigError(f"unknown key (expected one of {sorted(_TOP_KEYS)})", path,
                                  _line(k), str(key))
            if key in top:
                raise ConfigError("duplicate key", path, _line(k), str(key))
            top[key] = (k, v)
        if "version" in top:
            k, v = top["version"]
            if value(v) != 1:
                raise ConfigError("unsupported rule file version (this build reads 1)", path,
                                  _line(v), "version")
        base: RuleSet | None = None
        if "extends" in top:
            node = top["extends"][1]
            ref = value(node)
            if not isinstance(ref, str) or not ref:
                raise ConfigError("must be 'default' or a rule file path", path, _line(node),
                                  "extends")
            if _depth >= _MAX_EXTENDS:
                raise ConfigError("extends chain too long (a cycle?)", path, _line(node),
                                  "extends")
            if ref == "default":
                base = load_rules(None)
            else:
                ref_path = Path(ref)
                if not ref_path.is_absolute():
                    ref_path = Path(path).parent / ref_path
                base = load_rules(ref_path, _depth + 1)
        stale = base.stale_after_s if base is not None else 3.0
        if "stale_after_s" in top:
            stale = _number(value(top["stale_after_s"][1]), path, top["stale_after_s"][1],
                            "stale_after_s")
            if stale <= 0:
                raise ConfigError("must be positive", path, _line(top["stale_after_s"][1]),
                                  "stale_after_s")
        if "rules" not in top:
            raise ConfigError("missing 'rules' (a list of rules)", path, _line(root), "rules")
        rules_node = top["rules"][1]
        if not isinstance(rules_node, yaml.SequenceNode):
            raise ConfigError("must be a list of rules", path, _line(rules_node), "rules")
        rules = tuple(_parse_rule(n, i, path, value) for i, n in enumerate(rules_node.value))
        return RuleSet((base.rules if base is not None else ()) + rules, stale, path)
    finally:
        loader.dispose()


def _number(v: Any, path: str, node: yaml.Node, field: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(f"must be a number (got {v!r})", path, _line(node), field)
    return float(v)


def _parse_rule(node: yaml.Node, index: int, path: str, value: Callable[[yaml.Node], Any]) -> Rule:
    where = f"rules[{index}]"
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError("each rule must be a mapping with 'metric'", path, _line(node), where)
    items: dict[str, tuple[yaml.Node, Any]] = {}
    for k, v in node.value:
        key = value(k)
        if key not in _RULE_KEYS:
            raise ConfigError(f"unknown key (expected one of {sorted(_RULE_KEYS)})", path,
                              _line(k), f"{where}.{key}")
        if key in items:
            raise ConfigError("duplicate key", path, _line(k), f"{where}.{key}")
        items[key] = (v, value(v))
    if "metric" not in items:
        raise ConfigError("rule has no 'metric'", path, _line(node), f"{where}.metric")
    mnode, metric = items["metric"]
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r} (known: {', '.join(sorted(METRICS))})",
                          path, _line(mnode), f"{where}.metric")
    match = "*"
    if "match" in items:
        n, match = items["match"]
        if not isinstance(match, str) or not match:
            raise ConfigError("must be a non-empty glob string", path, _line(n), f"{where}.match")
    below = False
    if "below" in items:
        n, below = items["below"]
        if not isinstance(below, bool):
            raise ConfigError("must be true or false", path, _line(n), f"{where}.below")
    limits: dict[str, float | None] = {"warn": None, "error": None}
    for name in ("warn", "error"):
        if name in items:
            n, v = items[name]
            limits[name] = _number(v, path, n, f"{where}.{name}")
    warn, error = limits["warn"], limits["error"]
    if warn is None and error is None:
        raise ConfigError("rule needs 'warn' and/or 'error'", path, _line(node), where)
    if warn is not None and error is not None:
        bad = warn < error if below else warn > error
        if bad:
            want = "at least" if below else "at most"
            raise ConfigError(f"warn ({warn:g}) must be {want} error ({error:g})", path,
                              _line(items["warn"][0]), f"{where}.warn")
    return Rule(metric=metric, match=match, warn=warn, error=error, below=below,
                line=_line(node))
