"""``Session.batch()``: a burst of multicasts enters the engine together when the block
ends (runtime/commands.py), so one token visit carries it; order, priority and errors
stay those of the queued path."""

from __future__ import annotations

from pathlib import Path

import pytest
from rt_fakes import write_config

from robot_gcs import DataMessage, GroupView
from robot_gcs.runtime.daemon import Daemon

WAIT = 20.0


def _joined(d: Daemon, name: str, group: str = "g"):
    s = d.connect(name)
    s.join(group)
    while True:
        ev = s.receive(timeout=WAIT)
        assert ev is not None, f"{name}: no view of {group}"
        if isinstance(ev, GroupView) and s.private_name in ev.members:
            return s


def _data(s, n: int, timeout: float = WAIT) -> list[bytes]:
    out = []
    while len(out) < n:
        ev = s.receive(timeout=timeout)
        if ev is None:
            break
        if isinstance(ev, DataMessage):
            out.append(ev.payload)
    return out


@pytest.fixture
def singleton(tmp_path: Path):
    _, cfg = write_config(tmp_path, 1)
    d = Daemon(cfg, "d1", health=False).start()
    yield d
    d.stop()


def test_a_batch_enters_the_engine_in_one_input_when_it_ends(singleton) -> None:
    # on an idle singleton an inline multicast is delivered before it returns; inside a
    # batch nothing enters the engine until the block ends, then all ten in one input
    # (one inline run), delivered before the block returns
    d = singleton
    tx = _joined(d, "tx")
    flushed_inline = 0
    for round_ in range(50):
        before = d.statistics().inline_commands
        with tx.batch():
            for i in range(10):
                tx.multicast("g", b"%d:%d" % (round_, i))
            assert tx.receive(timeout=0) is None          # held until the block ends
        want = [b"%d:%d" % (round_, i) for i in range(10)]
        if d.statistics().inline_commands == before + 1:  # the daemon thread was idle
            flushed_inline += 1
            assert _data(tx, 10, timeout=0) == want       # already delivered, in order
        else:                                             # it was busy: its drain
            assert _data(tx, 10) == want
        if flushed_inline >= 5:
            break
    assert flushed_inline >= 5


def test_a_priority_message_in_a_batch_is_not_held(singleton) -> None:
    # an e-stop inside a batch goes at once, and this session's batched messages go
    # with it, ahead of it (per-session FIFO)
    d = singleton
    tx = _joined(d, "tx")
    with tx.batch():
        for i in range(3):
            tx.multicast("g", b"%d" % i)
        tx.multicast("g", b"stop", priority=True)
        assert _data(tx, 4) == [b"0", b"1", b"2", b"stop"]
        tx.multicast("g", b"after")
    assert _data(tx, 1) == [b"after"]


def test_batches_on_two_daemons_keep_one_order(tmp_path: Path) -> None:
    # bursts from both daemons, each a batch: one total order, each sender's FIFO
    _, cfg = write_config(tmp_path, 2)
    with Daemon(cfg, "d1", health=False) as d1, Daemon(cfg, "d2", health=False) as d2:
        a = _joined(d1, "a")
        b = _joined(d2, "b")              # b's join is ordered before what follows
        for k in range(20):
            for s, tag in ((a, b"a"), (b, b"b")):
                with s.batch():
                    for i in range(5):
                        s.multicast("g", b"%s%d.%d" % (tag, k, i))
        got_a, got_b = _data(a, 200), _data(b, 200)
        assert got_a == got_b and len(got_a) == 200
        for tag in (b"a", b"b"):
            mine = [m for m in got_a if m.startswith(tag)]
            assert mine == [b"%s%d.%d" % (tag, k, i) for k in range(20) for i in range(5)]
