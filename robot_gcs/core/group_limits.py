"""Group membership limits: every daemon's G_STATE must fit in one ring message.

Theory of operation
-------------------
After a configuration change every daemon submits one G_STATE with its own clients'
memberships (core/group_views.py); the exchange ends only when all of them arrived. A
state that cannot be submitted would hold every daemon's group traffic (the NORMAL lane
stays closed during the exchange), so its size is bounded where it grows: at join time.

* ``GroupLimits`` -- ``groups_per_client`` and ``memberships_per_daemon`` (one membership
  = one (group, local client) pair). ``GroupLimits.for_message(max_message)`` caps the
  per-daemon count so that the worst G_STATE (every membership in its own group, longest
  names) fits in ``max_message`` and in the u16 group count of the envelope.
* ``GroupQuota`` -- the groups each local client asked to be in (joins minus leaves, in
  request order). ``join`` raises ``LocalProtocolError`` naming the limit before the
  G_JOIN is submitted; ``leave`` and ``drop`` (disconnect) give room back. Requests of
  one client are ordered FIFO, so the agreed table of local members is always the quota
  of some prefix of the requests and never holds more than the limits.
* ``fit_state(groups, max_bytes)`` -- defence in depth for states built under other
  limits (a changed config): the longest prefix of the sorted entries that encodes
  within ``max_bytes``. The daemon sends that and counts the truncation rather than
  wedging the exchange of every daemon.

Owner: a ``GroupQuota`` belongs to one owner (``GroupEngine``: the engine lock holder;
the runtime keeps its own under a lock for caller-thread errors).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LocalProtocolError

__all__ = ["GroupLimits", "GroupQuota", "fit_state", "STATE_HEAD", "WORST_ENTRY"]

MAX_NAME = 64                       # group_wire.MAX_NAME_BYTES
STATE_HEAD = 1 + 12 + 4 + 2         # gtype, ring id, daemon, n_groups
WORST_ENTRY = (1 + MAX_NAME) + 2 + (1 + MAX_NAME)   # one group with one client
MAX_STATE_GROUPS = 0xFFFF


@dataclass(frozen=True, slots=True)
class GroupLimits:
    """Per-client and per-daemon bounds on group memberships (README "Limits")."""

    groups_per_client: int = 4096
    memberships_per_daemon: int = 16384

    def __post_init__(self) -> None:
        if self.groups_per_client < 1 or self.memberships_per_daemon < 1:
            raise LocalProtocolError(f"group limits must be positive: {self}")

    @classmethod
    def for_message(cls, max_message: int, groups_per_client: int = 4096,
                    memberships_per_daemon: int = 16384) -> "GroupLimits":
        """Limits whose worst G_STATE fits in ``max_message`` bytes."""
        fits = min(MAX_STATE_GROUPS, max(1, (max_message - STATE_HEAD) // WORST_ENTRY))
        per_daemon = min(memberships_per_daemon, fits)
        return cls(min(groups_per_client, per_daemon), per_daemon)


class GroupQuota:
    """Groups requested by each local client, checked against ``GroupLimits``."""

    def __init__(self, limits: GroupLimits) -> None:
        self.limits = limits
        self._groups: dict[str, set[str]] = {}
        self.total = 0
        self.refused = 0

    def join(self, client: str, group: str) -> None:
        """Count ``group`` for ``client``; raises ``LocalProtocolError`` over a limit."""
        mine = self._groups.get(client)
        if mine is not None and group in mine:
            return
        n = len(mine) if mine is not None else 0
        if n >= self.limits.groups_per_client:
            self.refused += 1
            raise LocalProtocolError(
                f"cannot join {group!r}: client {client!r} is in {n} groups already "
                f"(the limit per client is {self.limits.groups_per_client}; leave some first)")
        if self.total >= self.limits.memberships_per_daemon:
            self.refused += 1
            raise LocalProtocolError(
                f"cannot join {group!r}: this daemon's clients hold {self.total} group "
                f"memberships already (the limit per daemon is "
                f"{self.limits.memberships_per_daemon}: its group state must fit in one "
                f"message)")
        self._groups.setdefault(client, set()).add(group)
        self.total += 1

    def leave(self, client: str, group: str) -> None:
        mine = self._groups.get(client)
        if mine is not None and group in mine:
            mine.discard(group)
            self.total -= 1

    def drop(self, client: str) -> None:
        """``client`` disconnected: all its groups are given back."""
        self.total -= len(self._groups.pop(client, ()))

    def count(self, client: str) -> int:
        return len(self._groups.get(client, ()))


def fit_state(groups: tuple[tuple[str, tuple[str, ...]], ...],
              max_bytes: int) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The longest prefix of ``groups`` (G_STATE entries) that encodes in ``max_bytes``."""
    size = STATE_HEAD
    for i, (group, clients) in enumerate(groups):
        size += 1 + len(group.encode("utf-8")) + 2 + sum(1 + len(c.encode("utf-8"))
                                                         for c in clients)
        if size > max_bytes or i >= MAX_STATE_GROUPS or len(clients) > 0xFFFF:
            return groups[:i]
    return groups
