"""Health sharing on a real in-process ring: publishers stay silent until a console
listens, then every daemon's snapshot reaches it; a stopped daemon turns STALE with the
view's cause; daemon health (health_of) is the same model."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Iterator

import pytest

from robot_gcs import TopicStats
from robot_gcs.config import load_config
from robot_gcs.diagnostics import (ensure_publisher, health_of, register_topic_source,
                                   unregister_topic_source)
from robot_gcs.cli.ring import RobotNotFound, ring_target
from robot_gcs.diagnostics.attach import RingWatcher
from robot_gcs.diagnostics.model import Grade
from robot_gcs.diagnostics.rules import load_rules
from robot_gcs.errors import ConfigError, LocalProtocolError
from robot_gcs.runtime.daemon import Daemon
from robot_gcs.testing import write_ring_config, ring_key_line


def write_config(tmp: Path, n: int, sockets: bool = False) -> Path:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    lines = ["ring:", "  name: diagpub", f"  state_dir: {tmp / 'state'}", ring_key_line(tmp), "  timeouts:",
             "    token_ms: 400", "    consensus_ms: 480", "daemons:"]
    for i, p in enumerate(ports, start=1):
        lines += [f"  - name: cpu{i}", f"    address: 127.0.0.1:{p}"]
        if sockets:
            lines.append(f"    socket: unix:{tmp}/cpu{i}.sock")
    path = tmp / "ring.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[list[Daemon]]:
    cfg = load_config(write_config(tmp_path, 3))
    ds = [Daemon(cfg, f"cpu{i}", serve_clients=False) for i in (1, 2, 3)]
    try:
        for d in ds:
            d.start()
        yield ds
    finally:
        for d in ds:
            d.stop()


def wait_ring(ds: list[Daemon], size: int, timeout: float = 10.0) -> None:
    for d in ds:                 # waits on the installed configuration itself
        assert d.wait_members(size, timeout), f"{d.name}: no ring of {size} within {timeout}s"


def test_console_sees_every_daemon_and_a_stopped_one_goes_stale(daemons: list[Daemon]) -> None:
    wait_ring(daemons, 3)
    pubs = [ensure_publisher(d, period=0.5) for d in daemons]
    assert ensure_publisher(daemons[0]) is pubs[0]          # one publisher per daemon
    mon = RingWatcher.attached(daemons[0].connect("mon"), load_rules())
    try:
        assert mon.wait_complete(10.0), mon.missing()
        cl = mon.cluster()
        assert [v.health.name for v in cl.daemons] == ["cpu1", "cpu2", "cpu3"]

        def settled() -> bool:
            return all(v.health.state == "OPERATIONAL" and not v.stale and
                       v.health.members == ("cpu1", "cpu2", "cpu3") for v in cl.daemons)
        deadline = time.monotonic() + 10.0       # a loaded machine may re-form the ring
        while not settled():
            assert time.monotonic() < deadline, cl.daemons
            mon.pump(0.2)
            cl = mon.cluster()
        assert cl.source == "cpu1"
        assert all(p.listeners for p in pubs)

        daemons[2].stop()
        deadline = time.monotonic() + 10.0
        while True:
            mon.pump(0.2)
            (cpu3,) = [v for v in mon.cluster().daemons if v.health.name == "cpu3"]
            if cpu3.stale:
                break
            assert time.monotonic() < deadline, "cpu3 never went stale"
        assert cpu3.grade is Grade.STALE and cpu3.left
        assert cpu3.left_cause in ("DISCONNECT", "LEAVE", "NETWORK")
    finally:
        mon.close()
        for p in pubs:
            p.close()


def test_publishers_are_silent_without_a_console(daemons: list[Daemon]) -> None:
    wait_ring(daemons, 3)
    pubs = [ensure_publisher(d, period=0.2) for d in daemons]
    try:
        # the publishers' own joins are ring traffic: let them settle first
        deadline = time.monotonic() + 10.0
        while not all(p.collector.publishers() == {"cpu1", "cpu2", "cpu3"} for p in pubs):
            assert time.monotonic() < deadline, [p.collector.publishers() for p in pubs]
            time.sleep(0.05)
        before = [(d.statistics().engine.configs_installed, d.statistics().engine.delivered_msgs)
                  for d in daemons]
        # several publish periods pass (each publisher samples its daemon meanwhile)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            pubs[0].cluster()
            time.sleep(0.1)
        assert [p.published for p in pubs] == [0, 0, 0]
        assert [p.received for p in pubs] == [0, 0, 0]
        assert [p.listeners for p in pubs] == [(), (), ()]
        after = [(d.statistics().engine.configs_installed, d.statistics().engine.delivered_msgs)
                 for d in daemons]
        if [a[0] for a in after] == [b[0] for b in before]:   # no ring change meanwhile
            assert after == before                 # not one message on the ring
    finally:
        for p in pubs:
            p.close()


def test_health_of_a_daemon_is_the_graded_model(daemons: list[Daemon]) -> None:
    wait_ring(daemons, 3)
    alone = health_of(daemons[1])                  # no publisher: this daemon only
    assert [v.health.name for v in alone.daemons] == ["cpu2"]
    v = alone.daemons[0]
    assert v.health.state == "OPERATIONAL" and v.health.members == ("cpu1", "cpu2", "cpu3")
    assert v.health.loop_lag_worst_ms is not None and v.grade is not Grade.STALE
    pub = ensure_publisher(daemons[1])
    try:
        assert [x.health.name for x in health_of(daemons[1]).daemons] == ["cpu2"]
    finally:
        pub.close()

    # topic statistics of the nodes on this daemon join its health
    def source() -> list[TopicStats]:
        return [TopicStats("/odom", "sub", "planner", "pkg:Odometry", "fifo", count=10,
                           dropped=0, type_errors=0, deadline_misses=2, last_age=0.5,
                           rate_hz=49.5, deadline=0.1)]

    def broken() -> list[TopicStats]:
        raise RuntimeError("deque mutated during iteration")
    register_topic_source(daemons[1], broken)
    register_topic_source(daemons[1], source)
    try:
        (tv,) = health_of(daemons[1]).topics
        assert (tv.daemon, tv.topic.topic, tv.topic.rate_hz, tv.topic.deadline_misses) == \
            ("cpu2", "/odom", 49.5, 2)
        assert tv.grade is Grade.ERROR          # 0.5 s old, deadline 0.1 s: > 3 deadlines
    finally:
        unregister_topic_source(daemons[1], source)
        unregister_topic_source(daemons[1], broken)
    assert health_of(daemons[1]).topics == ()


def test_the_ring_is_named_by_config_env_or_the_local_daemons(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One rule for every command (cli/ring.py): --connect, -c/-n, $ROBOT_GCS_CONFIG, then
    the daemons advertised in the runtime directory."""
    from argparse import Namespace
    monkeypatch.setenv("ROBOT_GCS_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.delenv("ROBOT_GCS_CONFIG", raising=False)
    path = write_config(tmp_path, 2, sockets=True)
    t = ring_target(Namespace(connect="unix:/x.sock", config=str(path)))
    assert t.addresses == (("", "unix:/x.sock"),) and t.daemons == ("cpu1", "cpu2")
    assert ring_target(Namespace(config=str(path), name="cpu2")).addresses[0] == \
        ("cpu2", f"unix:{tmp_path}/cpu2.sock")
    assert ring_target(Namespace(config=str(path))).addresses == (
        ("cpu1", f"unix:{tmp_path}/cpu1.sock"), ("cpu2", f"unix:{tmp_path}/cpu2.sock"))
    (tmp_path / "cpu2.sock").write_text("")        # a socket that exists is tried first
    assert ring_target(Namespace(config=str(path))).addresses[0] == ("cpu2", f"unix:{tmp_path}/cpu2.sock")
    (tmp_path / "n").mkdir()
    no_sockets = write_config(tmp_path / "n", 1)
    with pytest.raises(RobotNotFound, match="no daemon of ring .* serves session sockets"):
        ring_target(Namespace(config=str(no_sockets)))
    monkeypatch.setenv("ROBOT_GCS_CONFIG", str(path))
    assert ring_target(Namespace()).how.startswith("$ROBOT_GCS_CONFIG")
    with pytest.raises(ConfigError, match="no daemon named"):
        ring_target(Namespace(name="cpu9"))
    monkeypatch.delenv("ROBOT_GCS_CONFIG")
    with pytest.raises(RobotNotFound, match="no robot found: no daemon runs on this machine"):
        ring_target(Namespace())
    # a running daemon advertises itself; a second ring makes the choice explicit
    with Daemon.from_file(path, name="cpu1") as d:
        t = ring_target(Namespace())
        assert t.addresses == (("cpu1", d.client_address),) and t.daemons == ("cpu1", "cpu2")
        assert t.config == str(path)
        (tmp_path / "o").mkdir()
        other = write_ring_config(tmp_path / "o", 1, name="other", sockets=True)
        with Daemon.from_file(other, name="d1"):
            with pytest.raises(RobotNotFound, match="several rings run on this machine"):
                ring_target(Namespace())
    assert not list((tmp_path / "run").glob("*.json"))      # stopped daemons withdraw
