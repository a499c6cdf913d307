"""Fleet bridge acceptance: two robots (2-daemon rings: one in this process, one in a
child process) and a base station (a Zenoh router with subscribers) on loopback only.
Data and membership flow both ways as declared, a message never loops, killing one
robot's process shows at the base station, and the bridge survives the base station
going away and coming back."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest

zenoh = pytest.importorskip("zenoh")

from robot_gcs.bridge import Bridge, BridgeSpec, InRule, OutRule, ZenohOptions, bridge_node_name
from robot_gcs.bridge.fleet import Membership, ViewMessage, decode_message, encode_payload
from robot_gcs.core.events import GroupView
from robot_gcs.pubsub.codec import codec_for
from robot_gcs.pubsub.node import Node
from robot_gcs.pubsub.qos import QoS
from robot_gcs.testing import free_udp_ports

from .conftest import non_loopback_sockets, wait_for
from .fleet_msgs import Goal, Odom

HERE = Path(__file__).parent


def free_tcp_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BaseStation:
    """A Zenoh router on 127.0.0.1 that records every ``fleet/**`` sample and every
    liveliness change of ``fleet/*/alive``."""

    def __init__(self, port: int) -> None:
        self.endpoint = f"tcp/127.0.0.1:{port}"
        self.lock = threading.Lock()
        self.samples: list[tuple[str, bytes]] = []
        self.alive: list[tuple[str, str]] = []
        c = zenoh.Config()
        c.insert_json5("mode", '"router"')
        c.insert_json5("listen/endpoints", json.dumps([self.endpoint]))
        c.insert_json5("connect/endpoints", "[]")
        c.insert_json5("scouting/multicast/enabled", "false")
        c.insert_json5("scouting/gossip/enabled", "false")
        self.session = zenoh.open(c)
        self._sub = self.session.declare_subscriber("fleet/**", self._on_sample)
        self._live = self.session.liveliness().declare_subscriber(
            "fleet/*/alive", self._on_alive, history=True)

    def _on_sample(self, s: Any) -> None:
        with self.lock:
            self.samples.append((str(s.key_expr), s.payload.to_bytes()))

    def _on_alive(self, s: Any) -> None:
        with self.lock:
            self.alive.append((str(s.key_expr), "PUT" if s.kind == zenoh.SampleKind.PUT else "DELETE"))

    def values(self, key: str, msg_type: Any) -> list[Any]:
        with self.lock:
            data = [d for k, d in self.samples if k == key]
        return [decode_message(d, msg_type)[1] for d in data]

    def keys(self) -> set[str]:
        with self.lock:
            return {k for k, _ in self.samples}

    def forget(self) -> None:
        with self.lock:
            self.samples.clear()

    def close(self) -> None:
        self.session.close()


def test_two_robots_and_a_base_station(make_ring, spinner) -> None:
    port = free_tcp_port()
    base = BaseStation(port)
    work = Path(tempfile.mkdtemp(prefix="fleet-rb-", dir="/tmp"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(HERE), str(HERE.parents[1])] + os.environ.get("PYTHONPATH", "").split(os.pathsep)))
    rb = subprocess.Popen([sys.executable, str(HERE / "fleet_robot.py"), "rb", "ra", base.endpoint,
                           str(work)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                          env=env)
    rb_lines: "queue.Queue[dict]" = queue.Queue()

    def read_rb() -> None:
        assert rb.stdout is not None
        for line in rb.stdout:
            rb_lines.put(json.loads(line))
    threading.Thread(target=read_rb, daemon=True).start()

    ring = make_ring("ra", 2)
    d1, d2 = ring.daemons
    spec = BridgeSpec("fleet", "fleet",
                      out=(OutRule("/odom", Odom), OutRule("/rb/odom", Odom)),
                      inbound=(InRule("fleet/rb/odom", "/rb/odom", Odom, ring_qos=QoS(depth=100)),
                               InRule("fleet/base/goal", "/goal", Goal),
                               InRule("fleet/rb/membership", "/rb/membership", Membership)),
                      options=ZenohOptions("ra", mode="client", connect=(base.endpoint,),
                                           views=("ctl",), period=0.5))
    bnode = Node(bridge_node_name("fleet"), d1, allowed_groups=["ctl"])
    bridge = Bridge(bnode, d1, spec)
    spinner.spin(bnode)
    app = Node("app", d2)
    got: dict[str, list[Any]] = {"rb": [], "goal": [], "members": []}
    app.create_subscription(Odom, "/rb/odom", got["rb"].append, QoS(depth=100))
    app.create_subscription(Goal, "/goal", got["goal"].append, QoS(depth=100))
    app.create_subscription(Membership, "/rb/membership", got["members"].append, QoS(depth=100))
    app.join_group("ctl", lambda ev: None)
    pub = app.create_publisher(Odom, "/odom", 10)
    goal_pub = base.session.declare_publisher("fleet/base/goal")
    goal = Goal("dock", 1.5, -2.0)
    goal_body = codec_for(Goal).encode(goal)
    seq = [0]

    def step(send_goal: bool = True) -> None:
        seq[0] += 1
        pub.publish(Odom("ra", seq[0], 0.5))
        if send_goal:
            goal_pub.put(encode_payload(codec_for(Goal).fingerprint, "base", goal_body))
        app.spin_once(0.02)

    def full(m: Membership, robot: str) -> bool:
        return m.robot == robot and set(m.daemons) == {robot + "1", robot + "2"} and "app" in m.nodes

    try:
        assert rb_lines.get(timeout=60) == {"ready": True}

        def everything_arrived() -> bool:
            step()
            keys = base.keys()
            return ({"fleet/ra/odom", "fleet/rb/odom", "fleet/ra/membership",
                     "fleet/rb/membership", "fleet/ra/view/ctl"} <= keys
                    and bool(got["rb"]) and bool(got["goal"]) and not rb_lines.empty()
                    and any(full(m, "rb") for m in got["members"])
                    and any(full(m, "ra") for m in base.values("fleet/ra/membership", Membership)))
        wait_for(everything_arrived, 60, "data and membership of both robots everywhere")

        # data, both ways, values intact
        assert base.values("fleet/ra/odom", Odom)[0] == Odom("ra", base.values("fleet/ra/odom", Odom)[0].seq, 0.5)
        assert all(o.robot == "rb" for o in base.values("fleet/rb/odom", Odom))
        assert all(o.robot == "rb" and o.x == o.seq / 10 for o in got["rb"])
        from_a = rb_lines.get(timeout=5)
        assert from_a["robot"] == "ra" and from_a["x"] == 0.5
        assert got["goal"][0] == goal
        # membership: who is alive on each robot, at the base and at the other robot
        ma = base.values("fleet/ra/membership", Membership)[-1]
        assert full(ma, "ra") and "bridge.fleet" in ma.nodes
        assert full(got["members"][-1], "rb")
        view = base.values("fleet/ra/view/ctl", ViewMessage)[-1]
        assert view.members == (app.private_name,)          # the bridge's node left out
        # no loops: /rb/odom came in through the bridge, so it never goes out again
        assert not any(k.startswith("fleet/ra/rb/") or k.startswith("fleet/rb/ra/")
                       for k in base.keys())
        stats = {(s.direction, s.topic): s for s in bridge.statistics()}
        assert stats[("out", "/rb/odom")].forwarded == 0
        assert stats[("out", "/rb/odom")].loops >= 1
        assert stats[("out", "/odom")].forwarded >= 1 and stats[("out", "/odom")].loops == 0
        assert non_loopback_sockets([os.getpid(), rb.pid]) == []

        # killing robot B's process shows at the base station
        with base.lock:
            assert ("fleet/rb/alive", "PUT") in base.alive
        rb.send_signal(signal.SIGKILL)
        rb.wait(10)
        wait_for(lambda: ("fleet/rb/alive", "DELETE") in list(base.alive), 30,
                 "the base station to see robot B's bridge go")
        with base.lock:
            assert ("fleet/ra/alive", "DELETE") not in base.alive

        # the base station goes away and comes back: robot A's bridge carries on
        base.close()
        for _ in range(5):
            step(False)                  # published while nobody listens: lost, not queued
        base = BaseStation(port)

        def back() -> bool:
            step(False)
            return {"fleet/ra/odom", "fleet/ra/membership"} <= base.keys()
        wait_for(back, 60, "robot A's data and membership at the restarted base station")
        with base.lock:
            assert ("fleet/ra/alive", "PUT") in base.alive
    finally:
        if rb.poll() is None:
            rb.kill()
            rb.wait(10)
        shutil.rmtree(work, ignore_errors=True)
        spinner.stop()
        bridge.close()
        bnode.destroy()
        app.destroy()
        base.close()


def test_a_client_bridge_started_before_its_router_connects_when_it_comes(make_ring, spinner) -> None:
    """The base station's router is not there when the robot starts: the bridge keeps
    trying (sends meanwhile are counted as errors, nothing raises) and its data reaches
    the router once it is up."""
    port = free_tcp_port()
    ring = make_ring("rc", 1)
    (d1,) = ring.daemons
    spec = BridgeSpec("fleet", "fleet", out=(OutRule("/odom", Odom),),
                      options=ZenohOptions("rc", mode="client",
                                           connect=(f"tcp/127.0.0.1:{port}",)))
    bnode = Node(bridge_node_name("fleet"), d1)
    bridge = Bridge(bnode, d1, spec)          # no router: does not raise
    spinner.spin(bnode)
    app = Node("app", d1)
    pub = app.create_publisher(Odom, "/odom", 10)
    base = None
    try:
        def counted_unsent() -> bool:
            pub.publish(Odom("rc", 0, 0.0))
            app.spin_once(0.02)
            return bridge.statistics()[0].errors > 0
        wait_for(counted_unsent, 30, "a send without a router to be counted")
        assert "not connected" in bridge.statistics()[0].last_error
        base = BaseStation(port)

        def arrived() -> bool:
            pub.publish(Odom("rc", 1, 1.0))
            app.spin_once(0.02)
            return bool(base.values("fleet/rc/odom", Odom))
        wait_for(arrived, 60, "the bridge to find the router")
        assert base.values("fleet/rc/odom", Odom)[0] == Odom("rc", 1, 1.0)
    finally:
        spinner.stop()
        bridge.close()
        bnode.destroy()
        app.destroy()
        if base is not None:
            base.close()
