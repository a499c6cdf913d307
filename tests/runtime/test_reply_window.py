"""Reply window through the runtime: real daemons in this process (three: in a ring of
two the member that gets a request keeps the quiet token anyway, RingState.holder).

The engine decides when a token is kept for a reply (core/reply_window.py, tested on
virtual time in tests/core/test_reply_window.py); here the runtime carries it out:
replies ride on held tokens, one-way traffic stops holding, a zero window holds nothing.
"""

from __future__ import annotations

from pathlib import Path

from rt_pair import daemon_pair, next_from, ping_pong

from robot_gcs.core.reply_window import BACKOFF, MISSES


# ------------------------------------------------------------ two real daemons

def test_replies_ride_on_the_held_token(tmp_path: Path) -> None:
    with daemon_pair(tmp_path, {"reply_window_us": 300}, token_ms=1000,
                     daemons=3) as (d1, d2, a, b):
        ping_pong(a, b, 200)
        s1, s2 = d1.statistics(), d2.statistics()
        assert s1.reply_hits + s2.reply_hits > 0
        assert s1.reply_hits <= s1.reply_holds and s2.reply_hits <= s2.reply_holds


def test_one_way_traffic_stops_holding_tokens(tmp_path: Path) -> None:
    with daemon_pair(tmp_path, {"reply_window_us": 300}, token_ms=1000,
                     daemons=3) as (d1, d2, a, b):
        n = 300
        for i in range(n):
            a.multicast("g", b"%d" % i)
            assert next_from(a, a.private_name).payload == b"%d" % i   # one in flight
        got = [next_from(b, a.private_name).payload for _ in range(n)]
        assert got == [b"%d" % i for i in range(n)]
        st = d2.statistics()
        misses = st.reply_holds - st.reply_hits
        tokens = d1.statistics().engine.token_rotations   # d1 is the rep: one visit of d2 each
        # (a's messages end their rotation at d3, which keeps the token: d2 only passes it)
        # b never replies: after MISSES windows it passes BACKOFF tokens on at once
        assert 0 < misses <= MISSES * (1 + tokens // BACKOFF), (st.reply_holds, tokens)


def test_a_zero_window_holds_nothing(tmp_path: Path) -> None:
    with daemon_pair(tmp_path, {"reply_window_us": 0}, token_ms=1000) as (d1, d2, a, b):
        ping_pong(a, b, 50)
        assert d1.statistics().reply_holds == 0 and d2.statistics().reply_holds == 0
