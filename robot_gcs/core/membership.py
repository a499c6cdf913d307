"""Membership sets and the JOIN rules of GATHER (PROTOCOL.md 1.4.1, 1.4.2, 1.4.6).

Owns: ``proc_set``, ``fail_set`` and ``consensus`` of one node, the state transition
table, and the decision what a JOIN means in each state. It returns decisions; the
engine performs the transitions and emits the packets (it owns timers and sends).

Rules (in order, after corosync's ``memb_join_process`` and the paper):
1. JOIN sets equal mine -> the sender agrees (consensus); maybe create the commit token.
2. Its sets are subsets of mine, or the sender is in my fail set -> ignore.
3. Otherwise merge ``proc_set``; if it lists me as failed, fail the sender; else if the
   sender was in my last ring, adopt its fail set. Re-enter GATHER.
Never put self in ``fail_set``. OPERATIONAL ignores JOINs that fail me or come from a
current member with an older ring seq (stale). COMMIT/RECOVERY only abort for a JOIN
from a member of the forming ring with ring seq >= the forming ring's seq.
"""

from __future__ import annotations

import enum

from .types import GatherReason, MemberState
from .wire import Join

# Allowed transitions (the engine asserts every state change against this table).
TRANSITIONS: dict[MemberState, frozenset[MemberState]] = {
    MemberState.GATHER: frozenset({MemberState.GATHER, MemberState.COMMIT, MemberState.STOPPED}),
    MemberState.COMMIT: frozenset({MemberState.GATHER, MemberState.RECOVERY, MemberState.STOPPED}),
    MemberState.RECOVERY: frozenset({MemberState.GATHER, MemberState.OPERATIONAL,
                                     MemberState.STOPPED}),
    MemberState.OPERATIONAL: frozenset({MemberState.GATHER, MemberState.STOPPED}),
    MemberState.STOPPED: frozenset(),
}


class JoinOutcome(enum.Enum):
    IGNORE = "ignore"
    AGREE = "agree"          # consensus grew: check whether to create the commit token
    REGATHER = "regather"    # sets changed: re-enter GATHER
    ABORT = "abort"          # COMMIT/RECOVERY: forming ring is stale -> GATHER


class Membership:
    """The GATHER-phase sets of one node."""

    def __init__(self, me: int) -> None:
        self.me = me
        self.proc_set: set[int] = {me}
        self.fail_set: set[int] = set()
        self.consensus: set[int] = {me}
        self.reason = GatherReason.START
        self.reason_from: int | None = None

    def live(self) -> list[int]:
        return sorted(self.proc_set - self.fail_set)

    def reset_to(self, members: tuple[int, ...]) -> None:
        """After an install: the ring's members, nobody failed."""
        self.proc_set = set(members)
        self.fail_set = set()
        self.consensus = {self.me}

    def fail(self, node: int) -> bool:
        """Put ``node`` in the fail set (never self); True if that changed anything."""
        if node == self.me or node in self.fail_set:
            return False
        self.fail_set.add(node)
        self.proc_set.add(node)
        return True

    def add(self, node: int) -> bool:
        if node in self.proc_set:
            return False
        self.proc_set.add(node)
        return True

    def agreed(self) -> bool:
        return self.consensus >= (self.proc_set - self.fail_set)

    def i_am_rep(self) -> bool:
        live = self.live()
        return bool(live) and live[0] == self.me

    def on_join_gather(self, j: Join, last_ring: tuple[int, ...]) -> JoinOutcome:
        """Rules 1-3 for a JOIN received in GATHER."""
        s = j.sender
        jproc, jfail = set(j.proc_set), set(j.fail_set)
        if jproc == self.proc_set and jfail == self.fail_set:
            self.consensus.add(s)
            return JoinOutcome.AGREE
        if (jproc <= self.proc_set and jfail <= self.fail_set) or s in self.fail_set:
            return JoinOutcome.IGNORE
        before = (frozenset(self.proc_set), frozenset(self.fail_set))
        self.proc_set |= jproc
        self.proc_set.add(s)
        if self.me in jfail:
            self.fail(s)
        elif s in last_ring:
            for n in sorted(jfail):
                self.fail(n)
        if (frozenset(self.proc_set), frozenset(self.fail_set)) == before:
            return JoinOutcome.IGNORE
        return JoinOutcome.REGATHER

    def consensus_expired(self) -> bool:
        """CONSENSUS timer: fail the silent ones. True if the fail set grew."""
        silent = (self.proc_set - self.fail_set) - self.consensus
        changed = False
        for n in sorted(silent):
            changed |= self.fail(n)
        return changed
