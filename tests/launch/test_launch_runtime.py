"""A processor's components run on their own threads and follow their restart policy."""

from __future__ import annotations

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
