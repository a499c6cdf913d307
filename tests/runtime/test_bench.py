"""`robot-gcs bench` runs the real stack, bounded, and reports rows a user can read or parse.

Figures are never asserted (timing claims live in the bench output); what is checked is
that every requested row is produced from real measurements and the report is well formed.
"""

from __future__ import annotations

import argparse
import json

import pytest

from robot_gcs.cli import main
from robot_gcs.runtime import bench


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    bench.add_arguments(p)
    return p.parse_args(list(argv))


def test_embedded_and_socket_rows_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["bench", "--only", "embedded,socket", "--sizes", "100,5000", "--count", "30",
               "--seconds", "5", "--json"])
    out = capsys.readouterr().out
    assert rc == 0, out
    doc = json.loads(out)
    assert doc["failures"] == []
    rows = doc["rows"]
    got = {(r["scenario"], r["test"], r["size"]) for r in rows}
    for scen in ("embedded", "socket"):
        for size in (100, 5000):
            assert (scen, "rtt", size) in got and (scen, "one-way", size) in got
            assert (scen, "flood", size) in got
        assert (scen, "rtt +cpu", 100) in got
    assert ("embedded", "rtt 100 Hz", 100) in got         # the paced, control-loop row
    for r in rows:
        # every measured message counted (floods send 5 x count)
        assert r["count"] == (150 if r["test"] == "flood" else 30), r
        assert 0 < r["p50_us"] <= r["p99_us"]
        assert r["msgs_per_s"] > 0
    assert any(t.startswith("embedded own-message rtt p50") for t in doc["targets"])
    assert doc["environment"]["cpus"] >= 1
    before, after = doc["environment"]["cpu_reference_us"]    # machine speed, both ends
    assert before > 0 and after > 0


def test_table_lists_every_row_with_units() -> None:
    rows = [bench.BenchRow("embedded", "rtt", "AGREED", 100, 10, 0.01, 1000.0, 0.1, 40.0,
                           90.0),
            bench.BenchRow("ring x3", "flood", "SAFE", 1000, 10, 1.0, 25000.0, 25.0, None,
                           None, "incomplete: 9/10 by deadline")]
    text = bench.format_table(rows)
    lines = text.splitlines()
    assert lines[0].split()[:5] == ["scenario", "test", "service", "size", "count"]
    assert "p50 us" in lines[0] and "MB/s" in lines[0]
    assert "incomplete: 9/10" in lines[3]
    targets = bench.report_targets(rows)
    assert any("p50 40.0 us" in t and t.endswith("met") for t in targets)


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.run(_args("--only", "nonsense")) == 2
    assert bench.run(_args("--sizes", "abc")) == 2
    assert bench.run(_args("--sizes", "4")) == 2         # smaller than the timestamp header
    assert bench.run(_args("--robot", "--topics", "0")) == 2
    assert bench.run(_args("--robot", "--robot-service", "nonsense")) == 2
    assert bench.run(_args("--robot", "--processors", "1")) == 2
    assert "bad" in capsys.readouterr().err


@pytest.mark.slow
def test_ring_rows_from_separate_processes(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["bench", "--only", "ring", "--daemons", "2", "--sizes", "100",
               "--services", "agreed", "--flood-count", "300", "--count", "50",
               "--seconds", "10", "--json"])
    out = capsys.readouterr().out
    assert rc == 0, out
    doc = json.loads(out)
    tests = {r["test"]: r for r in doc["rows"]}
    assert tests["flood"]["count"] == 600 and tests["flood"]["msgs_per_s"] > 0
    assert tests["rtt 2 daemons"]["count"] == 50
    assert tests["one-way light"]["count"] == 20 and tests["one-way light"]["p50_us"] > 0
    assert tests["rtt 2 daemons +cpu"]["count"] == 50
    assert "CPU-bound thread in the pinger's process (ran " in tests["rtt 2 daemons +cpu"]["note"]
    kill = tests["SIGKILL -> view"]
    assert kill["count"] == 1 and "network" in kill["note"]


def test_bad_cpu_list_is_refused_before_anything_runs(capsys: pytest.CaptureFixture[str]) -> None:
    import os
    before = os.sched_getaffinity(0)
    assert main(["bench", "--cpus", "x"]) == 2
    assert main(["bench", "--cpus", "4096"]) == 2          # no such CPU
    assert "bad --cpus" in capsys.readouterr().err
    assert os.sched_getaffinity(0) == before


def test_robot_rows_from_node_processes(capsys: pytest.CaptureFixture[str]) -> None:
    """Tiny robot load (3 processes x 1 topic x 20 Hz, 1 s): every row is produced from
    real nodes in separate processes, with sane figures (none compared with a target)."""
    rc = main(["bench", "--robot", "--processors", "3", "--topics", "1", "--rate", "20",
               "--robot-seconds", "1", "--no-cpu", "--json"])
    out = capsys.readouterr().out
    assert rc == 0, out
    doc = json.loads(out)
    assert doc["failures"] == []
    assert [(r["scenario"], r["test"]) for r in doc["rows"]] == \
        [("robot x3", "idle"), ("robot x3", "1 topic 20 Hz"),
         ("robot x3", "1 topic 20 Hz one sender")]
    idle, loaded, lone = doc["robot"]
    for rec in (idle, loaded):
        assert rec["processors"] == ["b1", "b2", "b3"] and rec["hog"] is None
        assert len(rec["cpu_pct"]) == 3 and all(c >= 0 for c in rec["cpu_pct"])
        assert rec["service"] == "FIFO" and rec["size"] == 200
    assert idle["expected"] == idle["delivered"] == 0 and idle["p50_us"] is None
    assert loaded["expected"] > 0 and 0 < loaded["delivered"] <= loaded["expected"]
    assert 0 < loaded["p50_us"] <= loaded["p99_us"] <= loaded["max_us"]
    row = doc["rows"][1]
    assert row["count"] == loaded["delivered"] and row["p50_us"] == loaded["p50_us"]
    assert "CPU mean/max" in row["note"] and "delivered" in row["note"]
    assert loaded["rotations_per_s"] > 0 and loaded["packets_per_s"] > 0
    # every row has its bare-loop floor: as many plain processes, as many datagrams
    assert all(len(r["floor_cpu_pct"]) == 3 for r in doc["robot"])
    assert all("(bare-loop floor " in r["note"] for r in doc["rows"])
    # only b3 publishes; b1 and b2 get everything it sent
    assert lone["senders"] == ["b3"] and loaded["senders"] == ["b1", "b2", "b3"]
    assert 0 < lone["delivered"] <= lone["expected"] < loaded["expected"]
    assert "only b3 publishes" in doc["rows"][2]["note"]


def test_robot_rows_under_loss_run_in_a_lossy_namespace(capfd: pytest.CaptureFixture[str]) -> None:
    """``--loss``: the rows come from rings inside a private namespace whose nftables rule
    dropped datagrams (counted in the environment); the namespace is gone afterwards."""
    from robot_gcs.runtime.netns import missing
    if missing() is not None:
        pytest.skip(missing() or "")
    import os
    import subprocess
    rc = main(["bench", "--robot", "--processors", "3", "--topics", "1", "--rate", "20",
               "--robot-seconds", "1", "--no-cpu", "--loss", "10", "--no-floor", "--json"])
    out = capfd.readouterr().out
    assert rc == 0, out
    doc = json.loads(out)
    assert doc["failures"] == [] and len(doc["robot"]) == 3
    env = doc["environment"]
    assert env["loss_percent"] == 10 and env["datagrams_dropped"] > 0
    assert doc["robot"][1]["delivered"] > 0
    assert all(r["floor_cpu_pct"] == [] for r in doc["robot"])      # --no-floor
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                           check=True).stdout
    assert f"gcsbench-{os.getpid()}-" not in names       # this run's namespace is gone


def test_bad_loss_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.run(_args("--robot", "--loss", "0")) == 2
    assert bench.run(_args("--robot", "--loss", "100")) == 2
    assert "bad --loss" in capsys.readouterr().err


@pytest.mark.slow
def test_robot_row_with_a_cpu_bound_thread(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["bench", "--robot", "--topics", "2", "--rate", "50", "--robot-seconds", "2",
               "--json"])
    out = capsys.readouterr().out
    assert rc == 0, out
    doc = json.loads(out)
    hog = doc["robot"][-1]
    assert hog["test"] == "2 topics 50 Hz +cpu" and hog["hog"] == "b1"
    assert hog["floor_cpu_pct"] == []           # no floor for a row with a busy thread
    assert 0 < hog["delivered"] <= hog["expected"]
    assert "with a CPU-bound thread" in doc["rows"][-1]["note"]
    assert 0.0 < hog["hog_share"] <= 1.05      # thread CPU time / wall time (tick-rounded)


def test_robot_notes_and_targets_show_losses() -> None:
    from robot_gcs.runtime.bench_robot import RobotRow
    names = ("b1", "b2", "b3")
    idle = RobotRow("idle", names, 10, 0.0, 200, "FIFO", 5.0, (0.8, 1.2, 0.9), None, None, 0, 0,
                    None, None, None, 0, 0, 0, 0, 2.0, 6.0)
    one = RobotRow("1 topic 100 Hz", names, 1, 100.0, 200, "FIFO", 5.0, (2.0, 2.5, 3.0), None,
                   None, 3000, 3000, 300.0, 900.0, 1200.0, 0, 0, 0, 0, 50.0, 400.0,
                   floor_cpu_pct=(1.5, 1.75, 1.5))
    ten = RobotRow("10 topics 100 Hz", names, 10, 100.0, 200, "FIFO", 5.0, (4.0, 4.5, 5.0),
                   None, None, 29990, 30000, 350.0, 1500.0, 2500.0, 10, 0, 0, 0, 100.0, 1000.0)
    hog = RobotRow("10 topics 100 Hz +cpu", names, 10, 100.0, 200, "FIFO", 5.0,
                   (99.0, 4.0, 6.0), "b1", 0.9, 30000, 30000, 900.0, 9000.0, 20000.0, 0, 0, 0, 1,
                   100.0, 1000.0)
    lone = RobotRow("10 topics 100 Hz one sender", names, 10, 100.0, 200, "FIFO", 5.0,
                    (1.0, 1.0, 2.0), None, None, 20000, 20000, 100.0, 200.0, 300.0, 0, 0, 0, 0,
                    50.0, 300.0, ("b3",))
    text = bench.format_table([r.bench_row() for r in (idle, one, ten, hog, lone)])
    assert "CPU mean/max 1.3/2.0 %; only b3 publishes; delivered 20000/20000" in text
    assert "CPU mean/max 1.0/1.2 %; nothing published" in text
    assert "delivered 29990/30000 (10 LOST)" in text and "10 dropped by keep-last" in text
    assert "CPU mean/max 5.0/6.0 %; b1 with a CPU-bound thread 99 % (the thread ran 90% " \
        "of the time)" in text   # b1 apart
    assert "1 view changes" in text and "100 rotations/s, 1000 pkts/s per daemon" in text
    targets = bench.report_targets([], [idle, lone, one, ten, hog])    # lone: no target
    assert len(targets) == 3
    assert targets[0].startswith("robot load 3x10x100 Hz") and targets[0].endswith("MISSED")
    assert targets[1].startswith("robot load 3x1x100 Hz") and targets[1].endswith(
        "(target <= 3 %; a bare Python loop moving the same datagrams: 1.8 %): met")
    assert "CPU mean/max 2.5/3.0 % (bare-loop floor 1.8 %)" in text
    assert "bare Python loop" not in targets[0]           # no floor measured for it
    # a +cpu row measured without the robot profile's switch interval says so
    from robot_gcs.runtime.bench_robot import switch_hint
    assert switch_hint([idle, one, hog], 0.005) == (
        "(the +cpu rows ran with a 5 ms switch interval; config/robot.yaml runs 0.25 ms: "
        "--switch-interval-ms 0.25 shows that)")
    assert switch_hint([idle, one, hog], 0.00025) is None
    assert switch_hint([idle, one], 0.005) is None
    assert targets[2].startswith("idle ring x3") and targets[2].endswith("MISSED")
