"""One greedy client cannot stop group traffic (issue 15, case 1), on a real 2-daemon
ring on loopback. The ring's messages are limited to 64 KiB here, so the per-daemon
membership limit is 496 (core/group_limits.py) and the case runs in seconds: a socket
client asks for 1,000 groups of 64-byte names (a ~74 KB group state: before the limits,
the merge below raised "message of 74019 bytes exceeds the maximum of 65536" on the
daemon loop and group traffic stopped on both daemons), joins beyond the limit are
refused, the other daemon restarts (a merge: every daemon sends its G_STATE), and
clients on both daemons still exchange messages."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from rt_sessions import next_message, view_with

import robot_gcs
from robot_gcs import LocalProtocolError
from robot_gcs.core.group_limits import GroupLimits
from robot_gcs.runtime.daemon import Daemon
from robot_gcs.testing import write_ring_config

WAIT = 60.0
MAX_MESSAGE = 64 * 1024
LIMIT = GroupLimits.for_message(MAX_MESSAGE).memberships_per_daemon


@pytest.fixture
def ring() -> Iterator[tuple[Path, list[Daemon]]]:
    d = Path(tempfile.mkdtemp(prefix="gcs"))       # short: AF_UNIX paths max 107 bytes
    cfg = write_ring_config(d, 2, sockets=True,
                            extra_ring=f"  protocol:\n    max_message_size: {MAX_MESSAGE}")
    daemons = [Daemon.from_file(cfg, name, health=False) for name in ("d1", "d2")]
    for dm in daemons:
        dm.start()
    try:
        for dm in daemons:
            assert dm.wait_members(2, timeout=WAIT)
        yield cfg, daemons
    finally:
        for dm in daemons:
            dm.stop()
        shutil.rmtree(d, ignore_errors=True)


def test_a_client_joining_too_many_groups_is_refused_and_traffic_goes_on(
        ring: tuple[Path, list[Daemon]]) -> None:
    cfg, (d1, d2) = ring
    assert d1.ipc is not None
    assert LIMIT == 496
    greedy = robot_gcs.connect(d1.ipc.bound_address, "greedy")
    names = [f"{i:064d}" for i in range(1000)]    # unlimited, their state is ~74 KB
    refusals = []
    for g in names:
        try:
            greedy.join(g)
        except LocalProtocolError as exc:         # the daemon's ERROR for an earlier join
            refusals.append(str(exc))
    with pytest.raises(LocalProtocolError) as info:
        for _ in range(int(WAIT * 100)):          # the last ERROR, raised by a later call
            greedy.receive(timeout=0.01)
            greedy.leave("never-joined")
    refusals.append(str(info.value))
    assert refusals and all(f"the limit per client is {LIMIT}" in r for r in refusals)
    other = d1.connect("other")                   # the daemon-wide budget is spent too
    with pytest.raises(LocalProtocolError, match=f"limit per daemon is {LIMIT}"):
        other.join("one-more")
    # a merge: d2 restarts, both daemons exchange their group state
    d2.stop()
    d2b = Daemon.from_file(cfg, "d2", health=False)
    d2b.start()
    try:
        assert d1.wait_members(("d1", "d2"), timeout=WAIT)
        assert d2b.wait_members(("d1", "d2"), timeout=WAIT)
        far = d2b.connect("far")
        far.join("chat")
        near = d1.connect("near")
        with pytest.raises(LocalProtocolError, match="limit per daemon"):
            near.join("chat")
        greedy.leave(names[0])                    # room for one more on d1 ...
        for _ in range(int(WAIT * 100)):
            try:
                near.join("chat")
                break
            except LocalProtocolError:            # ... once d1 has read that frame
                near.receive(timeout=0.01)
        view_with(near, 2)
        view_with(far, 2)
        near.multicast("chat", b"from d1")
        far.multicast("chat", b"from d2")
        got = [[next_message(s).payload for _ in range(2)] for s in (near, far)]
        assert got[0] == got[1] and sorted(got[0]) == [b"from d1", b"from d2"]
        table = dict(d2b.statistics().group_table)
        assert sum(1 for g in names if "#greedy#d1" in table.get(g, ())) == LIMIT - 1
        assert table.get(names[LIMIT]) is None
    finally:
        greedy.close()
        d2b.stop()
