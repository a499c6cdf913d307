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
    kill = tests["SIGKILL -> view"]
    assert kill["count"] == 1 and "network" in kill["note"]


def test_bad_cpu_list_is_refused_before_anything_runs(capsys: pytest.CaptureFixture[str]) -> None:
    import os
    before = os.sched_getaffinity(0)
    assert main(["bench", "--cpus", "x"]) == 2
    assert main(["bench", "--cpus", "4096"]) == 2          # no such CPU
    assert "bad --cpus" in capsys.readouterr().err
    assert os.sched_getaffinity(0) == before
