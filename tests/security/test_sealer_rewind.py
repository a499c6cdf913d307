"""The sealer takes a smaller incarnation as a new life only after silence (issue 15,
case 3: a restart with its state lost and its clock behind), and never a replay of a
life it saw."""

from __future__ import annotations

import pytest

from robot_gcs.core import wire
from robot_gcs.core.types import RingId
from robot_gcs.errors import MalformedPacket
from robot_gcs.security.sealer import Sealer

KEY = b"k" * 32
PEERS = (1, 2)
CID = 77


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _hurry(sender: int, inc: int) -> bytes:
    return wire.encode(wire.Hurry(sender, inc, RingId(1, 4)), CID)


def _reason(fn: object, *args: object) -> str:
    with pytest.raises(MalformedPacket) as info:
        fn(*args)  # type: ignore[operator]
    return info.value.reason


def test_a_smaller_incarnation_is_a_new_life_after_silence_but_replays_stay_stale() -> None:
    clock = Clock()
    me = Sealer((KEY,), CID, 1, 5, PEERS, rewind_quiet=2.0, clock=clock)
    first = Sealer((KEY,), CID, 2, 10, PEERS)           # n2's first life
    captured = first.seal(_hurry(2, 10))
    assert me.open(first.seal(_hurry(2, 10))) is not None
    second = Sealer((KEY,), CID, 2, 1000, PEERS)        # it restarted, clock ahead
    assert me.open(second.seal(_hurry(2, 1000))) is not None
    captured_second = second.seal(_hurry(2, 1000))
    rewound = Sealer((KEY,), CID, 2, 500, PEERS)        # state lost, clock behind
    clock.now += 1.0                                    # the 1000 life spoke 1 s ago
    assert _reason(me.open, rewound.seal(_hurry(2, 500))) == "seal_stale"
    clock.now += 1.5                                    # silent for 2.5 s: gone
    assert me.open(rewound.seal(_hurry(2, 500))) is not None
    # a replay of the larger life it replaced must not take the rewound one out
    assert _reason(me.open, captured_second) == "seal_stale"
    assert me.open(rewound.seal(_hurry(2, 500))) is not None
    later = Sealer((KEY,), CID, 2, 1000, PEERS)         # a real new life, same number
    assert me.open(later.seal(_hurry(2, 1000))) is not None     # (a new boot id)
    clock.now += 10.0                                   # long silence again, but ...
    assert _reason(me.open, captured) == "seal_stale"   # ... a life seen here stays stale


def test_without_rewind_quiet_a_smaller_incarnation_is_always_stale() -> None:
    clock = Clock()
    me = Sealer((KEY,), CID, 1, 5, PEERS, clock=clock)
    assert me.open(Sealer((KEY,), CID, 2, 10, PEERS).seal(_hurry(2, 10))) is not None
    clock.now += 1e6
    assert _reason(me.open, Sealer((KEY,), CID, 2, 9, PEERS).seal(_hurry(2, 9))) == "seal_stale"


def test_a_life_heard_through_the_fast_path_is_never_silent() -> None:
    """A replay of an older life (never seen here) must not retire a life that keeps
    speaking: every accepted datagram, also on the one-lookup path, counts as heard."""
    clock = Clock()
    me = Sealer((KEY,), CID, 1, 5, PEERS, rewind_quiet=2.0, clock=clock)
    old = Sealer((KEY,), CID, 2, 10, PEERS)             # a life from before my start
    captured = old.seal(_hurry(2, 10))
    current = Sealer((KEY,), CID, 2, 1000, PEERS)
    for _ in range(5):                                  # speaks every second, 5 s
        assert me.open(current.seal(_hurry(2, 1000))) is not None
        clock.now += 1.0
    assert _reason(me.open, captured) == "seal_stale"
    assert me.open(current.seal(_hurry(2, 1000))) is not None
