"""`robot-gcs monitor --plain` (or piped): one log line per new membership event and per
daemon grade change, never repeated."""

from __future__ import annotations

import io

from robot_gcs.diagnostics.collector import HealthCollector, encode_snapshot
from robot_gcs.diagnostics.model import MembershipEvent
from robot_gcs.diagnostics.monitor_command import PlainLog
from robot_gcs.diagnostics.rules import load_rules

from .helpers import T0, daemon_health


def test_plain_log_writes_events_and_grade_changes_once() -> None:
    out = io.StringIO()
    log = PlainLog(out)
    c = HealthCollector(load_rules(), source="cpu1")
    for i in (1, 2, 3):
        c.receive(encode_snapshot(daemon_health(f"cpu{i}", i, history=())), 10.0)
    c.on_view(("#diag#cpu1", "#diag#cpu2", "#diag#cpu3", "#mon#cpu1"), ("#mon#cpu1",), "JOIN",
              T0)
    log.frame(c.cluster(10.1, T0))
    first = out.getvalue().splitlines()
    assert len(first) == 3 and all(" OK OPERATIONAL ring 1.8 members cpu1,cpu2,cpu3" in line
                                   for line in first)
    log.frame(c.cluster(10.2, T0))
    assert out.getvalue().splitlines() == first               # nothing new, nothing written
    c.receive(encode_snapshot(daemon_health("cpu1", 1, history=(
        MembershipEvent(T0 + 1, "cpu1", "NETWORK", "1.12", ("cpu1", "cpu2"), "left: cpu3"),),
        ring_id="1.12", members=("cpu1", "cpu2"))), 11.0)
    c.on_view(("#diag#cpu1", "#diag#cpu2", "#mon#cpu1"), ("#diag#cpu3",), "NETWORK", T0 + 1)
    log.frame(c.cluster(11.1, T0 + 1))
    new = out.getvalue().splitlines()[3:]
    assert any("cpu1 NETWORK ring 1.12 [cpu1,cpu2] left: cpu3" in line for line in new)
    assert any("cpu3 NETWORK left the diagnostics group" in line for line in new)
    assert any("cpu3 STALE" in line and "left: NETWORK" in line for line in new)
    assert not any("cpu2 " in line and "OK" in line for line in new)   # unchanged grade
    log.problem("lost unix:/x: gone; re-attaching")
    log.problem("lost unix:/x: gone; re-attaching")
    assert out.getvalue().count("re-attaching") == 1
