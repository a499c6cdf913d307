"""``Session.wake()``: a receive() waiting without a time limit can be ended from another
thread, and nothing is lost by it (the in-process session on a real ring, in both of
its waiting modes, and a Node's spin(), which now sleeps until something happens).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from rt_pair import WAIT, daemon_pair, next_from, wait_view

from robot_gcs import Node


def _blocked_receive(s: Any) -> tuple[threading.Thread, list[Any], threading.Event]:
    got: list[Any] = []
    started = threading.Event()

    def run() -> None:
        started.set()
        got.append(s.receive(timeout=None))
    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert started.wait(WAIT)
    return t, got, started


def _wake_then_deliver(s: Any, sender: Any) -> None:
    """``s`` blocked in receive(None) returns None on wake(); the next message from
    ``sender`` still reaches it."""
    assert s.can_wake
    t, got, _ = _blocked_receive(s)
    s.wake()
    t.join(WAIT)
    assert not t.is_alive() and got == [None]
    sender.multicast("g", b"after the wake", self_discard=True)
    assert next_from(s, sender.private_name).payload == b"after the wake"


def test_wake_ends_a_receive_that_serves_the_ring(tmp_path: Path) -> None:
    with daemon_pair(tmp_path) as (_d1, _d2, a, b):
        _wake_then_deliver(b, a)                 # b waits as the ring's waiting reader


def test_wake_ends_a_receive_of_a_session_that_does_not_read_the_ring(tmp_path: Path) -> None:
    with daemon_pair(tmp_path) as (_d1, d2, a, _b):
        c = d2.connect("quiet", reads_ring=False)
        c.join("g")
        wait_view(c, 3)
        _wake_then_deliver(c, a)


def test_a_wake_before_the_receive_is_not_lost(tmp_path: Path) -> None:
    with daemon_pair(tmp_path) as (_d1, _d2, _a, b):
        b.wake()                                  # e.g. stop() just before spin() waits
        assert b.receive(timeout=None) is None


class _Spy:
    """The node's session, recording the timeouts it is asked to wait."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.timeouts: list[float | None] = []

    def receive(self, timeout: float | None = None) -> Any:
        self.timeouts.append(timeout)
        return self.inner.receive(timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_an_idle_node_sleeps_until_stopped(tmp_path: Path) -> None:
    with daemon_pair(tmp_path) as (d1, _d2, _a, _b):
        spy = _Spy(d1.connect("idle"))
        node = Node("idle", spy, announce=False)
        t = threading.Thread(target=node.spin, daemon=True)
        t.start()
        node.stop()
        t.join(WAIT)
        assert not t.is_alive()
        # nothing due: the node waited without a time limit (woken by stop()), it did
        # not poll in slices
        assert None in spy.timeouts
        node.destroy()
