"""The bare-loop floor of ``bench --robot`` (runtime/bench_floor.py): real processes on
loopback move the datagrams asked for; the rates follow a measured row."""

from __future__ import annotations

import pytest

from robot_gcs.runtime.bench_floor import floor_figures, floor_rates


def test_every_data_datagram_reaches_every_other_worker() -> None:
    fig = floor_figures(3, token_hz=40.0, rate_hz=20.0, data_bytes=400, publishers=2,
                        seconds=0.5)
    assert len(fig.cpu_pct) == 3 and all(c >= 0 for c in fig.cpu_pct)
    # two publishers x ~0.7 s x 20 Hz, each datagram to the two others: read after
    # every worker stopped sending, so none is still on its way
    assert fig.data_expected > 0 and fig.data_received == fig.data_expected
    assert fig.packets_per_s > 0


def test_a_worker_that_publishes_nothing_still_passes_small_datagrams() -> None:
    fig = floor_figures(2, token_hz=30.0, rate_hz=0.0, data_bytes=200, publishers=0,
                        seconds=0.3)
    assert fig.data_expected == fig.data_received == 0
    assert fig.packets_per_s > 0


def test_rates_move_what_the_row_moved() -> None:
    # 3 processors x 1 topic x 100 Hz: each daemon sent 200 and got 200 data datagrams a
    # second (mean); the rest of its 936 packets were small ones, sent and received
    assert floor_rates(3, 3, 100.0, 184.0, 936.0) == (268.0, 100.0)
    # one sender: data in + out per processor (mean) 2 x 100 x 2 / 3
    token_hz, _ = floor_rates(3, 1, 100.0, 100.0, 334.0)
    assert token_hz == pytest.approx((334.0 - 400.0 / 3) / 2)
    # an idle ring: at least one small datagram per token rotation
    assert floor_rates(3, 0, 0.0, 8.0, 15.0) == (8.0, 0.0)
