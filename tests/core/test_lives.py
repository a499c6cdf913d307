"""Peers' lives (core/lives.py): a smaller incarnation is a new life only after its
sender's current life has been silent and while it is in no ring here; a ring being
installed sets its members' lives."""

from __future__ import annotations

from robot_gcs.core.lives import Lives, Verdict, rewind_quiet
from robot_gcs.core.params import ProtocolParams


def test_larger_is_a_restart_smaller_is_stale_until_silence() -> None:
    lives = Lives(quiet=2.0)
    assert lives.admit(0.0, 2, 10, member=False) is Verdict.SAME      # first heard
    assert lives.admit(0.5, 2, 10, member=True) is Verdict.SAME
    assert lives.admit(1.0, 2, 11, member=True) is Verdict.NEW        # a restart
    assert lives.admit(1.5, 2, 10, member=False) is Verdict.STALE     # the old life
    assert lives.admit(2.9, 2, 3, member=False) is Verdict.STALE      # 1.9 s of silence
    assert lives.admit(3.1, 2, 3, member=True) is Verdict.STALE       # still a member
    assert lives.admit(3.1, 2, 3, member=False, joining=False) is Verdict.STALE  # no JOIN
    assert lives.admit(3.1, 2, 3, member=False) is Verdict.NEW        # rewound: back in
    assert lives.rewinds == 1
    assert lives.admit(3.2, 2, 11, member=True) is Verdict.NEW        # larger: always new
    assert lives.admit(3.3, 2, 3, member=False) is Verdict.STALE      # and 3 is old again


def test_stale_packets_do_not_extend_the_silence() -> None:
    lives = Lives(quiet=1.0)
    lives.admit(0.0, 2, 10, member=False)
    for t in (0.2, 0.4, 0.6, 0.8):          # the rewound life keeps knocking ...
        assert lives.admit(t, 2, 5, member=False) is Verdict.STALE
    assert lives.admit(1.0, 2, 5, member=False) is Verdict.NEW   # ... and is let in on time


def test_quiet_is_a_few_consensus_timeouts() -> None:
    p = ProtocolParams()
    assert rewind_quiet(p) > 3 * p.consensus_timeout + p.merge_interval


def test_a_ring_being_installed_sets_its_members_lives() -> None:
    lives = Lives(quiet=2.0)
    lives.admit(0.0, 2, 1000, member=False)
    lives.admit(0.1, 3, 7, member=False)
    lives.adopt(0.5, 2, 500)                 # the rewound life, on the commit token's word
    lives.adopt(0.5, 3, 7)
    assert lives.adopted == 1
    assert lives.admit(0.6, 2, 500, member=True, joining=False) is Verdict.SAME
    assert lives.admit(0.7, 2, 1000, member=True) is Verdict.NEW   # larger: a restart


def test_a_rewound_life_the_others_took_in_is_taken_in_while_gathering() -> None:
    """Group sweep seed 7184: n1's JOIN puts n2 in n4's gather set, meaning n2's rewound
    life; n4 must still take that life's own JOIN (the set one gathers with is no
    membership of a life), or it drops n2's messages in every ring it installs."""
    from lone_engine import LoneEngine

    from robot_gcs.core import wire
    from robot_gcs.core.engine import Engine
    from robot_gcs.core.params import EngineConfig
    from robot_gcs.core.types import MemberState, RingId
    p = ProtocolParams()
    e = Engine(EngineConfig(peers=(1, 2, 3, 4), cluster_id=9, params=p), 4, 1, None,
               rng_seed=1)
    lone = LoneEngine(e)
    lone.follow(e.start(0.0))
    lone.packet(0.01, wire.encode(wire.Hurry(2, 1000, RingId(2, 512)), 9))
    assert e.lives.incarnation[2] == 1000
    t = rewind_quiet(p) + 1.0                   # life 1000 silent since 0.01
    lone.run_until(t)
    assert e.state is MemberState.OPERATIONAL and 2 not in e.memb.proc_set
    lone.follow(e.handle_packet(t, None, wire.encode(wire.Join(1, 1, 0, (1, 2, 3, 4), ()), 9)))
    assert e.state is MemberState.GATHER and 2 in e.memb.proc_set     # on n1's word
    lone.follow(e.handle_packet(t + 0.01, None,
                                wire.encode(wire.Join(2, 500, 0, (1, 2, 3, 4), ()), 9)))
    assert dict(e.statistics().drops).get("stale_incarnation", 0) == 0
    assert e.lives.incarnation[2] == 500
