"""The monitor's own load on the ring, measured (printed, run with -s to see it).

Three in-process daemons with their publishers (period 1 s). We count ring packets sent
by all engines and messages delivered, first with no console attached, then with one
console. The console's cost is what the publishers send for it: one snapshot per daemon
per period (a few hundred bytes each). We assert only counts, not times: no console, no
diagnostics messages; with a console, about one message per daemon per period.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from robot_gcs.config import load_config
from robot_gcs.diagnostics import ensure_publisher
from robot_gcs.diagnostics.attach import RingWatcher
from robot_gcs.diagnostics.rules import load_rules
from robot_gcs.runtime.daemon import Daemon

from .test_publisher import wait_ring, write_config

WINDOW = 4.0


def totals(ds: list[Daemon]) -> tuple[int, int, int]:
    stats = [d.statistics() for d in ds]
    return (sum(s.engine.packets_sent for s in stats), sum(s.bytes_out for s in stats),
            sum(s.engine.delivered_msgs for s in stats))


@pytest.mark.slow
def test_monitor_load_on_the_ring_is_one_snapshot_per_daemon_per_period(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, 3))
    ds = [Daemon(cfg, f"cpu{i}", serve_clients=False) for i in (1, 2, 3)]
    pubs = []
    try:
        for d in ds:
            d.start()
        wait_ring(ds, 3)
        pubs = [ensure_publisher(d, period=1.0) for d in ds]
        deadline = time.monotonic() + 10.0
        while not all(p.collector.publishers() == {"cpu1", "cpu2", "cpu3"} for p in pubs):
            assert time.monotonic() < deadline
            time.sleep(0.05)

        def measure() -> tuple[float, float, int, float]:
            p0, b0, m0 = totals(ds)
            t0 = time.monotonic()
            time.sleep(WINDOW)            # the measurement window itself
            p1, b1, m1 = totals(ds)
            dt = time.monotonic() - t0
            return (p1 - p0) / dt, (b1 - b0) / dt, m1 - m0, dt

        idle_pps, idle_bps, idle_msgs, _ = measure()
        mon = RingWatcher.attached(ds[0].connect("mon"), load_rules())
        assert mon.wait_complete(5.0)
        pub0 = sum(p.published for p in pubs)
        mon_pps, mon_bps, mon_msgs, dt = measure()
        published = sum(p.published for p in pubs) - pub0
        mon.close()
        print(f"\nidle ring, no console: {idle_pps:.0f} packets/s, {idle_bps / 1000:.1f} kB/s, "
              f"{idle_msgs} messages delivered in {WINDOW:.0f}s")
        print(f"with one console:      {mon_pps:.0f} packets/s, {mon_bps / 1000:.1f} kB/s, "
              f"{mon_msgs} deliveries ({published} snapshots published) in {dt:.1f}s")
        print(f"console adds {mon_pps - idle_pps:+.0f} packets/s, "
              f"{(mon_bps - idle_bps) / 1000:+.1f} kB/s, {published / dt:.1f} snapshots/s")
        assert idle_msgs == 0
        # 3 daemons x ~WINDOW periods, each delivered to the 3 daemons' publisher/console
        assert 3 * (WINDOW - 1) <= published <= 3 * (WINDOW + 1)
    finally:
        for p in pubs:
            p.close()
        for d in ds:
            d.stop()
