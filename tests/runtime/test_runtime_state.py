"""Restart state: ring seq and incarnation survive restarts; junk files do not break a start."""

from __future__ import annotations

from pathlib import Path

from robot_gcs.runtime.state import StateStore, clock_incarnation


def test_ring_seq_round_trips_and_incarnation_grows(tmp_path: Path) -> None:
    a = StateStore(str(tmp_path), "ring", "cpu1")
    assert a.ring_seq is None
    i1 = a.next_incarnation()
    a.save_ring_seq(40)
    b = StateStore(str(tmp_path), "ring", "cpu1")
    assert b.ring_seq == 40
    assert b.next_incarnation() > i1
    assert [p.name for p in tmp_path.iterdir()] == ["ring-cpu1.json"]   # no temp files left


def test_incarnation_grows_even_if_the_clock_goes_back(tmp_path: Path) -> None:
    a = StateStore(str(tmp_path), "r", "d")
    a.incarnation = clock_incarnation() + 10_000
    a.save_ring_seq(1)
    assert StateStore(str(tmp_path), "r", "d").next_incarnation() == a.incarnation + 1


def test_corrupt_state_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "r-d.json").write_text("{not json")
    s = StateStore(str(tmp_path), "r", "d")
    assert s.ring_seq is None and s.next_incarnation() > 0
    s.save_ring_seq(8)
    assert StateStore(str(tmp_path), "r", "d").ring_seq == 8


def test_without_a_state_dir_nothing_is_written(tmp_path: Path) -> None:
    s = StateStore(None, "r", "d")
    s.save_ring_seq(5)
    assert s.next_incarnation() > 0 and s.writes == 0


def test_incarnations_increase_within_a_process_without_state() -> None:
    seen = [StateStore(None, "r", "d").next_incarnation() for _ in range(50)]
    assert seen == sorted(set(seen))
