"""Forged datagrams against a sealed ring on real loopback sockets change nothing.

A 3-daemon ring (in-process daemons, throw-away key) forms; an attacker socket then sends
d1 the packets that broke an unkeyed ring (issue 14): a BEACON claiming ring seq near
2**64, a HURRY with incarnation 0xFFFFFFFF, a JOIN that would push a node out -- plain,
sealed with a wrong key, sealed with a forged tag, and genuine datagrams captured off d2
and replayed (also with their incarnation raised). Then d2 multicasts a marker: d1 must
deliver the marker as its next message (nothing forged was delivered before it), keep its
membership history and state, and count every forged datagram as dropped, by reason.
No sleeps: the marker travels behind the forged datagrams on d1's socket.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Iterator

import pytest

from robot_gcs import DataMessage
from robot_gcs.config import load_config
from robot_gcs.core import wire
from robot_gcs.core.types import MemberState, RingId
from robot_gcs.runtime.daemon import Daemon
from robot_gcs.security.sealer import SEAL_HEADER, Sealer
from robot_gcs.testing import write_ring_config

from sealed_ring import SealTap, joined_sessions

WAIT = 20.0


@pytest.fixture
def ring(tmp_path: Path) -> Iterator[tuple[list[Daemon], list[Any], Any]]:
    cfg = load_config(write_ring_config(tmp_path, 3, token_ms=1000, consensus_ms=1200))
    ds = [Daemon(cfg, f"d{i}", health=False) for i in (1, 2, 3)]
    try:
        for d in ds:
            d.start()
        sessions = joined_sessions(ds, "g", WAIT)
        yield ds, sessions, cfg
    finally:
        for d in ds:
            d.stop()


def _plain_forgeries(cluster_id: int) -> list[bytes]:
    return [
        wire.encode(wire.Beacon(2, 5, RingId(2, 2 ** 64 - 6), 1, 0), cluster_id),
        wire.encode(wire.Hurry(2, 0xFFFFFFFF, RingId(1, 8)), cluster_id),
        wire.encode(wire.Join(3, 0xFFFFFFFE, 2 ** 63, (1, 2, 3), (2,)), cluster_id),
        wire.encode(wire.Mcast(2, 0xFFFFFFFF, RingId(1, 2 ** 40), 7, 1,
                               wire.Service.AGREED, b"forged payload"), cluster_id),
    ]


def test_forged_and_replayed_datagrams_change_nothing(ring: Any) -> None:
    ds, sessions, cfg = ring
    d1, d2 = ds[0], ds[1]
    recorder = SealTap(d2.transport.sealer)
    d2.transport.sealer = recorder                 # d2's transport is run by its loop
    for i in range(20):                            # some genuine traffic to capture
        sessions[1].multicast("g", b"genuine %d" % i)
    for s in sessions:
        for i in range(20):
            ev = s.receive(timeout=WAIT)
            while not isinstance(ev, DataMessage):
                assert ev is not None
                ev = s.receive(timeout=WAIT)
            assert ev.payload == b"genuine %d" % i
    captured = list(recorder.kept)
    assert captured
    before = d1.statistics()
    history = d1.membership_history()

    plain = _plain_forgeries(cfg.cluster_id)
    wrong_key = Sealer([b"not the ring key, 32 bytes long!"], cfg.cluster_id, 2, 0xFFFFFFFF,
                       (1, 2, 3))
    sealed_wrong = [wrong_key.seal(p) for p in plain]
    forged_tag = []
    for p in [c for c in captured if SEAL_HEADER.unpack_from(c)[4] in (0, 1)][:50]:
        hdr = list(SEAL_HEADER.unpack_from(p))
        hdr[7] += 1_000_000                        # a fresh counter: the tag must fail
        forged_tag.append(SEAL_HEADER.pack(*hdr) + p[SEAL_HEADER.size:])
        hdr[5] = 0xFFFFFFFF                        # and a higher incarnation
        forged_tag.append(SEAL_HEADER.pack(*hdr) + p[SEAL_HEADER.size:])
    replayed = captured
    attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        target = d1.transport.bound_address
        for batch in (plain, sealed_wrong, forged_tag, replayed):
            for data in batch:
                attacker.sendto(data, target)
    finally:
        attacker.close()

    recorder.kept.clear()
    sessions[1].multicast("g", b"marker")
    ev = sessions[0].receive(timeout=WAIT)
    assert isinstance(ev, DataMessage) and ev.payload == b"marker", ev

    after = d1.statistics()
    drops = dict(after.dropped_packets)
    was = dict(before.dropped_packets)
    grew = {k: drops.get(k, 0) - was.get(k, 0) for k in drops if drops.get(k, 0) != was.get(k, 0)}
    assert grew.get("unsealed", 0) == len(plain), grew
    assert grew.get("seal_unknown_key", 0) + grew.get("seal_bad_tag", 0) \
        == len(sealed_wrong) + len(forged_tag), grew
    # replays: what d1 already took is a replay, what d2 sealed for d3 is not for d1
    assert grew.get("seal_replay", 0) + grew.get("seal_wrong_dest", 0) == len(replayed), grew
    assert grew.get("seal_wrong_dest", 0) > 0, grew      # tokens d2 passed to d3
    assert d1.membership_history() == history
    assert after.engine is not None and after.engine.state is MemberState.OPERATIONAL
    assert before.engine is not None and after.engine.ring_id == before.engine.ring_id
    assert after.engine_errors == 0

