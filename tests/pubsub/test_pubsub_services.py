"""Services, parameters, node loggers and elections on the in-memory bus (issue 16, item 2)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Iterator

import pytest

from robot_gcs.core.events import Cause
from robot_gcs.pubsub import (Log, ParameterError, ServiceError, ServiceTimeout,
                              ServiceUnavailable, SetParametersResult)
from robot_gcs.pubsub.node import Node
from robot_gcs.pubsub.parameters import ParamRequest

from pubsub_fakebus import FakeBus, FakeClock


class AddTwo:
    @dataclass(frozen=True, slots=True)
    class Request:
        a: int
        b: int

    @dataclass(frozen=True, slots=True)
    class Response:
        total: int


class Other:
    @dataclass(frozen=True, slots=True)
    class Request:
        text: str

    Response = AddTwo.Response


def node(bus: FakeBus, name: str, daemon: str = "d1", **kw) -> Node:
    return Node(name, bus.connect(name, daemon), type_wait=0.5, **kw)


class Spinning:
    """A node spinning on its own thread (a server must spin to answer)."""

    def __init__(self, n: Node) -> None:
        self.node = n
        self.thread = threading.Thread(target=n.spin, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.node.stop()
        self.thread.join(5)


@pytest.fixture()
def server() -> Iterator[tuple[FakeBus, Node, Spinning]]:
    bus = FakeBus()
    srv = node(bus, "adder", "d2")

    def add(req: AddTwo.Request) -> AddTwo.Response:
        if req.a < 0:
            raise ValueError("negative numbers are not allowed")
        return AddTwo.Response(req.a + req.b)
    srv.create_service(AddTwo, "/add", add)
    srv.declare_parameter("gain", 1.5, description="how hard to steer")
    spin = Spinning(srv)
    yield bus, srv, spin
    spin.close()


def test_a_call_reaches_a_server_on_another_daemon_and_errors_come_back(server) -> None:
    bus, srv, _ = server
    cli_node = node(bus, "caller")
    cli = cli_node.create_client(AddTwo, "/add")
    assert cli.wait_for_service(5.0)
    assert cli.call(AddTwo.Request(2, 3), timeout=5.0) == AddTwo.Response(5)
    with pytest.raises(ServiceError, match="negative numbers are not allowed"):
        cli.call(AddTwo.Request(-1, 3), timeout=5.0)
    fut = cli.call_async(AddTwo.Request(4, 4), timeout=5.0)
    assert cli_node._wait_until(fut.done, 5.0)
    assert fut.result() == AddTwo.Response(8)


def test_no_server_in_the_view_is_a_clear_error_at_once() -> None:
    bus = FakeBus()
    cli = node(bus, "caller").create_client(AddTwo, "/add")
    with pytest.raises(ServiceUnavailable, match="no server of /add in the view"):
        cli.call(AddTwo.Request(1, 2))


def test_a_type_mismatch_names_both_types(server) -> None:
    bus, _, _ = server
    cli = node(bus, "caller").create_client(Other, "/add")
    cli.wait_for_service(5.0)
    with pytest.raises(ServiceError, match=r"client sends .*Other requests but #adder#d2 serves .*AddTwo"):
        cli.call(Other.Request("x"))


def test_a_server_that_never_answers_times_out_and_one_that_leaves_is_unavailable() -> None:
    bus = FakeBus()
    clock = FakeClock()
    srv = node(bus, "adder", "d2")
    srv.create_service(AddTwo, "/add", lambda r: AddTwo.Response(0))   # never spun
    caller = Node("caller", bus.connect("caller", "d1"), clock=clock, type_wait=0.5)
    cli = caller.create_client(AddTwo, "/add")
    srv.spin_once()                       # announce to the newcomer
    assert cli.wait_for_service(2.0)
    fut = cli.call_async(AddTwo.Request(1, 1), timeout=1.0)
    clock.advance(1.5)
    caller.spin_once()
    assert isinstance(fut.exception(), ServiceTimeout)
    fut2 = cli.call_async(AddTwo.Request(1, 1), timeout=30.0)
    bus.disconnect(srv.session, Cause.NETWORK)
    caller.spin_once()
    assert isinstance(fut2.exception(), ServiceUnavailable) and "left the view" in str(fut2.exception())


def test_parameters_are_typed_and_settable_remotely(server) -> None:
    bus, srv, _ = server
    assert srv.get_parameter("gain").value == 1.5
    srv.set_parameters({"gain": 2})                       # int -> float parameter
    assert srv.parameters["gain"] == 2.0 and isinstance(srv.parameters["gain"], float)
    with pytest.raises(ParameterError, match=r"gain is a float parameter: expected a float, got 'fast'"):
        srv.set_parameters({"gain": "fast"})
    with pytest.raises(ParameterError, match=r"no parameter 'gian'; did you mean 'gain'"):
        srv.get_parameter("gian")
    # remotely, through the built-in parameter service (what `robot-gcs param` uses)
    tool = node(bus, "tool")
    pc = tool.parameter_client()
    rep = pc.call(ParamRequest("set", '{"gain": 3.0}'), timeout=5.0, server="#adder#d2")
    assert rep.ok and srv.parameters["gain"] == 3.0
    rep = pc.call(ParamRequest("set", '{"gain": "x"}'), timeout=5.0, server="#adder#d2")
    assert not rep.ok and "expected a float" in rep.body
    rep = pc.call(ParamRequest("list", ""), timeout=5.0, server="#adder#d2")
    assert rep.ok and '"gain"' in rep.body and '"log_level"' in rep.body


def test_an_on_set_callback_can_refuse() -> None:
    n = node(FakeBus(), "n")
    n.declare_parameter("speed", 1.0)
    n.add_on_set_parameters_callback(
        lambda ps: SetParametersResult(False, "too fast") if ps[0].value > 5 else None)
    n.set_parameters({"speed": 4})
    with pytest.raises(ParameterError, match="too fast"):
        n.set_parameters({"speed": 9})
    assert n.parameters["speed"] == 4.0


def test_node_logs_go_to_rosout_with_per_node_levels(caplog: pytest.LogCaptureFixture) -> None:
    bus = FakeBus()
    talker, console = node(bus, "talker"), node(bus, "console", "d2")
    got: list[Log] = []
    console.create_subscription(Log, "/rosout", got.append, 100)
    log = talker.get_logger()
    with caplog.at_level(logging.DEBUG):
        log.debug("not shown at the default level")
        log.info("reached waypoint %d", 3)
        talker.set_parameters({"log_level": "debug"})
        log.debug("now shown")
    console.spin_once()
    assert [(r.level, r.msg, r.name) for r in got] == [
        (logging.INFO, "reached waypoint 3", "#talker#d1"), (logging.DEBUG, "now shown", "#talker#d1")]
    assert "reached waypoint 3" in caplog.text
    with pytest.raises(ParameterError, match="log level must be one of"):
        talker.set_parameters({"log_level": "loud"})


def test_an_election_needs_candidates_and_announces_its_leader() -> None:
    bus = FakeBus()
    a, b, watcher = node(bus, "a"), node(bus, "b", "d2"), node(bus, "w")
    with pytest.raises(Exception, match="needs its candidates"):
        a.create_election("ctl", [])
    changes: list[object] = []
    cands = ["#a#d1", "#b#d2"]
    ea = a.create_election("ctl", cands, on_change=changes.append)
    eb = b.create_election("ctl", cands)
    for _ in range(5):
        for n in (a, b, watcher):
            n.spin_once()
    assert ea.active == eb.active == "#a#d1" and changes == ["#a#d1"]
    assert watcher.registry.leaders()["ctl"] == {"#a#d1": "#a#d1", "#b#d2": "#a#d1"}
