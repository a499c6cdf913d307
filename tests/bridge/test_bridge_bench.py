"""The bridge benchmark runs end to end (slow: a few seconds per kind; figures are printed,
never asserted -- timing belongs to benchmarks, not tests)."""

from __future__ import annotations

import pytest

pytest.importorskip("cyclonedds")
pytest.importorskip("zenoh")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ros2", "fleet"])
def test_bench_row(kind: str) -> None:
    from robot_gcs.bridge.bench import run
    row = run(kind, rate=500.0, seconds=1.0)
    print(row)
    assert row["sent"] == 500 and row["outside_received"] > 0
    assert row["kind"] == kind and row["size_b"] == 200


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ros2", "fleet"])
def test_inbound_bench_row(kind: str) -> None:
    from robot_gcs.bridge.bench import run_inbound
    row = run_inbound(kind, rate=500.0, seconds=1.0)
    print(row)
    assert row["sent"] == 500 and row["ring_received"] > 0 and row["direction"] == "in"
