"""RingWatch: a muted ring socket does not wake the loop; mute and unmute need no lock."""

from __future__ import annotations

import select
import socket
import threading

import pytest

from robot_gcs.runtime.loop import EventLoop
from robot_gcs.runtime.ring_watch import RingWatch

pytestmark = pytest.mark.skipif(not hasattr(select, "epoll"), reason="epoll only")


def _loop_round(lp: EventLoop) -> None:
    """Wait until the loop has run one more whole iteration (a select included)."""
    for _ in range(2):
        ev = threading.Event()
        lp.call_soon_threadsafe(ev.set)
        assert ev.wait(5)


def test_muted_socket_stays_unread_until_unmuted_without_the_lock() -> None:
    lp = EventLoop(lag_probe=None)
    watch = RingWatch(lp)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setblocking(False)
    got: list[bytes] = []
    read = threading.Event()

    def on_readable() -> None:
        assert lp.holds_lock()
        got.append(rx.recv(100))
        read.set()
    watch.add(rx, on_readable)
    t = threading.Thread(target=lp.run)
    t.start()
    try:
        tx.sendto(b"one", rx.getsockname())
        assert read.wait(5) and got == [b"one"]
        read.clear()
        watch.mute([rx])
        tx.sendto(b"two", rx.getsockname())
        _loop_round(lp)
        assert got == [b"one"]                       # the loop did not read it
        assert rx.recv(100, socket.MSG_PEEK) == b"two"
        assert lp.enter(5)                           # another thread holds the lock:
        try:                                         # unmute does not wait for it
            watch.unmute([rx])
        finally:
            lp.leave()
        assert read.wait(5) and got == [b"one", b"two"]
    finally:
        lp.stop()
        t.join(5)
        watch.close()
        lp.close()
        rx.close()
        tx.close()


def test_mute_after_close_is_harmless() -> None:
    lp = EventLoop(lag_probe=None)
    watch = RingWatch(lp)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    watch.add(s, lambda: None)
    s.close()
    watch.mute([s])
    watch.close()
    watch.unmute([s])
    lp.close()
