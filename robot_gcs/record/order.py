"""The agreed position of a delivered message, computed the same way on every daemon.

What it owns: ``OrderTracker``, per group the id of the group's current view and the
number of messages delivered in the group since that view. One recorder owns one tracker
and feeds it every event of its session, in delivery order.

Why this is an agreed position (PROTOCOL.md 1.5, core/group_views.py): a group's views are
delivered to every member at the same point of the total order, and a view id
``(ring rep, ring seq, index)`` names one view everywhere (``index`` counts the ring's
membership operations). Between two views every member delivers the same messages of the
group in the same order (AGREED or SAFE; EVS: in a partition only the members that stay
together agree). So ``(view id, n)`` -- the n-th message of the group after that view --
names the same message on every daemon, without the ring's own sequence numbers, which
sessions do not see: two recordings made on different computers can be matched message
by message (bag.py ``compare``).

Rules:

* A regular view of a group starts a new count; a transitional signal does not (it
  carries the current view id, and data of the transitional phase continue the count).
* A message sent to several groups counts in each of them (every member of each group
  delivers it); its position is taken in the first of its groups that is tracked.
* Before the tracker has seen a view of a group it has no position there (``None``):
  a member receives a group's data only after its own join view, so for a session fed
  to the tracker from its join on this does not happen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..core.events import GroupView

ViewId = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Position:
    """A message's place in the agreed order: the n-th of ``group`` after view ``view``."""

    group: str
    view: ViewId
    n: int

    def as_json(self) -> dict[str, object]:
        return {"group": self.group, "view": list(self.view), "n": self.n}


class OrderTracker:
    """Per tracked group: current view id and messages since (owned by one recorder)."""

    def __init__(self) -> None:
        self._views: dict[str, ViewId] = {}
        self._counts: dict[str, int] = {}

    def on_view(self, ev: GroupView) -> None:
        if not ev.transitional:
            self._views[ev.group] = ev.view_id
            self._counts[ev.group] = 0

    def on_message(self, groups: Sequence[str]) -> Position | None:
        """Count a delivered message; its position in the first tracked group."""
        first: Position | None = None
        for g in groups:
            view = self._views.get(g)
            if view is None:
                continue
            n = self._counts[g] + 1
            self._counts[g] = n
            if first is None:
                first = Position(g, view, n)
        return first

    def view_of(self, group: str) -> ViewId | None:
        return self._views.get(group)
