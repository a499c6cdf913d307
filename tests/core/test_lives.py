"""Peers' lives (core/lives.py): a smaller incarnation is a new life only after its
sender's current life has been silent and while it is in no membership here."""

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
