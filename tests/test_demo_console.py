"""Acceptance (issue 16): `robot-gcs demo` in an 80x24 tmux window. cpu1 -- the processor
whose daemon the console is attached to, and the active controller's -- is SIGKILLed; the
console keeps showing the ring (it moves to cpu2's daemon and says so) and then shows the
standby controller on cpu2 leading the election group ``ctl``.

The demo runs on a ring config of its own (ports free at run time, sockets in a short
scratch directory). Screens are read with ``tmux capture-pane`` until the expected text
appears or the bound passes (waiting on the screen, never a fixed sleep); the processor
pids come from the demo's log file.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from robot_gcs.testing import free_udp_ports, ring_key_line
from tmux_screen import HAVE_TMUX, TmuxScreen, row

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not HAVE_TMUX, reason="needs tmux")


def ctl_row(screen: str) -> str:
    """The row of the election group ctl in the groups panel (leader, member count)."""
    return row(screen, "ctl")


@pytest.fixture()
def demo_ring(tmp_path: Path) -> Iterator[Path]:
    sockdir = Path(f"/tmp/rgdemo{os.getpid()}")
    sockdir.mkdir(exist_ok=True)
    lines = ["ring:", "  name: demo-console", f"  state_dir: {tmp_path / 'state'}", ring_key_line(tmp_path),
             "  timeouts:", "    token_ms: 1000", "    consensus_ms: 1200", "daemons:"]
    for i, port in enumerate(free_udp_ports(3), start=1):
        lines += [f"  - name: cpu{i}", f"    address: 127.0.0.1:{port}",
                  f"    socket: unix:{sockdir}/cpu{i}.sock"]
    cfg = tmp_path / "ring.yaml"
    cfg.write_text("\n".join(lines) + "\n")
    try:
        yield cfg
    finally:
        shutil.rmtree(sockdir, ignore_errors=True)


def pids(log: Path) -> dict[str, int]:
    out = {}
    for m in re.finditer(r"\[launch\] started (cpu\d) pid (\d+)", log.read_text() if log.exists() else ""):
        out[m.group(1)] = int(m.group(2))
    return out


def test_the_demo_console_follows_the_fail_over(demo_ring: Path, tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    screen = TmuxScreen(f"rgdemo{os.getpid()}", (
        f"cd {ROOT} && PYTHONPATH={ROOT} ROBOT_GCS_RUNTIME_DIR={tmp_path / 'run'} "
        f"{sys.executable} -m robot_gcs.cli demo --config {demo_ring} --log {log}"))
    started: dict[str, int] = {}
    try:
        before = screen.wait_for(lambda s: "via cpu1" in s
                          and all("OPERATIONAL" in row(s, n) and " 3 " in row(s, n)
                                  for n in ("cpu1", "cpu2", "cpu3"))
                          and "#controller#cpu1" in ctl_row(s), 90.0,
                          "the ring of three and the controller on cpu1 leading ctl")
        lines = before.splitlines()
        assert len(lines) <= 24 and max(map(len, lines)) <= 80
        assert "/odom" in before and "Odometry" in before           # every node's topics
        assert lines[-1].startswith("rot: token rotation")            # the legend
        started = pids(log)
        assert set(started) == {"cpu1", "cpu2", "cpu3"}, log.read_text()

        os.kill(started["cpu1"], signal.SIGKILL)
        killed_at = time.monotonic()
        moved = screen.wait_for(lambda s: "attached via cpu2 (cpu1 is gone)" in s
                         and row(s, "cpu2") != "", 30.0, "the console moving to cpu2")
        assert "via cpu2" in moved.splitlines()[0]
        after = screen.wait_for(lambda s: "#standby#cpu2" in ctl_row(s),
                         60.0, "the standby controller leading ctl")
        took = time.monotonic() - killed_at
        print(f"\nconsole showed the standby leading {took:.1f}s after SIGKILL of cpu1\n{after}")
        assert row(after, "cpu2") and row(after, "cpu3")              # the ring stayed on screen
    finally:
        screen.keys("q")                      # the console quits, the demo stops its processors
        end = time.monotonic() + 60
        while time.monotonic() < end and screen.alive():
            time.sleep(0.2)   # then its window closes
        screen.close()
        for pid in pids(log).values():        # end only what the demo started, if left over
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    text = log.read_text()
    assert "[launch] all processors stopped" in text, text[-3000:]
