"""A JOIN sent before its sender installed a ring this node saw it operate in is stale:
dropped and counted, never allowed to fail its sender (core/gather_flow.py)."""

from __future__ import annotations

from lone_engine import LoneEngine

from robot_gcs.core import wire
from robot_gcs.core.engine import Engine
from robot_gcs.core.params import EngineConfig, ProtocolParams
from robot_gcs.core.types import MemberState, RingId, Service

CID = 9


def test_a_join_older_than_its_senders_ring_does_not_fail_the_sender() -> None:
    p = ProtocolParams()
    e = Engine(EngineConfig(peers=(2, 5), cluster_id=CID, params=p), 2, 1, None, rng_seed=1)
    lone = LoneEngine(e)
    lone.follow(e.start(0.0))
    lone.run_until(1.0)                            # alone: a singleton ring
    assert e.state is MemberState.OPERATIONAL
    # n5, singleton in its own ring 5.R, multicasts in it: I see it, and gather with it
    ring5 = RingId(5, e.ring_id.seq + 1024)
    mcast = wire.Mcast(5, 1, ring5, 1, 5, Service.AGREED, b"x")
    lone.packet(1.0, wire.encode(mcast, CID))
    assert e.state is MemberState.GATHER and 5 in e.memb.live()
    # ... then n5's JOIN from before that ring arrives late, listing me as failed
    old = wire.Join(5, 1, ring5.seq - 256, (2, 5), (2,))
    lone.packet(1.001, wire.encode(old, CID))
    assert 5 not in e.memb.fail_set
    assert dict(e.statistics().drops).get("stale_join") == 1
    # n5's current JOIN (it knows its own ring) is taken: the two agree
    new = wire.Join(5, 1, ring5.seq, (2, 5), ())
    lone.packet(1.002, wire.encode(new, CID))
    assert 5 in e.memb.consensus
