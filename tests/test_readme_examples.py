"""The README's code runs exactly as printed (issue 16, item 7): the blocks are copied out
of README.md into a scratch directory and run there -- the Python snippets, the two
example programs and the shell commands that talk to them -- so the README cannot rot.
``examples/pair/`` holds the same files (checked here too).

The scratch directory gets its own ring configs (``config/local3.yaml``,
``config/pair.yaml``) on ports free at run time, and its own local daemons' directory;
``python3`` and ``robot-gcs`` on PATH are this interpreter and this checkout. Waiting is
always on a line of output, with a timeout.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from robot_gcs.testing import free_udp_ports, ring_key_line

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    return README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def blocks(text: str, lang: str) -> list[str]:
    """The fenced blocks of ``text`` in language ``lang`` ("" for plain ones)."""
    out, current, kind = [], None, ""
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            if current is None:
                current, kind = [], line[3:].strip()
            else:
                if kind == lang:
                    out.append("".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return out


def example_files() -> dict[str, str]:
    """README blocks that are files: their first line is ``# path``."""
    out = {}
    for b in blocks(section("Topics, services and parameters"), "python"):
        first, _, rest = b.partition("\n")
        assert first.startswith("# examples/"), first
        out[first[2:].strip()] = rest
    return out


def ring_yaml(name: str, daemons: int, sockdir: Path | None, state: Path) -> str:
    lines = ["ring:", f"  name: {name}", f"  state_dir: {state}", ring_key_line(state.parent),
             "daemons:"]
    for i, port in enumerate(free_udp_ports(daemons), start=1):
        lines += [f"  - name: cpu{i}", f"    address: 127.0.0.1:{port}"]
        if sockdir is not None:
            lines.append(f"    socket: unix:{sockdir}/cpu{i}.sock")
    return "\n".join(lines) + "\n"


@pytest.fixture()
def scratch(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A directory to run README code in, and the environment to run it with."""
    sockdir = Path(f"/tmp/rgreadme{os.getpid()}")      # short: Unix socket paths <= 108 bytes
    sockdir.mkdir(exist_ok=True)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "local3.yaml").write_text(
        ring_yaml("local3", 3, None, tmp_path / "state3"))
    (tmp_path / "config" / "pair.yaml").write_text(
        ring_yaml("pair", 2, sockdir, tmp_path / "state"))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, cmd in (("python3", f'exec {sys.executable} "$@"'),
                      ("robot-gcs", f'exec {sys.executable} -m robot_gcs.cli "$@"')):
        (bindir / name).write_text(f"#!/bin/sh\n{cmd}\n")
        (bindir / name).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "ROBOT_GCS_CONFIG"}
    env.update(PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}", PYTHONPATH=str(ROOT),
               PYTHONUNBUFFERED="1", ROBOT_GCS_RUNTIME_DIR=str(tmp_path / "run"))
    try:
        yield tmp_path, env
    finally:
        shutil.rmtree(sockdir, ignore_errors=True)


class Program:
    """A long-running README command and its output lines."""

    def __init__(self, cmd: str, cwd: Path, env: dict[str, str]) -> None:
        self.cmd = cmd
        self.p = subprocess.Popen(["bash", "-c", f"exec {cmd}"], cwd=cwd, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: "queue.Queue[str]" = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.log.append(line.rstrip("\n"))
            self.lines.put(self.log[-1])

    def wait_for(self, pattern: str, timeout: float = 30.0) -> str:
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.cmd}: no line matching {pattern!r}:\n" + "\n".join(self.log))
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if re.search(pattern, line):
                return line

    def interrupt_twice(self) -> int:
        """Ctrl-C, and another one while it stops: it must end quietly."""
        self.p.send_signal(signal.SIGINT)
        time.sleep(0.05)          # the second Ctrl-C lands during shutdown (any time is fine)
        self.p.send_signal(signal.SIGINT)
        try:
            return self.p.wait(30)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()


def test_the_example_files_are_the_readme_blocks() -> None:
    files = example_files()
    assert set(files) == {"examples/pair/messages.py", "examples/pair/talker.py",
                          "examples/pair/listener.py"}
    for path, text in files.items():
        assert (ROOT / path).read_text() == text, f"{path} differs from its README block"


def test_the_use_it_snippet_runs_as_printed(scratch: tuple[Path, dict[str, str]]) -> None:
    cwd, env = scratch
    (snippet,) = blocks(section("Use it"), "python")
    (cwd / "snippet.py").write_text(snippet)
    out = subprocess.run([sys.executable, "snippet.py"], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_the_two_process_example_runs_as_printed(scratch: tuple[Path, dict[str, str]]) -> None:
    cwd, env = scratch
    for path, text in example_files().items():
        (cwd / path).parent.mkdir(parents=True, exist_ok=True)
        (cwd / path).write_text(text)
    (shell,) = blocks(section("Topics, services and parameters"), "")
    commands = [c for c in shell.splitlines() if c.strip()]
    programs = [Program(c, cwd, env) for c in commands if c.startswith("python3 ")]
    assert len(programs) == 2, commands
    talker, listener = programs
    try:
        talker.wait_for(r"^talker: publishing /odom, serving /reset$")
        listener.wait_for(r"^reset: Reset\.Response\(previous_x=[0-9.]+\)$")   # a service call
        listener.wait_for(r"^x=[0-9.]+ speed=1\.0$")                           # typed subscriber
        outputs = {}
        for cmd in commands:
            if cmd.startswith("python3 "):
                continue
            done = subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env, capture_output=True,
                                  text=True, timeout=60)
            assert done.returncode == 0, f"{cmd}\n{done.stdout}\n{done.stderr}"
            outputs[cmd] = done.stdout
        assert "set #talker#cpu1 speed = 2.5  (float)" in outputs["robot-gcs param set talker speed 2.5"]
        listener.wait_for(r"^x=[0-9.]+ speed=2\.5$")                           # the set took
        echo = outputs["robot-gcs topic echo /odom --count 3"].splitlines()
        assert len(echo) == 3 and all(re.match(r"\[#talker#cpu1\] seq \d+: \{'x': [0-9.]+, "
                                               r"'speed': 2\.5\}", line) for line in echo), echo
        assert re.match(r"response: \{'previous_x': [0-9.]+\}",
                        outputs["robot-gcs service call /reset '{x: 10.0}'"])
        listing = outputs["robot-gcs topic list"]
        assert "/odom  [examples.pair.messages:Odometry]" in listing
        assert "publishers:  #talker#cpu1" in listing and "#listener#cpu2" in listing
    finally:
        codes = [p.interrupt_twice() for p in reversed(programs)]
    for p, code in zip(reversed(programs), codes):
        assert code == 0, "\n".join(p.log)
        assert not any("Traceback" in line or "KeyboardInterrupt" in line for line in p.log), \
            "\n".join(p.log)
    assert not list((cwd / "run").glob("*.json"))          # both daemons withdrew their records
