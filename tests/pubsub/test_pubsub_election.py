"""Hot standby: the active member is a pure function of the agreed order of events, so
every member agrees, there is never more than one active, and a standby takes over when
the active leaves."""

from __future__ import annotations

import random

from hypothesis import given, settings, strategies as st

from robot_gcs.pubsub.election import ActiveStandby

CANDS = ("#ctl#cpu1", "#ctl#cpu2", "#ctl#cpu3")


class Group:
    """One group in total order: views and messages delivered to all current members."""

    def __init__(self, rng: random.Random, cands: tuple[str, ...] = CANDS) -> None:
        self.rng = rng
        self.cands = cands
        self.members: list[str] = []
        self.nodes: dict[str, ActiveStandby] = {}
        self.inflight: list[tuple[str, bytes]] = []
        self.view = 0
        self.claims_won: list[str] = []

    def _deliver_view(self) -> None:
        self.view += 1
        for m in list(self.members):
            for out in self.nodes[m].on_view((1, 1, self.view), tuple(self.members)):
                self.inflight.append((m, out.payload))
        self.check()

    def join(self, name: str) -> None:
        self.nodes[name] = self.fresh(name)
        self.members = sorted(self.members + [name])
        self._deliver_view()

    def fresh(self, name: str) -> ActiveStandby:
        """A new process for ``name``, with a seeded instance number (replayable)."""
        return ActiveStandby(name, self.cands, instance=self.rng.getrandbits(32))

    def restart_without_view(self, name: str) -> ActiveStandby:
        """``name`` restarts so fast that the others see no view: it is handed the current one."""
        node = self.nodes[name] = self.fresh(name)
        for out in node.on_view((1, 1, self.view), tuple(self.members)):
            self.inflight.append((name, out.payload))
        self.check()
        return node

    def leave(self, name: str) -> None:
        self.members.remove(name)
        self.inflight = [(s, p) for (s, p) in self.inflight if s != name or self.rng.random() < 0.5]
        self._deliver_view()

    def deliver_one(self) -> bool:
        if not self.inflight:
            return False
        sender, payload = self.inflight.pop(0)
        for m in list(self.members):
            for out in self.nodes[m].on_message(sender, payload):
                self.inflight.append((m, out.payload))
        self.check()
        return True

    def check(self) -> None:
        believers = [m for m in self.members if self.nodes[m].is_active]
        assert len(believers) <= 1, believers
        opinions = {self.nodes[m].active for m in self.members if self.nodes[m].known}
        assert len(opinions) <= 1, opinions

    def settle(self) -> None:
        for _ in range(100):
            if not self.deliver_one():
                return

    def active(self) -> str | None:
        acts = {self.nodes[m].active for m in self.members}
        assert len(acts) == 1, acts
        return acts.pop()


def test_nobody_is_active_before_every_candidate_is_present() -> None:
    g = Group(random.Random(1))
    g.join(CANDS[1])
    g.join(CANDS[2])
    g.settle()
    assert g.active() is None
    g.join(CANDS[0])
    g.settle()
    assert g.active() == CANDS[0]


def test_standby_takes_over_when_the_active_leaves_and_there_is_no_preemption() -> None:
    g = Group(random.Random(2))
    for c in CANDS:
        g.join(c)
    g.settle()
    assert g.active() == CANDS[0]
    g.leave(CANDS[0])
    g.settle()
    assert g.active() == CANDS[1]
    g.join(CANDS[0])            # the preferred one comes back: stays standby
    g.settle()
    assert g.active() == CANDS[1]
    assert g.nodes[CANDS[0]].known


def test_merge_of_two_actives_keeps_exactly_one() -> None:
    a, b = ActiveStandby(CANDS[0], CANDS[:2]), ActiveStandby(CANDS[1], CANDS[:2])
    for n in (a, b):          # both were active on their own side of a partition
        n.known, n.veteran, n.active, n._hello_sent, n._synced = True, True, n.me, True, True
    outs = [(n.me, o) for n in (a, b) for o in n.on_view((1, 9, 1), CANDS[:2])]
    for sender, o in outs:
        for n in (a, b):
            n.on_message(sender, o.payload)
    assert a.active == b.active == CANDS[0]


def test_stale_and_junk_messages_are_ignored() -> None:
    a = ActiveStandby(CANDS[0], CANDS[:1])
    out = a.on_view((1, 1, 1), (CANDS[0],))
    assert a.on_message(CANDS[0], b"junk") == []
    a.on_view((1, 1, 2), (CANDS[0],))
    for o in out:                           # messages of view 1 arrive in view 2: stale
        a.on_message(CANDS[0], o.payload)
    assert a.active is None and a.deciding


def test_a_fresh_member_does_not_preempt_a_veteran_after_a_merge() -> None:
    g = Group(random.Random(5), CANDS[:2])
    g.join(CANDS[1])
    g.join(CANDS[0])
    g.settle()
    assert g.active() == CANDS[0]
    g.leave(CANDS[0])
    g.settle()
    assert g.active() == CANDS[1]
    g.join(CANDS[0])                       # the preferred one, fresh: stays standby
    g.settle()
    assert g.active() == CANDS[1] and g.nodes[CANDS[0]].veteran      # a veteran from now on


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32), st.lists(st.tuples(st.sampled_from(["join", "leave", "msg", "msg", "restart"]),
                                                 st.sampled_from(CANDS)), max_size=40))
def test_random_joins_leaves_and_interleavings_never_make_two_actives(seed: int, script) -> None:
    g = Group(random.Random(seed))
    for op, who in script:
        if op == "join" and who not in g.members:
            g.join(who)
        elif op == "leave" and who in g.members:
            g.leave(who)
        elif op == "restart" and who in g.members:        # same name, no view for the others
            g.restart_without_view(who)
        else:
            g.deliver_one()
    g.settle()
    if g.members and any(g.nodes[m].veteran for m in g.members):
        assert g.active() in g.members      # liveness once quiet


def test_a_fast_restart_under_the_same_name_is_noticed_through_hello() -> None:
    """The group may never show the old process leave; the new one's HELLO tells the others."""
    g = Group(random.Random(3), CANDS[:2])
    steps = {c: 0 for c in CANDS[:2]}
    for c in CANDS[:2]:
        g.join(c)
        g.nodes[c]._extra = (lambda c=c: {"last_step": steps[c]})
    g.settle()
    assert g.active() == CANDS[0]
    steps[CANDS[1]] = 500                      # the standby saw the active's commands up to 500
    fresh = ActiveStandby(CANDS[0], CANDS[:2], extra=lambda: {"last_step": 0})
    g.nodes[CANDS[0]] = fresh                  # same name, new process, no view for the others
    for out in fresh.on_view((1, 1, g.view), tuple(g.members)):
        g.inflight.append((CANDS[0], out.payload))
    g.settle()
    assert fresh.known and g.active() == CANDS[1]      # the veteran takes over, no pre-emption
    assert [a for _, a in g.nodes[CANDS[1]].history] == [CANDS[0], None, CANDS[1]]
    assert fresh.extras[CANDS[1]]["last_step"] == 500


def test_a_restart_handed_a_view_mid_round_does_not_decide_on_stale_states() -> None:
    """Regression (found by the property test): the fresh process collected the old
    process's STATEs of an earlier round and declared itself active alone."""
    g = Group(random.Random(0))
    for c in (CANDS[1], CANDS[2], CANDS[0]):
        g.join(c)
    for _ in range(6):
        g.deliver_one()
    g.restart_without_view(CANDS[0])
    g.settle()
    assert g.active() in g.members
    assert sum(g.nodes[m].is_active for m in g.members) == 1
