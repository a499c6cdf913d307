"""`robot-gcs status --json`: the document is documented, validates against its schema,
and its shape is pinned (keys may be added within version 1, never removed)."""

from __future__ import annotations

import dataclasses
import json

from robot_gcs.diagnostics.collector import HealthCollector, encode_snapshot
from robot_gcs.diagnostics.model import LeaderView, LogLine, NodeView
from robot_gcs.diagnostics.rules import load_rules
from robot_gcs.diagnostics.status import (STATUS_SCHEMA, STATUS_SCHEMA_ID, status_document,
                                          validate)
from robot_gcs.diagnostics import status as status_module

from .helpers import T0, daemon_health

# The stable contract of robot_gcs.status/1. Adding keys is fine (add them here too);
# removing or renaming one breaks scripts and must bump the schema id.
PINNED = {
    "": {"schema", "generated_at", "source", "grade", "daemons", "groups", "topics",
         "sessions", "events", "nodes", "leaders", "logs"},
    "daemons": {"name", "node_id", "incarnation", "state", "security", "ring_id", "members", "grade",
                "stale", "left", "age_s", "time_in_state_s", "gather_reason", "gather_from",
                "rotation_p50_ms", "rotation_p99_ms", "loop_lag_p99_ms", "loop_lag_worst_ms",
                "retransmits_per_s", "delivered_msgs_per_s", "delivered_bytes_per_s",
                "packets_per_s", "drops", "send_queue_len", "findings"},
    "groups": {"group", "members"},
    "topics": {"topic", "daemon", "rate_hz", "bandwidth_bps", "age_s", "deadline_s",
               "deadline_misses", "drops", "type_errors", "grade"},
    "sessions": {"daemon", "name", "queue_depth", "drops", "drops_per_s", "grade"},
    "events": {"time", "daemon", "cause", "ring_id", "members", "detail"},
    "nodes": {"name", "pubs", "subs", "services"},
    "leaders": {"group", "leader", "agreed", "members"},
    "logs": {"time", "level", "node", "text"},
}


def document() -> dict:
    c = HealthCollector(load_rules(), source="cpu1")
    for i in (1, 2, 3):
        c.receive(encode_snapshot(daemon_health(f"cpu{i}", i, loop_lag_p99_ms=None if i == 3
                                                else 1.0 * i)), 10.0)
    c.on_view(("#diag#cpu1", "#diag#cpu2", "#mon#cpu1"), ("#diag#cpu3",), "NETWORK", T0)
    cluster = dataclasses.replace(
        c.cluster(10.2, T0 + 0.2),
        nodes=(NodeView("#perception#cpu3", (("/odom", "m:Odometry"),)),),
        leaders=(LeaderView("ctl", "#controller#cpu1", True, ("#controller#cpu1",)),),
        logs=(LogLine(T0, "INFO", "#controller#cpu1", "ACTIVE"),))
    return json.loads(json.dumps(status_document(cluster)))


def test_status_document_validates_against_the_schema() -> None:
    doc = document()
    assert validate(doc) == []
    assert doc["schema"] == STATUS_SCHEMA_ID == "robot_gcs.status/1"
    assert doc["grade"] == "STALE" and doc["source"] == "cpu1"
    by_name = {d["name"]: d for d in doc["daemons"]}
    assert by_name["cpu1"]["grade"] == "OK" and by_name["cpu1"]["members"] == ["cpu1", "cpu2", "cpu3"]
    assert by_name["cpu3"]["grade"] == "STALE" and by_name["cpu3"]["left"] is True
    assert by_name["cpu3"]["loop_lag_p99_ms"] is None
    assert doc["groups"][0]["group"] == "control"
    assert doc["topics"][0]["rate_hz"] == 50.0
    assert doc["events"][-1]["cause"] == "NETWORK"


def test_status_shape_is_pinned() -> None:
    assert set(STATUS_SCHEMA["required"]) == PINNED[""]
    for key, fields in PINNED.items():
        if key:
            assert set(STATUS_SCHEMA["properties"][key]["items"]["required"]) == fields, key
    doc = document()
    assert set(doc) == PINNED[""]
    for key, fields in PINNED.items():
        if key:
            for item in doc[key]:
                assert set(item) == fields, key


def test_every_documented_key_appears_in_the_module_docstring() -> None:
    doc = status_module.__doc__ or ""
    for fields in PINNED.values():
        for field in fields:
            assert f'"{field}"' in doc, field


def test_validator_reports_wrong_documents() -> None:
    doc = document()
    doc["daemons"][0]["grade"] = "FINE"
    del doc["daemons"][1]["ring_id"]
    doc["topics"][0]["rate_hz"] = "fast"
    doc["daemons"][2]["drops"] = {"bad_mac": True}
    problems = validate(doc)
    assert any("daemons[0].grade" in p for p in problems)
    assert any("daemons[1]: missing 'ring_id'" in p for p in problems)
    assert any("topics[0].rate_hz" in p for p in problems)
    assert any("daemons[2].drops.bad_mac" in p for p in problems)
