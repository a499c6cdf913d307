"""A processor's components run on their own threads and follow their restart policy."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pubsub"))

from pubsub_fakebus import FakeBus  # noqa: E402

import launch_fixtures as fx  # noqa: E402
from robot_gcs.launch.model import ComponentSpec, LaunchFile, ProcessorSpec, Restart, TopicSpec, frozen_params  # noqa: E402
from robot_gcs.launch.runtime import ComponentRunner, ProcessorRuntime  # noqa: E402
from robot_gcs.pubsub.qos import QoS  # noqa: E402


class FakeDaemon:
    def __init__(self) -> None:
        self.bus = FakeBus()
        self.started = self.stopped = False

    def connect(self, name: str):
        return self.bus.connect(name, "cpu1")

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True


def launch_with(*comps: ComponentSpec) -> LaunchFile:
    return LaunchFile("x.yaml", "bot", "ring.yaml",
                      (TopicSpec("/ping", "launch_fixtures:Ping", fx.Ping, QoS(depth=3)),),
                      (), (ProcessorSpec("cpu1", comps),))


def spec(cls, restart: Restart, max_restarts: int = 5, name: str = "c") -> ComponentSpec:
    return ComponentSpec(name, f"launch_fixtures:{cls.__name__}", cls,
                         frozen_params(dict(getattr(cls, "params", {}))), restart, max_restarts)


def run_until_exit(runner: ComponentRunner, timeout: float = 20.0) -> None:
    done = threading.Event()
    runner._on_exit = lambda r: done.set()
    runner.start()
    assert done.wait(timeout), runner.status()


def test_on_failure_restarts_up_to_the_limit_then_reports_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("robot_gcs.launch.runtime.BACKOFF_START", 0.01)
    fx.Crasher.built = 0
    d = FakeDaemon()
    r = ComponentRunner(spec(fx.Crasher, Restart.ON_FAILURE, max_restarts=2), d, launch_with())
    run_until_exit(r)
    st = r.status()
    assert (st.state, st.restarts, fx.Crasher.built) == ("failed", 2, 3)
    assert "sensor driver crashed" in st.last_error
    assert all("#c#cpu1" not in m for m in d.bus.groups.values())    # each dead node left its groups


def test_never_means_one_attempt() -> None:
    fx.Crasher.built = 0
    r = ComponentRunner(spec(fx.Crasher, Restart.NEVER), FakeDaemon(), launch_with())
    run_until_exit(r)
    assert (r.status().state, fx.Crasher.built) == ("failed", 1)


def test_always_restarts_a_component_that_stopped_by_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("robot_gcs.launch.runtime.BACKOFF_START", 0.01)
    fx.Quitter.built = 0
    r = ComponentRunner(spec(fx.Quitter, Restart.ALWAYS, max_restarts=2), FakeDaemon(), launch_with())
    run_until_exit(r)
    assert (r.status().state, fx.Quitter.built) == ("stopped", 3)
    fx.Quitter.built = 0
    r = ComponentRunner(spec(fx.Quitter, Restart.ON_FAILURE), FakeDaemon(), launch_with())
    run_until_exit(r)
    assert (r.status().state, fx.Quitter.built) == ("stopped", 1)


def test_processor_runtime_runs_components_with_launch_topics_and_stops_cleanly() -> None:
    d = FakeDaemon()
    lf = launch_with(spec(fx.Talker, Restart.NEVER, name="talker"))
    rt = ProcessorRuntime(lf, "cpu1", daemon_factory=lambda: d)
    rt.start()
    try:
        assert d.started
        (st,) = rt.status()
        assert st.state == "running"
        comp = rt.runners[0].component
        assert comp.pub.qos.depth == 3                      # QoS default from the launch file
        with pytest.raises(Exception, match="not declared"):
            comp.node.create_publisher("/other")
        comp.pub.publish(fx.Ping(1))
        assert any(t.topic == "/ping" and t.role == "pub" and t.count == 1 for t in rt.topic_statistics())
    finally:
        rt.stop()
    assert d.stopped and rt.status()[0].state == "stopped"
    assert all("#talker#cpu1" not in m for m in d.bus.groups.values())


PIN_CHILD = r"""
import json, os, sys, threading
sys.path.insert(0, sys.argv[1])
from test_launch_runtime import FakeDaemon, launch_with, spec
import launch_fixtures as fx
from robot_gcs.launch.model import LaunchFile, ProcessorSpec, Restart
from robot_gcs.launch.runtime import ProcessorRuntime
early = threading.Thread(target=threading.Event().wait, args=(30,), daemon=True)
early.start()                                   # a thread that exists before the pinning
lf = launch_with(spec(fx.Talker, Restart.NEVER, name="talker"))
lf = LaunchFile(lf.path, lf.robot, lf.config_path, lf.topics, lf.groups,
                (ProcessorSpec("cpu1", lf.processors[0].components, cpus=(0,)),))
rt = ProcessorRuntime(lf, "cpu1", daemon_factory=FakeDaemon)
rt.start()
try:
    tasks = {int(t): sorted(os.sched_getaffinity(int(t))) for t in os.listdir("/proc/self/task")}
finally:
    rt.stop()
print(json.dumps(tasks))
"""


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2
                    or 0 not in os.sched_getaffinity(0),
                    reason="needs Linux affinity and at least two usable CPUs including CPU 0")
def test_processor_cpus_pin_every_thread_of_the_program() -> None:
    import json
    import subprocess
    here = Path(__file__).resolve().parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(here.parent.parent), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", PIN_CHILD, str(here)], capture_output=True,
                         text=True, timeout=60, cwd=str(here), env=env)
    assert out.returncode == 0, out.stderr
    tasks = json.loads(out.stdout)
    assert len(tasks) >= 3                           # main, the early thread, the component
    assert all(cpus == [0] for cpus in tasks.values()), tasks


def test_pinning_to_a_missing_cpu_names_the_launch_field() -> None:
    from robot_gcs.errors import ConfigError
    before = os.sched_getaffinity(0)
    lf = launch_with(spec(fx.Talker, Restart.NEVER, name="talker"))
    lf = LaunchFile(lf.path, lf.robot, lf.config_path, lf.topics, lf.groups,
                    (ProcessorSpec("cpu1", lf.processors[0].components, line=7, cpus=(4095,)),))
    d = FakeDaemon()
    with pytest.raises(ConfigError, match="cannot pin processor cpu1") as ei:
        ProcessorRuntime(lf, "cpu1", daemon_factory=lambda: d).start()
    assert ei.value.field == "processors.cpu1.cpus" and ei.value.line == 7
    assert not d.started and os.sched_getaffinity(0) == before


def test_component_parameters_are_its_nodes_typed_and_live() -> None:
    from robot_gcs.pubsub.parameters import ParameterError, ParameterType
    d = FakeDaemon()
    rt = ProcessorRuntime(launch_with(spec(fx.Talker, Restart.NEVER, name="talker")), "cpu1",
                          daemon_factory=lambda: d)
    rt.start()
    try:
        comp = rt.runners[0].component
        assert comp.node.get_parameter("rate_hz").type is ParameterType.FLOAT
        comp.node.set_parameters({"rate_hz": 20})        # what `robot-gcs param set` does
        assert comp.config["rate_hz"] == 20.0             # the component reads it at once
        with pytest.raises(ParameterError, match="expected a float"):
            comp.node.set_parameters({"rate_hz": "fast"})
        assert comp.pub.msg_type is fx.Ping
    finally:
        rt.stop()


def test_a_component_down_for_good_marks_its_processor_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("robot_gcs.launch.runtime.BACKOFF_START", 0.01)
    rt = ProcessorRuntime(launch_with(spec(fx.Crasher, Restart.ON_FAILURE, max_restarts=1,
                                           name="driver")), "cpu1", daemon_factory=FakeDaemon)
    rt.start()
    try:
        assert rt.wait_failed(20)
        (st,) = rt.failed
        assert (st.name, st.state, st.restarts) == ("driver", "failed", 1)
        assert st.last_error == "RuntimeError: sensor driver crashed"
    finally:
        rt.stop()
