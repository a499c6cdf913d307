"""Embedded daemons (real engines) in one process: transports, authentication, ring isolation.

Each test builds its own ring from a temp config with free ports; waiting is on the
events (views, messages) with timeouts.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from rt_fakes import free_udp_ports, write_config

from robot_gcs import DataMessage, GroupView, Service
from robot_gcs.config import load_config
from robot_gcs.runtime.daemon import Daemon
from robot_gcs.testing import ring_key_line

ROOT = Path(__file__).resolve().parents[2]
WAIT = 20.0


@pytest.fixture
def started() -> Iterator[list[Daemon]]:
    ds: list[Daemon] = []
    yield ds
    for d in ds:
        d.stop()


def _views_until(s, n: int, group: str = "g"):
    while True:
        ev = s.receive(timeout=WAIT)
        assert ev is not None, f"{s.private_name}: no view with {n} members"
        if isinstance(ev, GroupView) and ev.group == group and not ev.transitional \
                and len(ev.members) == n:
            return ev


def _ring(cfg, started: list[Daemon], names: list[str]):
    sessions = []
    for name in names:
        d = Daemon(cfg, name, health=False)
        d.start()
        started.append(d)
        s = d.connect("c")
        s.join("g")
        sessions.append(s)
    for s in sessions:
        _views_until(s, len(names))
    return sessions


def _exchange(sessions, per: int = 30, service: Service = Service.AGREED) -> None:
    for i, s in enumerate(sessions):
        for k in range(per):
            s.multicast("g", b"%d-%d" % (i, k), service, timeout=10)
    orders = []
    for s in sessions:
        got = []
        while len(got) < per * len(sessions):
            ev = s.receive(timeout=WAIT)
            assert ev is not None, f"{s.private_name} got {len(got)}"
            if isinstance(ev, DataMessage):
                got.append((ev.sender, ev.payload))
        orders.append(got)
    assert all(o == orders[0] for o in orders)


def test_multicast_transport_forms_a_ring(tmp_path: Path, started) -> None:
    port = free_udp_ports(1)[0]
    group = f"239.192.{random.randrange(1, 250)}.{random.randrange(1, 250)}"
    _, cfg = write_config(tmp_path, 3, extra_ring=(
        f"  transport:\n    mode: multicast\n    group: {group}\n    port: {port}\n"
        f"    interface: 127.0.0.1"))
    assert cfg.ring.transport.mode == "multicast"
    sessions = _ring(cfg, started, ["d1", "d2", "d3"])
    _exchange(sessions, service=Service.SAFE)
    assert started[0].transport.mcast_sock is not None


def test_authenticated_ring_drops_packets_with_a_wrong_key(tmp_path: Path, started) -> None:
    (tmp_path / "good.key").write_bytes(b"k" * 32)
    (tmp_path / "bad.key").write_bytes(b"x" * 32)
    for k in ("good.key", "bad.key"):
        (tmp_path / k).chmod(0o600)
    path, cfg = write_config(tmp_path, 3, extra_ring="  key_file: good.key")
    sessions = _ring(cfg, started, ["d1", "d2"])
    # d3 has the same ring name and daemon list but the wrong key: it must stay alone
    bad_cfg_path = tmp_path / "bad.yaml"
    bad_cfg_path.write_text(path.read_text().replace("good.key", "bad.key"))
    bad_cfg = load_config(bad_cfg_path)
    assert bad_cfg.cluster_id == cfg.cluster_id
    intruder = Daemon(bad_cfg, "d3", health=False, state_dir=str(tmp_path / "bad"))
    intruder.start()
    started.append(intruder)
    s3 = intruder.connect("c")
    s3.join("g")
    _views_until(s3, 1)
    _exchange(sessions)          # the good ring keeps working, unaffected
    drops = dict(started[0].statistics().dropped_packets)
    assert drops.get("seal_unknown_key", 0) + drops.get("seal_bad_tag", 0) > 0, drops
    assert [m.members for m in started[0].membership_history()][-1] == ("d1", "d2")


def test_rings_with_different_names_ignore_each_other(tmp_path: Path, started) -> None:
    _, cfg_a = write_config(tmp_path, 2, name="rover1")
    sessions = _ring(cfg_a, started, ["d1", "d2"])
    # ring B lists d1's address as one of its peers, so its JOINs and beacons hit d1
    pb = free_udp_ports(1)[0]
    d1 = cfg_a.daemon("d1")
    b_path = tmp_path / "b.yaml"
    b_path.write_text(f"ring:\n  name: rover2\n{ring_key_line(tmp_path)}\ndaemons:\n  - name: x1\n    address: 127.0.0.1:{pb}\n"
                      f"  - name: x2\n    address: {d1.host}:{d1.port}\n")
    cfg_b = load_config(b_path)
    assert cfg_b.cluster_id != cfg_a.cluster_id
    x1 = Daemon(cfg_b, "x1", health=False, state_dir=str(tmp_path / "b"))
    x1.start()
    started.append(x1)
    sx = x1.connect("c")
    sx.join("g")
    _views_until(sx, 1)
    _exchange(sessions)
    st = started[0].statistics()
    # same key file, but the cluster id is part of every sealing key: nothing opens
    assert sum(n for r, n in st.dropped_packets if r.startswith("seal_")) > 0
    assert st.membership[-1].members == ("d1", "d2")
    assert len(st.membership) == len(started[1].statistics().membership)


def test_daemon_command_runs_in_the_foreground_and_stops_on_sigterm(tmp_path: Path) -> None:
    path, cfg = write_config(tmp_path, 1)
    p = subprocess.Popen([sys.executable, "-m", "robot_gcs.cli", "daemon", "-c", str(path),
                          "-n", "d1"], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        first = [p.stdout.readline(), p.stdout.readline()]   # ready + the singleton ring
        ready = [ln for ln in first if "ready on" in ln]
        ring = [ln for ln in first if "members d1" in ln]
        assert ready and "daemon d1" in ready[0] and "127.0.0.1:" in ready[0], first
        assert ring and "ring 1." in ring[0] and "cause join" in ring[0], first
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
        assert p.returncode == 0, err
        assert "stopping" in out
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_daemon_command_reports_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("ring:\n  name: x\n  bogus: 1\ndaemons:\n  - name: a\n    address: 127.0.0.1:1\n")
    r = subprocess.run([sys.executable, "-m", "robot_gcs.cli", "daemon", "-c", str(bad), "-n", "a"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert f"{bad}:3: ring.bogus: unknown key" in r.stderr


def test_interface_names_resolve_with_netifaces() -> None:
    from robot_gcs.errors import ConfigError
    from robot_gcs.runtime.transport import resolve_interface
    pytest.importorskip("netifaces")
    assert resolve_interface("lo") == "127.0.0.1"
    assert resolve_interface("10.1.2.3") == "10.1.2.3"
    assert resolve_interface(None) is None
    with pytest.raises(ConfigError, match="no network interface named 'nosuch0'"):
        resolve_interface("nosuch0")


def test_stop_flushes_queued_messages_then_disconnects(tmp_path: Path, started) -> None:
    _, cfg = write_config(tmp_path, 2)
    a, b = _ring(cfg, started, ["d1", "d2"])
    for i in range(50):
        a.multicast("g", b"last-%d" % i, timeout=10)
    started[0].stop()                      # right away: nothing waits for delivery first
    got = []
    while True:
        ev = b.receive(timeout=WAIT)
        assert ev is not None, f"got {len(got)} messages and no DISCONNECT view"
        if isinstance(ev, DataMessage):
            got.append(ev.payload)
        elif isinstance(ev, GroupView) and not ev.transitional and "#c#d1" not in ev.members:
            assert ev.cause.value == "disconnect", ev
            break
    assert got == [b"last-%d" % i for i in range(50)]


def test_daemon_serves_unix_and_tcp_sessions_at_once(tmp_path: Path, started) -> None:
    import robot_gcs
    _, cfg = write_config(tmp_path, 1)
    d = Daemon(cfg, "d1", health=False, client_address=f"unix:{tmp_path / 'd1.sock'}",
               tcp_address="tcp:127.0.0.1:0")
    d.start()
    started.append(d)
    assert len(d.ipc_servers) == 2
    addresses = [s.bound_address for s in d.ipc_servers]
    assert addresses[0].startswith("unix:") and addresses[1].startswith("tcp:127.0.0.1:")
    with robot_gcs.connect(addresses[0], "u") as u, \
            robot_gcs.connect(addresses[1], "t", token=cfg.ring.client_token) as t:
        u.join("g")
        t.join("g")
        _views_until(u, 2)
        _views_until(t, 2)
        t.multicast("g", b"over tcp")
        for s in (u, t):
            while True:
                ev = s.receive(timeout=WAIT)
                assert ev is not None
                if isinstance(ev, DataMessage):
                    assert ev.payload == b"over tcp" and ev.sender == "#t#d1"
                    break


def test_wait_members_blocks_until_the_ring_is_whole(tmp_path: Path, started) -> None:
    _, cfg = write_config(tmp_path, 3)
    for name in ("d1", "d2"):
        started.append(Daemon(cfg, name, health=False).start())
    assert started[0].wait_members(2, timeout=WAIT)
    assert not started[0].wait_members(3, timeout=0.2)
    started.append(Daemon(cfg, "d3", health=False).start())
    for d in started:
        assert d.wait_members(("d1", "d2", "d3"), timeout=WAIT)
