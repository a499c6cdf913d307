"""Socket sessions through a real daemon thread and its IPC server (local-only fake engine).

What a program using ``robot_gcs.connect`` relies on: the same Session behaviour as in
process (views, messages, order, errors), refusal of a taken name, a clear disconnect
with a reason when it stops reading (while the daemon goes on serving everybody else),
end-to-end backpressure instead of a stalled daemon, and junk never hurting the daemon.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rt_fakes import FakeFactory, fake_factory, write_config

import robot_gcs
from robot_gcs import (Backpressure, Cause, DataMessage, GroupView, LocalProtocolError,
                       SessionClosed)
from robot_gcs.client import wire
from robot_gcs.errors import GcsError
from robot_gcs.runtime.daemon import Daemon


@pytest.fixture
def sockdir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="gcs"))      # short: AF_UNIX paths max 107 bytes
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def fakes() -> FakeFactory:
    return FakeFactory()


@pytest.fixture
def daemon(tmp_path: Path, sockdir: Path, fakes: FakeFactory) -> Iterator[Daemon]:
    _, cfg = write_config(tmp_path, 2, extra_ring="  runtime:\n    send_queue: 5\n"
                                                  "    session_queue: 500")
    d = Daemon(cfg, "d1", engine_factory=fakes,
               client_address=f"unix:{sockdir / 'd1.sock'}")
    d.start()
    assert d.ipc is not None
    yield d
    d.stop()


def _next(s, kind=None, timeout: float = 5.0):  # type: ignore[no-untyped-def]
    ev = s.receive(timeout=timeout)
    assert ev is not None, "no event within timeout"
    if kind is not None:
        assert isinstance(ev, kind), ev
    return ev


def _on_loop(d: Daemon, fn):  # type: ignore[no-untyped-def]
    """Run fn on the daemon thread and return its result."""
    box: list = []
    done = threading.Event()

    def run() -> None:
        box.append(fn())
        done.set()

    d.loop.call_soon_threadsafe(run)
    assert done.wait(5)
    return box[0]


def test_socket_and_inprocess_sessions_share_groups(daemon: Daemon) -> None:
    addr = daemon.ipc.bound_address
    with robot_gcs.connect(addr, "remote") as r, daemon.connect("local") as l:
        assert r.private_name == "#remote#d1"
        r.join("g")
        assert _next(r, GroupView).members == ("#remote#d1",)
        l.join("g")
        assert _next(r, GroupView).members == ("#local#d1", "#remote#d1")
        _next(l, GroupView)
        for i in range(50):
            r.multicast("g", b"r%d" % i, service=robot_gcs.Service.SAFE, msg_type=3, timeout=5)
        l.multicast(["g"], b"from local")
        seen = []
        for s in (r, l):
            got = [_next(s, DataMessage) for _ in range(51)]
            seen.append(got)
            remote = [m for m in got if m.sender == "#remote#d1"]
            assert [m.payload for m in remote] == [b"r%d" % i for i in range(50)]
            assert remote[0].msg_type == 3 and remote[0].service is robot_gcs.Service.SAFE
            assert DataMessage("#local#d1", ("g",), robot_gcs.Service.AGREED,
                               b"from local", 0) in got
        assert seen[0] == seen[1]          # one order for both receivers
        r.multicast("g", b"not to me", self_discard=True)
        assert _next(l, DataMessage).payload == b"not to me"
        r.leave("g")
        assert _next(r, GroupView).cause is Cause.LEAVE
    stats = daemon.ipc.statistics()
    assert stats.accepted == 1 and stats.frames_in >= 54   # HELLO, JOIN, 51 MCAST, LEAVE


def test_socket_client_closing_is_a_disconnect_for_the_group(daemon: Daemon) -> None:
    with daemon.connect("watcher") as w:
        w.join("g")
        _next(w)
        r = robot_gcs.connect(daemon.ipc.bound_address, "leaver")
        r.join("g")
        assert _next(w, GroupView).members == ("#leaver#d1", "#watcher#d1")
        r.close()
        v = _next(w, GroupView)
        assert v.cause is Cause.DISCONNECT and v.changed == ("#leaver#d1",)


def _raw_member(daemon: Daemon, w: object, name: str) -> socket.socket:
    """A raw socket client ``name`` in group g, seen joining by ``w`` (already in g)."""
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.connect(daemon.ipc.address.path)
    raw.sendall(wire.encode(wire.Hello(name)) + wire.encode(wire.Join("g")))
    assert _next(w, GroupView).members == (f"#{name}#d1", "#watcher#d1")
    return raw


def test_abrupt_socket_drop_is_a_disconnect_too(daemon: Daemon) -> None:
    with daemon.connect("watcher") as w:
        w.join("g")
        _next(w)
        raw = _raw_member(daemon, w, "raw")
        raw.close()                                   # no BYE: like a killed process
        assert _next(w, GroupView).cause is Cause.DISCONNECT


def test_a_client_that_closes_right_after_sending_loses_none_of_it(daemon: Daemon) -> None:
    # a tool publishes and exits at once, leaving events to it unread: the daemon's next
    # write to it fails (EPIPE) while its last frames still wait in the socket; they are
    # its messages all the same (they were lost: `topic pub --count 3000` delivered 2500)
    with daemon.connect("watcher") as w:
        w.join("g")
        _next(w)
        raw = _raw_member(daemon, w, "tool")
        frames = b"".join(wire.encode(wire.Multicast(("g",), b"m%d" % i, robot_gcs.Service.AGREED,
                                                     0, True, False)) for i in range(40))
        assert daemon.loop.enter(5)           # the daemon reads nothing meanwhile
        try:
            raw.sendall(frames)
            raw.close()                       # WELCOME and the views to it unread
            conn = next(c for c in daemon.ipc._conns if c.name == "tool")
            conn.push(DataMessage("#watcher#d1", ("g",), robot_gcs.Service.AGREED, b"x", 0))
            conn._flush()                     # the event's write finds the client gone
        finally:
            daemon.loop.leave()
        got = [_next(w, DataMessage).payload for _ in range(40)]
        assert got == [b"m%d" % i for i in range(40)]
        assert _next(w, GroupView).cause is Cause.DISCONNECT


def test_a_gone_client_that_sent_junk_is_let_go(daemon: Daemon) -> None:
    # HELLO, JOIN, junk, closed before the daemon read any of it: the WELCOME finds it
    # gone, the daemon reads on, the junk ends the session -- and nothing is left open
    # (a closing connection with nothing it could write waited for ever: 100 hostile
    # connections per wave grew a daemon past its memory cap)
    with daemon.connect("watcher") as w:
        w.join("g")
        _next(w)
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.connect(daemon.ipc.address.path)
        assert daemon.loop.enter(5)           # the daemon reads nothing meanwhile
        try:
            raw.sendall(wire.encode(wire.Hello("junky")) + wire.encode(wire.Join("g"))
                        + b"\xff" * 64)
            raw.close()
        finally:
            daemon.loop.leave()
        assert _next(w, GroupView).members == ("#junky#d1", "#watcher#d1")
        assert _next(w, GroupView).cause is Cause.DISCONNECT
        deadline = time.monotonic() + 5
        while daemon.ipc.statistics().connections > 0:
            assert time.monotonic() < deadline, daemon.ipc.statistics()
            _on_loop(daemon, lambda: None)    # one more loop iteration
        assert dict(daemon.ipc.statistics().malformed)


def test_taken_or_bad_name_is_refused(daemon: Daemon) -> None:
    addr = daemon.ipc.bound_address
    with robot_gcs.connect(addr, "dup"):
        with pytest.raises(LocalProtocolError, match="already in use"):
            robot_gcs.connect(addr, "dup")
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.connect(daemon.ipc.address.path)
    raw.sendall(wire.encode(wire.Hello("bad#name")))
    dec = wire.FrameDecoder(wire.SERVER_FRAME_TYPES)
    frame = None
    raw.settimeout(5)
    while frame is None:
        data = raw.recv(4096)
        assert data
        dec.feed(data)
        frame = dec.next_frame()
    assert isinstance(frame, wire.Closed) and frame.refused
    raw.close()
    assert daemon.ipc.statistics().refused == 2


@pytest.mark.parametrize("max_buffer, max_events", [(64 * 1024, 10 ** 6), (10 ** 9, 50)],
                         ids=["bytes bound", "events bound"])
def test_client_that_stops_reading_is_disconnected_with_a_reason(
        daemon: Daemon, max_buffer: int, max_events: int) -> None:
    daemon.ipc.max_buffer = max_buffer
    daemon.ipc.max_events = max_events
    slow = robot_gcs.connect(daemon.ipc.bound_address, "slow")
    slow.join("g")
    _next(slow)
    with daemon.connect("pub") as pub:
        pub.join("g")
        payload = b"x" * 1000
        sent = 0
        # the slow client never reads; the daemon must cut it off, never stall
        while not _on_loop(daemon, lambda: daemon.ipc.statistics().overflows):
            pub.multicast("g", payload, timeout=5)
            sent += 1
            assert sent < 20_000, "slow client never detached"
        # the daemon keeps serving: the publisher still gets its own messages
        pub.multicast("g", b"still alive", timeout=5)
        while True:
            ev = _next(pub)
            if isinstance(ev, DataMessage) and ev.payload == b"still alive":
                break
    got = 0
    with pytest.raises(SessionClosed) as info:
        while True:
            ev = slow.receive(timeout=5)
            assert ev is not None
            got += isinstance(ev, DataMessage)
    assert "stopped reading" in info.value.reason
    assert 0 < got < sent
    stats = daemon.statistics()
    assert stats.sessions_detached == 1
    assert any("stopped reading" in r for r, _ in daemon.ipc.statistics().closed)


def test_backpressure_reaches_the_socket_client_instead_of_stalling(
        daemon: Daemon, fakes: FakeFactory) -> None:
    engine = fakes.engines["d1"]
    engine.blocked = True
    with robot_gcs.connect(daemon.ipc.bound_address, "flood") as f:
        f.join("g")
        _next(f)
        with pytest.raises(Backpressure):
            for _ in range(1_000_000):
                f.multicast("g", b"y" * 1000)
        # the kernel buffer may fill before the daemon thread reads at all; the server
        # then reads, meets the full send queue and parks the client (stops reading)
        for _ in range(10_000):
            if _on_loop(daemon, lambda: daemon.ipc.statistics().backpressure_pauses):
                break
        assert daemon.ipc.statistics().backpressure_pauses >= 1
        engine.blocked = False
        f.multicast("g", b"after", timeout=10)
        while True:                      # everything accepted is delivered, in order
            ev = _next(f, DataMessage, timeout=10)
            if ev.payload == b"after":
                break


def test_junk_on_the_socket_is_counted_and_dropped(daemon: Daemon) -> None:
    with daemon.connect("ok") as ok:
        ok.join("g")
        _next(ok)
        for junk in [b"\xff" * 64, b"\x00\x00\x00\x02\x01\x00", os.urandom(5000)]:
            raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            raw.connect(daemon.ipc.address.path)
            raw.sendall(junk)
            raw.shutdown(socket.SHUT_WR)
            raw.settimeout(5)
            while raw.recv(4096):          # daemon answers (CLOSED) and closes
                pass
            raw.close()
        ok.multicast("g", b"unharmed")
        assert _next(ok, DataMessage).payload == b"unharmed"
    stats = daemon.ipc.statistics()
    assert sum(n for _, n in stats.malformed) >= 2
    assert stats.connections == 0


def test_daemon_stop_tells_socket_clients_why(tmp_path: Path, sockdir: Path) -> None:
    _, cfg = write_config(tmp_path, 2)
    path = sockdir / "stop.sock"
    d = Daemon(cfg, "d1", engine_factory=fake_factory, client_address=f"unix:{path}")
    d.start()
    s = robot_gcs.connect(f"unix:{path}", "c")
    d.stop()
    with pytest.raises(SessionClosed, match="daemon stopped"):
        s.receive(timeout=5)
    assert not path.exists()


def test_stale_socket_file_is_replaced_but_a_live_one_is_an_error(
        tmp_path: Path, sockdir: Path) -> None:
    path = sockdir / "stale.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()                       # file left behind, nobody listening
    _, cfg = write_config(tmp_path, 2)
    d = Daemon(cfg, "d1", engine_factory=fake_factory, client_address=f"unix:{path}")
    d.start()
    try:
        with robot_gcs.connect(f"unix:{path}", "c") as s:
            assert s.private_name == "#c#d1"
        other = Daemon(cfg, "d2", engine_factory=fake_factory, client_address=f"unix:{path}",
                       state_dir=str(tmp_path / "s2"))
        with pytest.raises(GcsError, match="another daemon"):
            other.start()
    finally:
        d.stop()


def test_tcp_sessions(tmp_path: Path) -> None:
    _, cfg = write_config(tmp_path, 2)
    d = Daemon(cfg, "d1", engine_factory=fake_factory, client_address="tcp:127.0.0.1:0")
    d.start()
    try:
        addr = d.ipc.bound_address
        assert addr.startswith("tcp:127.0.0.1:") and not addr.endswith(":0")
        with robot_gcs.connect(addr, "t", token=cfg.ring.client_token) as s:
            s.join("g")
            _next(s, GroupView)
            s.multicast("g", b"t" * 100_000)
            assert _next(s, DataMessage).payload == b"t" * 100_000
    finally:
        d.stop()


def test_connection_without_hello_is_closed_after_the_hello_timeout(
        daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    from robot_gcs.runtime.limits import IpcLimits
    monkeypatch.setattr(daemon.ipc, "limits", IpcLimits(hello_timeout=0.05))
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.connect(daemon.ipc.address.path)
    raw.settimeout(10)
    dec = wire.FrameDecoder(wire.SERVER_FRAME_TYPES)
    data = b""
    while True:                        # the daemon answers CLOSED, then closes
        chunk = raw.recv(4096)
        if not chunk:
            break
        data += chunk
    raw.close()
    dec.feed(data)
    frame = dec.next_frame()
    assert isinstance(frame, wire.Closed) and "no HELLO" in frame.reason
    assert dict(daemon.ipc.statistics().malformed)["hello_timeout"] == 1


def test_briefly_slow_client_loses_nothing(daemon: Daemon) -> None:
    """Events beyond the kernel buffer wait in the connection's buffer, flushed when the
    socket drains: a client that pauses (within the bounds) gets every event, in order."""
    daemon.ipc.max_events = 10 ** 6
    with robot_gcs.connect(daemon.ipc.bound_address, "pausing") as slow, \
            daemon.connect("pub") as pub:
        slow.join("g")
        _next(slow)
        n = 3000                                          # ~3 MB: far beyond the kernel buffer
        for i in range(n):
            pub.multicast("g", b"%06d" % i + bytes(1000), timeout=5)
        got = [_next(slow, DataMessage).payload[:6] for _ in range(n)]
        assert got == [b"%06d" % i for i in range(n)]
        (st,) = [x for x in daemon.statistics().sessions if x.name == "pausing"]
        assert st.kind == "ipc" and st.queue_high_water > 100   # it did wait in our buffer
        assert daemon.ipc.statistics().overflows == 0


def test_socket_client_gets_bytes_when_an_inprocess_publisher_passes_an_object(
        tmp_path: Path, sockdir: Path) -> None:
    """Real engines: in-process receivers get the publisher's object, socket clients the
    encoded bytes (a socket cannot carry Python objects)."""
    _, cfg = write_config(tmp_path, 1)
    with Daemon(cfg, "d1", client_address=f"unix:{sockdir / 'real.sock'}") as d:
        with robot_gcs.connect(d.ipc.bound_address, "remote") as r, d.connect("local") as l:
            r.join("g")
            _next(r, GroupView)
            l.join("g")
            while len(_next(r, GroupView).members) < 2:
                pass
            obj = {"pose": (1.0, 2.0)}
            l.multicast("g", b"encoded pose", local_payload=obj)
            assert _next(r, DataMessage).payload == b"encoded pose"
            while True:
                ev = _next(l)
                if isinstance(ev, DataMessage):
                    assert ev.payload is obj
                    break
        assert d.ipc.statistics().unencodable == 0


def test_topics_work_over_a_socket_session(tmp_path: Path, sockdir: Path) -> None:
    """A Node in another process (here: over the socket) talks to an in-process Node."""
    from robot_gcs.pubsub.node import Node
    _, cfg = write_config(tmp_path, 1)
    with Daemon(cfg, "d1", client_address=f"unix:{sockdir / 'topics.sock'}") as d:
        remote = Node("remote", robot_gcs.connect(d.ipc.bound_address, "remote"))
        local = Node("local", d)
        got: list[bytes] = []
        remote.create_subscription(bytes, "/odom", got.append)
        pub = local.create_publisher(bytes, "/odom")
        for _ in range(200):                     # bounded: until the subscription is live
            pub.publish(b"pose")
            remote.spin_once(timeout=0.05)
            if got:
                break
        assert got and got[0] == b"pose"
        remote.destroy()
        local.destroy()


def test_command_the_daemon_rejects_is_answered_with_an_error_and_the_session_goes_on(
        daemon: Daemon) -> None:
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.connect(daemon.ipc.address.path)
    raw.settimeout(10)
    raw.sendall(wire.encode(wire.Hello("raw")) +
                wire.encode(wire.Multicast(("g",), b"x", msg_type=70_000)) +   # > 65535
                wire.encode(wire.Join("g")))
    dec = wire.FrameDecoder(wire.SERVER_FRAME_TYPES)
    frames: list[wire.Frame] = []
    while len(frames) < 3:
        data = raw.recv(4096)
        assert data
        dec.feed(data)
        frames.extend(dec.frames())
    raw.close()
    assert isinstance(frames[0], wire.Welcome)
    assert isinstance(frames[1], wire.Error) and "msg_type" in frames[1].message
    assert isinstance(frames[2], GroupView) and frames[2].members == ("#raw#d1",)


def test_one_thread_receives_while_another_multicasts_on_the_same_socket_session(
        daemon: Daemon) -> None:
    daemon.ipc.max_events = 10 ** 6
    with robot_gcs.connect(daemon.ipc.bound_address, "both") as s:
        s.join("g")
        _next(s, GroupView)
        n = 2000
        got: list[bytes] = []
        errors: list[BaseException] = []

        def reader() -> None:
            try:
                while len(got) < n:
                    ev = s.receive(timeout=10)
                    assert ev is not None
                    if isinstance(ev, DataMessage):
                        got.append(ev.payload)
            except BaseException as exc:   # noqa: BLE001 - reported below
                errors.append(exc)

        t = threading.Thread(target=reader)
        t.start()
        for i in range(n):
            s.multicast("g", b"%d" % i, timeout=10)
        t.join(30)
        assert not t.is_alive() and not errors
        assert got == [b"%d" % i for i in range(n)]


def test_random_command_streams_never_hurt_the_daemon(tmp_path: Path, sockdir: Path) -> None:
    """Well-framed but arbitrary commands (bad names, huge msg_types, unknown private names,
    frames after BYE...) from many connections: each is answered or refused, the daemon
    keeps serving (real engines)."""
    import random
    rng = random.Random(20261127)
    _, cfg = write_config(tmp_path, 1)
    names = ["g", "", "x" * 65, "#", "#a#d1", "#nobody#nowhere", "ok", "\u00e9t\u00e9"]

    def frame() -> wire.Frame:
        kind = rng.randrange(6)
        name = rng.choice(names)
        if kind == 0:
            return wire.Join(name)
        if kind == 1:
            return wire.Leave(name)
        if kind == 2:
            return wire.Multicast(tuple(rng.sample(names, rng.randrange(0, 4))),
                                  rng.randbytes(rng.randrange(0, 3000)),
                                  rng.choice(list(robot_gcs.Service)),
                                  rng.choice([0, 1, 65535, 65536, -1, 2 ** 31 - 1]),
                                  rng.random() < 0.5)
        if kind == 3:
            return wire.Private(name, rng.randbytes(10), robot_gcs.Service.AGREED,
                                rng.choice([0, 70000]))
        if kind == 4:
            return wire.Hello(rng.choice(["again", ""]))
        return wire.Bye("bye")

    with Daemon(cfg, "d1", client_address=f"unix:{sockdir / 'fuzz.sock'}") as d:
        for i in range(30):
            raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            raw.connect(d.ipc.address.path)
            raw.settimeout(10)
            hello = wire.Hello(rng.choice([f"c{i}", "", "bad#name", "y" * 40]))
            raw.sendall(b"".join(wire.encode(f) for f in [hello] + [frame() for _ in range(20)]))
            raw.shutdown(socket.SHUT_WR)
            while raw.recv(65536):             # the daemon answers and ends the session
                pass
            raw.close()
        with d.connect("survivor") as s:       # still serving, still ordering
            s.join("g")
            while not isinstance(ev := _next(s), GroupView) or "#survivor#d1" not in ev.members:
                pass
            s.multicast("g", b"fine")
            while not isinstance(ev := _next(s), DataMessage):
                pass
            assert ev.payload == b"fine"
        stats = d.ipc.statistics()
        assert stats.accepted == 30 and stats.connections == 0
        assert d.statistics().engine_errors == 0
