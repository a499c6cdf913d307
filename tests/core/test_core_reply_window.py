"""Reply window (core/reply_window.py): the engine keeps a token briefly for a local reply.

What a robot program relies on: request/reply between daemons does not wait a whole
rotation for the reply, one-way traffic is not slowed by tokens kept for replies that
never come, and keeping a token never changes what is delivered or in which order. The
engine decides all of it with ``now`` passed in, so these tests run on virtual time.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from netsim import Net

from robot_gcs.core.actions import Deliver, Send, SetTimer
from robot_gcs.core.params import ProtocolParams
from robot_gcs.core.reply_window import BACKOFF, MISSES, REPLY_SLACK, ReplyWindow
from robot_gcs.core.types import TimerId
from robot_gcs.core.wire import is_token
from robot_gcs.errors import LocalProtocolError

LATENCY = 0.0005


# ------------------------------------------------------------ the policy

def test_a_token_is_held_only_after_local_clients_were_handed_data() -> None:
    rw = ReplyWindow(0.0003)
    assert not rw.should_hold(False)
    rw.fed("a")
    assert not rw.should_hold(True)          # something to send: the token goes on
    rw.fed("a")
    assert rw.should_hold(False)
    assert not rw.should_hold(False)         # the mark is used up by that token
    assert rw.holds == 1


def test_windows_that_run_out_back_off_and_holding_resumes_later() -> None:
    rw = ReplyWindow(0.0003)
    for _ in range(MISSES):
        rw.fed("a")
        assert rw.should_hold(False)
        rw.expired()
    passed = 0
    for _ in range(BACKOFF):
        rw.fed("a")
        passed += not rw.should_hold(False)
    assert passed == BACKOFF
    rw.fed("a")
    assert rw.should_hold(False)


def test_a_reply_in_the_window_resets_the_miss_count() -> None:
    rw = ReplyWindow(0.0003)
    for _ in range(3 * MISSES):
        for _ in range(MISSES - 1):
            rw.fed("a")
            assert rw.should_hold(False)
            rw.expired()
        rw.fed("a")
        assert rw.should_hold(False)
        rw.submitted(True)
    assert rw.hits == 3 * MISSES


def test_a_token_is_held_for_the_one_client_that_was_fed() -> None:
    rw = ReplyWindow(0.0003)
    rw.fed("x")
    rw.fed("x")
    assert rw.should_hold(False) and rw.held_for == "x"
    rw.fed("x")
    rw.fed("y")                               # two clients: nobody in particular
    assert rw.should_hold(False) and rw.held_for is None
    assert not rw.should_hold(False) and rw.held_for is None
    rw.fed("y")
    rw.submitted(False)                       # it reacted already: no hold for it
    assert not rw.should_hold(False)


def test_a_zero_window_never_holds() -> None:
    rw = ReplyWindow(0.0)
    rw.fed("a")
    assert not rw.should_hold(False) and rw.holds == 0


def test_a_window_that_could_outlast_the_token_retransmit_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="reply_window"):
        ProtocolParams(token_timeout=0.04, consensus_timeout=0.05, token_hold=0.004,
                       join_timeout=0.01, reply_window=0.0003)
    with pytest.raises(LocalProtocolError, match="reply_window"):
        ProtocolParams(reply_window=float("nan"))


# ------------------------------------------------------------ small rings, virtual time

def _pair(window: float, n: int = 3) -> tuple[Net, dict[bytes, float]]:
    """A stable, idle ring of ``n`` (three unless told: in a ring of two node 2 keeps
    node 1's token as the quiet ring's holder, no window needed); node 2's 'client b' is
    fed every message from node 1."""
    net = Net(list(range(1, n + 1)), params=replace(ProtocolParams(), reply_window=window),
              latency=LATENCY)
    net.start_all()
    assert net.run_until_stable()
    net.run_until(net.now + 1.0)              # idle: the rep holds the token
    arrived: dict[bytes, float] = {}

    def on_deliver(node: int, a: object) -> None:
        if isinstance(a, Deliver):
            arrived[a.payload + b"@%d" % node] = net.now
            if node == 2 and a.sender == 1:
                net.engines[2].reply_expected("b")

    net.on_deliver = on_deliver
    return net, arrived


def _round_trip(net: Net, arrived: dict[bytes, float], i: int) -> float:
    net.submit(1, b"ping%d" % i)
    net.run_until(net.now + 0.05, lambda: b"ping%d@2" % i in arrived)
    t0 = net.now
    net.run_until(t0 + LATENCY / 5)            # the client's think time
    net.submit(2, b"pong%d" % i)
    net.run_until(net.now + 0.05, lambda: b"pong%d@1" % i in arrived)
    return arrived[b"pong%d@1" % i] - t0


def test_a_reply_rides_on_the_held_token() -> None:
    net, arrived = _pair(0.0003)
    rtts = [_round_trip(net, arrived, i) for i in range(20)]
    st = net.engines[2].statistics()
    assert st.reply_hits == st.reply_holds == 20
    # the pong leaves on the visit that brought the ping: one hop, not a rotation
    assert max(rtts) <= LATENCY / 5 + LATENCY + 1e-9, rtts
    assert net.delivered(1) == net.delivered(2)


def test_without_the_window_the_reply_waits_for_the_token() -> None:
    # a ring of three: the ping's rotation ends at node 3 (RingState.holder), which
    # keeps the token; the pong asks for it and waits for it to come round
    net, arrived = _pair(0.0)
    rtts = [_round_trip(net, arrived, i) for i in range(20)]
    assert net.engines[2].statistics().reply_holds == 0
    assert min(rtts) > LATENCY / 5 + 2 * LATENCY, rtts
    net.run_until(net.now + 0.01)
    assert net.delivered(1) == net.delivered(2) == net.delivered(3)


def test_in_a_ring_of_two_the_replier_keeps_the_token_anyway() -> None:
    # the ping's sender's predecessor is the replier itself: it keeps the quiet token
    # (RingState.holder) and the pong leaves on it, no window needed
    net, arrived = _pair(0.0, n=2)
    rtts = [_round_trip(net, arrived, i) for i in range(20)]
    assert net.engines[2].statistics().reply_holds == 0
    assert max(rtts) <= LATENCY / 5 + LATENCY + 1e-9, rtts
    assert net.delivered(1) == net.delivered(2)


def test_a_client_that_waits_again_releases_the_token_at_once() -> None:
    net, arrived = _pair(0.0003)
    e2 = net.engines[2]
    net.submit(1, b"ping")
    net.run_until(net.now + 0.05, lambda: e2.statistics().reply_holds == 1)
    actions = e2.reply_not_coming(net.now, "someone-else")
    assert not any(isinstance(a, Send) for a in actions)      # not the client it waits for
    actions = e2.reply_not_coming(net.now, "b")
    assert any(isinstance(a, Send) and is_token(a.data) for a in actions)
    assert e2.statistics().reply_waiter_releases == 1


def test_the_window_end_has_slack_and_a_miss_is_counted() -> None:
    net, arrived = _pair(0.0003)
    e2 = net.engines[2]
    seen: list[SetTimer] = []
    run = net._run

    def spy(node: int, actions: list) -> None:   # type: ignore[type-arg]
        seen.extend(a for a in actions if isinstance(a, SetTimer)
                    and a.timer_id is TimerId.REPLY_WINDOW and node == 2)
        run(node, actions)

    net._run = spy                                # type: ignore[method-assign]
    net.submit(1, b"ping")
    net.run_until(net.now + 0.05)
    assert seen and seen[0].slack == REPLY_SLACK
    st = e2.statistics()
    assert st.reply_holds == 1 and st.reply_hits == 0
    assert net.delivered(1) == net.delivered(2) == [b"ping"]


def test_one_way_traffic_stops_holding_tokens() -> None:
    net, arrived = _pair(0.0003)
    n = 400
    for i in range(n):
        net.submit(1, b"m%d" % i)
        net.run_until(net.now + 0.05, lambda: b"m%d@2" % i in arrived)
    st = net.engines[2].statistics()
    misses = st.reply_holds - st.reply_hits
    assert st.reply_hits == 0 and misses > 0
    # node 2 never replies: after MISSES windows it passes BACKOFF tokens on at once
    assert misses <= MISSES * (1 + net.engines[1].statistics().token_rotations // BACKOFF)
    assert net.delivered(2) == [b"m%d" % i for i in range(n)]
