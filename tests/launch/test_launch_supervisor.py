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
        f"ring:\n  name: sup-test\n  state_dir: {tmp / 'state'}\n  transport: {{mode: unicast}}\n"
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


def test_check_and_errors_from_the_command_line(tmp_path: Path) -> None:
    launch = setup_files(tmp_path)
    p = cli("launch", str(launch), "--check")
    out = p.communicate(timeout=60)[0].decode()
    assert p.returncode == 0 and "OK (2 processors, 2 components, 1 topics)" in out
    launch.write_text(launch.read_text().replace("launch_fixtures:Talker'}\n  cpu2", "launch_fixtures:Talkr'}\n  cpu2"))
    p = cli("launch", str(launch), "--check")
    out = p.communicate(timeout=60)[0].decode()
    assert p.returncode == 2 and f"{launch}:10: processors.cpu1.components[0].class:" in out


def test_on_failure_processor_is_restarted_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    launch = setup_files(tmp_path)
    p = cli("launch", str(launch), "--all")
    lines: "queue.Queue[str]" = queue.Queue()
    log: list[str] = []

    def pump() -> None:
        assert p.stdout is not None
        for raw in p.stdout:
            log.append(raw.decode().rstrip())
            lines.put(log[-1])
    threading.Thread(target=pump, daemon=True).start()

    def wait_for(prefix: str, timeout: float = 30.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = lines.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no line starting {prefix!r}:\n" + "\n".join(log))

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
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert not any(l.startswith("[launch] restarting cpu2") for l in log)
    assert "[cpu1] processor cpu1 stopped" in log
    with pytest.raises(ProcessLookupError):
        os.kill(new_pid, 0)
