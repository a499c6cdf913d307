"""Topics through real embedded daemons (two in this process, loopback UDP):
same-process subscribers get the publisher's object, remote ones a decoded copy; a
latched value reaches a late joiner on the other daemon; keep-last never stalls."""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from robot_gcs.core.events import GroupView
from robot_gcs.pubsub.node import Node
from robot_gcs.pubsub.qos import QoS
from robot_gcs.testing import free_udp_ports as free_ports, ring_key_line


@dataclass(frozen=True, slots=True)
class Pose:
    x: float
    y: float


@pytest.fixture()
def ring():
    from robot_gcs.runtime.daemon import Daemon
    tmp = Path(tempfile.mkdtemp(prefix="egr", dir="/tmp"))
    p1, p2 = free_ports(2)
    cfg = tmp / "ring.yaml"
    cfg.write_text(f"ring:\n  name: pubsub-real\n  state_dir: {tmp / 'state'}\n{ring_key_line(tmp)}\n  transport: {{mode: unicast}}\n"
                   f"daemons:\n  - {{name: cpu1, address: '127.0.0.1:{p1}'}}\n"
                   f"  - {{name: cpu2, address: '127.0.0.1:{p2}'}}\n")
    ds = [Daemon.from_file(str(cfg), name=n) for n in ("cpu1", "cpu2")]
    for d in ds:
        d.start()
    try:
        yield ds
    finally:
        for d in ds:
            d.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def spin_until(nodes: list[Node], cond, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        for n in nodes:
            n.spin_once(0.01)


def join_all(nodes: list[Node], group: str) -> None:
    """Every node joins ``group``; return once each has seen a view with all of them."""
    want = {n.private_name for n in nodes}
    seen: dict[str, bool] = {n.private_name: False for n in nodes}

    def handler(name: str):
        def on(ev: object) -> None:
            if isinstance(ev, GroupView) and set(ev.members) >= want:
                seen[name] = True
        return on
    for n in nodes:
        n.join_group(group, handler(n.private_name))
    spin_until(nodes, lambda: all(seen.values()))


def test_local_object_remote_copy_latched_late_joiner_and_keep_last(ring) -> None:
    d1, d2 = ring
    pubn = Node("pub", d1)
    local = Node("local", d1)
    remote = Node("remote", d2)
    join_all([pubn, local, remote], "barrier")      # both daemons are in one ring

    got_local: list[object] = []
    got_remote: list[object] = []
    local.create_subscription("/pose", got_local.append, QoS(depth=100), Pose)
    remote.create_subscription("/pose", got_remote.append, QoS(depth=100), Pose)
    pub = pubn.create_publisher("/pose", Pose, QoS(service="agreed", latched=True))
    # both subscriptions are in the topic group once the publisher sees them
    members: list[tuple[str, ...]] = []
    pubn.join_group("t:/pose", lambda ev: members.append(ev.members) if isinstance(ev, GroupView) else None)
    spin_until([pubn, local, remote], lambda: any({"#local#cpu1", "#remote#cpu2"} <= set(m) for m in members))

    msgs = [Pose(float(i), 0.5) for i in range(5)]
    for m in msgs:
        pub.publish(m)
    spin_until([pubn, local, remote], lambda: len(got_local) == 5 and len(got_remote) == 5)
    assert all(a is b for a, b in zip(got_local, msgs))          # same process: the very object
    assert got_remote == msgs and all(a is not b for a, b in zip(got_remote, msgs))

    # a late joiner on the other daemon gets the last value, once
    late = Node("late", d2)
    got_late: list[Pose] = []
    late.create_subscription("/pose", got_late.append, QoS(latched=True), Pose)
    spin_until([pubn, local, remote, late], lambda: len(got_late) >= 1)
    for _ in range(20):
        for n in (pubn, local, remote, late):
            n.spin_once(0.01)
    assert got_late == [msgs[-1]]
    assert len(got_remote) == 5 and len(got_local) == 5            # hand-over was a duplicate for them

    # keep-last: a subscriber that does not spin while 200 samples arrive sees the newest only
    slow_got: list[Pose] = []
    slow = remote.create_subscription("/fast", slow_got.append, QoS(depth=1), Pose)
    fast = pubn.create_publisher("/fast", Pose, QoS.sensor())
    spin_until([pubn, remote], lambda: "#remote#cpu2" in pubn.graph() and any(
        s.topic == "/fast" for s in pubn.graph()["#remote#cpu2"].subs))
    for i in range(200):
        fast.publish(Pose(float(i), 0.0))
    deadline = time.monotonic() + 10
    while slow.dropped + slow.count < 200 and time.monotonic() < deadline:
        remote.spin_once(0.05)
    assert slow_got[-1] == Pose(199.0, 0.0)
    assert slow.dropped + slow.count == 200 and slow.dropped > 0
    for n in (pubn, local, remote, late):
        n.destroy()
