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
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from robot_gcs.testing import free_udp_ports

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def wait_for(read: Callable[[], str], ok: Callable[[str], bool], timeout: float, what: str) -> str:
    deadline = time.monotonic() + timeout
    text = read()
    while not ok(text):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: never seen within {timeout}s; last screen:\n{text}")
        time.sleep(0.1)      # screen polling interval (we wait on the screen content)
        text = read()
    return text


def row(screen: str, name: str) -> str:
    return next((line for line in screen.splitlines() if line.startswith(f"│ {name} ")), "")


@pytest.fixture()
def demo_ring(tmp_path: Path) -> Iterator[Path]:
    sockdir = Path(f"/tmp/rgdemo{os.getpid()}")
    sockdir.mkdir(exist_ok=True)
    lines = ["ring:", "  name: demo-console", f"  state_dir: {tmp_path / 'state'}",
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


def ctl_row(screen: str) -> str:
    """The row of the election group ctl in the groups panel (leader, member count)."""
    return next((line for line in screen.splitlines() if line.startswith("│ ctl ")), "")


def pids(log: Path) -> dict[str, int]:
    out = {}
    for m in re.finditer(r"\[launch\] started (cpu\d) pid (\d+)", log.read_text() if log.exists() else ""):
        out[m.group(1)] = int(m.group(2))
    return out


def test_the_demo_console_follows_the_fail_over(demo_ring: Path, tmp_path: Path) -> None:
    session = f"rgdemo{os.getpid()}"
    log = tmp_path / "demo.log"
    cmd = (f"cd {ROOT} && PYTHONPATH={ROOT} ROBOT_GCS_RUNTIME_DIR={tmp_path / 'run'} "
           f"{sys.executable} -m robot_gcs.cli demo --config {demo_ring} --log {log}")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", cmd],
                   check=True)
    started: dict[str, int] = {}
    try:
        def screen() -> str:
            return subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                  capture_output=True, text=True).stdout

        before = wait_for(screen, lambda s: "via cpu1" in s
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
        moved = wait_for(screen, lambda s: "attached via cpu2 (cpu1 is gone)" in s
                         and row(s, "cpu2") != "", 30.0, "the console moving to cpu2")
        assert "via cpu2" in moved.splitlines()[0]
        after = wait_for(screen, lambda s: "#standby#cpu2" in ctl_row(s),
                         60.0, "the standby controller leading ctl")
        took = time.monotonic() - killed_at
        print(f"\nconsole showed the standby leading {took:.1f}s after SIGKILL of cpu1\n{after}")
        assert row(after, "cpu2") and row(after, "cpu3")              # the ring stayed on screen
    finally:
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], capture_output=True)
        end = time.monotonic() + 60
        while time.monotonic() < end and subprocess.run(
                ["tmux", "has-session", "-t", session], capture_output=True).returncode == 0:
            time.sleep(0.2)   # the demo stops its processors, then its window closes
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        for pid in pids(log).values():        # end only what the demo started, if left over
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    text = log.read_text()
    assert "[launch] all processors stopped" in text, text[-3000:]
