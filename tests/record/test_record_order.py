"""The acceptance tests of recording: two recorders on two daemons of a 3-daemon ring hold
the same messages in the same order; a replay into a fresh ring gives subscribers the
recorded order; a recorder killed with SIGKILL leaves a file readable up to its last chunk."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from examples.robot_demo.messages import Command, Odometry, Plan
from rec_ring import Publishing, ViewWatch, ring, stop, tool
from robot_gcs import cli
from robot_gcs.record.bag import BagTail, compare, read_bag, summarize

TOPICS = ["/odom", "/cmd", "/plan"]


def _mcap_messages(path: Path) -> list[tuple[str, bytes]]:
    """(topic, data) of every message, in file order, with the mcap library's own reader."""
    from mcap.reader import make_reader
    with open(path, "rb") as f:
        return [(ch.topic, msg.data) for _, ch, msg in make_reader(f).iter_messages(log_time_order=False)
                if ch.metadata.get("kind") == "topic"]


def _record_two_and_publish(tmp: Path, count: int, hz: float) -> tuple[Path, Path, int]:
    """Three processors publish AGREED topics while two recorders on d1 and d2 record."""
    with ring(3, "recorder3") as (daemons, addrs, rtmp):
        total = 3 * count
        files = [tmp / "on_d1.mcap", tmp / "on_d2.mcap"]
        recs = [tool("record", "--connect", addr, *TOPICS, "-o", str(f), "--max-messages",
                     str(total), "--flush", "0.2", "--type", "examples.robot_demo.messages:Plan",
                     "--type", "examples.robot_demo.messages:Odometry",
                     "--type", "examples.robot_demo.messages:Command")
                for addr, f in zip(addrs[:2], files)]
        watch = ViewWatch(daemons[2], [f"t:{t}" for t in TOPICS])
        pubs = [Publishing(daemons[0], "perception", "/odom", Odometry,
                           lambda i: Odometry(i, time.time(), i * 0.1, 0.0, 0.0, 1.0, 0.0), count, hz),
                Publishing(daemons[1], "controller", "/cmd", Command,
                           lambda i: Command(i, time.time(), 0.5, 0.1, i, "cpu2"), count, hz),
                Publishing(daemons[2], "planner", "/plan", Plan,
                           lambda i: Plan(i, float(i), 2.0, f"goal {i}"), count, hz)]
        try:
            # both recorders are members of every topic group before anyone publishes
            watch.wait(lambda v: all(sum(m.startswith("#record-") for m in v.get(f"t:{t}", ()))
                                     == 2 for t in TOPICS))
            for p in pubs:
                p.start()
            for p in pubs:
                p.join()
            for r in recs:
                r.wait(120)
                assert r.returncode == 0, r.stderr.read() if r.stderr else ""
        finally:
            for r in recs:
                stop(r)
            for p in pubs:
                p.close()
            watch.close()
    return files[0], files[1], total


def _check_same(a: Path, b: Path, total: int) -> None:
    ma, mb = _mcap_messages(a), _mcap_messages(b)
    assert len(ma) == len(mb) == total
    assert ma == mb                                  # same messages, same order, same bytes
    orders = [json.loads(d)["_gcs"] for _, d in ma]
    assert len({(tuple(o["view"]), o["n"], t) for o, (t, _) in zip(orders, ma)}) == total
    # the three publishers' messages interleave (the order is not one sender after another)
    seen = [t for t, _ in ma]
    assert sum(1 for x, y in zip(seen, seen[1:]) if x != y) >= 2
    assert compare([str(a)], [str(b)]).ok


def test_two_recorders_on_two_daemons_hold_the_same_order(tmp_path: Path) -> None:
    a, b, total = _record_two_and_publish(tmp_path, count=150, hz=300.0)
    _check_same(a, b, total)
    text = summarize([str(a)])
    assert "Topic: /odom | Type: examples.robot_demo.messages:Odometry | Count: 150" in text
    assert "Ring membership:" in text and "d1, d2, d3" in text


@pytest.mark.slow
def test_two_recorders_ten_seconds(tmp_path: Path) -> None:
    a, b, total = _record_two_and_publish(tmp_path, count=1000, hz=100.0)   # 10 s each
    _check_same(a, b, total)


def _replay(src: Path, extra: list[str], count: int,
            topics: dict[str, type] | None = None) -> list[tuple[float, str, Any]]:
    """Play ``src`` into a fresh ring; (arrival time, topic, message) at one subscriber
    node on another daemon, in the order its callbacks ran (the delivery order)."""
    from robot_gcs.pubsub.node import Node
    topics = topics or {"/odom": Odometry}
    with ring(2, "recdst") as (daemons, addrs, rtmp):
        got: list[tuple[float, str, Any]] = []
        sub = Node("listener", daemons[1])
        for topic, cls in topics.items():
            sub.create_subscription(cls, topic, lambda m, t=topic: got.append((time.monotonic(), t, m)),
                                    5000)
        watch = ViewWatch(daemons[1], [f"t:{t}" for t in topics])
        try:
            watch.wait(lambda v: all("#listener#d2" in v.get(f"t:{t}", ()) for t in topics))
            player = tool("play", "--connect", addrs[0], str(src), *extra)
            deadline = time.monotonic() + 120
            while len(got) < count and time.monotonic() < deadline:
                sub.spin_once(0.05)
            player.wait(60)
            assert player.returncode == 0, player.stderr.read() if player.stderr else ""
        finally:
            watch.close()
            sub.destroy()
    return got


def test_replay_into_a_fresh_ring_keeps_the_recorded_order(tmp_path: Path) -> None:
    a, _, total = _record_two_and_publish(tmp_path, count=100, hz=400.0)
    # the recorded interleaving of the three publishers: (topic, publisher's seq)
    recorded = [(t, json.loads(d)["_gcs"]["pub"][1]) for t, d in _mcap_messages(a)]
    got = _replay(a, ["--fast", "--remap", "/plan:=/plan_replay"], total,
                  {"/odom": Odometry, "/cmd": Command, "/plan_replay": Plan})
    # the first messages may be recorded raw (before a publisher's type announcement
    # reached the recorder); they are played with the type announced later all the same
    seen = [("/plan" if t == "/plan_replay" else t, (m.step if t == "/cmd" else m.seq) + 1)
            for _, t, m in got]
    assert len(seen) == total and seen == recorded
    last_plan = [m for _, t, m in got if t == "/plan_replay"][-1]
    assert last_plan == Plan(99, 99.0, 2.0, "goal 99")


def _recorded_odom(tmp: Path, count: int, hz: float) -> Path:
    with ring(1, "recsrc") as (daemons, addrs, rtmp):
        f = tmp / "src.mcap"
        rec = tool("record", "--connect", addrs[0], "/odom", "-o", str(f), "--max-messages",
                   str(count), "--no-ring")
        watch = ViewWatch(daemons[0], ["t:/odom"])
        pub = Publishing(daemons[0], "perception", "/odom", Odometry,
                         lambda i: Odometry(i, time.time(), i * 0.5, -1.0, 0.0, 1.0, 0.25), count, hz)
        try:
            watch.wait(lambda v: any(m.startswith("#record-") for m in v.get("t:/odom", ())))
            pub.start()
            pub.join()
            rec.wait(120)
            assert rec.returncode == 0, rec.stderr.read() if rec.stderr else ""
        finally:
            stop(rec)
            pub.close()
            watch.close()
    return f


@pytest.mark.slow
def test_replay_timing_at_rate_1(tmp_path: Path) -> None:
    src = _recorded_odom(tmp_path, 250, 50.0)              # 5 s of 50 Hz
    times = [r.log_time for r in read_bag([str(src)]) if r.kind == "topic"]
    got = _replay(src, ["--rate", "1"], 250)
    assert len(got) == 250 and [m.seq for _, _, m in got] == list(range(250))
    recorded_span = (times[-1] - times[0]) / 1e9
    played_span = got[-1][0] - got[0][0]
    assert abs(played_span - recorded_span) <= 0.05 * recorded_span, (played_span, recorded_span)


def test_sigkilled_recorder_leaves_a_readable_file(tmp_path: Path) -> None:
    f = tmp_path / "killed.mcap"
    with ring(1, "reckill") as (daemons, addrs, rtmp):
        rec = tool("record", "--connect", addrs[0], "/odom", "-o", str(f), "--flush", "0.1",
                   "--chunk-size", "4K", "--type", "examples.robot_demo.messages:Odometry")
        watch = ViewWatch(daemons[0], ["t:/odom"])
        pub = Publishing(daemons[0], "perception", "/odom", Odometry,
                         lambda i: Odometry(i, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0), 100_000, 2000.0)
        try:
            watch.wait(lambda v: any(m.startswith("#record-") for m in v.get("t:/odom", ())))
            pub.start()
            deadline = time.monotonic() + 60
            # several chunks on disk: wait for the file to grow (bounded), then kill
            while (not f.exists() or f.stat().st_size < 40_000) and time.monotonic() < deadline:
                watch.node.spin_once(0.05)
            assert f.exists() and f.stat().st_size >= 40_000
            os.kill(rec.pid, signal.SIGKILL)
            rec.wait(30)
        finally:
            stop(rec)
            pub.halt()
            pub.close()
            watch.close()
    tail = BagTail()
    seqs = [json.loads(r.data)["seq"] for r in read_bag([str(f)], tail) if r.kind == "topic"]
    assert tail.complete[str(f)] is False
    assert len(seqs) > 100
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))      # nothing missing up to the cut
    # nothing was lost but the chunk being filled: at most --flush / --chunk-size worth
    assert cli.main(["bag", "info", str(f)]) == 0
