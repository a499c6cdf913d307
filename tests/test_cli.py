"""The command line finds the robot (issue 16, item 3): one rule to name the ring for
topic, status, param and service -- a flag before or after the subcommand,
$ROBOT_GCS_CONFIG, a launch file's config, or the daemons running on this machine -- and
ros2-shaped help in which every option is explained with its default."""

from __future__ import annotations

import argparse
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

import robot_gcs as gcs
from robot_gcs import cli
from robot_gcs.testing import write_ring_config


@dataclass(frozen=True)
class Pose:
    x: float
    y: float


class Scale:
    @dataclass(frozen=True)
    class Request:
        factor: float

    @dataclass(frozen=True)
    class Response:
        x: float


class Robot:
    """One embedded daemon with a hand-written node spinning on a thread."""

    def __init__(self, config: Path) -> None:
        self.daemon = gcs.Daemon.from_file(config, name="d1").start()
        self.node = gcs.Node("mover", self.daemon)
        self.node.declare_parameter("speed", 1.0)
        self.pub = self.node.create_publisher(Pose, "/pose", 10)
        self.node.create_timer(0.05, lambda: self.pub.publish(
            Pose(self.node.parameters["speed"], 0.0)))
        self.node.create_service(Scale, "/scale", lambda r: Scale.Response(r.factor * 2))
        self.thread = threading.Thread(target=self.node.spin, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.node.stop()
        self.thread.join(5)
        self.node.destroy()
        self.daemon.stop()


@pytest.fixture()
def robot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Robot, Path]]:
    monkeypatch.setenv("ROBOT_GCS_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.delenv("ROBOT_GCS_CONFIG", raising=False)
    sockdir = Path(f"/tmp/rgcli{id(tmp_path) % 100000}")
    sockdir.mkdir(exist_ok=True)
    cfg = write_ring_config(sockdir, 1, name="clitest", sockets=True)
    r = Robot(cfg)
    try:
        yield r, cfg
    finally:
        r.close()
        import shutil
        shutil.rmtree(sockdir, ignore_errors=True)


def test_every_command_finds_the_robot_the_same_ways(robot, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    r, cfg = robot
    for argv in (["topic", "list"],                               # the daemons running here
                 ["topic", "list", "-c", str(cfg)],               # the flag after...
                 ["-c", str(cfg), "topic", "list"],               # ...or before the command
                 ["topic", "-n", "d1", "list"]):
        assert cli.main(argv) == 0, argv
        assert "/pose  [test_cli:Pose]" in capsys.readouterr().out, argv
    monkeypatch.setenv("ROBOT_GCS_CONFIG", str(cfg))
    assert cli.main(["status", "--json", "--timeout", "10"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in doc["daemons"]] == ["d1"]
    # a hand-written node's topics reach status (not only launched components)
    assert any(t["topic"] == "/pose" for t in doc["topics"])
    assert any(n["name"] == "#mover#d1" and ["/pose", "test_cli:Pose"] in n["pubs"]
               for n in doc["nodes"])
    monkeypatch.delenv("ROBOT_GCS_CONFIG")
    launch = tmp_path / "app.yaml"                                 # a launch file's config
    launch.write_text(f"robot: x\nconfig: {cfg}\nprocessors:\n  d1: {{}}\n")
    assert cli.main(["topic", "--launch", str(launch), "list"]) == 0
    assert "/pose" in capsys.readouterr().out
    assert cli.main(["topic", "list", "-c", str(tmp_path / "nowhere.yaml")]) == 3
    assert "nowhere.yaml" in capsys.readouterr().err


def test_no_robot_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ROBOT_GCS_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.delenv("ROBOT_GCS_CONFIG", raising=False)
    for argv, code in ((["topic", "list"], 3), (["param", "list"], 3), (["service", "list"], 3),
                       (["status"], 4), (["monitor", "--once"], 4)):
        assert cli.main(argv) == code, argv
        err = capsys.readouterr().err
        assert "no robot found" in err and "ROBOT_GCS_CONFIG" in err, err


def test_param_and_service_tools(robot, capsys: pytest.CaptureFixture[str]) -> None:
    r, _ = robot
    assert cli.main(["param", "list"]) == 0
    out = capsys.readouterr().out
    assert "#mover#d1:" in out and "speed = 1.0  (float)" in out
    assert cli.main(["param", "set", "mover", "speed", "2.5"]) == 0
    assert "set #mover#d1 speed = 2.5  (float)" in capsys.readouterr().out
    assert r.node.parameters["speed"] == 2.5
    assert cli.main(["param", "get", "#mover#d1", "speed"]) == 0
    assert capsys.readouterr().out.strip() == "speed = 2.5  (float)"
    assert cli.main(["param", "set", "mover", "speed", "fast"]) == 1
    assert "speed is a float parameter: expected a float, got 'fast' (str)" in capsys.readouterr().err
    assert cli.main(["param", "get", "movr", "speed"]) == 1
    assert "no node movr in the ring; did you mean 'mover'" in capsys.readouterr().err
    assert cli.main(["service", "list"]) == 0
    assert "/scale  [test_cli:Scale]" in capsys.readouterr().out
    assert cli.main(["service", "call", "/scale", "{factor: 1.5}"]) == 0
    assert "response: {'x': 3.0}" in capsys.readouterr().out
    assert cli.main(["service", "call", "/nothing", "{}"]) == 1
    assert "no server of /nothing in the view" in capsys.readouterr().err


def _walk(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, f"{path} {name}")
        elif action.option_strings and action.help != argparse.SUPPRESS:
            yield path, action


def test_help_explains_every_option_and_shows_defaults() -> None:
    parser = cli.build_parser()
    assert parser.description.startswith("robot-gcs runs and inspects a robot's")
    assert "robot-gcs <command> -h" in (parser.epilog or "")
    checked = 0
    for path, action in _walk(parser, "robot-gcs"):
        if path.startswith("robot-gcs sim"):
            continue                     # the simulator's options belong to its own issue
        assert action.help, f"{path} {action.option_strings}: no help"
        checked += 1
        formatter = parser._get_formatter()
        text = formatter._expand_help(action) if hasattr(formatter, "_expand_help") else ""
        if action.default not in (None, False, [], argparse.SUPPRESS) and \
                not isinstance(action, argparse._HelpAction):
            assert "default" in text.lower(), f"{path} {action.option_strings}: {text!r}"
    assert checked > 80
    out = cli.build_parser()._subparsers._group_actions[0].choices["topic"].format_help()
    assert "finding the robot" in out and "$ROBOT_GCS_CONFIG" in out
