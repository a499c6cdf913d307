"""Bridges in launch files: ``bridges:`` of a processor loads into bridge components with
their rules, and every mistake names file, line and field; a processor's main program
runs a declared fleet bridge like any component."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("zenoh")
pytest.importorskip("cyclonedds")

from robot_gcs.bridge import BridgeSpec, DdsOptions, ZenohOptions
from robot_gcs.bridge.fleet import decode_message
from robot_gcs.errors import ConfigError
from robot_gcs.launch.loader import load_launch
from robot_gcs.launch.model import Restart
from robot_gcs.launch.runtime import ProcessorRuntime

from .conftest import wait_for
from .fleet_msgs import Odom

HERE = Path(__file__).resolve().parent

GOOD = """\
robot: rover1
config: ring.yaml
pythonpath: [{here}]
topics:
  /odom: {{type: "robot_gcs.bridge.ros_types:nav_msgs.Odometry", service: fifo, depth: 1}}
  /cmd_vel: {{type: "robot_gcs.bridge.ros_types:geometry_msgs.Twist", depth: 5}}
  /fodom: {{type: fleet_msgs:Odom}}
  /goal: {{type: fleet_msgs:Goal}}
  /raw:
groups: [ctl]
processors:
  cpu1:
    components:
      - name: talker
        class: bridge_fixtures:OdomTalker
    bridges:
      - name: ros
        kind: ros2
        domain: 7
        out:
          - {{topic: /odom, ros: odom, rate: 20, reliability: best_effort, depth: 5}}
        in:
          - {{ros: cmd_vel, durability: transient_local}}
      - name: fleet
        kind: fleet
        mode: client
        connect: [{endpoint}]
        views: [ctl]
        period: 0.5
        out:
          - {{topic: /fodom, rate: 100}}
        in:
          - {{key: fleet/base/goal, topic: /goal}}
        restart: never
"""

RING = """\
ring:
  name: {name}
  state_dir: {state}
{key}
  transport: {{mode: unicast}}
daemons:
  - {{name: cpu1, address: "127.0.0.1:{port}"}}
"""


def write(tmp: Path, text: str, endpoint: str = "tcp/127.0.0.1:7447") -> Path:
    from robot_gcs.testing import free_udp_ports, ring_key_line
    (tmp / "ring.yaml").write_text(RING.format(name=f"bl{tmp.name[-6:]}", state=tmp / "state",
                                               key=ring_key_line(tmp), port=free_udp_ports(1)[0]))
    p = tmp / "robot.yaml"
    p.write_text(text.format(here=str(HERE), endpoint=endpoint))
    return p


def test_bridges_load_as_components(tmp_path: Path) -> None:
    lf = load_launch(str(write(tmp_path, GOOD)))
    comps = {c.name: c for c in lf.processor("cpu1").components}
    assert set(comps) == {"talker", "bridge.ros", "bridge.fleet"}
    ros: BridgeSpec = comps["bridge.ros"].cls.spec
    assert ros.kind == "ros2" and ros.options == DdsOptions(7, None)
    (o,), (i,) = ros.out, ros.inbound
    assert (o.topic, o.remote, o.rate, o.qos.reliable, o.qos.depth) == ("/odom", "odom", 20, False, 5)
    assert o.msg_type.__ros_type__ == "nav_msgs/msg/Odometry" and o.line == 21
    assert (i.remote, i.topic, i.qos.transient_local, i.ring_qos.depth) == ("cmd_vel", "/cmd_vel", True, 5)
    fleet = comps["bridge.fleet"]
    assert fleet.restart is Restart.NEVER and fleet.line == 24
    opts = fleet.cls.spec.options
    assert isinstance(opts, ZenohOptions)
    assert (opts.robot, opts.mode, opts.views, opts.period) == ("rover1", "client", ("ctl",), 0.5)


@pytest.mark.parametrize("old,new,line,field,words", [
    ("kind: ros2", "kind: ros3", 18, "processors.cpu1.bridges[0].kind", "one of ros2, fleet"),
    ("domain: 7", "domian: 7", 19, "processors.cpu1.bridges[0].domian", "did you mean 'domain'"),
    ("domain: 7", "domain: 999", 19, "processors.cpu1.bridges[0].domain", "0..232"),
    ("ros: odom, rate: 20", "ros: odom, rate: 0", 21, "processors.cpu1.bridges[0].out[0].rate", "Hz > 0"),
    ("reliability: best_effort", "reliability: maybe", 21,
     "processors.cpu1.bridges[0].out[0].reliability", "reliable, best_effort"),
    ("{topic: /odom, ros: odom", "{topic: /odm, ros: odom", 21,
     "processors.cpu1.bridges[0].out[0].topic", "did you mean '/odom'"),
    ("{topic: /odom, ros: odom", "{topic: /raw, ros: odom", 21,
     "processors.cpu1.bridges[0].out[0].topic", "typed topics only"),
    ("{ros: cmd_vel, durability", "{ros: cmd_vel, rat: 1, durability", 23,
     "processors.cpu1.bridges[0].in[0].rat", "unknown key"),
    ("views: [ctl]", "views: [ctrl]", 28, "processors.cpu1.bridges[1].views[0]", "not declared under 'groups'"),
    ("{key: fleet/base/goal, topic: /goal}", "{topic: /goal}", 33,
     "processors.cpu1.bridges[1].in[0].key", "missing"),
    ("- name: fleet", "- name: ros", 24, "processors.cpu1.bridges[1].name", "duplicate"),
    ("- name: fleet", "- name: talker", 24, "processors.cpu1.bridges[1].name", "duplicate"),
    ("mode: client", "mode: router", 26, "processors.cpu1.bridges[1].mode", "peer, client"),
    ("{topic: /fodom, rate: 100}", "{topic: /fodom, key: 'fleet/*/x'}", 31,
     "processors.cpu1.bridges[1].out[0].key", "cannot be part of a Zenoh key"),
    ("restart: never", "restart: sometimes", 34, "processors.cpu1.bridges[1].restart", "on-failure"),
])
def test_bridge_mistakes_name_file_line_and_field(tmp_path: Path, old: str, new: str, line: int,
                                                  field: str, words: str) -> None:
    text = GOOD
    assert old in text
    p = write(tmp_path, text.replace(old, new, 1))
    with pytest.raises(ConfigError) as ei:
        load_launch(str(p))
    e = ei.value
    assert (e.path, e.line, e.field) == (str(p), line, field), str(e)
    assert words in str(e)


def test_a_processor_runs_its_fleet_bridge(tmp_path: Path) -> None:
    import zenoh
    from .test_fleet_bridge import BaseStation, free_tcp_port
    base = BaseStation(free_tcp_port())
    text = GOOD.split("      - name: ros\n")[0] + "      - name: fleet" + GOOD.split("      - name: fleet")[1]
    lf = load_launch(str(write(tmp_path, text, base.endpoint)))
    rt = ProcessorRuntime(lf, "cpu1")
    rt.start()
    try:
        got = wait_for(lambda: base.values("fleet/rover1/fodom", Odom), 60,
                       "the talker's /fodom at the base station")
        assert got[0].robot == "rover1"
        assert {st.name: st.state for st in rt.status()} == {"talker": "running",
                                                            "bridge.fleet": "running"}
        # the bridge's counters are in the daemon's health snapshot and the console
        from robot_gcs.diagnostics.console import render_text
        from robot_gcs.diagnostics.model import daemon_health_from_jsonable, to_jsonable
        from robot_gcs.diagnostics.publisher import health_of
        cluster = health_of(rt.daemon)
        rows = {(b.direction, b.topic): b for b in cluster.daemons[0].health.bridges}
        out = rows[("out", "/fodom")]
        assert (out.bridge, out.kind, out.remote) == ("fleet", "fleet", "fleet/rover1/fodom")
        assert out.forwarded >= 1 and out.bytes > 0 and out.age_s is not None
        assert rows[("in", "/goal")].forwarded == 0
        h = cluster.daemons[0].health
        assert daemon_health_from_jsonable(to_jsonable(h)).bridges == h.bridges
        text = render_text(cluster, width=160, height=60, detail=True)
        assert "bridges (ROS 2, fleet)" in text and "fleet/rover1/fodom" in text
    finally:
        rt.stop()
        base.close()
