"""Timers due together run in one send batch (pubsub/callbacks.py): what they publish is
one burst for the daemon; a timer that ran long last time runs outside it."""

from __future__ import annotations

import contextlib
from typing import Callable, ContextManager, Iterator

from robot_gcs.pubsub.callbacks import HEAVY_TIMER, Callbacks


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _recording_batch(log: list[str]) -> Callable[[], ContextManager[None]]:
    """A session's ``batch`` that logs "[" when a block opens and "]" when it ends."""
    @contextlib.contextmanager
    def batch() -> Iterator[None]:
        log.append("[")
        try:
            yield
        finally:
            log.append("]")
    return batch


def _run(heavy: set[str]) -> list[str]:
    clock = _Clock()
    cbs = Callbacks(clock)
    log: list[str] = []

    batch = _recording_batch(log)
    timers = {name: cbs.add_timer(0.01, lambda name=name: log.append(name))
              for name in ("a", "b", "c", "d")}
    for name in heavy:
        timers[name].last_run = 2 * HEAVY_TIMER      # it took that long last time
    clock.t = 0.01                                   # all four are due together
    assert cbs.run_timers(batch) == 4
    return log


def test_timers_due_together_run_in_one_batch() -> None:
    assert _run(set()) == ["[", "a", "b", "c", "d", "]"]


def test_a_slow_timer_runs_outside_the_batch_which_is_flushed_before_it() -> None:
    assert _run({"b"}) == ["[", "a", "]", "b", "[", "c", "d", "]"]
    assert _run({"a", "d"}) == ["a", "[", "b", "c", "]", "d"]


def test_the_batch_ends_when_a_callback_raises() -> None:
    clock = _Clock()
    cbs = Callbacks(clock)
    log: list[str] = []

    batch = _recording_batch(log)

    def boom() -> None:
        raise RuntimeError("callback failed")
    cbs.add_timer(0.01, boom)
    clock.t = 0.01
    try:
        cbs.run_timers(batch)
    except RuntimeError:
        pass
    assert log == ["[", "]"]            # what was published before goes out
