"""In-process sessions through a real daemon thread (local-only fake engine).

What a program embedding the daemon relies on: events arrive in order through bounded
queues, multicast never blocks for long (Backpressure), a client that stops reading is
detached with a reason, misuse and use-after-close raise the documented errors, and a
stop disconnects everyone.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from rt_fakes import FakeFactory, fake_factory, write_config
from rt_procs import udp_drops

from robot_gcs import Backpressure, Cause, DataMessage, GroupView, LocalProtocolError, SessionClosed
from robot_gcs.errors import ConfigError
from robot_gcs.runtime.daemon import Daemon
from robot_gcs.runtime.state import StateStore


@pytest.fixture
def fakes() -> FakeFactory:
    return FakeFactory()


@pytest.fixture
def daemon(tmp_path: Path, fakes: FakeFactory):
    _, cfg = write_config(tmp_path, 2, extra_ring="  runtime:\n    send_queue: 5\n    session_queue: 500")
    d = Daemon(cfg, "d1", engine_factory=fakes, health=False)
    d.start()
    yield d
    d.stop()


def _next(s, kind=None, timeout: float = 5.0):
    ev = s.receive(timeout=timeout)
    assert ev is not None, "no event within timeout"
    if kind is not None:
        assert isinstance(ev, kind), ev
    return ev


def test_start_binds_the_udp_port_before_returning(daemon: Daemon) -> None:
    host, port = daemon.transport.bound_address
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with pytest.raises(OSError):
        s.bind((host, port))
    s.close()
    assert daemon.running


def test_port_clash_raises_in_the_caller(tmp_path: Path, daemon: Daemon) -> None:
    other = Daemon(daemon.config, "d1", engine_factory=fake_factory, health=False, state_dir=str(tmp_path / "x"))
    with pytest.raises(ConfigError, match=r"daemons\[0\]\.address: cannot bind 127\.0\.0\.1:"):
        other.start()


def test_join_multicast_receive_in_order(daemon: Daemon) -> None:
    a = daemon.connect("alice")
    b = daemon.connect("bob")
    assert a.private_name == "#alice#d1"
    a.join("g")
    v = _next(a, GroupView)
    assert v.members == ("#alice#d1",) and v.cause is Cause.JOIN
    b.join("g")
    assert _next(a, GroupView).members == ("#alice#d1", "#bob#d1")
    assert _next(b, GroupView).members == ("#alice#d1", "#bob#d1")
    for i in range(100):
        a.multicast("g", b"m%d" % i, timeout=5.0)
    for s in (a, b):
        got = [_next(s, DataMessage).payload for _ in range(100)]
        assert got == [b"m%d" % i for i in range(100)]
    assert a.poll() is None and b.poll() is None
    a.close()
    assert _next(b, GroupView).cause is Cause.DISCONNECT


def test_local_payload_object_is_handed_over_without_copy(daemon: Daemon) -> None:
    a = daemon.connect("a")
    a.join("g")
    _next(a)
    obj = {"pose": [1.0, 2.0]}
    a.multicast("g", b"encoded", local_payload=obj)
    assert _next(a, DataMessage).payload is obj


def test_self_discard_and_multi_group_delivery_once(daemon: Daemon) -> None:
    a, b = daemon.connect("a"), daemon.connect("b")
    for s in (a, b):
        s.join("g1")
        s.join("g2")
    while b.receive(timeout=0.5) is not None:
        pass
    while a.poll() is not None:
        pass
    a.multicast(["g1", "g2"], b"x", self_discard=True)
    m = _next(b, DataMessage)
    assert m.groups == ("g1", "g2") and m.sender == "#a#d1"
    assert b.receive(timeout=0.2) is None
    assert a.receive(timeout=0.2) is None


def test_a_full_engine_send_queue_slows_the_sender_down_instead_of_queueing(
        daemon: Daemon, fakes: FakeFactory) -> None:
    eng = fakes.engines["d1"]
    a = daemon.connect("a")
    a.join("g")
    _next(a)
    eng.blocked = True                       # the engine's own send queue is full
    with pytest.raises(Backpressure, match="send queue is full"):
        a.multicast("g", b"overflow")        # no timeout: told at once
    with pytest.raises(Backpressure, match="still full after"):
        a.multicast("g", b"overflow", timeout=0.05)
    # room appears once the engine accepts again: the waiting caller proceeds
    t = threading.Timer(0.1, lambda: setattr(eng, "blocked", False))
    t.start()
    a.multicast("g", b"0", timeout=10.0)
    assert _next(a, DataMessage).payload == b"0"
    t.join()


def test_commands_queued_for_a_busy_daemon_are_bounded(tmp_path: Path) -> None:
    _, cfg = write_config(tmp_path, 2, extra_ring="  runtime:\n    send_queue: 5")
    fakes = FakeFactory()
    with Daemon(cfg, "d1", engine_factory=fakes, health=False) as d:
        a, stuck = d.connect("a"), d.connect("stuck")
        a.join("g")
        _next(a)
        eng = fakes.engines["d1"]
        eng.hold = threading.Event()          # the engine keeps whoever feeds it busy
        t = threading.Thread(target=lambda: stuck.multicast("other", b"hold"))
        t.start()
        assert eng.holding.wait(10)           # that thread now holds the engine lock
        for i in range(5):                    # send_queue: 5 -- queued for the daemon
            a.multicast("g", b"%d" % i)
        with pytest.raises(Backpressure, match="waiting for the daemon"):
            a.multicast("g", b"overflow")
        eng.hold.set()
        t.join(10)
        a.multicast("g", b"5", timeout=10.0)
        got = [_next(a, DataMessage).payload for _ in range(6)]
        assert got == [b"%d" % i for i in range(6)]


def test_once_the_engine_refused_queued_commands_new_ones_wait_for_room(
        tmp_path: Path) -> None:
    _, cfg = write_config(tmp_path, 2, extra_ring="  runtime:\n    inline_commands: false")
    fakes = FakeFactory()
    with Daemon(cfg, "d1", engine_factory=fakes, health=False) as d:
        a = d.connect("a")
        a.join("g")
        _next(a)
        eng = fakes.engines["d1"]
        eng.blocked = True
        a.multicast("g", b"0")                # queued; the drain meets a full engine
        assert eng.refused.wait(10)
        with pytest.raises(Backpressure, match="send queue is full"):
            a.multicast("g", b"no room")      # not queued behind the backlog
        t = threading.Timer(0.1, lambda: setattr(eng, "blocked", False))
        t.start()
        a.multicast("g", b"1", timeout=10.0)  # waits for room, then goes
        assert [_next(a, DataMessage).payload for _ in range(2)] == [b"0", b"1"]
        t.join()


def test_a_client_that_stops_reading_is_detached_with_a_reason(daemon: Daemon) -> None:
    sender = daemon.connect("sender")
    lazy = daemon.connect("lazy", queue_size=10)
    lazy.join("g")
    sender.join("g")
    _next(sender)
    n = 0
    for i in range(40):
        try:
            sender.multicast("g", b"%d" % i, self_discard=True, timeout=5.0)
        except SessionClosed:
            break
        n += 1
    # the sender sees lazy go with cause DISCONNECT
    while True:
        ev = _next(sender)
        if isinstance(ev, GroupView) and ev.cause is Cause.DISCONNECT:
            assert ev.changed == ("#lazy#d1",)
            break
    got = []
    with pytest.raises(SessionClosed, match="stopped reading"):
        while True:
            got.append(lazy.receive(timeout=5.0))
    assert len(got) == 10                    # what was queued is still readable
    st = daemon.statistics()
    assert st.sessions_detached == 1
    assert [s.name for s in st.sessions] == ["sender"]
    with pytest.raises(SessionClosed):
        lazy.multicast("g", b"x")


def test_misuse_and_use_after_close(daemon: Daemon) -> None:
    a = daemon.connect("a")
    with pytest.raises(LocalProtocolError):
        a.multicast([], b"x")
    with pytest.raises(LocalProtocolError):
        a.multicast("g" * 65, b"x")
    with pytest.raises(LocalProtocolError):
        a.multicast("g", "not bytes")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        a.join("")
    with pytest.raises(LocalProtocolError, match="already in use"):
        daemon.connect("a")
    with pytest.raises(LocalProtocolError):
        daemon.connect("bad#name")
    a.close()
    a.close()
    for call in (lambda: a.join("g"), lambda: a.multicast("g", b"x"), lambda: a.receive(0)):
        with pytest.raises(SessionClosed):
            call()
    daemon.connect("a").close()              # the name is free again


def test_receive_timeout_returns_none(daemon: Daemon) -> None:
    a = daemon.connect("a")
    assert a.receive(timeout=0.05) is None
    assert a.poll() is None


def test_stop_closes_sessions_and_leaves_the_ring(tmp_path: Path) -> None:
    _, cfg = write_config(tmp_path, 2)
    fakes = FakeFactory()
    d = Daemon(cfg, "d1", engine_factory=fakes, health=False)
    with d:
        s = d.connect("a")
        eng = fakes.engines["d1"]
        waiter_err: list[BaseException] = []

        def reader() -> None:
            try:
                s.receive(timeout=10)
            except BaseException as exc:
                waiter_err.append(exc)

        t = threading.Thread(target=reader)
        t.start()
    t.join(5)
    assert eng.left
    assert len(waiter_err) == 1 and isinstance(waiter_err[0], SessionClosed)
    assert "daemon stopped" in str(waiter_err[0])
    assert not d.running
    with pytest.raises(SessionClosed):
        d.connect("b")


def test_ring_seq_and_incarnation_persist_across_restarts(tmp_path: Path) -> None:
    _, cfg = write_config(tmp_path, 2)
    fakes = FakeFactory()
    d = Daemon(cfg, "d1", engine_factory=fakes, health=False)
    with d:
        inc1 = d.incarnation
        assert fakes.engines["d1"].persisted is None
    store = StateStore(cfg.ring.state_dir, cfg.ring.name, "d1")
    assert store.ring_seq == 4
    d2 = Daemon(cfg, "d1", engine_factory=fakes, health=False)
    with d2:
        assert fakes.engines["d1"].persisted == 4
        assert d2.incarnation > inc1


def test_garbage_datagrams_are_counted_not_fatal(daemon: Daemon, fakes: FakeFactory) -> None:
    addr = daemon.transport.bound_address
    kernel0 = udp_drops(addr[1])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(500):
        s.sendto(bytes([i % 256]) * (i % 50 + 1), addr)
    s.close()
    a = daemon.connect("a")           # the loop still serves clients
    a.join("g")
    _next(a)

    def accounted() -> int:           # counted by the daemon, or dropped by a full queue
        drops = daemon.statistics().dropped_total     # the sealer refuses them all
        return drops + udp_drops(addr[1]) - kernel0

    for _ in range(600):              # wait for the daemon to read them all
        if accounted() >= 500:
            break
        a.receive(timeout=0.05)
    assert accounted() == 500
    st = daemon.statistics()
    assert st.engine_errors == 0 and fakes.engines["d1"].packets == 0


def test_statistics_report_loop_lag(daemon: Daemon, fakes: FakeFactory) -> None:
    eng = fakes.engines["d1"]
    a = daemon.connect("a")
    while eng.ticks < 10:
        a.receive(timeout=0.05)
    st = daemon.statistics()
    assert st.loop_lag.samples >= 10
    assert 0.0 <= st.loop_lag.p99 <= st.loop_lag.worst
    assert st.running and st.name == "d1" and st.uptime > 0


def test_unwritable_state_dir_is_a_config_error(tmp_path: Path) -> None:
    from robot_gcs.errors import ConfigError
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    _, cfg = write_config(tmp_path, 1)
    d = Daemon(cfg, "d1", engine_factory=fake_factory, health=False,
               state_dir=str(blocker / "state"))
    with pytest.raises(ConfigError) as info:
        d.start()
    assert info.value.field == "ring.state_dir"
    again = Daemon(cfg, "d1", engine_factory=fake_factory, health=False)
    again.start()                   # the UDP port was not left bound
    again.stop()


def test_several_reader_threads_share_one_session(daemon: Daemon) -> None:
    a = daemon.connect("a")
    a.join("g")
    _next(a)
    got: list[bytes] = []
    lock = threading.Lock()

    def reader() -> None:
        while True:
            ev = a.receive(timeout=5)
            if ev is None or ev.payload == b"end":
                return
            with lock:
                got.append(ev.payload)

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for t in readers:
        t.start()
    for i in range(300):
        a.multicast("g", b"%d" % i, timeout=5)
    for _ in readers:
        a.multicast("g", b"end", timeout=5)
    for t in readers:
        t.join(10)
    assert sorted(got, key=int) == [b"%d" % i for i in range(300)]


def test_statistics_after_stop_return_the_last_snapshot(tmp_path: Path) -> None:
    _, cfg = write_config(tmp_path, 1)
    d = Daemon(cfg, "d1", engine_factory=fake_factory, health=False)
    d.start()
    d.connect("a")
    assert d.statistics().running
    d.stop()
    st = d.statistics()
    assert not st.running and st.name == "d1"


def test_a_forgotten_daemon_leaves_the_ring_at_interpreter_exit(tmp_path: Path) -> None:
    import subprocess
    import sys
    script = tmp_path / "forgot.py"
    here = Path(__file__).resolve().parent
    script.write_text(
        "import atexit, sys\n"
        f"sys.path[:0] = [{str(here.parents[1])!r}, {str(here)!r}]\n"
        "from pathlib import Path\n"
        "from rt_fakes import write_config, FakeFactory\n"
        "from robot_gcs.runtime.daemon import Daemon\n"
        "fakes = FakeFactory()\n"
        "atexit.register(lambda: print('left', fakes.engines['d1'].left))  # after the daemon's hook\n"
        f"_, cfg = write_config(Path({str(tmp_path)!r}), 1)\n"
        "d = Daemon(cfg, 'd1', engine_factory=fakes, health=False).start()\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "left True"


def test_a_priority_command_overtakes_other_clients_queued_commands(tmp_path: Path) -> None:
    # the daemon cannot take commands for now: they queue; an e-stop goes ahead of
    # other clients' queued commands, behind its own client's, and needs no queue room
    _, cfg = write_config(tmp_path, 2, extra_ring="  runtime:\n    send_queue: 3")
    fakes = FakeFactory()
    with Daemon(cfg, "d1", engine_factory=fakes, health=False) as d:
        a, b, rx = d.connect("a"), d.connect("b"), d.connect("rx")
        for s in (a, b, rx):
            s.join("g")
        while rx.receive(timeout=0.5) is not None:
            pass
        eng = fakes.engines["d1"]
        eng.hold = threading.Event()          # the engine keeps whoever feeds it busy
        hold = threading.Thread(target=lambda: rx.multicast("other", b"hold"))
        hold.start()
        assert eng.holding.wait(10)
        for i in range(3):
            a.multicast("g", b"a%d" % i)
        b.multicast("g", b"b0")
        b.multicast("g", b"STOP", priority=True)
        b.multicast("g", b"STOP2", priority=True)      # send_queue 3 is full: still taken
        eng.hold.set()
        hold.join(10)
        got = [_next(rx, DataMessage).payload for _ in range(6)]
        assert got == [b"b0", b"STOP", b"STOP2", b"a0", b"a1", b"a2"]
