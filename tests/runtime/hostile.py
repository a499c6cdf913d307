"""Hostile socket clients against a ring of daemon processes (tests/runtime/test_hostile_clients.py).

``Ring`` starts ``robot-gcs daemon`` processes on loopback (one ring config, each daemon
serving a Unix socket) and reads a daemon's peak RSS from /proc. ``attack`` opens
hostile connections to one daemon: *junk* (random bytes, some behind a valid HELLO),
*unfinished* frames (a HELLO, then a frame header claiming 4 MiB and part of its body,
held open), and *slow readers* (members of a busy group that never read). Every count
and every wait is bounded; processes are ended by their own pid.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rt_procs import wait_line

from robot_gcs.client import wire
from robot_gcs.testing import write_ring_config

ROOT = Path(__file__).resolve().parents[2]


class Ring:
    """n ``robot-gcs daemon`` processes on loopback, each with a Unix socket."""

    def __init__(self, n: int) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="gcsh"))     # short: AF_UNIX path limit
        self.config = write_ring_config(self.dir, n, name="hostile", sockets=True)
        self.procs: dict[str, subprocess.Popen[str]] = {}
        try:
            for i in range(1, n + 1):
                name = f"d{i}"
                self.procs[name] = subprocess.Popen(
                    [sys.executable, "-m", "robot_gcs.cli", "daemon", "-c", str(self.config),
                     "-n", name], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                    text=True)
            for proc in self.procs.values():
                wait_line(proc, "ready", 60, drain=True)
        except BaseException:
            self.close()
            raise

    def address(self, name: str) -> str:
        return f"unix:{self.dir / (name + '.sock')}"

    def path(self, name: str) -> str:
        return str(self.dir / (name + ".sock"))

    def peak_rss(self, name: str) -> int:
        """Peak resident set of daemon ``name`` in bytes (VmHWM)."""
        with open(f"/proc/{self.procs[name].pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM")

    def alive(self, name: str) -> bool:
        return self.procs[name].poll() is None

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Attack:
    """The hostile connections of one wave (closed by ``close``)."""

    socks: list[socket.socket] = field(default_factory=list)
    sent: int = 0
    refused_sends: int = 0

    def close(self) -> None:
        for s in self.socks:
            s.close()
        self.socks.clear()


def _send(att: Attack, sock: socket.socket, data: bytes) -> None:
    """Send what the daemon takes without blocking; it may have closed us already."""
    sock.setblocking(False)
    view = memoryview(data)
    try:
        while view:
            n = sock.send(view)
            att.sent += n
            view = view[n:]
    except (BlockingIOError, BrokenPipeError, ConnectionResetError):
        att.refused_sends += 1


def attack(path: str, rng: random.Random, junk: int, unfinished: int, slow: int,
           busy_group: str) -> Attack:
    """Open ``junk + unfinished + slow`` hostile connections to the socket at ``path``."""
    att = Attack()
    for i in range(junk + unfinished + slow):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # slow readers stay slow
        att.socks.append(sock)
        hello = wire.encode(wire.Hello(f"h{os.getpid() % 1000}x{i}"))
        if i < junk:
            noise = rng.randbytes(rng.randrange(1, 3000))
            _send(att, sock, hello + noise if i % 2 else noise)
        elif i < junk + unfinished:
            body = rng.randrange(1 << 20, 3 << 20)
            _send(att, sock, hello + wire._HDR.pack(4 << 20, wire.T_MCAST) + bytes(body))
        else:
            _send(att, sock, hello + wire.encode(wire.Join(busy_group)))
    return att
