"""Components of the robot demo (launch/robot_demo.yaml), written against the public API.

* Perception (cpu3): simulates the base, integrating the latest velocity command, and
  publishes Odometry at 50 Hz (FIFO, keep-last 1).
* Planner (cpu2): publishes a Plan (AGREED, latched) with the next waypoint when the
  robot reaches the current one.
* Controller (cpu1 active, cpu2 hot standby): a 100 Hz loop steering to the goal; only
  the member elected by ``node.create_election`` (``gcs.ActiveStandby``) from the agreed
  views of the ``ctl`` group publishes Commands. A standby that becomes active continues
  after the highest step it or any other member saw (the election's ``extras`` carry each
  member's last step). The registry announces who leads, so the console shows it.
* Safety (cpu3): publishes an EStop (SAFE, latched) after ``estop_after_s`` seconds,
  when odometry misses its deadline ``estop_on_silence`` times, or when the file
  ``estop_file`` appears (a simulated e-stop button).

Every component watches /cmd and /estop in delivery order: commands ordered after the
e-stop are ignored by everyone, and each records the step of the last command it saw
before the e-stop -- the same number on every component.

What a component says goes to its processor's output and to its node's logger (the
ring topic ``/rosout``, which the console shows). With ``record_dir`` set, each
component appends JSON lines to ``<record_dir>/<component>@<processor>.jsonl`` (flushed
per line; tests read them).
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from typing import Any, Mapping

import robot_gcs as gcs

from .messages import Command, EStop, Odometry, Plan

COMMON = {"record_dir": None, "verbose": True}
COMMON_TYPES = {"record_dir": str}
_PRINT_LOCK = threading.Lock()


def _pctl(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


class DemoComponent(gcs.Component):
    """Shared: recording, /cmd + /estop bookkeeping in delivery order."""

    param_types = COMMON_TYPES

    def __init__(self, node: gcs.Node, params: Mapping[str, Any]) -> None:
        super().__init__(node, params)
        self.last_step = 0              # highest command step delivered before any e-stop
        self.cmds_seen = 0
        self.cmds_ignored = 0
        self.estopped = False
        self.latest_cmd: Command | None = None
        self._rec = None
        rd = self.config.get("record_dir")
        if rd:
            os.makedirs(rd, exist_ok=True)
            proc = node.private_name.rsplit("#", 1)[-1]
            self._rec = open(os.path.join(rd, f"{node.name}@{proc}.jsonl"), "a", buffering=1)
        self.record("start")
        node.create_subscription(Command, "/cmd", self._on_cmd)
        node.create_subscription(EStop, "/estop", self._on_estop)

    def record(self, ev: str, **fields: Any) -> None:
        if self._rec is not None:
            self._rec.write(json.dumps({"ev": ev, "t": time.time(), "me": self.node.private_name,
                                        **fields}) + "\n")

    def say(self, text: str) -> None:
        if self.config.get("verbose", True):
            with _PRINT_LOCK:          # components print from their own threads: whole lines only
                sys.stdout.write(f"{self.node.name}: {text}\n")
                sys.stdout.flush()
        self.node.get_logger().info(text)

    def _on_cmd(self, cmd: Command) -> None:
        if self.estopped:
            self.cmds_ignored += 1
            return
        self.cmds_seen += 1
        self.last_step = max(self.last_step, cmd.step)
        self.latest_cmd = cmd
        self.record("cmd_rx", step=cmd.step, by=cmd.controller)

    def _on_estop(self, e: EStop) -> None:
        if self.estopped:
            return
        self.estopped = True
        self.latest_cmd = None
        self.record("estop", after_step=self.last_step, cmds_seen=self.cmds_seen, reason=e.reason)
        self.say(f"E-STOP ({e.reason} from {e.source}) after command step {self.last_step}")
        self.on_estop()

    def on_estop(self) -> None:
        """Subclasses stop acting here."""

    def close(self) -> None:
        self.record("stop")
        if self._rec is not None:
            self._rec.close()


class Perception(DemoComponent):
    publishes = ("/odom",)
    subscribes = ("/cmd", "/estop")
    params = {**COMMON, "rate_hz": 50.0}

    def __init__(self, node: gcs.Node, params: Mapping[str, Any]) -> None:
        super().__init__(node, params)
        self.pub = node.create_publisher(Odometry, "/odom")
        self.x = self.y = self.theta = 0.0
        self.seq = 0
        self.dt = 1.0 / float(self.config["rate_hz"])
        node.create_timer(self.dt, self.tick)

    def tick(self) -> None:
        c = self.latest_cmd
        v, w = (c.v, c.w) if c is not None and not self.estopped else (0.0, 0.0)
        self.theta += w * self.dt
        self.x += v * math.cos(self.theta) * self.dt
        self.y += v * math.sin(self.theta) * self.dt
        self.seq += 1
        self.pub.publish(Odometry(self.seq, time.time(), self.x, self.y, self.theta, v, w))


class Planner(DemoComponent):
    publishes = ("/plan",)
    subscribes = ("/odom", "/cmd", "/estop")
    params = {**COMMON, "waypoints": [[2.0, 0.0], [2.0, 2.0], [0.0, 2.0], [0.0, 0.0]], "reach": 0.3}

    def __init__(self, node: gcs.Node, params: Mapping[str, Any]) -> None:
        super().__init__(node, params)
        self.pub = node.create_publisher(Plan, "/plan")
        self.wps = [tuple(map(float, w)) for w in self.config["waypoints"]]
        self.idx = 0
        self.seq = 0
        node.create_subscription(Odometry, "/odom", self.on_odom)
        self.publish_goal()

    def publish_goal(self) -> None:
        gx, gy = self.wps[self.idx % len(self.wps)]
        self.seq += 1
        self.pub.publish(Plan(self.seq, gx, gy, f"waypoint {self.idx % len(self.wps)}"))

    def on_odom(self, o: Odometry) -> None:
        if self.estopped:
            return
        gx, gy = self.wps[self.idx % len(self.wps)]
        if math.hypot(gx - o.x, gy - o.y) < float(self.config["reach"]):
            self.idx += 1
            self.publish_goal()
            self.say(f"reached waypoint, next {self.wps[self.idx % len(self.wps)]}")


class Controller(DemoComponent):
    publishes = ("/cmd",)
    subscribes = ("/odom", "/plan", "/cmd", "/estop")
    params = {**COMMON, "rate_hz": 100.0, "group": "ctl", "candidates": [], "gain": 1.5,
              "max_v": 0.5, "report_s": 2.0}

    def __init__(self, node: gcs.Node, params: Mapping[str, Any]) -> None:
        super().__init__(node, params)
        self.pub = node.create_publisher(Command, "/cmd")
        self.group = str(self.config["group"])
        self.election = node.create_election(self.group, list(self.config["candidates"]),
                                             extra=lambda: {"last_step": self.last_step},
                                             on_change=self.on_election)
        self.active = False
        self.step = 0
        self.odom: Odometry | None = None
        self.goal: Plan | None = None
        self.latencies: list[float] = []
        self.all_latencies: list[float] = []
        node.create_subscription(Odometry, "/odom", self.on_odom, gcs.QoS.sensor(depth=1))
        node.create_subscription(Plan, "/plan", self.on_plan)
        node.create_timer(1.0 / float(self.config["rate_hz"]), self.tick)
        node.create_timer(float(self.config["report_s"]), self.report)

    def on_odom(self, o: Odometry) -> None:
        lat = time.time() - o.stamp
        self.latencies.append(lat)
        self.odom = o

    def on_plan(self, p: Plan) -> None:
        self.goal = p

    def on_election(self, active: str | None) -> None:
        """The active member of the ``ctl`` group changed (agreed order: every member
        sees the same changes at the same place)."""
        if self.election.is_active and not self.active:
            self.active = True
            known = [int(e.get("last_step", 0)) for e in self.election.extras.values()]
            self.step = max([self.step, self.last_step] + known)   # what the others saw, too
            self.record("active", from_step=self.step)
            self.say(f"ACTIVE (continuing after step {self.step})")
        elif not self.election.is_active and self.active:
            self.active = False
            self.record("standby", at_step=self.step)
            self.say("standby")

    def tick(self) -> None:
        if not self.active or self.estopped or self.odom is None:
            return
        o = self.odom
        v = w = 0.0
        if self.goal is not None:
            dx, dy = self.goal.goal_x - o.x, self.goal.goal_y - o.y
            dist = math.hypot(dx, dy)
            err = math.atan2(dy, dx) - o.theta
            err = math.atan2(math.sin(err), math.cos(err))
            w = max(-2.0, min(2.0, float(self.config["gain"]) * 2.0 * err))
            v = min(float(self.config["max_v"]), float(self.config["gain"]) * dist) * max(0.0, math.cos(err))
        self.step = max(self.step, self.last_step) + 1
        self.pub.publish(Command(self.step, time.time(), v, w, o.seq, self.node.private_name))
        self.record("cmd_tx", step=self.step)

    def report(self) -> None:
        lat, self.latencies = self.latencies, []
        self.all_latencies.extend(lat)
        del self.all_latencies[:-20000]
        if lat:
            p50, p99 = _pctl(lat, 0.5) * 1e3, _pctl(lat, 0.99) * 1e3
            self.record("latency", p50_ms=p50, p99_ms=p99, n=len(lat))
            role = "ACTIVE" if self.active else "standby"
            self.say(f"{role} step {self.step}; odom latency p50 {p50:.2f} ms p99 {p99:.2f} ms "
                     f"({len(lat)} samples)")

    def on_estop(self) -> None:
        self.record("estop_stop", step=self.step, active=self.active)

    def close(self) -> None:
        lat = self.all_latencies + self.latencies
        if lat:
            self.record("latency_summary", n=len(lat), p50_ms=_pctl(lat, 0.5) * 1e3,
                        p90_ms=_pctl(lat, 0.9) * 1e3, p99_ms=_pctl(lat, 0.99) * 1e3,
                        max_ms=max(lat) * 1e3)
        super().close()


class Safety(DemoComponent):
    publishes = ("/estop",)
    subscribes = ("/odom", "/cmd", "/estop")
    params = {**COMMON, "estop_after_s": None, "estop_on_silence": 0, "estop_file": None}
    param_types = {**COMMON_TYPES, "estop_after_s": float, "estop_file": str}

    def __init__(self, node: gcs.Node, params: Mapping[str, Any]) -> None:
        super().__init__(node, params)
        self.pub = node.create_publisher(EStop, "/estop")
        self.sent = False
        self.misses = 0
        node.create_subscription(Odometry, "/odom", lambda o: None, on_deadline=self.on_silence)
        after = self.config.get("estop_after_s")
        if after is not None:
            self.timer = node.create_timer(float(after), self.timeout)
        if self.config.get("estop_file"):
            node.create_timer(0.05, self.check_button)

    def check_button(self) -> None:
        """The simulated e-stop button: pressed when ``estop_file`` exists."""
        if not self.sent and os.path.exists(str(self.config["estop_file"])):
            self.trigger("e-stop button")

    def trigger(self, reason: str) -> None:
        if not self.sent:
            self.sent = True
            self.record("estop_tx", reason=reason)
            self.pub.publish(EStop(time.time(), reason, self.node.private_name))

    def timeout(self) -> None:
        self.timer.cancel()
        self.trigger("scheduled stop")

    def on_silence(self, topic: str, silent_for: float) -> None:
        self.misses += 1
        limit = int(self.config.get("estop_on_silence") or 0)
        if limit and self.misses >= limit:
            self.trigger(f"{topic} silent for {silent_for:.2f} s")
