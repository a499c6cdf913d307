"""The console renders scripted health models into a fixed-size capture console: the
panels show members, grades and causes, and small terminals degrade gracefully."""

from __future__ import annotations

import datetime as dt
import re

from robot_gcs.diagnostics.collector import HealthCollector, encode_snapshot
from robot_gcs.diagnostics.console import render_text
from robot_gcs.diagnostics.model import (ClusterHealth, GroupHealth, MembershipEvent,
                                         SessionHealth, TopicHealth)
from robot_gcs.diagnostics.rules import load_rules

from .helpers import T0, daemon_health

UTC = dt.timezone.utc


def scripted() -> ClusterHealth:
    c = HealthCollector(load_rules(), source="cpu1")
    cpu1 = daemon_health("cpu1", 1, groups=(
        GroupHealth("control", ("#ctl#cpu2", "#planner#cpu1")),), history=(
        MembershipEvent(T0 - 60, "cpu1", "JOIN", "1.4", ("cpu1", "cpu2", "cpu3"),
                        "joined: cpu2,cpu3"),))
    c.receive(encode_snapshot(cpu1), 10.0)
    c.receive(encode_snapshot(daemon_health("cpu2", 2, loop_lag_p99_ms=35.0, topics=(
        TopicHealth("/odom", 50.0, 12000.0, 0.35, 0.1),), sessions=(
        SessionHealth("controller", 250, 7),))), 10.0)
    c.receive(encode_snapshot(daemon_health("cpu3", 3)), 10.0)
    c.on_view(("#diag#cpu1", "#diag#cpu2", "#mon1#cpu1"), ("#diag#cpu3",), "NETWORK", T0)
    return c.cluster(10.5, T0 + 0.5)


def rows(text: str, word: str) -> list[str]:
    return [line for line in text.splitlines() if word in line]


def daemon_row(text: str, name: str) -> str:
    (row,) = [line for line in text.splitlines() if line.startswith(f"│ {name} ")]
    return row


def test_80x24_shows_every_panel_with_members_grades_and_causes() -> None:
    text = render_text(scripted(), 80, 24, UTC)
    lines = text.splitlines()
    assert len(lines) == 24 and max(len(line) for line in lines) <= 80
    assert "overall STALE" in lines[0] and "via cpu1" in lines[0]
    for title in ("ring", "groups", "topics", "sessions (unwell)", "events and logs"):
        assert any(f"─ {title}" in line for line in lines), title
    cpu1 = daemon_row(text, "cpu1")
    assert "1.8" in cpu1 and " OK " in cpu1
    assert "gather" not in cpu1          # OPERATIONAL: why it last gathered is history
    assert lines[-1].startswith("rot: token rotation p50/p99 ms · lag: loop lag p99/max ms")
    cpu2 = daemon_row(text, "cpu2")
    assert "WARN" in cpu2 and "lag p99 ms 35>20" in cpu2 and "35/8.0" in cpu2
    cpu3 = daemon_row(text, "cpu3")
    assert "STALE" in cpu3 and "left: NETWORK" in cpu3
    (control,) = [r for r in rows(text, "control") if "│ control" in r]
    assert re.search(r"│ control +- +3 │", control)   # cpu2's own "control" member is merged in
    detail = render_text(scripted(), 100, 60, UTC, detail=True)
    assert "3: #ctl#cpu2 #planner#cpu1 #planner#cpu2" in detail     # one spelling of names
    assert "@" not in text + detail
    (odom,) = rows(text, "/odom")
    # fresh cpu1 and cpu2 see it (stale cpu3 no longer counts); worst grade: cpu2's age
    # 0.35 s is more than 3 x the 0.1 s deadline; freshest age 0.02 s from cpu1. No node
    # announced it in this model: type unknown, no publishers or subscribers counted.
    assert re.search(r"/odom +\? +0 +0 +50\.0 +0\.0 +ERROR", odom), odom
    (sess,) = rows(text, "cpu2/controller")
    assert "250" in sess and " 7 " in sess and "WARN" in sess        # 7 drops > 0, depth > 100
    (joined,) = rows(text, "joined: cpu2,cpu3")
    assert "JOIN" in joined and "ring 1.4" in joined
    (gone,) = rows(text, "left the diagnostics group")
    assert "cpu3" in gone and "NETWORK" in gone and "08:00:00" in gone


def test_newest_events_stay_visible_when_the_log_overflows() -> None:
    events = tuple(MembershipEvent(T0 + i, "cpu1", "JOIN", f"1.{i}", ("cpu1",), f"event {i}")
                   for i in range(40))
    c = HealthCollector(load_rules())
    c.add(daemon_health("cpu1", 1, history=events[-16:]), 1.0)
    text = render_text(c.cluster(1.0, T0), 80, 24, UTC)
    assert "event 39" in text and "event 24" not in text


def test_small_terminal_keeps_the_ring_panel() -> None:
    text = render_text(scripted(), 60, 12, UTC)
    lines = text.splitlines()
    assert len(lines) == 12 and max(len(line) for line in lines) <= 60
    assert any("─ ring" in line for line in lines)
    assert not any("─ topics" in line for line in lines)
    assert "STALE" in daemon_row(text, "cpu3") and "WARN" in daemon_row(text, "cpu2")
    tiny = render_text(scripted(), 40, 7, UTC)
    assert "cpu1" in tiny and len(tiny.splitlines()) == 7


def test_wide_terminal_adds_message_rates() -> None:
    text = render_text(scripted(), 120, 40, UTC)
    assert "msg/s" in text and "150" in daemon_row(text, "cpu1")
    assert "since" in text and " 12s " in daemon_row(text, "cpu1")      # time in state
    huge = render_text(scripted(), 140, 40, UTC)
    assert "retr/s" in huge and "drops" in huge and "kB/s" in huge


def test_an_empty_model_renders() -> None:
    c = HealthCollector(load_rules(), source="cpu1")
    text = render_text(c.cluster(0.0, T0), 80, 24, UTC)
    assert "0 daemons" in text and "no membership events or node logs yet" in text


def test_long_ring_seqs_are_shortened_on_screen() -> None:
    from robot_gcs.diagnostics.tables import short_ring
    assert short_ring("1.8") == "1.8" and short_ring("12.123456") == "12.123456"
    assert short_ring("1.420374233827246092") == "1.…6092"
    c = HealthCollector(load_rules())
    c.add(daemon_health("cpu1", 1, ring_id="1.420374233827246092", history=(
        MembershipEvent(T0, "cpu1", "NETWORK", "1.420374233827246092", ("cpu1",), "left: cpu2"),)),
        1.0)
    text = render_text(c.cluster(1.0, T0), 80, 24, UTC)
    assert "1.…6092" in daemon_row(text, "cpu1") and "ring 1.…6092 [cpu1] left: cpu2" in text
    detail = render_text(c.cluster(1.0, T0), 120, 40, UTC, detail=True)
    assert any(r.startswith("│ cpu1 ") and "1.420374233827246092" in r   # full ids in detail
               for r in detail.splitlines())


def test_the_same_change_seen_by_several_daemons_is_one_line() -> None:
    c = HealthCollector(load_rules())
    for i, name in enumerate(("cpu1", "cpu2")):
        c.add(daemon_health(name, i + 1, history=(
            MembershipEvent(T0 + 0.1 * i, name, "NETWORK", "1.12", ("cpu1", "cpu2"), "left: cpu3"),
        )), 1.0)
    text = render_text(c.cluster(1.0, T0), 80, 24, UTC)
    (line,) = rows(text, "left: cpu3")
    assert "cpu1,cpu2 NETWORK" in line and "ring 1.12 [cpu1,cpu2]" in line


def test_health_publisher_sessions_are_hidden_unless_unwell() -> None:
    c = HealthCollector(load_rules())
    c.add(daemon_health("cpu1", 1, sessions=(SessionHealth("diag", 0), SessionHealth("planner", 2))),
          1.0)
    c.add(daemon_health("cpu2", 2, sessions=(SessionHealth("diag", 500),)), 1.0)
    text = render_text(c.cluster(1.0, T0), 80, 24, UTC)
    assert not rows(text, "cpu1/planner") and not rows(text, "cpu1/diag")   # main view: unwell only
    assert "WARN" in rows(text, "cpu2/diag")[0]
    detail = render_text(c.cluster(1.0, T0), 100, 40, UTC, detail=True)
    assert rows(detail, "cpu1/planner") and not rows(detail, "cpu1/diag")


def test_a_ring_reformed_with_the_same_members_says_so() -> None:
    c = HealthCollector(load_rules())
    c.add(daemon_health("cpu1", 1, history=(
        MembershipEvent(T0, "cpu1", "JOIN", "1.84", ("cpu1", "cpu2"), ""),)), 1.0)
    text = render_text(c.cluster(1.0, T0), 80, 24, UTC)
    assert "ring 1.84 [cpu1,cpu2] re-formed, same members" in text


def test_session_panel_shows_the_worst_sessions_first_when_short_of_room() -> None:
    c = HealthCollector(load_rules())
    many = tuple(SessionHealth(f"s{i:02d}", 0) for i in range(12)) + (SessionHealth("slow", 5000),)
    c.add(daemon_health("cpu1", 1, sessions=many), 1.0)
    text = render_text(c.cluster(1.0, T0), 80, 24, UTC)
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if "daemon/session" in line)
    assert "cpu1/slow" in lines[first + 1] and "ERROR" in lines[first + 1]
    assert not rows(text, "cpu1/s00") and any("─ events and logs" in line for line in lines)


def test_ring_members_show_the_representatives_rotation_time() -> None:
    c = HealthCollector(load_rules())
    c.add(daemon_health("cpu1", 1, rotation_p50_ms=30.0, rotation_p99_ms=44.0), 1.0)
    c.add(daemon_health("cpu2", 2, rotation_p50_ms=None, rotation_p99_ms=None), 1.0)
    c.add(daemon_health("cpu3", 3, ring_id="3.9", rotation_p50_ms=None, rotation_p99_ms=None),
          1.0)
    text = render_text(c.cluster(1.0, T0), 80, 24, UTC)
    assert "30/44" in daemon_row(text, "cpu2")
    assert "-/-" in daemon_row(text, "cpu3")       # another ring: nothing to borrow


def test_the_console_shows_the_robot_nodes_leaders_logs_and_why_it_moved() -> None:
    import dataclasses
    from robot_gcs.diagnostics.model import LeaderView, LogLine, NodeView
    c = dataclasses.replace(
        scripted(),
        nodes=(NodeView("#perception#cpu3", (("/odom", "m:Odometry"),)),
               NodeView("#talker#cpu1", (("/chatter", "a:Chat"),)),
               NodeView("#listener#cpu2", (), (("/chatter", "b:Chat"), ("/odom", "m:Odometry")))),
        leaders=(LeaderView("ctl", "#standby#cpu2", True, ("#controller#cpu1", "#standby#cpu2")),),
        logs=(LogLine(T0 + 0.2, "WARN", "#standby#cpu2", "ACTIVE (continuing after step 12)"),),
        notice="attached via cpu2 (cpu1 is gone)")
    text = render_text(c, 80, 24, UTC)
    lines = text.splitlines()
    assert len(lines) == 24 and max(len(line) for line in lines) <= 80
    assert lines[1].startswith("attached via cpu2 (cpu1 is gone)")
    assert "3 nodes" in lines[0]
    (ctl,) = [r for r in rows(text, "│ ctl ")]
    assert re.search(r"│ ctl +#standby#cpu2 +2 │", ctl), ctl
    (odom,) = rows(text, "/odom")
    assert re.search(r"/odom +Odometry +1 +1 +50\.0", odom), odom
    (chatter,) = rows(text, "/chatter")
    assert "MISMATCH" in chatter                  # a:Chat published, b:Chat subscribed
    (log,) = rows(text, "ACTIVE (continuing")
    assert "#standby#cpu2" in log and " WARN " in log
    detail = render_text(c, 120, 60, UTC, detail=True)
    assert "#listener#cpu2" in detail and "/odom(Odometry)" in detail
    assert "2: #controller#cpu1 #standby#cpu2" in detail
