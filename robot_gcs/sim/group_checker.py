"""Group invariants (PROTOCOL.md section 6.2 item 10 and the group issue's list).

What it owns: a record of what clients sent (``sent``) and what each client received
(``received``, in order), and ``check()`` that turns it into violations. It knows
nothing about the ring or the simulator: the group client driver (``group_clients.py``)
feeds it, in unit tests and in ``robot-gcs sim`` alike.

A client is identified by ``ClientKey = (node, daemon incarnation, client name)`` so a
name reused after a restart is a different client. Messages carry a unique id that
the driver extracts from the payload.

Invariants:

* ``view_agreement``: one member list per (group, view id), everywhere (transitional
  signals included; self-leave notices, which have no members, excluded).
* ``view_to_member``: a view reaches only its members; a self-leave notice only the
  leaver; a transitional signal only members of the view it names.
* ``signal_before_network``: a NETWORK view that replaces an earlier view of the same
  client is preceded by a transitional signal.
* ``view_changed``: a view's ``changed`` is the symmetric difference of the client's
  previous view of the group and this one (when the client had one); a JOIN, LEAVE or
  DISCONNECT view changes exactly one member, a client's first view after its own
  join names it; a transitional signal changes nobody.
* ``view_cause``: NETWORK views, and only they, open a ring (view index 1); JOIN,
  LEAVE and DISCONNECT views add or remove the one member that asked for exactly that
  (``requested``: a join or leave of this group, a disconnect).
* ``data_to_member``: data reaches a client only while it is in a current view of one of
  the target groups (or is the named private target).
* ``integrity`` (only sent messages, unchanged), ``once`` (at most once per client even
  when sent to several of its groups), ``self_discard``.
* ``same_view``: for each message and target group, every member receiving it in a
  regular view is in the same view of that group when it does. A member that already
  got the group's transitional signal receives it "in the transitional view": EVS lets
  its daemon skip a gap left by departed daemons (a join among them, say), so that view
  may be an earlier one.
* ``total_order``: AGREED/SAFE messages and regular views, over all clients, fit one
  total order (the per-client sequences form an acyclic graph).
* ``fifo``: per sender and receiver, FIFO-or-stronger messages arrive in send order.
* ``causal``: a CAUSAL-or-stronger message never arrives before one that causally
  precedes it (vector clocks over the senders' causal-or-stronger messages).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Hashable

from ..core.events import Cause, DataMessage, GroupView
from ..core.types import Service

ClientKey = tuple[int, int, str]
MsgId = Hashable

_FIFO = frozenset({Service.FIFO, Service.CAUSAL, Service.AGREED, Service.SAFE})
_CAUSAL = frozenset({Service.CAUSAL, Service.AGREED, Service.SAFE})
_TOTAL = frozenset({Service.AGREED, Service.SAFE})


@dataclass(frozen=True, slots=True)
class GroupViolation:
    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.detail}"


@dataclass(slots=True)
class _Sent:
    sender: ClientKey
    sender_name: str
    groups: tuple[str, ...]
    service: Service
    self_discard: bool
    counter: int
    clock: dict[ClientKey, int]


@dataclass(slots=True)
class _ClientState:
    name: str = ""
    views: dict[str, tuple[int, int, int]] = field(default_factory=dict)   # group -> view id
    signalled: set[str] = field(default_factory=set)
    seen: set[MsgId] = field(default_factory=set)
    clock: dict[ClientKey, int] = field(default_factory=dict)   # causal knowledge
    need: dict[ClientKey, int] = field(default_factory=dict)    # highest dependency delivered
    last_from: dict[ClientKey, int] = field(default_factory=dict)
    sent_count: int = 0
    order: list[Hashable] = field(default_factory=list)


class GroupChecker:
    """Collects group-level observations and checks them."""

    def __init__(self, max_violations: int = 50) -> None:
        self.max_violations = max_violations
        self.violations: list[GroupViolation] = []
        self._sent: dict[MsgId, _Sent] = {}
        self._clients: dict[ClientKey, _ClientState] = {}
        self._view_members: dict[tuple[str, tuple[int, int, int]], tuple[str, ...]] = {}
        self._msg_view: dict[tuple[MsgId, str], tuple[int, int, int]] = {}
        self._requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self.data_events = 0
        self.view_events = 0

    # ------------------------------------------------------------ recording

    def _state(self, key: ClientKey, name: str) -> _ClientState:
        st = self._clients.get(key)
        if st is None:
            st = self._clients[key] = _ClientState(name)
        return st

    def _bad(self, invariant: str, detail: str) -> None:
        if len(self.violations) < self.max_violations:
            self.violations.append(GroupViolation(invariant, detail))

    def sent(self, key: ClientKey, name: str, msg_id: MsgId, groups: tuple[str, ...],
             service: Service, self_discard: bool) -> None:
        """A client submitted ``msg_id`` (call after the daemon accepted it)."""
        st = self._state(key, name)
        st.sent_count += 1
        clock = dict(st.clock)
        if service in _CAUSAL:
            st.clock[key] = st.sent_count
        self._sent[msg_id] = _Sent(key, name, tuple(groups), Service(service), self_discard,
                                   st.sent_count, clock)

    def requested(self, name: str, op: str, group: str = "", undo: bool = False) -> None:
        """Client ``name`` asked its daemon to ``op`` ("join", "leave" with the group;
        "disconnect"). Call before the daemon sees it; ``undo=True`` if it refused."""
        self._requests[(name, op, group)] += -1 if undo else 1

    def withdraw(self, msg_id: MsgId) -> None:
        """The daemon refused a send recorded with ``sent``: forget it."""
        self._sent.pop(msg_id, None)

    def received(self, key: ClientKey, name: str, event: Any, msg_id: MsgId | None = None) -> None:
        """Client ``key`` received ``event`` (a DataMessage needs its ``msg_id``)."""
        st = self._state(key, name)
        if isinstance(event, GroupView):
            self.view_events += 1
            self._on_view(key, st, event)
        elif isinstance(event, DataMessage):
            self.data_events += 1
            self._on_data(key, st, event, msg_id)

    def _on_view(self, key: ClientKey, st: _ClientState, v: GroupView) -> None:
        who = st.name
        if not v.members:           # self-leave notice
            if v.cause is not Cause.LEAVE or who not in v.changed:
                self._bad("view_to_member", f"{who} got an empty view of {v.group} {v.view_id}")
            elif not self._requests[(who, "leave", v.group)]:
                self._bad("view_cause", f"{who} got a self-leave notice for {v.group} "
                                        f"{v.view_id} without asking to leave it")
            st.views.pop(v.group, None)
            st.signalled.discard(v.group)
            return
        self._check_metadata(who, st, v)
        known = self._view_members.setdefault((v.group, v.view_id), v.members)
        if known != v.members:
            self._bad("view_agreement", f"{v.group} {v.view_id}: {who} sees {list(v.members)}, "
                                        f"another member saw {list(known)}")
        if who not in v.members:
            self._bad("view_to_member", f"{who} got view {v.group} {v.view_id} without being "
                                        f"in it {list(v.members)}")
        if v.transitional:
            if st.views.get(v.group) != v.view_id:
                self._bad("view_to_member", f"{who} got a transitional signal for {v.group} "
                                            f"{v.view_id} but its view is {st.views.get(v.group)}")
            st.signalled.add(v.group)
            return
        if v.cause is Cause.NETWORK and v.group in st.views and v.group not in st.signalled:
            self._bad("signal_before_network", f"{who}: NETWORK view {v.group} {v.view_id} "
                                               f"without a transitional signal first")
        st.signalled.discard(v.group)
        st.views[v.group] = v.view_id
        st.order.append(("view", v.group, v.view_id))

    def _check_metadata(self, who: str, st: _ClientState, v: GroupView) -> None:
        """``view_changed`` and ``view_cause`` (see the module docstring)."""
        where = f"{who}: {v.cause.name} view {v.group} {v.view_id}"
        if v.transitional:
            if v.changed or v.cause is not Cause.NETWORK:
                self._bad("view_changed", f"{where}: a transitional signal lists changes "
                                          f"{list(v.changed)}")
            return
        prev = st.views.get(v.group)
        old = self._view_members.get((v.group, prev)) if prev is not None else None
        if old is not None:
            expect = sorted(set(old) ^ set(v.members))
            if sorted(v.changed) != expect:
                self._bad("view_changed", f"{where}: changed {list(v.changed)}, but from "
                                          f"{list(old)} to {list(v.members)} changed {expect}")
        if (v.cause is Cause.NETWORK) != (v.view_id[2] == 1):
            self._bad("view_cause", f"{where}: view index {v.view_id[2]} (1 is the NETWORK "
                                    f"view that opens a ring, joins and leaves count up)")
        if v.cause is Cause.NETWORK:
            return
        if len(v.changed) != 1:
            self._bad("view_changed", f"{where} changes {list(v.changed)}, not one member")
            return
        x = v.changed[0]
        joins = v.cause is Cause.JOIN
        if joins and prev is None and x != who:
            self._bad("view_changed", f"{where}: first view after its own join names {x}")
        op, group = {Cause.JOIN: ("join", v.group), Cause.LEAVE: ("leave", v.group)}.get(
            v.cause, ("disconnect", ""))
        if (x in v.members) != joins:
            self._bad("view_cause", f"{where}: {x} is {'not ' if joins else ''}in the view")
        elif self._requests[(x, op, group)] <= 0:
            self._bad("view_cause", f"{where}: {x} never asked to {op} {group}".rstrip())

    def _on_data(self, key: ClientKey, st: _ClientState, m: DataMessage, msg_id: MsgId | None) -> None:
        who = st.name
        s = self._sent.get(msg_id) if msg_id is not None else None
        if s is None:
            self._bad("integrity", f"{who} received a message nobody sent: {msg_id!r}")
            return
        if s.groups != m.groups or s.service != m.service or s.sender_name != m.sender:
            self._bad("integrity", f"{who} received {msg_id!r} altered: groups {m.groups} "
                                   f"service {m.service} sender {m.sender}")
        if msg_id in st.seen:
            self._bad("once", f"{who} received {msg_id!r} twice")
            return
        st.seen.add(msg_id)
        if s.self_discard and s.sender == key:
            self._bad("self_discard", f"{who} received its own self-discard message {msg_id!r}")
        member_of = [g for g in m.groups if g in st.views]
        if not member_of and who not in m.groups:
            self._bad("data_to_member", f"{who} received {msg_id!r} for {list(m.groups)} "
                                        f"while in none of their views")
        for g in member_of:
            if g in st.signalled:
                continue            # delivered in the transitional view (EVS may skip gaps)
            vid = st.views[g]
            first = self._msg_view.setdefault((msg_id, g), vid)
            if first != vid:
                self._bad("same_view", f"{msg_id!r} in {g}: {who} got it in view {vid}, "
                                       f"another member in {first}")
        if s.service in _TOTAL:
            st.order.append(("msg", msg_id))
        if s.service in _FIFO:
            last = st.last_from.get(s.sender, 0)
            if s.counter <= last:
                self._bad("fifo", f"{who} received {msg_id!r} (#{s.counter}) from {s.sender_name} "
                                  f"after #{last}")
            st.last_from[s.sender] = s.counter
        if s.service in _CAUSAL:
            if s.counter <= st.need.get(s.sender, 0):
                self._bad("causal", f"{who} received {msg_id!r} from {s.sender_name} after a "
                                    f"message that causally follows it")
            for k, c in s.clock.items():
                if c > st.need.get(k, 0):
                    st.need[k] = c
            if s.counter > st.clock.get(s.sender, 0):
                st.clock[s.sender] = s.counter
            for k, c in s.clock.items():
                if c > st.clock.get(k, 0):
                    st.clock[k] = c

    # ------------------------------------------------------------ whole-run checks

    def check(self) -> list[GroupViolation]:
        """Run the whole-history checks; return every violation found (bounded)."""
        self._check_total_order()
        return list(self.violations)

    def _check_total_order(self) -> None:
        succ: dict[Hashable, set[Hashable]] = defaultdict(set)
        indeg: dict[Hashable, int] = defaultdict(int)
        for key in sorted(self._clients):
            order = self._clients[key].order
            for a, b in zip(order, order[1:]):
                if b not in succ[a]:
                    succ[a].add(b)
                    indeg[b] += 1
                indeg.setdefault(a, 0)
        ready = [n for n, d in indeg.items() if d == 0]
        done = 0
        while ready:
            n = ready.pop()
            done += 1
            for m in succ.get(n, ()):
                indeg[m] -= 1
                if indeg[m] == 0:
                    ready.append(m)
        if done < len(indeg):
            stuck = sorted((repr(n) for n, d in indeg.items() if d > 0))[:6]
            self._bad("total_order", f"AGREED/SAFE messages and views of different clients form "
                                     f"a cycle; involved: {', '.join(stuck)}")

    def summary(self) -> dict[str, int]:
        return {"clients": len(self._clients), "sent": len(self._sent),
                "data_events": self.data_events, "view_events": self.view_events,
                "views": len(self._view_members)}
