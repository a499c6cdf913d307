"""The ``robot-gcs status --json`` document: a stable, documented shape for scripts.

Owns ``status_document(cluster)`` and ``STATUS_SCHEMA`` (a JSON Schema, draft 2020-12
subset), plus a tiny validator (``validate``) so tests need no extra package.

Stability rules: ``schema`` is ``"robot_gcs.status/1"``; within version 1 keys are only
ever added, never renamed, removed or retyped. Grades are "OK", "WARN", "ERROR",
"STALE". Times: ``generated_at`` and event ``time`` are epoch seconds (UTC); ``age_s`` is
how long ago this daemon's snapshot reached the reporting daemon. Unknown numbers are
``null``. Document shape::

    {
      "schema": "robot_gcs.status/1",
      "generated_at": 1795000000.5,
      "source": "cpu1",                  # daemon the status was read through
      "grade": "OK",                     # worst of everything below
      "daemons": [{
          "name": "cpu1", "node_id": 1, "incarnation": 3,
          "state": "OPERATIONAL", "security": "sealed",   # or "insecure"
          "ring_id": "1.8", "members": ["cpu1", "cpu2"],
          "grade": "OK", "stale": false, "left": false, "age_s": 0.2,
          "time_in_state_s": 12.5, "gather_reason": "JOIN", "gather_from": "cpu2",
          "rotation_p50_ms": 31.0, "rotation_p99_ms": 45.2,
          "loop_lag_p99_ms": 0.8, "loop_lag_worst_ms": 6.1,
          "retransmits_per_s": 0.0, "delivered_msgs_per_s": 120.0,
          "delivered_bytes_per_s": 9600.0, "packets_per_s": 310.0,
          "drops": {"bad_mac": 2}, "send_queue_len": 0,
          "findings": [{"metric": "loop_lag_p99_ms",   # what is WARN or worse, and why "subject": "cpu1",
                        "value": 35.0, "grade": "WARN", "limit": 20.0}]
      }],
      "groups": [{"group": "control", "members": ["#ctl#cpu1", "#planner#cpu2"]}],
      "topics": [{"topic": "/odom", "daemon": "cpu2", "rate_hz": 50.0,
                  "bandwidth_bps": 12000.0, "age_s": 0.01, "deadline_s": 0.1,
                  "deadline_misses": 0, "drops": 0, "type_errors": 0, "grade": "OK"}],
      "sessions": [{"daemon": "cpu1", "name": "planner", "queue_depth": 0,
                    "drops": 0, "drops_per_s": 0.0, "grade": "OK"}],
      "events": [{"time": 1795000000.1, "daemon": "cpu1", "cause": "NETWORK",
                  "ring_id": "1.12", "members": ["cpu1", "cpu2"], "detail": "left: cpu3"}],
      "nodes": [{"name": "#perception#cpu3",          # every node the registry announces
                 "pubs": [["/odom", "pkg.msgs:Odometry"]], "subs": [], "services": []}],
      "leaders": [{"group": "ctl", "leader": "#controller#cpu1", "agreed": true,
                   "members": ["#controller#cpu1", "#standby#cpu2"]}],
      "logs": [{"time": 1795000000.3, "level": "INFO", "node": "#controller#cpu1",
                "text": "ACTIVE"}]
    }
"""

from __future__ import annotations

from typing import Any

from .model import ClusterHealth, Grade, to_jsonable

STATUS_SCHEMA_ID = "robot_gcs.status/1"

_GRADE = {"enum": ["OK", "WARN", "ERROR", "STALE"]}
_NUM_OR_NULL = {"type": ["number", "null"]}
_STR_LIST = {"type": "array", "items": {"type": "string"}}
_STR_OR_NULL = {"type": ["string", "null"]}


def _obj(props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": sorted(props), "properties": props}


STATUS_SCHEMA: dict[str, Any] = _obj({
    "schema": {"const": STATUS_SCHEMA_ID},
    "generated_at": {"type": "number"},
    "source": {"type": "string"},
    "grade": _GRADE,
    "daemons": {"type": "array", "items": _obj({
        "name": {"type": "string"}, "node_id": {"type": "integer"},
        "incarnation": {"type": "integer"}, "state": {"type": "string"},
        "security": {"enum": ["sealed", "insecure"]},
        "ring_id": {"type": "string"}, "members": _STR_LIST, "grade": _GRADE,
        "stale": {"type": "boolean"}, "left": {"type": "boolean"}, "age_s": {"type": "number"},
        "time_in_state_s": {"type": "number"}, "gather_reason": _STR_OR_NULL,
        "gather_from": _STR_OR_NULL, "rotation_p50_ms": _NUM_OR_NULL,
        "rotation_p99_ms": _NUM_OR_NULL, "loop_lag_p99_ms": _NUM_OR_NULL,
        "loop_lag_worst_ms": _NUM_OR_NULL, "retransmits_per_s": {"type": "number"},
        "delivered_msgs_per_s": {"type": "number"}, "delivered_bytes_per_s": {"type": "number"},
        "packets_per_s": {"type": "number"},
        "drops": {"type": "object", "additionalProperties": {"type": "integer"}},
        "send_queue_len": {"type": "integer"},
        "findings": {"type": "array", "items": _obj({
            "metric": {"type": "string"}, "subject": {"type": "string"},
            "value": {"type": "number"}, "grade": _GRADE, "limit": _NUM_OR_NULL})},
    })},
    "groups": {"type": "array", "items": _obj({"group": {"type": "string"},
                                               "members": _STR_LIST})},
    "topics": {"type": "array", "items": _obj({
        "topic": {"type": "string"}, "daemon": {"type": "string"},
        "rate_hz": {"type": "number"}, "bandwidth_bps": {"type": "number"},
        "age_s": _NUM_OR_NULL, "deadline_s": _NUM_OR_NULL,
        "deadline_misses": {"type": "integer"}, "drops": {"type": "integer"},
        "type_errors": {"type": "integer"}, "grade": _GRADE})},
    "sessions": {"type": "array", "items": _obj({
        "daemon": {"type": "string"}, "name": {"type": "string"},
        "queue_depth": {"type": "integer"}, "drops": {"type": "integer"},
        "drops_per_s": {"type": "number"}, "grade": _GRADE})},
    "events": {"type": "array", "items": _obj({
        "time": {"type": "number"}, "daemon": {"type": "string"}, "cause": {"type": "string"},
        "ring_id": {"type": "string"}, "members": _STR_LIST, "detail": {"type": "string"}})},
    "nodes": {"type": "array", "items": _obj({
        "name": {"type": "string"}, "services": _STR_LIST,
        "pubs": {"type": "array", "items": _STR_LIST},
        "subs": {"type": "array", "items": _STR_LIST}})},
    "leaders": {"type": "array", "items": _obj({
        "group": {"type": "string"}, "leader": _STR_OR_NULL, "agreed": {"type": "boolean"},
        "members": _STR_LIST})},
    "logs": {"type": "array", "items": _obj({
        "time": {"type": "number"}, "level": {"type": "string"}, "node": {"type": "string"},
        "text": {"type": "string"}})},
})


def status_document(cluster: ClusterHealth) -> dict[str, Any]:
    """The documented status document for ``cluster`` (plain JSON types)."""
    daemons = []
    for v in cluster.daemons:
        h = v.health
        daemons.append({
            "name": h.name, "node_id": h.node_id, "incarnation": h.incarnation,
            "state": h.state, "ring_id": h.ring_id, "members": list(h.members),
            "security": h.security,
            "grade": v.grade.name, "stale": v.stale, "left": v.left,
            "age_s": round(v.age_s, 3), "time_in_state_s": round(h.time_in_state_s, 3),
            "gather_reason": h.gather_reason, "gather_from": h.gather_from,
            "rotation_p50_ms": h.rotation_p50_ms, "rotation_p99_ms": h.rotation_p99_ms,
            "loop_lag_p99_ms": h.loop_lag_p99_ms, "loop_lag_worst_ms": h.loop_lag_worst_ms,
            "retransmits_per_s": h.retransmits_per_s,
            "delivered_msgs_per_s": h.delivered_msgs_per_s,
            "delivered_bytes_per_s": h.delivered_bytes_per_s, "packets_per_s": h.packets_per_s,
            "drops": dict(h.drops), "send_queue_len": h.send_queue_len,
            "findings": [to_jsonable(f) for f in v.findings if f.grade > Grade.OK],
        })
    return {
        "schema": STATUS_SCHEMA_ID,
        "generated_at": cluster.generated_at,
        "source": cluster.source,
        "grade": cluster.grade.name,
        "daemons": daemons,
        "groups": [{"group": g.group, "members": list(g.members)} for g in cluster.groups],
        "topics": [dict(to_jsonable(t.topic), daemon=t.daemon, grade=t.grade.name)
                   for t in cluster.topics],
        "sessions": [{"daemon": s.daemon, "name": s.session.name,
                      "queue_depth": s.session.queue_depth, "drops": s.session.drops,
                      "drops_per_s": s.session.drops_per_s, "grade": s.grade.name}
                     for s in cluster.sessions],
        "events": [to_jsonable(e) for e in cluster.events],
        "nodes": [to_jsonable(n) for n in cluster.nodes],
        "leaders": [to_jsonable(lv) for lv in cluster.leaders],
        "logs": [to_jsonable(r) for r in cluster.logs],
    }


_TYPES: dict[str, Any] = {
    "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
    "integer": int, "number": (int, float),
}


def _is(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])


def validate(doc: Any, schema: dict[str, Any] = STATUS_SCHEMA, where: str = "$") -> list[str]:
    """Problems of ``doc`` against ``schema`` (empty list = valid). Subset: type, enum,
    const, required, properties, additionalProperties (schema form), items."""
    problems: list[str] = []
    if "const" in schema and doc != schema["const"]:
        problems.append(f"{where}: expected {schema['const']!r}")
    if "enum" in schema and doc not in schema["enum"]:
        problems.append(f"{where}: {doc!r} not in {schema['enum']}")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is(doc, t) for t in types):
            return problems + [f"{where}: expected {'/'.join(types)}, got {type(doc).__name__}"]
    if isinstance(doc, dict):
        for key in schema.get("required", ()):
            if key not in doc:
                problems.append(f"{where}: missing {key!r}")
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, value in doc.items():
            if key in props:
                problems += validate(value, props[key], f"{where}.{key}")
            elif isinstance(extra, dict):
                problems += validate(value, extra, f"{where}.{key}")
    if isinstance(doc, list) and "items" in schema:
        for i, item in enumerate(doc):
            problems += validate(item, schema["items"], f"{where}[{i}]")
    return problems
