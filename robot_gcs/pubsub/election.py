"""Active/standby election decided only by the agreed order of one group's events.

What it owns: which member of a group is *active* (e.g. the one controller allowed to
command the motors), as a pure state machine fed with the group's regular views and its
messages in delivery order. No timers, no clocks: every member that delivers the same
events computes the same answer at the same position of the total order, so there is
never more than one active member within a membership component.

How (a state exchange, like the group layer's after a merge, PROTOCOL.md 1.5):

* Every regular view starts a *round* ``(view id, "")``: each member multicasts
  STATE(round, i_am_active, veteran, extra). When STATEs of the round from every member
  of the view have been delivered, everyone decides with the same function:
  1. members that declare themselves active keep it -- the lowest-ranked of them if a
     merge brought several (the others step down): no pre-emption;
  2. else, once the start barrier is passed, the lowest-ranked *veteran* (a member that
     was part of a decided round after the barrier) becomes active, or the lowest-ranked
     member if there is no veteran yet (first start);
  3. else nobody.
  ``rank`` = position in the configured candidate list, then name.
* An active that leaves the view is forgotten at once (everyone knew the same active).
* Start barrier: nobody becomes active before one view held every expected candidate, so
  processors that come up as separate singleton rings do not each start a controller.
* HELLO: a fresh process sends it on its first view and takes no part in any decision
  until its own HELLO comes back in the total order: only from that point on does it see
  exactly the events every other member sees (a process that restarts under the same name
  may be handed a view in the middle of a round). Delivering HELLO from X means X
  restarted; if X was active, the old process is gone: nobody is active until the round
  that HELLO starts (``(view id, "X/<instance>")``) decides. This covers a restart so fast that the
  group views never showed X leave (its private name is the same).
* ``extra`` (from the application, e.g. the last control step it saw) rides on every
  STATE; ``extras`` holds the latest per member, so a new active continues where the
  ring left off even if it is a fresh process.

Limits: in a network partition each side elects its own active (EVS is partitionable;
add a quorum rule on top if a robot needs one). Without candidates there is no start
barrier: processors that start as separate rings each elect one before the rings merge
-- ``Node.create_election`` therefore requires candidates, and an ``ActiveStandby`` made
without them logs a warning. A round only completes when every member
of the view sends its STATE; a member that never does is excluded by the next view.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

log = logging.getLogger(__name__)

STATE = "state"
HELLO = "hello"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message the member must multicast (AGREED) to the election group."""

    payload: bytes


class ActiveStandby:
    """Pure election state of member ``me`` (a private name)."""

    def __init__(self, me: str, candidates: Iterable[str] = (),
                 extra: Callable[[], dict[str, Any]] | None = None, instance: int | None = None) -> None:
        self.me = me
        self.instance = instance if instance is not None else random.SystemRandom().getrandbits(32)
        self.candidates = tuple(candidates)
        if not self.candidates:
            log.warning("election of %s without candidates: processors that start as "
                        "separate rings each elect a leader until the rings merge", me)
        self._extra = extra
        self.active: str | None = None
        self.known = False              # took part in a decided round
        self.veteran = False            # took part in a decided round after the barrier
        self.view_id: tuple[Any, ...] = ()
        self.members: tuple[str, ...] = ()
        self.round: tuple[Any, ...] = ()             # () or (view id, tag)
        self.states: dict[str, dict[str, Any]] = {}
        self.extras: dict[str, dict[str, Any]] = {}
        self._hello_sent = False
        self._synced = False            # own HELLO delivered: in step with the others
        self._decided = False
        self.history: list[tuple[tuple[Any, ...], str | None]] = []   # (round, active) on each change

    # -------------------------------------------------------------- queries

    @property
    def is_active(self) -> bool:
        return self.active == self.me

    @property
    def deciding(self) -> bool:
        """A round is open (waiting for STATEs of some members)."""
        return bool(self.round) and not self._decided

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
        if self.me not in self.members:
            self._set_active(None)
            self.round = ()
            return []
        if self.active is not None and self.active not in self.members:
            self._set_active(None)
        out: list[Outgoing] = []
        if not self._hello_sent:
            self._hello_sent = True
            out.append(self._msg(HELLO, instance=self.instance))
        return out + self._start_round("")

    def on_message(self, sender: str, payload: bytes) -> list[Outgoing]:
        """A DataMessage of the election group was delivered."""
        try:
            msg = json.loads(payload)
            kind = msg["kind"]
            rnd = (tuple(msg["view"]), str(msg["tag"]))
        except (ValueError, KeyError, TypeError, IndexError):
            return []
        if sender not in self.members or not self.round:
            return []
        if not self._synced:
            if kind != HELLO or sender != self.me or msg.get("instance") != self.instance:
                return []                         # before my HELLO: not in step yet
            self._synced = True
        if kind == HELLO:
            if sender != self.me and self.active == sender:
                self._set_active(None)            # the process that was active is gone
            return self._start_round(f"{sender}/{msg.get('instance')}")
        if kind != STATE or rnd != self.round or self._decided:
            return []                             # stale: sent for an earlier round
        if isinstance(msg.get("extra"), dict):
            self.extras[sender] = msg["extra"]
        self.states.setdefault(sender, msg)
        if all(m in self.states for m in self.members):
            self._decide()
        return []

    # -------------------------------------------------------------- internals

    def _start_round(self, tag: str) -> list[Outgoing]:
        self.round = (self.view_id, tag)
        self.states = {}
        self._decided = False
        return [self._msg(STATE, active=self.is_active, veteran=self.veteran)]

    def _decide(self) -> None:
        self._decided = True
        mset = set(self.members)
        declared = sorted((s for s, m in self.states.items() if m.get("active")), key=self.rank)
        veterans = sorted((s for s, m in self.states.items() if m.get("veteran")), key=self.rank)
        barrier = bool(veterans) or (bool(self.candidates) and set(self.candidates) <= mset)
        if declared:
            new = declared[0]
        elif barrier:
            new = veterans[0] if veterans else min(self.members, key=self.rank)
        else:
            new = None
        self._set_active(new)
        self.known = True
        if barrier:
            self.veteran = True

    def _set_active(self, active: str | None) -> None:
        if active != self.active:
            self.active = active
            self.history.append((self.round, active))

    def _msg(self, kind: str, **fields: object) -> Outgoing:
        view, tag = self.round if self.round else (self.view_id, "")
        body: dict[str, Any] = {"kind": kind, "view": list(view), "tag": tag, **fields}
        if self._extra is not None:
            body["extra"] = self._extra()
        return Outgoing(json.dumps(body, sort_keys=True).encode())
