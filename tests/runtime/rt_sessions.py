"""Waiting helpers for tests that drive sessions (in-process or socket) of real daemons."""

from __future__ import annotations

from typing import Any

from robot_gcs import DataMessage, GroupView

WAIT = 60.0


def view_with(s: Any, n: int, timeout: float = WAIT) -> GroupView:
    """The next regular view with ``n`` members (earlier events are skipped)."""
    while True:
        ev = s.receive(timeout=timeout)
        assert ev is not None, "no view within the timeout"
        if isinstance(ev, GroupView) and len(ev.members) == n and not ev.transitional:
            return ev


def joined(d: Any, name: str, group: str = "g", timeout: float = WAIT) -> Any:
    """A session ``name`` on daemon ``d`` that joined ``group`` and saw itself in it."""
    s = d.connect(name)
    s.join(group)
    while True:
        ev = s.receive(timeout=timeout)
        assert ev is not None, f"{name}: no view of {group}"
        if isinstance(ev, GroupView) and s.private_name in ev.members:
            return s


def next_message(s: Any, timeout: float = WAIT) -> DataMessage:
    """The next DataMessage (views are skipped)."""
    while True:
        ev = s.receive(timeout=timeout)
        assert ev is not None, "no message within the timeout"
        if isinstance(ev, DataMessage):
            return ev
