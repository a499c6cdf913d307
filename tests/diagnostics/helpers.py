"""Scripted health models for the diagnostics tests."""

from __future__ import annotations

from robot_gcs.diagnostics.model import (DaemonHealth, GroupHealth, MembershipEvent,
                                         SessionHealth, TopicHealth)

T0 = 1_800_000_000.0      # a fixed wall clock


def daemon_health(name: str, node_id: int, **overrides: object) -> DaemonHealth:
    fields: dict[str, object] = dict(
        name=name, node_id=node_id, incarnation=7, state="OPERATIONAL", ring_id="1.8",
        members=("cpu1", "cpu2", "cpu3"), time_in_state_s=12.0, gather_reason="JOIN",
        gather_from="cpu3", rotation_p50_ms=31.0, rotation_p99_ms=45.0, loop_lag_p99_ms=1.2,
        loop_lag_worst_ms=8.0, delivered_msgs_per_s=150.0, sampled_at=T0,
        sessions=(SessionHealth("planner", 3, 0),),
        topics=(TopicHealth("/odom", 50.0, 12000.0, 0.02, 0.1),),
        groups=(GroupHealth("control", (f"#planner#{name}",)),
                GroupHealth("diag:health", (f"#diag#{name}",))),
        history=(MembershipEvent(T0 - 5, name, "JOIN", "1.8", ("cpu1", "cpu2", "cpu3"),
                                 "joined: cpu3"),))
    fields.update(overrides)
    return DaemonHealth(**fields)  # type: ignore[arg-type]
