"""Socket sessions against a standalone `robot-gcs daemon` process running the real engines.

The client-daemon deployment: programs in other processes share one daemon through its
Unix socket, see one order, see a killed client leave as DISCONNECT, and learn the
reason when the daemon stops.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from rt_fakes import free_udp_ports
from rt_procs import wait_line

import robot_gcs
from robot_gcs import Cause, DataMessage, GroupView, SessionClosed
from robot_gcs.testing import ring_key_line


@pytest.fixture
def daemon_proc() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    tmp = Path(tempfile.mkdtemp(prefix="gcsipc"))
    (port,) = free_udp_ports(1)
    cfg = tmp / "ring.yaml"
    cfg.write_text(f"ring:\n  name: ipcproc\n  state_dir: {tmp / 'state'}\n{ring_key_line(tmp)}\n"
                   f"daemons:\n  - name: d1\n    address: 127.0.0.1:{port}\n"
                   f"    socket: {tmp / 'd1.sock'}\n")
    proc = subprocess.Popen([sys.executable, "-m", "robot_gcs.cli", "daemon", "-c", str(cfg),
                             "-n", "d1"], stdout=subprocess.PIPE, text=True)
    try:
        wait_line(proc, "ready", 30)
        yield f"unix:{tmp / 'd1.sock'}", proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)


def _view(s, members: int) -> GroupView:  # type: ignore[no-untyped-def]
    while True:
        ev = s.receive(timeout=10)
        assert ev is not None, "no view"
        if isinstance(ev, GroupView) and len(ev.members) == members and not ev.transitional:
            return ev


def test_two_socket_clients_see_one_order_and_a_killed_client_leaves(
        daemon_proc: tuple[str, subprocess.Popen[str]]) -> None:
    address, _ = daemon_proc
    with robot_gcs.connect(address, "a") as a, robot_gcs.connect(address, "b") as b:
        a.join("g")
        _view(a, 1)
        b.join("g")
        _view(a, 2)
        _view(b, 2)
        for i in range(100):
            (a if i % 2 else b).multicast("g", b"%d" % i, timeout=5)
        orders = []
        for s in (a, b):
            got = []
            while len(got) < 100:
                ev = s.receive(timeout=10)
                assert ev is not None
                if isinstance(ev, DataMessage):
                    got.append((ev.sender, ev.payload))
            orders.append(got)
        assert orders[0] == orders[1]
        assert sorted(p for _, p in orders[0]) == sorted(b"%d" % i for i in range(100))

        a.send_private(b.private_name, b"just for b", msg_type=9)
        ev = b.receive(timeout=10)
        assert isinstance(ev, DataMessage) and ev.payload == b"just for b"
        assert ev.sender == "#a#d1" and ev.msg_type == 9

        child = subprocess.Popen(
            [sys.executable, "-c",
             "import sys, robot_gcs\n"
             "s = robot_gcs.connect(sys.argv[1], 'victim')\n"
             "s.join('g')\n"
             "print('joined', flush=True)\n"
             "s.receive()\n", address], stdout=subprocess.PIPE, text=True)
        try:
            wait_line(child, "joined", 30)
            assert "#victim#d1" in _view(b, 3).members
            child.send_signal(signal.SIGKILL)
            child.wait(10)
            v = _view(b, 2)
            assert v.cause is Cause.DISCONNECT and v.changed == ("#victim#d1",)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(5)


def test_daemon_stop_reaches_socket_clients_as_a_reason(
        daemon_proc: tuple[str, subprocess.Popen[str]]) -> None:
    address, proc = daemon_proc
    s = robot_gcs.connect(address, "c")
    s.join("g")
    _view(s, 1)
    proc.send_signal(signal.SIGTERM)
    with pytest.raises(SessionClosed, match="daemon stopped"):
        while True:
            s.receive(timeout=10)
    assert proc.wait(10) == 0


def test_client_that_stops_reading_is_cut_off_while_the_daemon_serves_on(
        daemon_proc: tuple[str, subprocess.Popen[str]]) -> None:
    address, _ = daemon_proc
    slow = robot_gcs.connect(address, "slow")
    slow.join("g")
    _view(slow, 1)
    with robot_gcs.connect(address, "pub") as pub:
        pub.join("g")
        _view(pub, 2)
        payload = bytes(1000)
        cut = None
        for _ in range(50_000):             # ~50 MB at most; the bound is 4 MiB per client
            pub.multicast("g", payload, self_discard=True, timeout=5)
            ev = pub.poll()
            if isinstance(ev, GroupView) and ev.changed == ("#slow#d1",):
                cut = ev
                break
        assert cut is not None, "slow client never cut off"
        assert cut.cause is Cause.DISCONNECT and cut.members == ("#pub#d1",)
        pub.multicast("g", b"still served", timeout=5)     # the daemon did not stall
        pub.join("h")
        assert _view(pub, 1).group == "h"
    with pytest.raises(SessionClosed, match="stopped reading"):
        for _ in range(100_000):
            assert slow.receive(timeout=10) is not None
