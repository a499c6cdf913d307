"""`robot-gcs launch FILE --all`: processes restarted per their policy, Ctrl-C stops the tree;
`--check` and load errors from the command line."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from robot_gcs.testing import ring_key_line

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def setup_files(tmp: Path) -> Path:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    (tmp / "ring.yaml").write_text(
        f"ring:\n  name: sup-test\n  state_dir: {tmp / 'state'}\n{ring_key_line(tmp)}\n  transport: {{mode: unicast}}\n"
        f"daemons:\n  - {{name: cpu1, address: '127.0.0.1:{ports[0]}'}}\n"
        f"  - {{name: cpu2, address: '127.0.0.1:{ports[1]}'}}\n")
    launch = tmp / "robot.yaml"
    launch.write_text(
        f"robot: suptest\nconfig: ring.yaml\npythonpath: ['{HERE}']\n"
        "topics:\n  /ping: {type: 'launch_fixtures:Ping'}\n"
        "processors:\n"
        "  cpu1:\n    restart: on-failure\n    components:\n"
        "      - {name: talker, class: 'launch_fixtures:Talker'}\n"
        "  cpu2:\n    components:\n      - {name: talker, class: 'launch_fixtures:Talker'}\n")
    return launch


def cli(*args: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "robot_gcs.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True, **kw)


class Lines:
    """A process's output lines, waited for by prefix (never a fixed sleep)."""

    def __init__(self, p: subprocess.Popen) -> None:
        self.p = p
        self.queue: "queue.Queue[str]" = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.p.stdout is not None
        for raw in self.p.stdout:
            self.log.append(raw.decode().rstrip())
            self.queue.put(self.log[-1])

    def wait_for(self, prefix: str, timeout: float = 30.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.queue.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no line starting {prefix!r}:\n" + "\n".join(self.log))


def test_check_and_errors_from_the_command_line(tmp_path: Path) -> None:
    launch = setup_files(tmp_path)
    p = cli("launch", str(launch), "--check")
    out = p.communicate(timeout=60)[0].decode()
    assert p.returncode == 0 and "OK (2 processors, 2 components, 1 topics)" in out
    launch.write_text(launch.read_text().replace("launch_fixtures:Talker'}\n  cpu2", "launch_fixtures:Talkr'}\n  cpu2"))
    p = cli("launch", str(launch), "--check")
    out = p.communicate(timeout=60)[0].decode()
    assert p.returncode == 2 and f"{launch}:10: processors.cpu1.components[0].class:" in out
    assert "did you mean 'Talker'?" in out
    launch.write_text(launch.read_text().replace("launch_fixtures:Talkr'}",
                                                 "launch_fixtures:Talker', params: {rate_hz: fast}}"))
    p = cli("launch", str(launch), "--check")
    out = p.communicate(timeout=60)[0].decode()
    assert p.returncode == 2, out
    assert (f"{launch}:10: processors.cpu1.components[0].params.rate_hz: launch_fixtures:Talker "
            "declares rate_hz as a float (default 10.0): expected a float, got 'fast' (str)") in out


def test_a_component_that_keeps_crashing_fails_its_processor_and_the_launcher(tmp_path: Path) -> None:
    launch = setup_files(tmp_path)
    launch.write_text(launch.read_text().replace(
        "  cpu2:\n    components:\n      - {name: talker, class: 'launch_fixtures:Talker'}\n",
        "  cpu2:\n    components:\n      - {name: driver, class: 'launch_fixtures:Crasher', "
        "max_restarts: 1}\n"))
    p = cli("launch", str(launch), "--all")
    out = Lines(p)
    try:
        line = out.wait_for("[cpu2] processor cpu2 FAILED", 60)
        assert line == ("[cpu2] processor cpu2 FAILED: component driver is down after 1 "
                        "restart(s): RuntimeError: sensor driver crashed"), line
        out.wait_for("[launch] cpu2 exited with code 3")
        out.wait_for("[launch] cpu2 FAILED")
        p.send_signal(signal.SIGINT)             # cpu1 still runs: stop the launcher
        assert p.wait(30) == 3, "\n".join(out.log)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert "[launch] FAILED: cpu2" in out.log


def test_on_failure_processor_is_restarted_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    launch = setup_files(tmp_path)
    p = cli("launch", str(launch), "--all")
    out = Lines(p)
    wait_for, log = out.wait_for, out.log

    try:
        pids = {}
        for _ in range(2):
            line = wait_for("[launch] started ")
            pids[line.split()[2]] = int(line.split()[-1])
        wait_for("[cpu1] processor cpu1 running")
        os.kill(pids["cpu1"], signal.SIGKILL)
        wait_for("[launch] cpu1 exited with signal 9")
        wait_for("[launch] restarting cpu1")
        new_pid = int(wait_for("[launch] started cpu1 pid").split()[-1])
        wait_for("[cpu1] processor cpu1 running")
        os.kill(pids["cpu2"], signal.SIGKILL)            # restart: never (the default)
        wait_for("[launch] cpu2 exited with signal 9")
        p.send_signal(signal.SIGINT)
        wait_for("[launch] all processors stopped")
        assert p.wait(30) == 3                 # cpu2 was lost and not brought back
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert not any(l.startswith("[launch] restarting cpu2") for l in log)
    assert "[launch] FAILED: cpu2" in log
    assert "[cpu1] processor cpu1 stopped" in log
    with pytest.raises(ProcessLookupError):
        os.kill(new_pid, 0)
