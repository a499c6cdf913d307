"""Socket-server limits (issue 15, cases 4 and 5, and keepalive of case 6): a daemon at its
descriptor limit pauses its listener instead of spinning and logs once; unfinished frames
are bounded in total bytes and in age; connections beyond the limit are refused; TCP
connections get keepalive. Real sockets on loopback, one daemon thread (fake engine)."""

from __future__ import annotations

import logging
import os
import resource
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from rt_fakes import FakeFactory, write_config

import robot_gcs
from robot_gcs import DataMessage, GroupView
from robot_gcs.client import wire
from robot_gcs.runtime.daemon import Daemon
from robot_gcs.runtime.limits import IpcLimits

WAIT = 20.0


def _start(tmp_path: Path, limits: IpcLimits, tcp: bool = False) -> tuple[Daemon, Path]:
    sockdir = Path(tempfile.mkdtemp(prefix="gcs"))      # short: AF_UNIX paths max 107 bytes
    _, cfg = write_config(tmp_path, 2)
    d = Daemon(cfg, "d1", engine_factory=FakeFactory(), health=False,
               client_address=f"unix:{sockdir / 'd1.sock'}",
               tcp_address="tcp:127.0.0.1:0" if tcp else None, ipc_limits=limits)
    d.start()
    return d, sockdir


@pytest.fixture
def make(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    started: list[tuple[Daemon, Path]] = []

    def make(limits: IpcLimits, tcp: bool = False) -> Daemon:
        started.append(_start(tmp_path, limits, tcp))
        return started[-1][0]

    yield make
    for d, sockdir in started:
        d.stop()
        shutil.rmtree(sockdir, ignore_errors=True)


def _raw(d: Daemon, hello: bool = True) -> socket.socket:
    assert d.ipc is not None
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.connect(d.ipc.address.path)
    if hello:
        raw.sendall(wire.encode(wire.Hello(f"raw{raw.fileno()}")))
    return raw


def _closed_reason(raw: socket.socket, timeout: float = WAIT) -> str:
    """Read until EOF; the reason of the CLOSED frame the daemon sent last."""
    raw.settimeout(timeout)
    data = b""
    while True:
        chunk = raw.recv(65536)
        if not chunk:
            break
        data += chunk
    dec = wire.FrameDecoder(wire.SERVER_FRAME_TYPES, wire.MAX_EVENT_FRAME)
    dec.feed(data)
    frames = list(dec.frames())
    assert frames and isinstance(frames[-1], wire.Closed), frames
    return frames[-1].reason


def _ipc_stats(d: Daemon):  # type: ignore[no-untyped-def]
    """The first server's statistics, taken under the loop lock (a consistent snapshot)."""
    st = d.statistics().ipc
    assert st is not None and st.limits is not None
    return st


def _until(fn, timeout: float = WAIT) -> None:  # type: ignore[no-untyped-def]
    ev = threading.Event()
    while not fn():
        assert not ev.wait(0.01) and timeout > 0, "condition not reached"
        timeout -= 0.01


def _still_serves(d: Daemon) -> None:
    assert d.ipc is not None
    with robot_gcs.connect(d.ipc.bound_address, "good") as s:
        s.join("g")
        assert isinstance(s.receive(timeout=WAIT), GroupView)
        s.multicast("g", b"still here")
        ev = s.receive(timeout=WAIT)
        assert isinstance(ev, DataMessage) and ev.payload == b"still here"


# ---------------------------------------------------------------------------- case 5

def _unfinished(d: Daemon, body: int, claimed: int = 3 << 20) -> socket.socket:
    """A connection after HELLO holding ``body`` bytes of a frame that claims ``claimed``
    (the daemon may end it meanwhile)."""
    raw = _raw(d)
    try:
        raw.sendall(wire._HDR.pack(claimed, wire.T_MCAST) + b"\0" * body)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return raw


def test_unfinished_frames_are_bounded_in_total(make) -> None:  # type: ignore[no-untyped-def]
    d = make(IpcLimits(max_input_total=2 << 20))
    conns = [_unfinished(d, 600_000) for _ in range(6)]      # 3.6 MB asked, 2 MiB allowed
    try:
        _until(lambda: _ipc_stats(d).limits.input_over_total >= 1
               and _ipc_stats(d).frames_in >= 6)
        st = _ipc_stats(d)
        assert st.limits.input_buffered <= 2 << 20
        assert st.limits.input_high_water <= (2 << 20) + 600_000
        closed = dict(st.closed)
        assert sum(n for k, n in closed.items() if k.startswith("daemon input buffers full")) \
            == st.limits.input_over_total
        assert st.connections == 6 - st.limits.input_over_total
        _still_serves(d)
    finally:
        for raw in conns:
            raw.close()


def test_a_frame_that_never_finishes_is_ended(make) -> None:  # type: ignore[no-untyped-def]
    d = make(IpcLimits(frame_timeout=0.3))
    raw = _unfinished(d, 10)
    try:
        for _ in range(3):             # a trickle does not keep it alive
            raw.send(b"\0")
        reason = _closed_reason(raw)
        assert "stayed unfinished for 0.3 s" in reason
        assert _ipc_stats(d).limits.input_timeouts == 1
        assert _ipc_stats(d).limits.input_buffered == 0
    finally:
        raw.close()


def test_steady_complete_frames_are_not_timed_out(make) -> None:  # type: ignore[no-untyped-def]
    d = make(IpcLimits(frame_timeout=0.2))
    with robot_gcs.connect(d.ipc.bound_address, "steady") as s:
        s.join("g")
        assert isinstance(s.receive(timeout=WAIT), GroupView)
        for i in range(200):
            s.multicast("g", b"m%d" % i * 2000)
            ev = s.receive(timeout=WAIT)
            assert isinstance(ev, DataMessage) and ev.payload == b"m%d" % i * 2000
    assert _ipc_stats(d).limits.input_timeouts == 0


def test_partial_hello_is_ended_by_the_hello_timeout(make) -> None:  # type: ignore[no-untyped-def]
    d = make(IpcLimits(hello_timeout=0.2))
    raw = _raw(d, hello=False)
    try:
        raw.sendall(wire.encode(wire.Hello("half"))[:6])
        assert "no HELLO within 0.2 s" in _closed_reason(raw)
    finally:
        raw.close()


def test_connections_beyond_the_limit_are_refused(make) -> None:  # type: ignore[no-untyped-def]
    d = make(IpcLimits(max_connections=3))
    held = [_raw(d, hello=False) for _ in range(3)]
    try:
        _until(lambda: _ipc_stats(d).connections == 3)
        extra = _raw(d, hello=False)
        assert "too many connections" in _closed_reason(extra)
        extra.close()
        assert _ipc_stats(d).limits.full_refusals == 1
    finally:
        for raw in held:
            raw.close()
    _until(lambda: _ipc_stats(d).connections == 0)
    _still_serves(d)


# ---------------------------------------------------------------------------- case 4

def test_out_of_descriptors_pauses_the_listener_and_logs_once(
        make, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    d = make(IpcLimits(accept_backoff=0.02, accept_backoff_max=0.1))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    fillers: list[int] = []
    client = None
    caplog.set_level(logging.WARNING, logger="robot_gcs.runtime.limits")
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 4096), hard))
        while True:                          # use up every descriptor of this process
            try:
                fillers.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                break
        os.close(fillers.pop())              # ... but one, for the client's socket
        client = _raw(d, hello=False)        # the kernel queues it; accept() gets EMFILE
        iterations = d.loop.iterations
        _until(lambda: _ipc_stats(d).limits.accept_failures >= 4)
        spent = d.loop.iterations - iterations
        st = _ipc_stats(d).limits
        assert st.accept_pauses == 1
        # paused between attempts: a few loop iterations per failure, not a busy loop
        assert spent < 20 * st.accept_failures, (spent, st)
        lines = [r for r in caplog.records if "cannot accept" in r.getMessage()]
        assert len(lines) == 1
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert client is not None
    try:                                     # descriptors are back: the queued one is served
        client.sendall(wire.encode(wire.Hello("late")))
        client.settimeout(WAIT)
        dec = wire.FrameDecoder(wire.SERVER_FRAME_TYPES)
        dec.feed(client.recv(4096))
        assert isinstance(dec.next_frame(), wire.Welcome)
    finally:
        client.close()
    assert any("accepting connections again" in r.getMessage() for r in caplog.records)
    _still_serves(d)


# ---------------------------------------------------------------------------- case 6 (unit)

def test_tcp_connections_get_keepalive(make) -> None:  # type: ignore[no-untyped-def]
    d = make(IpcLimits(keepalive_idle=3, keepalive_interval=1, keepalive_count=2), tcp=True)
    tcp = d.ipc_servers[1]
    with robot_gcs.connect(tcp.bound_address, "k", token=d.config.ring.client_token) as s:
        s.join("g")
        assert isinstance(s.receive(timeout=WAIT), GroupView)
        (conn,) = tcp._conns
        sock = conn.sock
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 3
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 2
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 5000


def test_limits_reject_nan_and_nonpositive() -> None:
    for bad in (float("nan"), float("inf"), 0, -1):
        with pytest.raises(ValueError, match="positive and finite"):
            IpcLimits(frame_timeout=bad)
