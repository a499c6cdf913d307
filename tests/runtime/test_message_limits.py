"""Message size limits (issue 15, case 2): a message over the ring's max_message_size is
refused with ``LocalProtocolError`` in the caller -- in process, queued or inline, and over
a socket -- naming the limit, and the session goes on. The largest message that fits
arrives intact everywhere (a real single-daemon ring on loopback)."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import robot_gcs
from robot_gcs import DataMessage, GroupView, LocalProtocolError
from robot_gcs.client import wire
from robot_gcs.core.group_wire import data_overhead
from robot_gcs.runtime.daemon import Daemon
from robot_gcs.testing import write_ring_config

LIMIT = 4 * 1024 * 1024


@pytest.fixture(params=[True, False], ids=["inline", "queued"])
def daemon(request: pytest.FixtureRequest) -> Iterator[Daemon]:
    d = Path(tempfile.mkdtemp(prefix="gcs"))        # short: AF_UNIX paths max 107 bytes
    extra = "" if request.param else "  runtime:\n    inline_commands: false"
    cfg = write_ring_config(d, 1, sockets=True, extra_ring=extra)
    dm = Daemon.from_file(cfg, "d1", health=False)
    dm.start()
    try:
        assert dm.wait_members(1, timeout=30)
        yield dm
    finally:
        dm.stop()
        shutil.rmtree(d, ignore_errors=True)


def _data(s: robot_gcs.Session, timeout: float = 30.0) -> DataMessage:
    while True:
        ev = s.receive(timeout=timeout)
        assert ev is not None, "no message within the timeout"
        if isinstance(ev, DataMessage):
            return ev
        assert isinstance(ev, GroupView)


def test_oversized_messages_raise_in_the_caller_and_the_session_goes_on(
        daemon: Daemon) -> None:
    assert daemon.ipc is not None
    local = daemon.connect("loc")
    remote = robot_gcs.connect(daemon.ipc.bound_address, "rem")
    try:
        local.join("g")
        remote.join("g")
        for s in (local, remote):              # both are members before anything is sent
            while True:
                ev = s.receive(timeout=30)
                assert isinstance(ev, GroupView), ev
                if len(ev.members) == 2:
                    break
        for sender, name in ((local, "loc"), (remote, "rem")):
            fits = LIMIT - data_overhead(name, ("g",))
            for size in (fits + 1, LIMIT, 10 * 1024 * 1024):
                with pytest.raises(LocalProtocolError, match=f"limit of {LIMIT} bytes"):
                    sender.multicast("g", b"x" * size)
            with pytest.raises(LocalProtocolError, match="max_message_size"):
                sender.send_private("#loc#d1", b"x" * LIMIT)
            # the session is still open: the largest message that fits arrives intact,
            # at both receivers (the socket one gets a frame larger than MAX_FRAME)
            payload = bytes(range(256)) * (fits // 256) + b"z" * (fits % 256)
            sender.multicast("g", payload)
            for receiver in (local, remote):
                got = _data(receiver)
                assert got.sender == f"#{name}#d1"
                assert hashlib.sha256(got.payload).digest() == hashlib.sha256(payload).digest()
            assert not local.closed and not remote.closed
    finally:
        remote.close()
        local.close()


def test_socket_frame_limit_is_checked_before_sending() -> None:
    groups = tuple(f"group-{i:03d}-" + "x" * 50 for i in range(255))
    with pytest.raises(LocalProtocolError, match=f"the limit is {wire.MAX_FRAME} bytes"):
        wire.encode_multicast(groups, b"x" * (wire.MAX_FRAME - 1000), robot_gcs.Service.AGREED)
    with pytest.raises(LocalProtocolError, match="MAX_FRAME"):
        wire.encode(wire.Private("#a#b", b"x" * wire.MAX_FRAME))
