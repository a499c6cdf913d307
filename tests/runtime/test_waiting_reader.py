"""Waiting reader: a session blocked in receive() reads the ring's datagrams itself.

What a robot program relies on: with ``runtime.inline_receive`` (the default) a
session waiting in ``receive`` gets its messages without a hand-off from the daemon
thread, and nothing else changes -- the same messages in the same order, timeouts that
still time out, a ring that stays up while the reader waits, and ``close``/``stop``
that still end a blocked ``receive``.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from rt_pair import WAIT, daemon_pair, next_from, ping_pong, ponger, wait_view

from robot_gcs import DataMessage, SessionClosed
from robot_gcs.core.reply_window import REPLY_SLACK


@pytest.mark.slow       # counts wake-ups against elapsed time: a figure, not for the default run
def test_tokens_held_by_a_waiting_reader_do_not_wake_the_daemon_thread(tmp_path: Path) -> None:
    # in a ring of two each side keeps the token as the quiet ring's holder after the
    # other's message (RingState.holder); the kept tokens counted are those and the
    # ones held for a reply (core/reply_window.py)
    def kept(d: Any) -> int:
        e = d.statistics().engine
        return e.reply_holds + e.quiet_holds

    with daemon_pair(tmp_path) as (d1, d2, a, b):
        rounds = 300
        t = ponger(b, a.private_name, rounds + 20)
        for i in range(20):                                   # warm up
            a.multicast("g", b"%d" % i, self_discard=True)
            next_from(a, b.private_name)
        before = [(d.loop.iterations, kept(d)) for d in (d1, d2)]
        start = time.monotonic()
        for i in range(rounds):
            a.multicast("g", b"%d" % i, self_discard=True)
            assert next_from(a, b.private_name).payload == b"re:%d" % i
        after = [(d.loop.iterations, kept(d)) for d in (d1, d2)]
        ticks = int((time.monotonic() - start) / REPLY_SLACK) + 2
        t.join(WAIT)
        for d, (it0, h0), (it1, h1) in zip((d1, d2), before, after):
            woke, held = it1 - it0, h1 - h0
            print(f"{d.name}: {held} holds, the daemon thread woke {woke} times")
            assert held > rounds // 2
            # it wakes about once per REPLY_SLACK and for the odd engine timer, not once
            # per hold: the window's end rides on a wake-up it has anyway (timer slack)
            assert woke < ticks + held // 4


def test_a_subscriber_that_never_replies_does_not_hold_up_the_ring(tmp_path: Path) -> None:
    # one-way traffic to a session waiting in receive(): a token held for its reply is
    # passed on as soon as it waits again, not at the end of the window (or later); three
    # daemons: in a ring of two d2 would keep the token as the quiet ring's holder
    with daemon_pair(tmp_path, daemons=3) as (d1, d2, a, b):
        n = 300
        got: list[bytes] = []
        t = threading.Thread(target=lambda: got.extend(
            next_from(b, a.private_name).payload for _ in range(n)), daemon=True)
        t.start()
        def counts() -> tuple[int, int, int]:
            e = d2.statistics().engine
            assert e is not None
            return e.reply_holds, e.reply_hits, e.reply_waiter_releases

        holds0, hits0, early0 = counts()
        for i in range(n):
            a.multicast("g", b"%d" % i)
            assert next_from(a, a.private_name).payload == b"%d" % i   # one in flight
        t.join(WAIT)
        assert got == [b"%d" % i for i in range(n)]
        holds1, hits1, early1 = counts()
        holds, early = holds1 - holds0, early1 - early0
        assert hits1 == hits0                       # b never sent anything
        assert holds > 0
        # (a few may fall to the tick: when the daemon thread was busy at that moment,
        # b waited on its queue instead of reading the ring)
        assert early >= holds // 2


@pytest.mark.parametrize("inline_receive", [True, False])
def test_request_reply_between_daemons_with_and_without_it(tmp_path: Path,
                                                           inline_receive: bool) -> None:
    with daemon_pair(tmp_path, {"inline_receive": inline_receive}) as (d1, d2, a, b):
        ping_pong(a, b, 200)
        serves = d1.statistics().reader_serves + d2.statistics().reader_serves
        if inline_receive:
            assert serves > 50           # many legs were read by the waiting session
        else:
            assert serves == 0


def test_the_health_publisher_leaves_the_role_to_the_application(tmp_path: Path) -> None:
    # the publisher thread blocks in receive() all the time; were it the waiting reader,
    # the application's messages would again be handed over from another thread
    with daemon_pair(tmp_path, health=True) as (d1, d2, a, b):
        rounds = 100
        t = ponger(b, a.private_name, rounds)
        for i in range(rounds):
            a.multicast("g", b"%d" % i, self_discard=True)
            assert next_from(a, b.private_name).payload == b"re:%d" % i
        t.join(WAIT)
        assert a._sink.ring_reads > rounds // 4 and b._sink.ring_reads > rounds // 4
        for d in (d1, d2):
            assert d._health_pub is not None
            assert d._health_pub._session._sink.ring_reads == 0


@pytest.mark.parametrize("reads_ring", [True, False])
def test_receive_waits_out_its_timeout_either_way(tmp_path: Path, reads_ring: bool) -> None:
    with daemon_pair(tmp_path) as (d1, d2, a, b):
        s = d1.connect("quiet", reads_ring=reads_ring)
        s.join("other")
        wait_view(s, 1)
        timeout = 0.3
        start = time.monotonic()
        assert s.receive(timeout=timeout) is None
        assert time.monotonic() - start >= timeout       # a real wait, not a spin
        b.multicast("other", b"x", self_discard=True)    # and it still gets its messages
        assert next_from(s, b.private_name).payload == b"x"


def test_all_senders_keep_one_order_while_sessions_read_the_ring(tmp_path: Path) -> None:
    with daemon_pair(tmp_path) as (d1, d2, a, b):
        n = 300
        c = d1.connect("c")                   # a second session on d1 waits on its queue
        c.join("g")
        wait_view(c, 3)                      # c's join is ordered before any message
        senders = [threading.Thread(target=lambda s=s, tag=tag: [
            s.multicast("g", b"%s%d" % (tag, i)) for i in range(n)]) for s, tag in
            ((a, b"a"), (b, b"b"))]
        for t in senders:
            t.start()
        seen: dict[str, list[bytes]] = {}
        for s in (a, b, c):
            got: list[bytes] = []
            while len(got) < 2 * n:
                ev = s.receive(timeout=WAIT)
                assert ev is not None, f"{s.private_name} got {len(got)} of {2 * n}"
                if isinstance(ev, DataMessage):
                    got.append(ev.payload)
            seen[s.private_name] = got
        for t in senders:
            t.join(WAIT)
        orders = list(seen.values())
        assert orders[0] == orders[1] == orders[2]
        for tag in (b"a", b"b"):                       # FIFO per sender
            mine = [p for p in orders[0] if p.startswith(tag)]
            assert mine == [b"%s%d" % (tag, i) for i in range(n)]


def test_a_reader_that_times_out_keeps_the_ring_up(tmp_path: Path) -> None:
    with daemon_pair(tmp_path) as (d1, d2, a, b):
        token_timeout = d1.config.ring.params.token_timeout
        before = d1.statistics().reader_serves
        views = len(d1.membership_history())
        # nothing arrives for several token timeouts; the idle token keeps going round
        assert a.receive(timeout=3 * token_timeout) is None
        assert d1.statistics().reader_serves > before      # it served the idle tokens
        assert len(d1.membership_history()) == views        # and nobody was excluded
        ping_pong(a, b, 5)


def test_close_from_another_thread_ends_a_blocked_receive(tmp_path: Path) -> None:
    with daemon_pair(tmp_path) as (d1, d2, a, b):
        outcome: list[Any] = []

        def wait() -> None:
            try:
                outcome.append(a.receive(timeout=None))
            except SessionClosed as exc:
                outcome.append(exc)

        t = threading.Thread(target=wait)
        t.start()
        while not d1._reader.busy:           # the thread is the waiting reader
            assert t.is_alive()
            threading.Event().wait(0.001)
        a.close()
        t.join(WAIT)
        assert not t.is_alive(), "receive() still blocked after close()"
        assert len(outcome) == 1 and isinstance(outcome[0], SessionClosed)
        c = d1.connect("c")                            # d1 still serves sessions
        c.join("g")
        wait_view(c, 2)
        b.multicast("g", b"after", self_discard=True)
        assert next_from(c, b.private_name).payload == b"after"


def test_stop_ends_a_blocked_receive_and_the_peer_sees_it(tmp_path: Path) -> None:
    with daemon_pair(tmp_path) as (d1, d2, a, b):
        outcome: list[Any] = []

        def wait() -> None:
            try:
                while True:
                    a.receive(timeout=None)
            except SessionClosed as exc:
                outcome.append(exc)

        t = threading.Thread(target=wait)
        t.start()
        while not d1._reader.busy:
            assert t.is_alive()
            threading.Event().wait(0.001)
        d1.stop()
        t.join(WAIT)
        assert not t.is_alive() and len(outcome) == 1
        wait_view(b, 1)                               # d2 saw d1 go


def test_closing_a_session_releases_its_reader_descriptors(tmp_path: Path) -> None:
    with daemon_pair(tmp_path) as (d1, d2, a, b):
        ping_pong(a, b, 3)
        sink = a._sink
        assert sink._poller is not None
        a.close()
        assert sink._poller is None and sink._signal_fd is None
