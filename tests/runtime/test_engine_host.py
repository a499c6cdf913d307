"""EngineHost: engine timers run by whoever holds the lock, on virtual time.

What the runtime relies on: a timer the engine sets for ``now`` runs before the input
ends (no loop wake-up for it), a chain of them is bounded, a later deadline keeps the
pending loop handle, slack is honoured, and the timer table stays consistent when the
engine raises -- even a KeyboardInterrupt.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
from rt_fakes import QuietEngine

from robot_gcs.core.actions import SetTimer
from robot_gcs.core.types import TimerId
from robot_gcs.runtime.client_table import ClientTable
from robot_gcs.runtime.engine_host import SETTLE_ROUNDS, EngineHost
from robot_gcs.runtime.loop import TimerHandle
from robot_gcs.runtime.membership_log import MembershipLog


class FakeLoop:
    def __init__(self) -> None:
        self.now = 100.0
        self.armed: list[TimerHandle] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, fn: Callable[[], object], slack: float = 0.0) -> TimerHandle:
        h = TimerHandle(when, fn, slack)
        self.armed.append(h)
        return h

    def call_soon(self, fn: Callable[[], object]) -> None:
        fn()

    def fire(self) -> None:
        """Run the live handles that are due, as the loop would."""
        for h in [h for h in self.armed if not h.cancelled and h.when <= self.now]:
            self.armed.remove(h)
            h.callback()


class Script(QuietEngine):
    """handle_timer answers from a table: tid -> function(now) -> actions."""

    def __init__(self) -> None:
        self.ran: list[tuple[TimerId, float]] = []
        self.on: dict[TimerId, Callable[[float], list[Any]]] = {}

    def handle_timer(self, now: float, tid: TimerId) -> list[Any]:
        self.ran.append((tid, now))
        return self.on.get(tid, lambda n: [])(now)


def _host() -> tuple[EngineHost, Script, FakeLoop]:
    eng, loop = Script(), FakeLoop()
    host = EngineHost(eng, loop, None, None, ClientTable("d1"), MembershipLog({}),  # type: ignore[arg-type]
                      "d1")
    return host, eng, loop


def test_a_timer_set_for_now_runs_before_the_input_ends() -> None:
    host, eng, loop = _host()
    eng.on[TimerId.TOKEN_HOLD] = lambda n: [SetTimer(TimerId.TOKEN_HOLD, n + 0.06)]
    host.carry_out([SetTimer(TimerId.TOKEN_HOLD, loop.now)])
    host.settle()
    assert eng.ran == [(TimerId.TOKEN_HOLD, 100.0)]
    # one loop handle, for the idle hold: none was ever armed for "now"
    assert [h.when for h in loop.armed] == [pytest.approx(100.06)]


def test_a_chain_of_due_timers_is_bounded_and_the_rest_goes_to_the_loop() -> None:
    host, eng, loop = _host()
    eng.on[TimerId.TOKEN_HOLD] = lambda n: [SetTimer(TimerId.TOKEN_HOLD, n)]   # forever busy
    host.carry_out([SetTimer(TimerId.TOKEN_HOLD, loop.now)])
    host.settle()
    assert len(eng.ran) == SETTLE_ROUNDS
    assert [h.when for h in loop.armed] == [100.0]         # the loop goes on with it
    loop.fire()
    assert len(eng.ran) == 2 * SETTLE_ROUNDS


def test_a_later_deadline_keeps_the_pending_handle_and_slack_is_honoured() -> None:
    host, eng, loop = _host()
    host.carry_out([SetTimer(TimerId.TOKEN_LOSS, 100.35)])
    host.settle()
    for i in range(10):                                    # re-armed later at every visit
        loop.now += 0.001
        host.carry_out([SetTimer(TimerId.TOKEN_LOSS, loop.now + 0.35)])
        host.settle()
    assert [h.when for h in loop.armed] == [100.35]
    host.carry_out([SetTimer(TimerId.REPLY_WINDOW, loop.now + 0.0003, 0.01)])
    host.settle()
    assert loop.armed[-1].when == pytest.approx(loop.now + 0.0103)
    loop.now = 100.35
    loop.fire()                                            # nothing due: re-armed
    assert eng.ran == [(TimerId.REPLY_WINDOW, 100.35)]
    assert loop.armed[-1].when == pytest.approx(100.36)    # the moved TOKEN_LOSS


@pytest.mark.parametrize("exc", [RuntimeError("engine bug"), KeyboardInterrupt()])
def test_an_exception_in_a_timer_leaves_the_table_consistent(exc: BaseException) -> None:
    host, eng, loop = _host()

    def boom(now: float) -> list[Any]:
        raise exc

    eng.on[TimerId.TOKEN_HOLD] = boom
    host.carry_out([SetTimer(TimerId.TOKEN_HOLD, loop.now), SetTimer(TimerId.TICK, 100.07)])
    if isinstance(exc, KeyboardInterrupt):
        with pytest.raises(KeyboardInterrupt):
            host.settle()
    else:
        host.settle()
        assert host.engine_errors == 1
    assert eng.ran == [(TimerId.TOKEN_HOLD, 100.0)]        # ran once, not again
    assert [h.when for h in loop.armed] == [pytest.approx(100.07)]   # TICK still armed
    loop.now = 100.07
    loop.fire()
    assert eng.ran[-1] == (TimerId.TICK, 100.07)
