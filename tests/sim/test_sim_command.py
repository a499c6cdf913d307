"""`robot-gcs sim`: sweeps, replay with trace, scenarios, exit status, idle packet rate."""

from __future__ import annotations

import pytest

from robot_gcs import cli
from robot_gcs.sim import command

BASE = ["sim", "--nodes", "3", "--duration", "1", "--timeouts", "fast", "--delay", "2"]


def test_a_clean_sweep_prints_a_summary_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(BASE + ["--seeds", "3", "--loss", "0.05", "--partitions", "--crashes"])
    out = capsys.readouterr()
    assert rc == 0, out.out
    assert "summary: 3 seeds, 0 failing, 0 violations" in out.out
    assert "msgs delivered" in out.out and "regular configurations installed" in out.out
    assert "per CPU second" in out.out and "per wall second" in out.out
    assert "[3/3] seeds run" in out.err


def test_random_node_counts_per_seed(capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(BASE + ["--seeds", "2", "--min-nodes", "2", "--max-nodes", "4", "--jobs", "2"])
    assert rc == 0
    assert "summary: 2 seeds" in capsys.readouterr().out


def test_replaying_one_seed_prints_its_trace_and_is_deterministic(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(BASE + ["--seed", "5", "--trace", "--loss", "0.1"]) == 0
    first = capsys.readouterr().out
    assert cli.main(BASE + ["--seed", "5", "--trace", "--loss", "0.1"]) == 0
    second = capsys.readouterr().out
    assert "send n1->" in first and "config  REGULAR" in first
    hashes = [l for l in (first + second).splitlines() if "trace hash" in l]
    assert len(hashes) == 2 and hashes[0] == hashes[1]


def test_scenarios_are_listed_and_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["sim", "--scenario", "list"]) == 0
    listing = capsys.readouterr().out
    assert "commit_loss_rotation2" in listing and "seq_wraparound" in listing
    assert cli.main(BASE + ["--scenario", "rep_restart_lost", "--seeds", "1"]) == 0
    assert cli.main(["sim", "--scenario", "no_such_thing"]) == 2


def test_a_violation_is_reported_with_replay_command_and_exit_1(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(command, "plugin_modules", lambda: [__package__ + ".flag_plugin"])
    monkeypatch.setattr("sys.argv", ["robot-gcs"] + BASE + ["--seeds", "2"])
    rc = cli.main(BASE + ["--seeds", "2"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "no_safe: a SAFE message was submitted" in out
    assert "> " in out and "submit" in out                    # the trace excerpt
    assert "replay: robot-gcs sim" in out and "--seed 0 --trace" in out
    assert "summary: 2 seeds, 2 failing" in out


def test_idle_ring_packet_rate_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(BASE + ["--seeds", "1", "--idle-rate"]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if "idle ring of 3 nodes" in l)
    rate = float(line.split(":")[1].split()[0])
    assert 0 < rate < 1000


def test_the_trace_does_not_depend_on_python_hash_randomisation() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    hashes = set()
    for hashseed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed, PYTHONPATH=str(root))
        out = subprocess.run([sys.executable, "-m", "robot_gcs.cli"] + BASE
                             + ["--seed", "9", "--loss", "0.1", "--partitions", "--crashes",
                                "--pauses"], env=env, capture_output=True, text=True,
                             timeout=300, check=True).stdout
        hashes.add(next(l for l in out.splitlines() if "trace hash" in l))
    assert len(hashes) == 1
