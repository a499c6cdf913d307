"""Session security on real sockets: TCP clients must prove the client token, Unix
socket files are private (0600, or 0660 for a configured group)."""

from __future__ import annotations

import grp
import os
import shutil
import socket
import stat
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

import robot_gcs
from robot_gcs import GroupView
from robot_gcs.client import wire
from robot_gcs.config import load_config
from robot_gcs.errors import LocalProtocolError, SessionClosed
from robot_gcs.runtime.daemon import Daemon
from robot_gcs.security.keys import write_key_file
from robot_gcs.security.session_auth import AUTH_MAGIC, TOKEN_ENV, DaemonGate
from robot_gcs.testing import write_ring_config

WAIT = 10.0


@pytest.fixture
def sockdir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="gcsec"))      # short: AF_UNIX paths max 107 bytes
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _daemon(tmp: Path, extra: str = "", insecure: bool = False, **kw: str) -> Daemon:
    cfg = load_config(write_ring_config(tmp, 1, extra_ring=extra, insecure=insecure))
    return Daemon(cfg, "d1", health=False, **kw)


def _joined(s: robot_gcs.Session) -> None:
    s.join("g")
    while True:
        ev = s.receive(timeout=WAIT)
        assert ev is not None
        if isinstance(ev, GroupView):
            return


def _raw_answer(addr: str, first: bytes) -> wire.Frame | None:
    """Send ``first`` on a raw TCP connection; the daemon's first frame back."""
    host, port = addr[4:].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=WAIT)
    try:
        s.sendall(first)
        dec = wire.FrameDecoder(wire.SERVER_FRAME_TYPES)
        data = s.recv(65536)
        if data.startswith(AUTH_MAGIC):
            data = data[len(AUTH_MAGIC) + 64:]
            s.sendall(b"\x00" * 32)                  # a wrong proof
            data += s.recv(65536)
        while True:
            dec.feed(data)
            frame = dec.next_frame()
            if frame is not None or not data:
                return frame
            data = s.recv(65536)
    finally:
        s.close()


def test_tcp_client_without_the_token_is_refused_with_the_reason(tmp_path: Path) -> None:
    with _daemon(tmp_path, client_address="tcp:127.0.0.1:0") as d:
        assert d.ipc is not None
        addr = d.ipc.bound_address
        with pytest.raises(LocalProtocolError, match="authentication required"):
            robot_gcs.connect(addr, "nokey")
        with pytest.raises(SessionClosed, match="does not know this client token"):
            robot_gcs.connect(addr, "wrong", token=b"w" * 32)
        hello = _raw_answer(addr, wire.encode(wire.Hello("raw")))
        assert isinstance(hello, wire.Closed) and hello.refused
        assert "authentication required" in hello.reason
        forged = _raw_answer(addr, AUTH_MAGIC + b"\x01" * 32)
        assert isinstance(forged, wire.Closed) and forged.refused
        assert "authentication failed" in forged.reason
        st = d.statistics()
        assert st.ipc is not None and st.ipc.refused >= 3
        assert st.group_table == () and not st.sessions          # nobody got in
        with robot_gcs.connect(addr, "good", token=d.config.ring.client_token) as s:
            _joined(s)


def test_a_client_token_file_and_the_environment_variable(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    token = tmp_path / "client.token"
    write_key_file(str(token))
    with _daemon(tmp_path, extra=f"  client_token_file: {token}",
                 client_address="tcp:127.0.0.1:0") as d:
        assert d.ipc is not None
        addr = d.ipc.bound_address
        assert d.config.ring.client_token == token.read_bytes().strip()
        monkeypatch.setenv(TOKEN_ENV, str(token))
        with robot_gcs.connect(addr, "env") as s:
            _joined(s)
        monkeypatch.delenv(TOKEN_ENV)
        with pytest.raises(LocalProtocolError, match="authentication required"):
            robot_gcs.connect(addr, "none")


def test_an_insecure_ring_serves_tcp_without_a_token(tmp_path: Path) -> None:
    with _daemon(tmp_path, insecure=True, client_address="tcp:127.0.0.1:0") as d:
        assert d.ipc is not None
        with robot_gcs.connect(d.ipc.bound_address, "open") as s:
            _joined(s)


def test_unix_socket_is_private_to_its_owner(tmp_path: Path, sockdir: Path) -> None:
    old = os.umask(0)                # the daemon must not depend on its umask
    try:
        with _daemon(tmp_path, client_address=f"unix:{sockdir / 'd1.sock'}"):
            st = os.stat(sockdir / "d1.sock")
            assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
            assert st.st_uid == os.getuid()
            assert [p.name for p in sockdir.iterdir()] == ["d1.sock"]   # no temp names left
    finally:
        os.umask(old)


def test_unix_socket_for_a_configured_group(tmp_path: Path, sockdir: Path) -> None:
    group = grp.getgrgid(os.getgid()).gr_name
    with _daemon(tmp_path, extra=f"  socket_group: {group}",
                 client_address=f"unix:{sockdir / 'd1.sock'}") as d:
        st = os.stat(sockdir / "d1.sock")
        assert stat.S_IMODE(st.st_mode) == 0o660 and st.st_gid == os.getgid()
        assert d.ipc is not None
        with robot_gcs.connect(d.ipc.bound_address, "local") as s:   # no token on Unix
            _joined(s)


def test_daemon_gate_takes_the_handshake_in_any_split() -> None:
    import hashlib
    import hmac
    token = b"t" * 32
    gate = DaemonGate(token)
    cn = b"c" * 32
    reply, rest, refusal = gate.feed(AUTH_MAGIC[:2])
    assert (reply, rest, refusal) == (b"", None, None)
    reply, rest, refusal = gate.feed(AUTH_MAGIC[2:] + cn)
    assert reply.startswith(AUTH_MAGIC) and rest is None and refusal is None
    dn = reply[4:36]
    assert reply[36:] == hmac.new(token, b"rgcs-daemon-v1" + cn + dn, hashlib.sha256).digest()
    proof = hmac.new(token, b"rgcs-client-v1" + cn + dn, hashlib.sha256).digest()
    assert gate.feed(proof[:10]) == (b"", None, None)
    assert gate.feed(proof[10:] + b"HELLO...") == (b"", b"HELLO...", None)
    assert DaemonGate(token).feed(b"\x00\x00")[2] is not None          # not a handshake
