"""Fixtures of the bridge tests: in-process rings on loopback, a spinning helper, and the
check that nothing a test started talks to anything but loopback."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from robot_gcs.pubsub.node import Node
from robot_gcs.testing import free_udp_ports, ring_key_line


class Ring:
    """Daemons of one ring in this process (``daemons[i]`` is ``<prefix><i+1>``)."""

    def __init__(self, name: str, n: int) -> None:
        from robot_gcs.runtime.daemon import Daemon
        self.dir = Path(tempfile.mkdtemp(prefix=f"br-{name}-", dir="/tmp"))
        ports = free_udp_ports(n)
        lines = [f"ring:\n  name: {name}\n  state_dir: {self.dir / 'state'}\n"
                 f"{ring_key_line(self.dir)}\n  transport: {{mode: unicast}}\ndaemons:"]
        lines += [f"  - {{name: {name}{i + 1}, address: '127.0.0.1:{p}'}}" for i, p in enumerate(ports)]
        self.config = self.dir / "ring.yaml"
        self.config.write_text("\n".join(lines) + "\n")
        self.daemons = [Daemon.from_file(str(self.config), name=f"{name}{i + 1}") for i in range(n)]
        for d in self.daemons:
            d.start()

    def stop(self) -> None:
        for d in self.daemons:
            d.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture()
def make_ring() -> Iterator[Callable[[str, int], Ring]]:
    rings: list[Ring] = []

    def make(name: str, n: int = 2) -> Ring:
        r = Ring(name, n)
        rings.append(r)
        return r
    try:
        yield make
    finally:
        for r in reversed(rings):
            r.stop()


class Spinner:
    """Spins nodes on background threads (each node on its own), stops them at the end."""

    def __init__(self) -> None:
        self.threads: list[tuple[Node, threading.Thread]] = []

    def spin(self, node: Node) -> None:
        t = threading.Thread(target=node.spin, name=f"spin-{node.name}", daemon=True)
        t.start()
        self.threads.append((node, t))

    def stop(self) -> None:
        for node, _ in self.threads:
            node.stop()
        for _, t in self.threads:
            t.join(10)


@pytest.fixture()
def spinner() -> Iterator[Spinner]:
    s = Spinner()
    try:
        yield s
    finally:
        s.stop()


def dds_domain() -> int:
    """A DDS domain id for this test run (Cyclone maps 0..232 to port ranges)."""
    return random.Random(f"{os.getpid()}-{os.urandom(4).hex()}").randint(1, 200)


def non_loopback_sockets(pids: list[int]) -> list[str]:
    """Lines of ``ss`` for sockets of ``pids`` bound to a specific non-loopback address or
    talking to a non-loopback peer (empty list: all traffic stays on loopback).

    Wildcard binds (``0.0.0.0:port``) are not listed: Cyclone DDS binds its unicast
    sockets to the wildcard even when its config selects only ``lo``, but then advertises
    and sends to loopback locators only (multicast off)."""
    bad = []
    for proto in ("-uanpH", "-tanpH"):
        out = subprocess.run(["ss", proto], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if not any(f"pid={p}," in line for p in pids):
                continue
            cols = line.split()
            for a in cols[3:5]:
                host = a.rsplit(":", 1)[0].strip("[]")
                if host in ("*", "0.0.0.0", "::"):
                    continue
                if not (host.startswith("127.") or host == "::1" or host.startswith("::ffff:127.")):
                    bad.append(line)
    return bad


def wait_for(cond: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``cond`` (cheaply, with a short event wait) until it is truthy or time is up."""
    ev = threading.Event()
    import time
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        ev.wait(0.01)
