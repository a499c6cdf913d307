"""``Session.batch()``: a block's multicasts are one burst (runtime/commands.py,
``Engine.local_burst``): a token the daemon keeps leaves with all of them when the block
ends; order and priority stay as outside a block."""

from __future__ import annotations

from pathlib import Path

import pytest
from rt_fakes import write_config
from rt_sessions import joined, next_message

from robot_gcs import GroupView
from robot_gcs.config import load_config
from robot_gcs.runtime.daemon import Daemon
from robot_gcs.testing import free_udp_ports, ring_key_line

WAIT = 20.0


def _data(s, n: int) -> list[bytes]:
    return [next_message(s, WAIT).payload for _ in range(n)]


@pytest.fixture
def singleton(tmp_path: Path):
    # a long token hold: the singleton's kept token leaves only when asked (a stalled
    # test machine cannot end the hold inside a block)
    (port,) = free_udp_ports(1)
    path = tmp_path / "ring.yaml"
    path.write_text(f"ring:\n  name: batch\n  state_dir: {tmp_path / 'state'}\n"
                    f"{ring_key_line(tmp_path)}\n"
                    "  timeouts:\n    token_ms: 10000\n    token_hold_ms: 4500\n"
                    f"daemons:\n  - name: d1\n    address: 127.0.0.1:{port}\n")
    d = Daemon(load_config(path), "d1", health=False).start()
    yield d
    d.stop()


def test_a_burst_is_ordered_when_the_block_ends(singleton) -> None:
    # an idle singleton orders an inline multicast before it returns; inside a batch
    # the kept token waits for the block's end, then carries the whole burst
    d = singleton
    tx = joined(d, "tx")
    for round_ in range(3):
        with tx.batch():
            for i in range(10):
                tx.multicast("g", b"%d:%d" % (round_, i))
            assert tx.receive(timeout=0) is None
        assert _data(tx, 10) == [b"%d:%d" % (round_, i) for i in range(10)]
    tx.multicast("g", b"after")                 # outside a block: at once, as before
    assert _data(tx, 1) == [b"after"]


def test_a_priority_message_in_a_batch_is_not_held(singleton) -> None:
    # an e-stop inside a batch goes at once, and this session's batched messages go
    # with it, ahead of it (per-session FIFO)
    d = singleton
    tx = joined(d, "tx")
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
        a = joined(d1, "a")
        b = joined(d2, "b")
        while True:                        # one ring: a sees b join
            ev = a.receive(timeout=WAIT)
            assert ev is not None, "a: no view with b"
            if isinstance(ev, GroupView) and len(ev.members) == 2:
                break
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
