"""QueueSink: the embedded session's event queue (bounded, closes after the queued events)."""

from __future__ import annotations

import threading

import pytest

from robot_gcs.client.inprocess import QueueSink
from robot_gcs.errors import SessionClosed


def test_events_queued_before_close_are_read_then_the_session_is_closed() -> None:
    q = QueueSink(4)
    assert q.push("a") and q.push("b")
    q.closed("daemon stopped")
    assert q.push("late") is True            # reader is gone: not an overflow
    assert q.queue_depth() == 2
    assert q.get(0) == "a" and q.get(1.0) == "b"
    for _ in range(2):
        with pytest.raises(SessionClosed, match="daemon stopped"):
            q.get(1.0)


def test_a_full_queue_refuses_the_push_and_counts_it() -> None:
    q = QueueSink(2)
    assert q.push(1) and q.push(2)
    assert q.push(3) is False
    assert q.dropped == 1 and q.high_water == 2 and q.queue_depth() == 2
    assert q.get(None) == 1
    assert q.push(3) is True


def test_get_times_out_with_none_and_zero_timeout_does_not_block() -> None:
    q = QueueSink(2)
    assert q.get(0) is None
    assert q.get(0.01) is None


def test_close_wakes_every_blocked_reader() -> None:
    q = QueueSink(2)
    results: list[str] = []
    started = threading.Barrier(3)

    def reader() -> None:
        started.wait(5)
        try:
            q.get(10.0)
            results.append("event")
        except SessionClosed:
            results.append("closed")

    ts = [threading.Thread(target=reader) for _ in range(2)]
    for t in ts:
        t.start()
    started.wait(5)
    q.closed("bye")
    for t in ts:
        t.join(5)
    assert results == ["closed", "closed"]
