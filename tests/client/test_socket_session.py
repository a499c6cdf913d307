"""A socket session behaves like the Session API against a (fake) daemon speaking the wire protocol.

The fake daemon here is deliberately small: one thread per connection, blocking sockets. It
answers HELLO, turns JOIN into a view and MCAST into a DataMessage back to the sender, and
can be told (by group name) to close the session, send junk or stop reading.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from robot_gcs.client import wire
from robot_gcs.client.socket_session import CLOSED_BY_CALLER, connect
from robot_gcs.core.events import Cause, DataMessage, GroupView
from robot_gcs.core.types import Service
from robot_gcs.errors import Backpressure, LocalProtocolError, SessionClosed


class FakeDaemon:
    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.stop_reading = threading.Event()
        self.bye = threading.Event()
        self.threads: list[threading.Thread] = []
        self.conns: list[socket.socket] = []
        self.accept_thread = threading.Thread(target=self._accept, daemon=True)
        self.accept_thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._serve_frames(conn)
        except OSError:
            pass          # the client went away mid-send: nothing to report

    def _serve_frames(self, conn: socket.socket) -> None:
        dec = wire.FrameDecoder(wire.CLIENT_FRAME_TYPES)
        me = ""
        index = 0
        with conn:
            while True:
                if self.stop_reading.is_set():
                    return   # keep the socket open in the caller's eyes: exit without reading
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                dec.feed(data)
                for frame in dec.frames():
                    if isinstance(frame, wire.Hello):
                        if frame.name == "refuse":
                            conn.sendall(wire.encode(wire.Closed("name taken", refused=True)))
                            return
                        me = f"#{frame.name}#fake"
                        conn.sendall(wire.encode(wire.Welcome(me)))
                    elif isinstance(frame, wire.Join):
                        if frame.group == "close-me":
                            conn.sendall(wire.encode(wire.Closed("client stopped reading")))
                            return
                        if frame.group == "junk":
                            conn.sendall(b"\x00\x00\x00\x05\x63junk")
                            continue
                        if frame.group == "stall":
                            self.stop_reading.set()
                            continue
                        if frame.group == "bad":
                            conn.sendall(wire.encode(wire.Error("no such group: bad")))
                            continue
                        index += 1
                        conn.sendall(wire.encode(GroupView(frame.group, (1, 1, index), (me,),
                                                           Cause.JOIN, (me,))))
                    elif isinstance(frame, wire.Multicast):
                        if not frame.self_discard:
                            conn.sendall(wire.encode(DataMessage(me, frame.groups, frame.service,
                                                                 frame.payload, frame.msg_type)))
                    elif isinstance(frame, wire.Bye):
                        self.bye.set()
                        return

    def close(self) -> None:
        self.listener.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture
def unix_daemon(tmp_path: Path) -> Iterator[tuple[str, FakeDaemon]]:
    path = tmp_path / "fake.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen()
    fake = FakeDaemon(listener)
    yield f"unix:{path}", fake
    fake.close()


def test_join_multicast_receive_round_trip(unix_daemon: tuple[str, FakeDaemon]) -> None:
    address, fake = unix_daemon
    with connect(address, "planner") as s:
        assert s.private_name == "#planner#fake"
        s.join("control")
        view = s.receive(timeout=5)
        assert isinstance(view, GroupView) and view.members == ("#planner#fake",)
        s.multicast("control", b"hello", service=Service.SAFE, msg_type=7)
        s.multicast(["control", "other"], bytearray(b"x" * 200_000))
        s.multicast("control", b"unseen", self_discard=True)
        m1 = s.receive(timeout=5)
        m2 = s.receive(timeout=5)
        assert m1 == DataMessage("#planner#fake", ("control",), Service.SAFE, b"hello", 7)
        assert isinstance(m2, DataMessage) and m2.payload == b"x" * 200_000
        assert m2.groups == ("control", "other")
        assert s.receive(timeout=0.05) is None
        assert s.poll() is None
    assert fake.bye.wait(5)
    with pytest.raises(SessionClosed) as info:
        s.receive(timeout=0)
    assert info.value.reason == CLOSED_BY_CALLER
    with pytest.raises(SessionClosed):
        s.multicast("control", b"late")


def test_session_over_tcp(unix_daemon: tuple[str, FakeDaemon]) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    fake = FakeDaemon(listener)
    try:
        with connect(f"tcp:127.0.0.1:{listener.getsockname()[1]}", "tcpclient") as s:
            s.multicast("g", b"over tcp")
            msg = s.receive(timeout=5)
            assert isinstance(msg, DataMessage) and msg.payload == b"over tcp"
    finally:
        fake.close()


def test_refused_name_is_the_callers_fault(unix_daemon: tuple[str, FakeDaemon]) -> None:
    address, _ = unix_daemon
    with pytest.raises(LocalProtocolError, match="name taken"):
        connect(address, "refuse")


def test_no_daemon_at_the_address_says_so(tmp_path: Path) -> None:
    with pytest.raises(SessionClosed, match="cannot connect"):
        connect(f"unix:{tmp_path / 'nobody.sock'}", "x")


def test_daemon_disconnect_reason_reaches_the_client(unix_daemon: tuple[str, FakeDaemon]) -> None:
    address, _ = unix_daemon
    s = connect(address, "slow")
    s.multicast("g", b"before")
    s.join("close-me")
    assert isinstance(s.receive(timeout=5), DataMessage)   # what came before the end
    with pytest.raises(SessionClosed) as info:
        s.receive(timeout=5)
    assert info.value.reason == "client stopped reading"
    with pytest.raises(SessionClosed, match="client stopped reading"):
        s.poll()
    with pytest.raises(SessionClosed, match="client stopped reading"):
        s.join("again")
    s.close()


def test_junk_from_the_daemon_closes_the_session_with_a_reason(
        unix_daemon: tuple[str, FakeDaemon]) -> None:
    address, _ = unix_daemon
    s = connect(address, "j")
    s.join("junk")
    with pytest.raises(SessionClosed, match="protocol error"):
        s.receive(timeout=5)


def test_daemon_side_rejection_surfaces_on_the_next_call(
        unix_daemon: tuple[str, FakeDaemon]) -> None:
    address, _ = unix_daemon
    with connect(address, "e") as s:
        s.join("bad")
        s.join("good")
        assert isinstance(s.receive(timeout=5), GroupView)   # the ERROR came before this view
        with pytest.raises(LocalProtocolError, match="no such group"):
            s.multicast("good", b"x")
        s.multicast("good", b"y")          # reported once only


def test_daemon_not_reading_gives_backpressure_not_a_hang(
        unix_daemon: tuple[str, FakeDaemon]) -> None:
    address, _ = unix_daemon
    with connect(address, "flood", finish_timeout=0.5) as s:
        s.join("stall")
        payload = b"p" * 1000
        with pytest.raises((Backpressure, SessionClosed)):
            for _ in range(100_000):       # far more than any socket buffer holds
                s.multicast("g", payload)
        if not s.closed:
            with pytest.raises((Backpressure, SessionClosed)):
                s.multicast("g", payload, timeout=0.05)
        assert s.statistics().backpressure >= 1 or s.closed


def test_close_wakes_a_thread_blocked_in_receive(unix_daemon: tuple[str, FakeDaemon]) -> None:
    address, _ = unix_daemon
    s = connect(address, "sleeper")
    outcome: list[BaseException] = []
    started = threading.Event()

    def waiter() -> None:
        started.set()
        try:
            s.receive()
        except BaseException as exc:   # noqa: BLE001 - recorded for the assert
            outcome.append(exc)

    t = threading.Thread(target=waiter)
    t.start()
    assert started.wait(5)
    s.close()
    t.join(5)
    assert not t.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], SessionClosed)


@pytest.mark.parametrize("text, expected", [
    ("unix:/tmp/a.sock", wire.Address("unix", path="/tmp/a.sock")),
    ("/tmp/a.sock", wire.Address("unix", path="/tmp/a.sock")),
    ("tcp:127.0.0.1:4800", wire.Address("tcp", host="127.0.0.1", port=4800)),
    ("tcp:[::1]:4800", wire.Address("tcp", host="::1", port=4800)),
])
def test_addresses_parse(text: str, expected: wire.Address) -> None:
    assert wire.parse_address(text) == expected
    assert wire.parse_address(str(expected)) == expected


@pytest.mark.parametrize("text", ["", "tcp:host", "tcp:host:70000", "tcp::80", "udp:x:1", "unix:"])
def test_bad_addresses_are_the_callers_fault(text: str) -> None:
    with pytest.raises(LocalProtocolError):
        wire.parse_address(text)


def test_bad_arguments_are_the_callers_fault(unix_daemon: tuple[str, FakeDaemon]) -> None:
    address, _ = unix_daemon
    with connect(address, "args") as s:
        with pytest.raises(LocalProtocolError):
            s.multicast([], b"x")
        with pytest.raises(LocalProtocolError):
            s.multicast("g", "not bytes")  # type: ignore[arg-type]
        with pytest.raises(LocalProtocolError):
            s.join("")


def test_wake_ends_a_receive_without_a_time_limit(unix_daemon: tuple[str, FakeDaemon]) -> None:
    address, _ = unix_daemon
    with connect(address, "sleeper") as s:
        assert s.can_wake
        got: list[object] = []
        t = threading.Thread(target=lambda: got.append(s.receive()), daemon=True)
        t.start()
        s.wake()
        t.join(5)
        assert not t.is_alive() and got == [None]
        s.join("control")                       # the session goes on as before
        view = s.receive(timeout=5)
        assert isinstance(view, GroupView) and view.members == ("#sleeper#fake",)
