"""Caller-runs client commands: a client thread feeds the real engine while the daemon idles.

What an embedding program relies on: with ``runtime.inline_commands`` (the default) a
multicast from an idle daemon's host thread is ordered on that thread -- on a singleton
ring its own delivery is already queued when ``multicast`` returns, no thread hand-off --
and whichever path a command takes (inline or queued), per-sender FIFO and one total
order hold; ``inline_commands: false`` keeps every command on the daemon thread.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from rt_fakes import write_config
from rt_sessions import joined

from robot_gcs import DataMessage, GroupView
from robot_gcs.runtime.daemon import Daemon

WAIT = 20.0


def _joined(d: Daemon, name: str, group: str = "g"):
    return joined(d, name, group, WAIT)


def _data(s, n: int) -> list[DataMessage]:
    out = []
    while len(out) < n:
        ev = s.receive(timeout=WAIT)
        assert ev is not None, f"{s.private_name}: {len(out)} of {n} messages"
        if isinstance(ev, DataMessage):
            out.append(ev)
    return out


@pytest.fixture
def singleton(tmp_path: Path):
    _, cfg = write_config(tmp_path, 1)
    d = Daemon(cfg, "d1", health=False).start()
    yield d
    d.stop()


def test_an_idle_singleton_delivers_the_own_message_before_multicast_returns(singleton) -> None:
    d = singleton
    tx = _joined(d, "tx")
    rx = _joined(d, "rx")
    while tx.receive(timeout=0) is not None:     # rx's join view
        pass
    inline = sent = 0
    while inline < 20 and sent < 5000:  # the daemon idles between our sends, mostly
        before = d.statistics().inline_commands
        tx.multicast("g", b"%d" % sent)
        if d.statistics().inline_commands > before:            # ran on this thread...
            inline += 1
            ev = tx.receive(timeout=0)            # ...so it is delivered already
            assert isinstance(ev, DataMessage) and ev.payload == b"%d" % sent
        else:
            assert _data(tx, 1)[0].payload == b"%d" % sent
        sent += 1
    assert inline == 20
    assert [m.payload for m in _data(rx, sent)] == [b"%d" % i for i in range(sent)]


def test_threads_racing_the_daemon_keep_fifo_and_one_order(singleton) -> None:
    d = singleton
    rx = _joined(d, "rx")
    senders = [_joined(d, f"s{k}") for k in range(4)]
    per = 300

    def send(k: int) -> None:
        for i in range(per):
            senders[k].multicast("g", b"%d:%d" % (k, i), timeout=10)

    threads = [threading.Thread(target=send, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    got = _data(rx, 4 * per)
    for k in range(4):
        mine = [m.payload for m in got if m.sender == senders[k].private_name]
        assert mine == [b"%d:%d" % (k, i) for i in range(per)]
    # every member delivers the same sequence, whichever thread ran the engine
    assert [m.payload for m in _data(senders[0], 4 * per)] == [m.payload for m in got]


def test_inline_commands_can_be_switched_off(tmp_path: Path) -> None:
    _, cfg = write_config(tmp_path, 1, extra_ring="  runtime:\n    inline_commands: false")
    with Daemon(cfg, "d1", health=False) as d:
        tx = _joined(d, "tx")
        for i in range(20):
            tx.multicast("g", b"%d" % i)
        assert [m.payload for m in _data(tx, 20)] == [b"%d" % i for i in range(20)]
        assert d.statistics().inline_commands == 0


def test_two_daemon_ring_orders_inline_and_queued_commands_alike(tmp_path: Path) -> None:
    _, cfg = write_config(tmp_path, 2)
    with Daemon(cfg, "d1", health=False) as d1, Daemon(cfg, "d2", health=False) as d2:
        a = _joined(d1, "a")
        b = _joined(d2, "b")
        while True:                               # a sees b join
            ev = a.receive(timeout=WAIT)
            assert ev is not None
            if isinstance(ev, GroupView) and len(ev.members) == 2:
                break
        per = 200

        def send(s) -> None:
            for i in range(per):
                s.multicast("g", b"%s%d" % (s.name.encode(), i), timeout=10)

        threads = [threading.Thread(target=send, args=(s,)) for s in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        order_a = [m.payload for m in _data(a, 2 * per)]
        order_b = [m.payload for m in _data(b, 2 * per)]
        assert order_a == order_b
