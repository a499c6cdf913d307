"""Active/standby election decided only by the agreed order of one group's events.

What it owns: which member of a group is *active* (e.g. the one controller allowed to
command the motors), as a pure state machine fed with the group's regular views and its
SYNC/CLAIM messages in delivery order. No timers, no clocks: every member that delivers
the same events computes the same answer at the same position of the total order, so
there is never more than one active member within a membership component.

Rules (``rank`` = position in the configured candidate list, then name):

* A member starts *unknown*. It becomes *known* when it is alone in the group (nothing to
  learn), or when it delivers a SYNC for its current view.
* On its first view a member sends HELLO. Delivering HELLO from X means X is a fresh
  process: everyone forgets X's state (X is unknown again; if X was active, there is no
  active). This matters when a process restarts so fast that the group's views never
  showed it leave: its private name is the same, only the HELLO tells the others.
* On a view: a known member forgets an active that left; if the view holds members it
  does not know as known (joiners, or the other side of a merge), the lowest-ranked
  member it knows sends SYNC(view, active, barrier). The first SYNC delivered for the
  current view is adopted by everyone, known or not; later ones and stale ones are ignored.
* Start barrier: nobody claims before one view has held every expected candidate, so
  processors that come up as separate singleton rings do not each start a controller.
* CLAIM: when everyone is known, there is no active, the barrier is passed and I am the
  lowest-ranked member of the view, I send CLAIM(view) once per view. The first CLAIM
  delivered while there is no active wins; the others are ignored.
* No pre-emption: a returning preferred member stays standby until the active leaves.
* Every message may carry the application's ``extra`` state (e.g. the last control step
  the member saw); ``extras`` keeps the latest per sender, so a new active can continue
  where the ring left off even if it is a fresh process.

Limits: in a network partition each side elects its own active (EVS is partitionable;
add a quorum rule on top if a robot needs one). If every known member leaves while only
unknown members remain, nobody can claim until one of them is alone again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

SYNC = "sync"
CLAIM = "claim"
HELLO = "hello"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message the member must multicast (AGREED) to the election group."""

    payload: bytes


class ActiveStandby:
    """Pure election state of member ``me`` (a private name)."""

    def __init__(self, me: str, candidates: Iterable[str] = (),
                 extra: Callable[[], dict] | None = None) -> None:
        self.me = me
        self.candidates = tuple(candidates)
        self._extra = extra
        self.extras: dict[str, dict] = {}        # sender -> app state from its last message
        self.known = False
        self.active: str | None = None
        self.barrier = False
        self.known_set: frozenset[str] = frozenset()
        self.view_id: tuple = ()
        self.members: tuple[str, ...] = ()
        self.pending_sync = False
        self._claimed_view: tuple | None = None
        self._hello_sent = False
        self.history: list[tuple[tuple, str | None]] = []   # (view id, active) on each change

    # -------------------------------------------------------------- queries

    @property
    def is_active(self) -> bool:
        return self.active == self.me

    def rank(self, name: str) -> tuple[int, str]:
        try:
            return (self.candidates.index(name), name)
        except ValueError:
            return (len(self.candidates), name)

    # -------------------------------------------------------------- inputs

    def on_view(self, view_id: Sequence[int], members: Sequence[str]) -> list[Outgoing]:
        """A regular view of the election group was delivered."""
        self.view_id = tuple(view_id)
        self.members = tuple(members)
        mset = frozenset(members)
        if self.me not in mset:
            self._set_active(None)
            self.known = False
            return []
        out: list[Outgoing] = []
        if not self._hello_sent:
            self._hello_sent = True
            out.append(self._msg(HELLO))
        if not self.known and mset == {self.me}:
            self.known = True
            self.known_set = frozenset({self.me})
            self._set_active(None)
        if not self.known:
            return out
        return out + self._reevaluate()

    def _reevaluate(self) -> list[Outgoing]:
        mset = frozenset(self.members)
        if self.active is not None and self.active not in mset:
            self._set_active(None)
        self.known_set = self.known_set & mset
        if mset == {self.me}:
            self.known_set = mset                 # alone: nothing to learn from anyone
        if self.candidates and set(self.candidates) <= mset:
            self.barrier = True
        self.pending_sync = bool(mset - self.known_set)
        if self.pending_sync:
            if self.known_set and self.me == min(self.known_set, key=self.rank):
                return [self._msg(SYNC, active=self.active, barrier=self.barrier)]
            return []
        return self._maybe_claim()

    def on_message(self, sender: str, payload: bytes) -> list[Outgoing]:
        """A DataMessage of the election group was delivered."""
        try:
            msg = json.loads(payload)
            kind = msg["kind"]
            view = tuple(msg["view"])
        except (ValueError, KeyError, TypeError):
            return []
        if sender not in self.members:
            return []
        if isinstance(msg.get("extra"), dict):
            self.extras[sender] = msg["extra"]
        if view != self.view_id and kind != HELLO:
            return []                              # stale: sent for an earlier view
        if kind == SYNC:
            if self.known and not self.pending_sync:
                return []                          # a later SYNC for a view already synced
            active = msg.get("active")
            self.known = True
            self.known_set = frozenset(self.members)
            self.pending_sync = False
            self.barrier = bool(msg.get("barrier")) or self.barrier or (
                bool(self.candidates) and set(self.candidates) <= set(self.members))
            self._set_active(active if active in self.members else None)
            self._claimed_view = None             # a new round: a claim may be due again
            return self._maybe_claim()
        if kind == CLAIM:
            if self.known and not self.pending_sync and self.active is None:
                self._set_active(sender)
            return []
        if kind == HELLO:
            if not self.known or frozenset(self.members) == {sender}:
                return []
            self.known_set = self.known_set - {sender}     # the sender too: it waits for a SYNC
            if self.active == sender:
                self._set_active(None)        # the process that was active is gone
            return self._reevaluate()
        return []

    # -------------------------------------------------------------- internals

    def _maybe_claim(self) -> list[Outgoing]:
        if (self.known and not self.pending_sync and self.active is None and self.barrier
                and self._claimed_view != self.view_id
                and self.me == min(self.members, key=self.rank)):
            self._claimed_view = self.view_id
            return [self._msg(CLAIM)]
        return []

    def _set_active(self, active: str | None) -> None:
        if active != self.active:
            self.active = active
            self.history.append((self.view_id, active))

    def _msg(self, kind: str, **extra: object) -> Outgoing:
        body = {"kind": kind, "view": list(self.view_id), **extra}
        if self._extra is not None:
            body["extra"] = self._extra()
        return Outgoing(json.dumps(body, sort_keys=True).encode())
