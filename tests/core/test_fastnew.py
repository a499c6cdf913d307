"""core.fastnew: the hot path's constructors build exactly the values the classes do."""

from __future__ import annotations

from dataclasses import dataclass, fields

import pytest

from robot_gcs.core.actions import Deliver, Send, SetTimer
from robot_gcs.core.events import DataMessage
from robot_gcs.core.fastnew import maker
from robot_gcs.core.groups import ToClient
from robot_gcs.core.types import RingId, Service, TimerId
from robot_gcs.core.wire import Mcast, Token

SAMPLES = [
    (Mcast, (3, 7, RingId(1, 256), 9, 4, Service.SAFE, b"\x00abc", True)),
    (Token, (1, 2, RingId(1, 8), 3, 4, 2, 1, 7, 8, True, (5, 6), True)),
    (Deliver, (2, 9, b"pl", Service.AGREED, RingId(2, 4), 11, True)),
    (Send, (-1, b"data")),
    (SetTimer, (TimerId.TOKEN_HOLD, 12.5, 0.01)),
    (DataMessage, ("#a#b", ("g", "h"), Service.FIFO, object(), -3)),
    (ToClient, ("c", DataMessage("#a#b", ("g",), Service.AGREED, b"x", 0), b"x")),
]


@pytest.mark.parametrize("cls,args", SAMPLES, ids=lambda v: getattr(v, "__name__", ""))
def test_maker_builds_an_equal_frozen_instance(cls: type, args: tuple[object, ...]) -> None:
    make = maker(cls)
    assert make is not cls, f"{cls.__name__} should get the fast constructor"
    got, want = make(*args), cls(*args)
    assert type(got) is cls and got == want and repr(got) == repr(want)
    assert hash(got) == hash(want)
    for f in fields(cls):
        assert getattr(got, f.name) is getattr(want, f.name)
    with pytest.raises(AttributeError):
        setattr(got, fields(cls)[0].name, None)       # still frozen
    with pytest.raises(TypeError):
        make(*args[:-1])                               # every field must be given


def test_maker_leaves_classes_it_cannot_copy_the_init_of_alone() -> None:
    @dataclass(frozen=True, slots=True)
    class Checked:
        x: int

        def __post_init__(self) -> None:
            if self.x < 0:
                raise ValueError("x")

    @dataclass(frozen=True)
    class NoSlots:
        x: int

    @dataclass(slots=True)
    class Mutable:
        x: int

    for cls in (Checked, NoSlots, Mutable):
        assert maker(cls) is cls
    with pytest.raises(ValueError):
        maker(Checked)(-1)
