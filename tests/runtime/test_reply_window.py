"""Reply window: a token is held briefly for a local reply, and only while replies come.

What a robot program relies on: request/reply between daemons does not wait a whole
token rotation for the reply, one-way traffic is not slowed by tokens held for replies
that never come, and holding never changes what is delivered or in which order.
"""

from __future__ import annotations

from pathlib import Path

from rt_pair import daemon_pair, next_from, ping_pong

from robot_gcs.runtime.reply_window import BACKOFF, MISSES, ReplyWindow


# ------------------------------------------------------------ the policy

def test_a_token_is_held_only_after_local_clients_were_handed_data() -> None:
    rw = ReplyWindow(0.0003)
    assert not rw.should_hold()
    rw.fed_sinks = True
    assert rw.should_hold()
    assert not rw.should_hold()               # the mark is used up by that token
    assert rw.holds == 1


def test_windows_that_run_out_back_off_and_holding_resumes_later() -> None:
    rw = ReplyWindow(0.0003)
    for _ in range(MISSES):
        rw.fed_sinks = True
        assert rw.should_hold()
        rw.expired()
    passed = 0
    for _ in range(BACKOFF):
        rw.fed_sinks = True
        passed += not rw.should_hold()
    assert passed == BACKOFF
    rw.fed_sinks = True
    assert rw.should_hold()


def test_a_reply_in_the_window_resets_the_miss_count() -> None:
    rw = ReplyWindow(0.0003)
    for _ in range(3 * MISSES):
        for _ in range(MISSES - 1):
            rw.fed_sinks = True
            assert rw.should_hold()
            rw.expired()
        rw.fed_sinks = True
        assert rw.should_hold()
        rw.released_by_command()
    assert rw.hits == 3 * MISSES


def test_a_token_is_held_for_the_one_session_that_was_fed() -> None:
    rw = ReplyWindow(0.0003)
    x, y = object(), object()
    rw.fed(x)
    rw.fed(x)
    assert rw.should_hold() and rw.held_for is x
    rw.fed(x)
    rw.fed(y)                                 # two sessions: nobody in particular
    assert rw.should_hold() and rw.held_for is None
    assert not rw.should_hold() and rw.held_for is None
    rw.fed(y)
    rw.should_hold()
    rw.waiter_returned()
    assert rw.waiter_releases == 1


def test_a_zero_window_never_holds() -> None:
    rw = ReplyWindow(0.0)
    rw.fed_sinks = True
    assert not rw.should_hold() and rw.holds == 0


# ------------------------------------------------------------ two real daemons

def test_replies_ride_on_the_held_token(tmp_path: Path) -> None:
    with daemon_pair(tmp_path, {"reply_window_us": 300}, token_ms=1000) as (d1, d2, a, b):
        ping_pong(a, b, 200)
        s1, s2 = d1.statistics(), d2.statistics()
        assert s1.reply_hits + s2.reply_hits > 0
        assert s1.reply_hits <= s1.reply_holds and s2.reply_hits <= s2.reply_holds


def test_one_way_traffic_stops_holding_tokens(tmp_path: Path) -> None:
    with daemon_pair(tmp_path, {"reply_window_us": 300}, token_ms=1000) as (d1, d2, a, b):
        n = 300
        for i in range(n):
            a.multicast("g", b"%d" % i)
            assert next_from(a, a.private_name).payload == b"%d" % i   # one in flight
        got = [next_from(b, a.private_name).payload for _ in range(n)]
        assert got == [b"%d" % i for i in range(n)]
        st = d2.statistics()
        misses = st.reply_holds - st.reply_hits
        tokens = d1.statistics().engine.token_rotations   # d1 is the rep: one visit of d2 each
        # b never replies: after MISSES windows it passes BACKOFF tokens on at once
        assert 0 < misses <= MISSES * (1 + tokens // BACKOFF), (st.reply_holds, tokens)


def test_a_zero_window_holds_nothing(tmp_path: Path) -> None:
    with daemon_pair(tmp_path, {"reply_window_us": 0}, token_ms=1000) as (d1, d2, a, b):
        ping_pong(a, b, 50)
        assert d1.statistics().reply_holds == 0 and d2.statistics().reply_holds == 0
