"""Helpers of the recording tests: a ring of embedded daemons serving Unix sockets, tool
subprocesses (killed only by their own pid), publishers on threads, view waits."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from robot_gcs.core.events import GroupView
from robot_gcs.pubsub.node import Node
from robot_gcs.testing import write_ring_config

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def ring(n: int, name: str) -> Iterator[tuple[list[Any], list[str], Path]]:
    """n daemons d1..dn in this process; yields (daemons, socket addresses, temp dir)."""
    from robot_gcs.runtime.daemon import Daemon
    tmp = Path(tempfile.mkdtemp(prefix="rec", dir="/tmp"))
    cfg = write_ring_config(tmp, n, name=name, sockets=True)
    daemons = [Daemon.from_file(str(cfg), name=f"d{i + 1}") for i in range(n)]
    try:
        for d in daemons:
            d.start()
        yield daemons, [f"unix:{tmp / f'd{i + 1}.sock'}" for i in range(n)], tmp
    finally:
        for d in daemons:
            d.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def tool(*argv: str, stdout: Any = subprocess.PIPE) -> subprocess.Popen[str]:
    """``robot-gcs ARGV`` as a child process in the repository (message types import)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "robot_gcs.cli", *argv], cwd=ROOT, env=env,
                            stdout=stdout, stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, sig)
    proc.wait(30)


class ViewWatch:
    """A node on a daemon that is in ``groups`` and remembers the latest view of each."""

    def __init__(self, daemon: Any, groups: list[str]) -> None:
        self.node = Node("watch", daemon)
        self.views: dict[str, tuple[str, ...]] = {}
        for g in groups:
            self.node.join_group(g, self._on)

    def _on(self, ev: Any) -> None:
        if isinstance(ev, GroupView):
            self.views[ev.group] = ev.members

    def wait(self, cond: Callable[[dict[str, tuple[str, ...]]], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not cond(self.views):
            assert time.monotonic() < deadline, f"views never got there: {self.views}"
            self.node.spin_once(0.05)

    def close(self) -> None:
        self.node.destroy()


class Publishing:
    """A node publishing ``count`` messages made by ``make(i)`` on ``topic``, ``hz`` per
    second (0: as fast as the session takes them), on its own thread."""

    def __init__(self, daemon: Any, name: str, topic: str, msg_type: type,
                 make: Callable[[int], Any], count: int, hz: float) -> None:
        from robot_gcs.errors import Backpressure
        self.node = Node(name, daemon)
        self.pub = self.node.create_publisher(topic, msg_type)
        self.sent = 0
        self._backpressure = Backpressure
        self._halt = threading.Event()

        def loop() -> None:
            start = time.monotonic()
            for i in range(count):
                if self._halt.is_set():
                    return
                if hz:
                    due = start + i / hz
                    while time.monotonic() < due:
                        self.node.spin_once(due - time.monotonic())
                while True:
                    try:
                        self.pub.publish(make(i))
                        break
                    except self._backpressure:
                        self.node.spin_once(0.001)
                self.sent += 1
        self.thread = threading.Thread(target=loop, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def halt(self) -> None:
        """Stop publishing early (and wait for the thread)."""
        self._halt.set()
        if self.thread.ident is not None:
            self.join()

    def join(self, timeout: float = 120.0) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "publisher did not finish"

    def close(self) -> None:
        self.node.destroy()
