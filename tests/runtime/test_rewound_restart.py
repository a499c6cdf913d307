"""A daemon restarted with its state directory gone and its clock behind gets back into
the ring (issue 15, case 3): its incarnation is smaller than the one its peers saw, and
they take it as a new life once the old one has been silent (core/lives.py, and the
sealer's same rule). A real 2-daemon ring on loopback with sealed packets."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from rt_sessions import next_message, view_with

from robot_gcs.runtime import state
from robot_gcs.runtime.daemon import Daemon
from robot_gcs.testing import write_ring_config

WAIT = 60.0


@pytest.fixture
def ringdir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="gcs"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_restart_with_state_lost_and_clock_behind_rejoins(
        ringdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write_ring_config(ringdir, 2)
    d1 = Daemon.from_file(cfg, "d1", health=False).start()
    d2 = Daemon.from_file(cfg, "d2", health=False).start()
    d2b = None
    try:
        assert d1.wait_members(2, timeout=WAIT) and d2.wait_members(2, timeout=WAIT)
        old = d2.incarnation
        d2.stop()
        shutil.rmtree(ringdir / "state" / "", ignore_errors=True)   # the state is gone
        monkeypatch.setattr(state, "clock_incarnation", lambda now=None: 7)  # no RTC
        d2b = Daemon.from_file(cfg, "d2", health=False).start()
        assert d2b.incarnation == 7 < old
        assert d1.wait_members(("d1", "d2"), timeout=WAIT), d1.membership_history()[-1]
        assert d2b.wait_members(("d1", "d2"), timeout=WAIT)
        a, b = d1.connect("a"), d2b.connect("b")
        a.join("g")
        b.join("g")
        view_with(a, 2)
        view_with(b, 2)
        a.multicast("g", b"welcome back")
        assert next_message(b).payload == next_message(a).payload == b"welcome back"
    finally:
        if d2b is not None:
            d2b.stop()
        d1.stop()
