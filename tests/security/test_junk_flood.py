"""A flood of junk datagrams at a sealed ring on loopback: no crash, no membership change,
nothing delivered that was not sent.

The junk (seeded ``random.Random``): random bytes, truncated / bit-flipped / overwritten
copies of genuine datagrams captured off d2 and d3, exact replays, and well-formed plain
ring packets with extreme fields. It goes to d1 in chunks; between chunks d2 multicasts a
numbered genuine message. At the end d1 and d3 must have delivered exactly the genuine
messages, in order, and nothing else; every daemon's membership history is unchanged and
no engine error was counted. The default run sends ``DEFAULT_DATAGRAMS``; ``-m slow``
sends 1,000,000. Junk the kernel drops (full socket buffer) is junk too: the test does not
need it to arrive, only that what arrives changes nothing.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path
from typing import Any, Iterator

import pytest

from robot_gcs import DataMessage, GroupView
from robot_gcs.config import load_config
from robot_gcs.core import wire
from robot_gcs.core.types import RingId, Service
from robot_gcs.runtime.daemon import Daemon
from robot_gcs.security.sealer import SEAL_HEADER
from robot_gcs.testing import write_ring_config

from sealed_ring import SealTap, joined_sessions

DEFAULT_DATAGRAMS = 20_000
SLOW_DATAGRAMS = 1_000_000
CHUNK = 2_000
WAIT = 30.0


@pytest.fixture
def ring(tmp_path: Path) -> Iterator[tuple[list[Daemon], list[Any], list[bytes]]]:
    cfg = load_config(write_ring_config(tmp_path, 3, token_ms=3000, consensus_ms=3600))
    ds = [Daemon(cfg, f"d{i}", health=False) for i in (1, 2, 3)]
    captured: list[bytes] = []
    try:
        for d in ds:
            d.start()
        for d in ds[1:]:
            d.transport.sealer = SealTap(d.transport.sealer, captured, limit=2000)
        sessions = joined_sessions(ds, "g", WAIT)
        yield ds, sessions, captured
    finally:
        for d in ds:
            d.stop()


def _junk(rng: random.Random, captured: list[bytes], cid: int) -> bytes:
    kind = rng.randrange(7)
    if kind == 0 or not captured:
        return rng.randbytes(rng.randrange(0, 200))
    base = rng.choice(captured)
    if kind == 1:
        return base[:rng.randrange(len(base))]
    if kind == 2:
        buf = bytearray(base)
        for _ in range(rng.randrange(1, 4)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        return bytes(buf)
    if kind == 3:
        return base                                     # a replay
    if kind == 4:
        head = list(SEAL_HEADER.unpack_from(base))
        head[rng.choice((5, 6, 7))] = rng.choice((0xFFFFFFFF, head[7] + 1, 1))
        return SEAL_HEADER.pack(*head) + base[SEAL_HEADER.size:]
    if kind == 5:
        return wire.encode(wire.Beacon(rng.choice((2, 3)), 0xFFFFFFFF,
                                       RingId(2, 2 ** 64 - 6), 3, 0), cid)
    return wire.encode(wire.Mcast(2, 7, RingId(1, 2 ** 40), rng.randrange(1, 100), 1,
                                  Service.AGREED, b"forged"), cid)


def _flood(ring: Any, total: int, seed: int) -> None:
    ds, sessions, captured = ring
    history = [d.membership_history() for d in ds]
    rng = random.Random(seed)
    cid = ds[0].config.cluster_id
    target = ds[0].transport.bound_address
    attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent_msgs: list[bytes] = []
    try:
        sent = 0
        while sent < total:
            for _ in range(min(CHUNK, total - sent)):
                try:
                    attacker.sendto(_junk(rng, captured, cid), target)
                except BlockingIOError:
                    pass
                sent += 1
            msg = b"genuine %d" % len(sent_msgs)
            sessions[1].multicast("g", msg)
            sent_msgs.append(msg)
    finally:
        attacker.close()
    for s in (sessions[0], sessions[2]):
        got: list[bytes] = []
        while len(got) < len(sent_msgs):
            ev = s.receive(timeout=WAIT)
            assert ev is not None, f"{s.private_name} got {len(got)} of {len(sent_msgs)}"
            assert not isinstance(ev, GroupView), f"membership changed: {ev}"
            if isinstance(ev, DataMessage):
                got.append(ev.payload)
        assert got == sent_msgs
        assert s.receive(timeout=0) is None
    for d, h in zip(ds, history):
        st = d.statistics()
        assert d.membership_history() == h and st.engine_errors == 0 and d.running
    drops = dict(ds[0].statistics().dropped_packets)
    assert sum(drops.values()) > 0, drops
    print(f"junk sent {total}, genuine {len(sent_msgs)}, d1 drops {drops}")   # for -s runs


def test_junk_flood_changes_nothing(ring: Any) -> None:
    _flood(ring, DEFAULT_DATAGRAMS, seed=14)


@pytest.mark.slow
def test_a_million_junk_datagrams_change_nothing(ring: Any) -> None:
    _flood(ring, SLOW_DATAGRAMS, seed=1_000_000)
