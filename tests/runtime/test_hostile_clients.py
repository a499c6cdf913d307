"""Hostile clients cannot take a daemon down (issue 15, acceptance).

A 2-daemon ring of ``robot-gcs daemon`` processes on loopback. Against d1: 100 hostile
connections -- 40 junk, 30 holding unfinished frames of 1-3 MiB (claiming 4 MiB), 30
slow readers in a busy group that never read -- while a publisher on d1 floods the busy
group and two good clients, one per daemon, exchange messages. Checked: both daemons
stay up, the good clients see every message in one order during and after the attack,
and d1's peak RSS stays under ``RSS_CAP`` (README "Limits": the input and output totals
of runtime/limits.py plus the daemon's own ~40 MB). The ``slow`` variant runs five
waves of 300 connections (more than ``max_connections``: some are refused).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from hostile import Ring, attack

import robot_gcs
from robot_gcs import DataMessage, GroupView

WAIT = 60.0
RSS_CAP = 256 << 20        # documented in README "Limits"


@pytest.fixture
def ring() -> Iterator[Ring]:
    r = Ring(2)
    try:
        yield r
    finally:
        r.close()


def _view(s: robot_gcs.Session, n: int) -> None:
    while True:
        ev = s.receive(timeout=WAIT)
        assert ev is not None, "no view within the timeout"
        if isinstance(ev, GroupView) and len(ev.members) == n and not ev.transitional:
            return


def _exchange(a: robot_gcs.Session, b: robot_gcs.Session, tag: str, n: int) -> None:
    """a and b each send n messages to "chat"; both receive all 2n in one order."""
    for i in range(n):
        a.multicast("chat", f"{tag}-a-{i}".encode(), timeout=WAIT)
        b.multicast("chat", f"{tag}-b-{i}".encode(), timeout=WAIT)
    seen = []
    for s in (a, b):
        got = []
        while len(got) < 2 * n:
            ev = s.receive(timeout=WAIT)
            assert ev is not None, f"{tag}: {len(got)} of {2 * n} messages"
            if isinstance(ev, DataMessage):
                got.append(bytes(ev.payload))
        seen.append(got)
    assert seen[0] == seen[1]
    assert sorted(seen[0]) == sorted([f"{tag}-{w}-{i}".encode() for w in "ab"
                                      for i in range(n)])


def _run(ring: Ring, waves: int, junk: int, unfinished: int, slow: int, flood: int) -> None:
    rng = random.Random(15)
    a = robot_gcs.connect(ring.address("d1"), "good1")
    b = robot_gcs.connect(ring.address("d2"), "good2")
    pub = robot_gcs.connect(ring.address("d1"), "pub")
    try:
        a.join("chat")
        b.join("chat")
        _view(a, 2)
        _view(b, 2)
        _exchange(a, b, "before", 20)
        for wave in range(waves):
            att = attack(ring.path("d1"), rng, junk, unfinished, slow, "busy")
            try:
                for i in range(flood):             # the slow readers' group gets busy
                    pub.multicast("busy", bytes(32 * 1024), timeout=WAIT)
                    if i % 50 == 0:
                        _exchange(a, b, f"w{wave}-{i}", 2)
                _exchange(a, b, f"during{wave}", 20)
                assert ring.alive("d1") and ring.alive("d2")
                assert ring.peak_rss("d1") < RSS_CAP, ring.peak_rss("d1") >> 20
            finally:
                att.close()
        _exchange(a, b, "after", 20)
        assert ring.peak_rss("d1") < RSS_CAP, ring.peak_rss("d1") >> 20
    finally:
        for s in (a, b, pub):
            s.close()


def test_100_hostile_connections_leave_the_ring_working_within_the_rss_cap(
        ring: Ring) -> None:
    _run(ring, waves=1, junk=40, unfinished=30, slow=30, flood=400)


@pytest.mark.slow
def test_waves_of_hostile_connections_beyond_the_connection_limit(ring: Ring) -> None:
    _run(ring, waves=5, junk=100, unfinished=100, slow=100, flood=1500)
