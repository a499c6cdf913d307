"""Launch files load into a validated model; every mistake names file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from robot_gcs.core.types import Service
from robot_gcs.errors import ConfigError
from robot_gcs.launch.loader import load_launch
from robot_gcs.launch.model import Restart

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

RING = """\
ring:
  name: t
  transport: {mode: unicast}
daemons:
  - {name: cpu1, address: "127.0.0.1:47001"}
  - {name: cpu2, address: "127.0.0.1:47002"}
"""

GOOD = """\
robot: testbot
config: ring.yaml
pythonpath: [{here}]
topics:
  /ping: {{type: launch_fixtures:Ping, service: fifo, depth: 1, rate: 10, deadline: 0.5}}
  /raw:
groups: [ctl]
processors:
  cpu1:
    restart: on-failure
    components:
      - name: talker
        class: launch_fixtures:Talker
        restart: always
        max_restarts: 2
        params: {{rate_hz: 20}}
  cpu2:
    components: []
"""


def good(tmp: Path) -> str:
    return GOOD.format(here=str(HERE))


def err(tmp: Path, text: str, *overrides: str) -> ConfigError:
    (tmp / "ring.yaml").write_text(RING)
    p = tmp / "robot.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as ei:
        load_launch(str(p), overrides=overrides)
    assert ei.value.path == str(p)
    return ei.value


def test_a_good_file_loads_into_the_model(tmp_path: Path) -> None:
    (tmp_path / "ring.yaml").write_text(RING)
    p = tmp_path / "robot.yaml"
    p.write_text(good(tmp_path))
    lf = load_launch(str(p), overrides=["talker.rate_hz=50"])
    assert lf.robot == "testbot" and lf.config_path == str(tmp_path / "ring.yaml")
    ping = lf.topic("/ping")
    assert ping.qos.service is Service.FIFO and ping.qos.depth == 1 and ping.qos.deadline == 0.5
    assert ping.rate == 10 and ping.msg_type.__name__ == "Ping" and ping.line == 5
    assert lf.topic("/raw").msg_type is None
    cpu1 = lf.processor("cpu1")
    assert cpu1.restart is Restart.ON_FAILURE
    talker = cpu1.components[0]
    assert talker.restart is Restart.ALWAYS and talker.max_restarts == 2
    assert dict(talker.params) == {"rate_hz": 50}
    assert lf.groups == ("ctl",)


def test_the_demo_launch_file_is_valid() -> None:
    lf = load_launch(str(ROOT / "launch" / "robot_demo.yaml"))
    assert {p.name for p in lf.processors} == {"cpu1", "cpu2", "cpu3"}
    assert lf.topic("/estop").qos.service is Service.SAFE and lf.topic("/estop").qos.latched
    assert lf.topic("/odom").qos.depth == 1


@pytest.mark.parametrize("old,new,line,field,words", [
    ("robot: testbot", "robot: testbot\nrobots: x", 2, "robots", "unknown key"),
    ("service: fifo", "service: fastest", 5, "topics./ping.service", "unknown service"),
    ("depth: 1", "depth: 0", 5, "topics./ping.depth", ">= 1"),
    ("deadline: 0.5", "deadline: -2", 5, "topics./ping.deadline", "> 0"),
    ("/raw:", "/raw topic:", 6, "topics./raw topic", "bad topic name"),
    ("type: launch_fixtures:Ping", "type: launch_fixtures:Pong", 5, "topics./ping.type", "no such class"),
    ("type: launch_fixtures:Ping", "type: no_such_module:Ping", 5, "topics./ping.type", "cannot import"),
    ("class: launch_fixtures:Talker", "class: launch_fixtures:Talkr", 13, "processors.cpu1.components[0].class", "no such class"),
    ("class: launch_fixtures:Talker", "class: launch_fixtures:Undeclared", 13, "processors.cpu1.components[0].class", "/nowhere"),
    ("class: launch_fixtures:Talker", "class: launch_fixtures:NOT_A_CLASS", 13, "processors.cpu1.components[0].class", "not a class"),
    ("params: {rate_hz: 20}", "params: {rate_hz: 20, gain: 3}", 16, "processors.cpu1.components[0].params.gain", "unknown parameter"),
    ("restart: always", "restart: sometimes", 14, "processors.cpu1.components[0].restart", "on-failure"),
    ("  cpu2:", "  cpu9:", 17, "processors.cpu9", "no daemon named cpu9"),
    ("restart: on-failure", "restart: on-failure\n    cpus: []", 11, "processors.cpu1.cpus", "non-empty list"),
    ("restart: on-failure", "restart: on-failure\n    cpus: [-1]", 11, "processors.cpu1.cpus", ">= 0"),
    ("restart: on-failure", "restart: on-failure\n    cpus: 0", 11, "processors.cpu1.cpus", "expected a list"),
    ("name: talker", "name: 'tal#ker'", 12, "processors.cpu1.components[0].name", "'#'"),
])
def test_mistakes_name_file_line_and_field(tmp_path: Path, old: str, new: str, line: int, field: str,
                                           words: str) -> None:
    text = good(tmp_path)
    assert old in text
    e = err(tmp_path, text.replace(old, new, 1))
    assert (e.line, e.field) == (line, field), str(e)
    assert words in str(e)
    assert str(e).startswith(f"{tmp_path / 'robot.yaml'}:{line}: {field}: ")


def test_duplicate_component_and_missing_keys(tmp_path: Path) -> None:
    text = good(tmp_path).replace("  cpu2:\n    components: []\n",
                                  "  cpu2:\n    components:\n      - {name: a, class: 'launch_fixtures:Talker'}\n"
                                  "      - {name: a, class: 'launch_fixtures:Talker'}\n")
    e = err(tmp_path, text)
    assert e.line == 20 and "duplicate component" in str(e)
    e = err(tmp_path, "robot: x\nprocessors: {}\n")
    assert e.field == "config" and "missing" in str(e)


def test_bad_yaml_and_bad_overrides(tmp_path: Path) -> None:
    e = err(tmp_path, "robot: [unclosed\n")
    assert "not valid YAML" in str(e) and e.line is not None
    e = err(tmp_path, good(tmp_path), "nobody.rate_hz=3")
    assert e.field == "--set" and "no component named nobody" in str(e)
    e = err(tmp_path, good(tmp_path), "talker.speed=3")
    assert "unknown parameter speed of launch_fixtures:Talker" in str(e)
    (tmp_path / "robot.yaml").write_text(good(tmp_path))
    assert load_launch(str(tmp_path / "robot.yaml"), overrides=["*.nothing=1"])   # wildcard skips


def test_missing_ring_config_is_reported_at_the_config_line(tmp_path: Path) -> None:
    p = tmp_path / "robot.yaml"
    p.write_text(good(tmp_path).replace("config: ring.yaml", "config: nowhere.yaml"))
    with pytest.raises(ConfigError) as ei:
        load_launch(str(p))
    assert ei.value.line == 2 and ei.value.field == "config"


def test_processor_cpus_load_sorted_and_deduplicated(tmp_path: Path) -> None:
    (tmp_path / "ring.yaml").write_text(RING)
    p = tmp_path / "robot.yaml"
    p.write_text(good(tmp_path).replace("restart: on-failure", "restart: on-failure\n    cpus: [1, 0, 1]"))
    lf = load_launch(str(p))
    assert lf.processor("cpu1").cpus == (0, 1)
    assert lf.processor("cpu2").cpus is None


@pytest.mark.parametrize("old,new,line,field,words", [
    ("params: {rate_hz: 20}", "params: {rate_hz: fast}", 16, "processors.cpu1.components[0].params.rate_hz",
     "launch_fixtures:Talker declares rate_hz as a float (default 10.0): expected a float, got 'fast' (str)"),
    ("params: {rate_hz: 20}", "params: {rate_hz: true}", 16, "processors.cpu1.components[0].params.rate_hz",
     "got True (bool)"),
    ("params: {rate_hz: 20}", "params: {rate_hzz: 20}", 16, "processors.cpu1.components[0].params.rate_hzz",
     "did you mean 'rate_hz'?"),
    ("params: {rate_hz: 20}", "params: {log_level: loud}", 16, "processors.cpu1.components[0].params.log_level",
     "log level must be one of"),
    ("class: launch_fixtures:Talker", "class: launch_fixtures:Talkr", 13, "processors.cpu1.components[0].class",
     "did you mean 'Talker'?"),
    ("class: launch_fixtures:Talker", "class: launch_fixture:Talker", 13, "processors.cpu1.components[0].class",
     "did you mean 'launch_fixtures'?"),
    ("robot: testbot", "robot: testbot\nrobbot: x", 2, "robbot", "did you mean 'robot'?"),
    ("depth: 1", "depht: 1", 5, "topics./ping.depht", "did you mean 'depth'?"),
])
def test_launch_checks_types_and_suggests_names(tmp_path: Path, old: str, new: str, line: int,
                                                field: str, words: str) -> None:
    text = good(tmp_path)
    assert old in text
    e = err(tmp_path, text.replace(old, new, 1))
    assert (e.line, e.field) == (line, field), str(e)
    assert words in str(e), str(e)


def test_an_undeclared_topic_of_a_component_suggests_the_declared_one(tmp_path: Path) -> None:
    e = err(tmp_path, good(tmp_path).replace("/ping:", "/pong:"))
    assert "publishes topic /ping" in str(e) and "did you mean '/pong'?" in str(e)


def test_a_tab_in_the_indentation_names_its_column(tmp_path: Path) -> None:
    text = good(tmp_path).replace("    components:\n      - name: talker", "    components:\n\t  - name: talker")
    e = err(tmp_path, text)
    assert e.line in (11, 12) and "column 1: a tab character in the indentation; YAML indents with spaces" in str(e)


def test_overrides_are_type_checked(tmp_path: Path) -> None:
    e = err(tmp_path, good(tmp_path), "talker.rate_hz=fast")
    assert e.field == "--set" and "declares rate_hz as a float" in str(e)
    (tmp_path / "robot.yaml").write_text(good(tmp_path))
    lf = load_launch(str(tmp_path / "robot.yaml"), overrides=["talker.rate_hz=5"])
    assert lf.processor("cpu1").components[0].params["rate_hz"] == 5.0
