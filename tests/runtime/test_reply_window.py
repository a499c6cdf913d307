"""Reply window: a token is held briefly for a local reply, and only while replies come.

What a robot program relies on: request/reply between daemons does not wait a whole
token rotation for the reply, one-way traffic is not slowed by tokens held for replies
that never come, and holding never changes what is delivered or in which order.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from rt_fakes import write_config

from robot_gcs import DataMessage, GroupView
from robot_gcs.runtime.daemon import Daemon
from robot_gcs.runtime.reply_window import BACKOFF, MISSES, ReplyWindow

WAIT = 20.0


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

def _joined(d: Daemon, name: str, members: int):
    s = d.connect(name)
    s.join("g")
    while True:
        ev = s.receive(timeout=WAIT)
        assert ev is not None, f"{name}: no view with {members} members"
        if isinstance(ev, GroupView) and len(ev.members) == members:
            return s


@contextmanager
def _pair(tmp_path: Path, window_us: int) -> Iterator[tuple[Daemon, Daemon, Any, Any]]:
    """Two daemons, session a on d1 and b on d2, both in group g; stopped afterwards."""
    _, cfg = write_config(tmp_path, 2, extra_ring=f"  runtime:\n    reply_window_us: {window_us}")
    with Daemon(cfg, "d1", health=False) as d1, Daemon(cfg, "d2", health=False) as d2:
        a = d1.connect("a")
        a.join("g")
        b = _joined(d2, "b", 2)
        while True:
            ev = a.receive(timeout=WAIT)
            assert ev is not None
            if isinstance(ev, GroupView) and len(ev.members) == 2:
                break
        yield d1, d2, a, b


def _next_from(s, sender: str):
    while True:
        ev = s.receive(timeout=WAIT)
        assert ev is not None, f"{s.private_name}: nothing from {sender}"
        if isinstance(ev, DataMessage) and ev.sender == sender:
            return ev


def _ping_pong(a, b, rounds: int) -> None:
    for i in range(rounds):
        a.multicast("g", b"ping%d" % i, self_discard=True)
        assert _next_from(b, a.private_name).payload == b"ping%d" % i
        b.multicast("g", b"pong%d" % i, self_discard=True)
        assert _next_from(a, b.private_name).payload == b"pong%d" % i


def test_replies_ride_on_the_held_token(tmp_path: Path) -> None:
    with _pair(tmp_path, 300) as (d1, d2, a, b):
        _ping_pong(a, b, 200)
        s1, s2 = d1.statistics(), d2.statistics()
        assert s1.reply_hits + s2.reply_hits > 0
        assert s1.reply_hits <= s1.reply_holds and s2.reply_hits <= s2.reply_holds


def test_one_way_traffic_stops_holding_tokens(tmp_path: Path) -> None:
    with _pair(tmp_path, 300) as (d1, d2, a, b):
        n = 300
        for i in range(n):
            a.multicast("g", b"%d" % i)
            assert _next_from(a, a.private_name).payload == b"%d" % i   # one in flight
        got = [_next_from(b, a.private_name).payload for _ in range(n)]
        assert got == [b"%d" % i for i in range(n)]
        st = d2.statistics()
        misses = st.reply_holds - st.reply_hits
        tokens = d1.statistics().engine.token_rotations   # d1 is the rep: one visit of d2 each
        # b never replies: after MISSES windows it passes BACKOFF tokens on at once
        assert 0 < misses <= MISSES * (1 + tokens // BACKOFF), (st.reply_holds, tokens)


def test_a_zero_window_holds_nothing(tmp_path: Path) -> None:
    with _pair(tmp_path, 0) as (d1, d2, a, b):
        _ping_pong(a, b, 50)
        assert d1.statistics().reply_holds == 0 and d2.statistics().reply_holds == 0
