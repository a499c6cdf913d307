"""Snapshots: statistics() records become health snapshots with rates and percentiles,
survive the trip over the diagnostics group, and junk from the network is dropped."""

from __future__ import annotations

import zlib
from types import SimpleNamespace

import pytest
from hypothesis import given, settings, strategies as st

from robot_gcs import TopicStats
from robot_gcs.core.types import GatherReason, MemberState, RingId
from robot_gcs.core.events import Cause
from robot_gcs.diagnostics.collector import HealthCollector, MAGIC, decode_snapshot, encode_snapshot
from robot_gcs.diagnostics.health import StatsSampler, percentile
from robot_gcs.diagnostics.rules import load_rules
from robot_gcs.diagnostics.topics import TopicRecord, topic_records

from .helpers import T0, daemon_health


def engine_stats(**kw: object) -> SimpleNamespace:
    base: dict[str, object] = dict(
        node_id=2, incarnation=5, state=MemberState.OPERATIONAL, ring_id=RingId(1, 12),
        members=(1, 2, 3), gather_reason=GatherReason.TOKEN_LOSS, gather_from=3,
        state_since=90.0, gathers=4, configs_installed=3, token_rotations=10,
        rotation_time_last=0.030, packets_sent=1000, packets_received=2000,
        retransmits_sent=10, delivered_msgs=500, delivered_bytes=50_000, send_queue_len=2,
        drops=(("bad_mac", 3),))
    base.update(kw)
    return SimpleNamespace(**base)


def daemon_stats(engine: SimpleNamespace | None, **kw: object) -> SimpleNamespace:
    """What diagnostics/watched.py's DaemonStatsRecord names, nothing more."""
    base: dict[str, object] = dict(
        name="cpu2", engine=engine, uptime=42.0, group_table=(),
        loop_lag=SimpleNamespace(worst=0.012, p50=0.0002, p99=0.0015),
        sessions=(SimpleNamespace(name="planner", queue_depth=4, dropped=1),),
        dropped_packets=(("bad_mac", 3), ("recv_error", 1)),
        membership=(SimpleNamespace(time=T0 - 2, cause=Cause.NETWORK, ring_id=(1, 12),
                                    members=("cpu1", "cpu2"), joined=(), left=("cpu3",)),))
    base.update(kw)
    return SimpleNamespace(**base)


NAMES = {1: "cpu1", 2: "cpu2", 3: "cpu3"}


def test_daemon_statistics_become_a_snapshot_with_names_rates_and_history() -> None:
    s = StatsSampler()
    first = s.sample(daemon_stats(engine_stats()), now=100.0, wall=T0, node_names=NAMES)
    assert first.name == "cpu2" and first.state == "OPERATIONAL" and first.ring_id == "1.12"
    assert first.members == ("cpu1", "cpu2", "cpu3")
    assert first.gather_reason == "TOKEN_LOSS" and first.gather_from == "cpu3"
    assert first.time_in_state_s == 10.0
    assert first.loop_lag_worst_ms == 12.0 and first.loop_lag_p99_ms == 1.5
    assert dict(first.drops) == {"bad_mac": 3, "recv_error": 1}     # daemon list, not doubled
    assert first.sessions[0].queue_depth == 4 and first.sessions[0].drops == 1
    (ev,) = first.history
    assert (ev.cause, ev.daemon, ev.ring_id, ev.members) == ("NETWORK", "cpu2", "1.12",
                                                              ("cpu1", "cpu2"))
    assert "left: cpu3" in ev.detail and ev.time == T0 - 2
    assert first.retransmits_per_s == 0.0                      # no previous sample yet

    second = s.sample(daemon_stats(engine_stats(
        token_rotations=12, rotation_time_last=0.050, retransmits_sent=30, delivered_msgs=700,
        delivered_bytes=70_000, packets_sent=1500, packets_received=2500,
        drops=(("bad_mac", 5),)), dropped_packets=(("bad_mac", 5), ("recv_error", 1))),
        now=102.0, wall=T0 + 2, node_names=NAMES)
    assert second.retransmits_per_s == 10.0
    assert second.delivered_msgs_per_s == 100.0 and second.delivered_bytes_per_s == 10_000.0
    assert second.packets_per_s == 500.0
    assert second.drops_per_s == 1.0
    # cpu2 is not the representative (ring 1.12): its rotation time is not its own
    assert second.rotation_p50_ms is None and second.rotation_p99_ms is None


def on(engine: SimpleNamespace, name: str = "cpu1") -> SimpleNamespace:
    """``engine`` inside a quiet daemon record of ``name``."""
    return daemon_stats(engine, name=name, sessions=(), membership=(), dropped_packets=())


def test_the_representative_reports_rotation_percentiles() -> None:
    s = StatsSampler()
    for i, rot in enumerate((0.030, 0.050, 0.031, 0.032)):
        h = s.sample(on(engine_stats(node_id=1, token_rotations=10 + i, rotation_time_last=rot)),
                     now=100.0 + i, wall=T0 + i)
    assert h.rotation_p50_ms == 32.0 and h.rotation_p99_ms == 50.0
    same = s.sample(on(engine_stats(node_id=1, token_rotations=13, rotation_time_last=0.9)),
                    now=105.0, wall=T0 + 5)
    assert same.rotation_p99_ms == 50.0           # no new rotation, no new sample
    demoted = s.sample(on(engine_stats(node_id=1, ring_id=RingId(0, 20))), now=106.0, wall=T0)
    assert demoted.rotation_p50_ms is None


def test_node_ids_the_config_does_not_name_read_as_node_ids() -> None:
    h = StatsSampler().sample(on(engine_stats(), "cpu9"), now=95.0, wall=T0)
    assert h.name == "cpu9" and h.members == ("node1", "node2", "node3")
    assert h.gather_from == "node3"


def test_before_the_engine_runs_the_daemon_is_unknown_and_counters_start_later() -> None:
    s = StatsSampler()
    h = s.sample(daemon_stats(None), now=100.0, wall=T0, node_names=NAMES)
    assert (h.name, h.state, h.ring_id, h.members) == ("cpu2", "UNKNOWN", "", ())
    assert h.loop_lag_p99_ms == 1.5 and h.sessions[0].name == "planner" and h.uptime_s == 42.0
    running = s.sample(daemon_stats(engine_stats()), now=102.0, wall=T0 + 2, node_names=NAMES)
    # the engine's counters appear for the first time: no rate yet, not 500 msgs in 2 s
    assert running.state == "OPERATIONAL" and running.delivered_msgs_per_s == 0.0


def test_percentile_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile(range(100), 0.99) == 98


def test_topic_records_fold_endpoints_per_topic() -> None:
    def ep(topic: str, role: str, count: int, dropped: int, misses: int, age: float,
           rate: float, nbytes: int = 0, deadline: float | None = None) -> TopicStats:
        return TopicStats(topic, role, "n", "pkg:T", "fifo", count, dropped, 0, misses, age,
                          rate, "", nbytes, deadline)
    eps = [ep("/odom", "sub", 10, 2, 1, 0.5, 49.0, 800, 0.2),
           ep("/odom", "sub", 12, 0, 0, 0.1, 50.0, 960, 0.1),
           ep("/odom", "pub", 99, 0, 0, 0.0, 99.0, 7920),
           ep("/plan", "pub", 3, 0, 0, 2.0, 1.0)]
    odom, plan = topic_records(eps)
    assert (odom.topic, odom.rate_hz, odom.age_s, odom.drops, odom.deadline_misses) == \
        ("/odom", 50.0, 0.1, 2, 1)
    assert (odom.msgs, odom.bytes, odom.deadline) == (12, 960, 0.1)     # subscribers speak
    assert (plan.topic, plan.rate_hz, plan.age_s, plan.deadline) == ("/plan", 1.0, 2.0, None)


def test_snapshot_round_trip_is_exact_and_small() -> None:
    h = daemon_health("cpu1", 1)
    data = encode_snapshot(h)
    assert decode_snapshot(data) == h
    assert len(data) < 600        # one datagram, even with sessions, topics and history


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_are_counted_and_dropped(data: bytes) -> None:
    c = HealthCollector(load_rules())
    for payload in (data, MAGIC + data, MAGIC + zlib.compress(data)):
        assert c.receive(payload, 1.0) is False
    assert c.malformed == 3 and c.cluster(1.0, T0).daemons == ()


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_corrupted_snapshots_never_raise(data: st.DataObject) -> None:
    good = bytearray(encode_snapshot(daemon_health("cpu1", 1)))
    i = data.draw(st.integers(0, len(good) - 1))
    good[i] ^= data.draw(st.integers(1, 255))
    c = HealthCollector(load_rules())
    c.receive(bytes(good), 1.0)            # either accepted or counted, never raised
    assert c.malformed + c.received == 1


def test_wrong_schema_is_rejected() -> None:
    import json
    bad = MAGIC + zlib.compress(json.dumps({"schema": 99, "daemon": {}}).encode())
    c = HealthCollector(load_rules())
    assert not c.receive(bad, 1.0) and c.malformed == 1


def test_an_extra_sample_moments_later_does_not_inflate_rates() -> None:
    s = StatsSampler()
    s.sample(on(engine_stats(delivered_msgs=500)), now=100.0, wall=T0)
    assert s.sample(on(engine_stats(delivered_msgs=700)), now=102.0, wall=T0) \
        .delivered_msgs_per_s == 100.0
    burst = s.sample(on(engine_stats(delivered_msgs=701)), now=102.001, wall=T0)
    assert 99.0 < burst.delivered_msgs_per_s < 101.0          # not 1000 msgs/s
    late = s.sample(on(engine_stats(delivered_msgs=1701)), now=112.0, wall=T0)
    assert late.delivered_msgs_per_s == pytest.approx(100.0, rel=1e-3)   # old samples age out


def test_topic_bandwidth_from_the_byte_counter() -> None:
    s = StatsSampler()

    def rec(nbytes: int) -> TopicRecord:
        return TopicRecord("/scan", rate_hz=10.0, msgs=nbytes // 200, bytes=nbytes, age_s=0.5,
                           deadline=None, deadline_misses=0, drops=0)
    s.sample(on(engine_stats()), now=100.0, wall=T0, topics=[rec(0)])
    (t,) = s.sample(on(engine_stats()), now=102.0, wall=T0, topics=[rec(4000)]).topics
    assert (t.rate_hz, t.bandwidth_bps, t.age_s) == (10.0, 2000.0, 0.5)


def test_entering_gather_is_logged_with_its_reason_and_source() -> None:
    s = StatsSampler()
    first = s.sample(on(engine_stats(node_id=1, gathers=4)), now=100.0, wall=T0,
                     node_names=NAMES)
    assert all(e.cause != "GATHER" for e in first.history)        # nothing new yet
    h = s.sample(on(engine_stats(node_id=1, gathers=5, state=MemberState.GATHER,
                                 state_since=100.6, gather_reason=GatherReason.TOKEN_LOSS,
                                 gather_from=3)),
                 now=101.0, wall=T0 + 1, node_names=NAMES)
    (ev,) = [e for e in h.history if e.cause == "GATHER"]
    assert ev.daemon == "cpu1" and ev.detail == "because TOKEN_LOSS from cpu3"
    assert ev.time == pytest.approx(T0 + 0.6)
    again = s.sample(on(engine_stats(node_id=1, gathers=5)), now=102.0, wall=T0 + 2)
    assert [e for e in again.history if e.cause == "GATHER"] == [ev]   # logged once


def test_each_daemon_sends_only_its_own_members_of_the_replicated_group_table() -> None:
    table = (("control", ("#ctl#cpu1", "#ctl#cpu2", "#planner#cpu2")), ("plan", ("#p#cpu1",)))
    h = StatsSampler().sample(daemon_stats(engine_stats(), group_table=table), now=1.0, wall=T0)
    assert [(g.group, g.members) for g in h.groups] == [
        ("control", ("#ctl#cpu2", "#planner#cpu2"))]


def test_session_drops_are_graded_by_their_recent_rate_not_forever() -> None:
    from robot_gcs.diagnostics.model import Grade
    rules = load_rules()
    s = StatsSampler()

    def at(now: float, dropped: int) -> object:
        st = daemon_stats(engine_stats(), sessions=(
            SimpleNamespace(name="logger", queue_depth=0, dropped=dropped),))
        (sess,) = s.sample(st, now=now, wall=T0).sessions
        return sess
    at(100.0, 0)
    burst = at(101.0, 50)
    assert burst.drops_per_s == 50.0
    assert rules.grade_session("cpu2", burst)[0].grade is Grade.WARN
    later = at(108.0, 50)                 # no new drops for a while
    assert later.drops == 50 and later.drops_per_s == 0.0
    assert all(f.grade is Grade.OK for f in rules.grade_session("cpu2", later))
