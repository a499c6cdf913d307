"""The daemon loop: timers in deadline order, thread-safe wake-ups, errors contained, lag measured."""

from __future__ import annotations

import socket
import threading
from typing import Callable

import pytest

from robot_gcs.runtime.loop import EventLoop, LagMeter


@pytest.fixture
def loop():
    lp = EventLoop(lag_probe=None)
    t = threading.Thread(target=lp.run)
    yield lp, t
    lp.stop()
    if t.is_alive():
        t.join(5)
    lp.close()


def test_timers_fire_in_deadline_order_and_cancel_works(loop) -> None:
    lp, t = loop
    order: list[str] = []
    done = threading.Event()
    lp.call_later(0.03, lambda: order.append("c"))
    lp.call_later(0.01, lambda: order.append("a"))
    h = lp.call_later(0.02, lambda: order.append("cancelled"))
    lp.call_later(0.02, lambda: order.append("b"))
    lp.call_later(0.04, done.set)
    h.cancel()
    t.start()
    assert done.wait(5)
    assert order == ["a", "b", "c"]
    assert lp.lag.count == 4


def test_call_soon_threadsafe_wakes_a_sleeping_loop(loop) -> None:
    lp, t = loop
    t.start()
    for _ in range(200):
        ev = threading.Event()
        lp.call_soon_threadsafe(ev.set)     # the loop has no timers: it sleeps in select
        assert ev.wait(5)


def test_many_threads_posting_lose_nothing(loop) -> None:
    lp, t = loop
    t.start()
    got: list[int] = []
    done = threading.Event()
    n_threads, per = 4, 2000

    def poster(k: int) -> None:
        for i in range(per):
            lp.call_soon_threadsafe(lambda v=k * per + i: got.append(v))

    ths = [threading.Thread(target=poster, args=(k,)) for k in range(n_threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    lp.call_soon_threadsafe(done.set)
    assert done.wait(5)
    assert sorted(got) == list(range(n_threads * per))


def test_a_failing_callback_is_counted_and_the_loop_goes_on(loop) -> None:
    lp, t = loop
    done = threading.Event()
    lp.call_soon(lambda: 1 / 0)
    lp.call_later(0.01, done.set)
    t.start()
    assert done.wait(5)
    assert lp.callback_errors == 1


def test_readers_are_called_when_data_arrives(loop) -> None:
    lp, t = loop
    a, b = socket.socketpair()
    got = threading.Event()
    lp.add_reader(a, lambda: (a.recv(10), got.set()))
    t.start()
    b.send(b"x")
    assert got.wait(5)
    done = threading.Event()
    lp.call_soon_threadsafe(lambda: (lp.remove_reader(a), done.set()))
    assert done.wait(5)
    a.close()
    b.close()


def test_stop_from_another_thread_returns_run(loop) -> None:
    lp, t = loop
    t.start()
    lp.call_later(3600, lambda: None)
    lp.stop()
    t.join(5)
    assert not t.is_alive()


def test_lag_meter_percentiles() -> None:
    m = LagMeter(window=100)
    for i in range(1, 101):
        m.record(i / 1000)
    m.record(-1.0)                           # a timer can never be early: clamp
    s = m.snapshot()
    assert s.worst == pytest.approx(0.1)
    assert s.p99 == pytest.approx(0.1)
    assert s.p50 == pytest.approx(0.051)
    assert s.samples == 101


def test_writer_and_reader_on_the_same_socket(loop) -> None:
    lp, t = loop
    a, b = socket.socketpair()
    a.setblocking(False)
    wrote = threading.Event()
    got = threading.Event()

    def on_write() -> None:
        a.send(b"ping")
        lp.remove_writer(a)          # the reader stays registered
        wrote.set()

    lp.add_reader(a, lambda: (a.recv(10), got.set()))
    lp.add_writer(a, on_write)
    t.start()
    assert wrote.wait(5)
    assert b.recv(10) == b"ping"
    b.send(b"pong")
    assert got.wait(5)
    a.close()
    b.close()


# ------------------------------------------------------------ loop lock (caller-runs)

def test_a_thread_holding_the_loop_lock_can_move_the_next_deadline_up(loop) -> None:
    lp, t = loop
    far = threading.Event()
    lp.call_later(30.0, far.set)            # the loop sleeps towards this one
    t.start()
    entered = False
    for _ in range(1000):                    # the loop is idle: it lets go at once
        entered = lp.try_enter()
        if entered:
            break
    assert entered
    fired = threading.Event()
    try:
        lp.call_later(0.01, fired.set)       # earlier than the loop's select deadline
        lp.call_soon(lambda: None)
    finally:
        lp.leave()
    assert fired.wait(5), "the sleeping loop was not woken for the earlier deadline"
    assert not far.is_set()


def test_try_enter_refuses_on_the_loop_thread_and_when_not_running(loop) -> None:
    lp, t = loop
    assert not lp.try_enter()                # not running yet
    t.start()
    answer: list[bool] = []
    done = threading.Event()

    def on_loop() -> None:
        answer.append(lp.try_enter())
        done.set()

    lp.call_soon_threadsafe(on_loop)
    assert done.wait(5)
    assert answer == [False]
    lp.stop()
    t.join(5)
    assert not lp.try_enter()


def test_callbacks_never_run_while_another_thread_holds_the_loop_lock(loop) -> None:
    lp, t = loop
    t.start()
    while not lp.try_enter():
        pass
    ran = threading.Event()
    lp.call_soon_threadsafe(ran.set)
    assert not ran.wait(0.2)                 # the loop woke but waits for the lock
    lp.leave()
    assert ran.wait(5)


def _enter(lp: EventLoop) -> None:
    for _ in range(100000):                  # the loop is idle: it lets go at once
        if lp.try_enter():
            return
    raise AssertionError("the idle loop never let go of its lock")


def test_a_timer_with_slack_rides_on_a_deadline_the_loop_already_has(loop) -> None:
    lp, t = loop
    passes: dict[str, int] = {}              # loop pass each callback ran in
    tick, fired = threading.Event(), threading.Event()

    def on(name: str, ev: threading.Event) -> Callable[[], None]:
        def cb() -> None:
            passes[name] = lp.iterations
            ev.set()
        return cb
    # the loop sleeps towards this one; its own slack keeps a late wake-up out of the lag
    # figures, so they show only what slack does to the ridden timer
    lp.call_at(lp.time() + 0.5, on("tick", tick), slack=10.0)
    t.start()
    _enter(lp)
    try:
        due = lp.time() + 0.01
        lp.call_at(due, on("fired", fired), slack=1.0)     # 0.5 s late is within its slack
        assert not lp._wake_pending               # no wake-up written
    finally:
        lp.leave()
    assert fired.wait(5) and tick.wait(5)
    assert lp.time() >= due
    assert passes["fired"] == passes["tick"]      # one wake-up served both timers
    assert lp.lag.count == 2 and lp.lag.worst == 0.0     # lateness within slack is not lag
