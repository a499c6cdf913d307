"""The group membership table and its views: a deterministic function of the total order.

What it owns (PROTOCOL.md section 1.5): the table group -> members, each group's last
view (view id + member set), the state exchange after a configuration change, and the
list of local clients that receive a group's data right now. ``GroupEngine``
(``groups.py``) feeds it the ring's deliveries in order and hands its outputs to clients.

Rules:

* A member is ``(node_id, client)``. View ids are ``(ring_rep, ring_seq, index)``; inside
  one regular ring ``index`` is a ring-wide counter: 1 for the views that start the ring,
  then +1 per join/leave/disconnect. Every daemon of a ring processes the same prefix of
  the same order from the same table, so a view id names one member list everywhere, and
  an id is never reused (an emptied and re-created group gets a fresh index).
* Stable phase (GOP): G_JOIN/G_LEAVE/G_KILL change the table at once and give the group's
  local members a view with cause JOIN/LEAVE/DISCONNECT; a leaver gets a self-leave
  notice (a view with no members, the leaver in ``changed``).
* Transitional configuration: groups with members on departed daemons are marked
  changed and their local members get a transitional signal (``transitional=True``,
  carrying the current view). Joins/leaves delivered from then until the regular
  configuration (the transitional phase) update the table and mark the group changed
  but give no view yet; a leaver still gets its self-leave notice at once and a joiner
  receives data only from its first view on. Data goes to members of the current view
  that have not left, after a transitional signal: the ring may skip a gap left by
  departed daemons here (EVS), which can hide changes of the group itself, so data
  of this phase is delivered "in the transitional view" and the group gets a NETWORK
  view at the regular configuration even when its members did not change.
* Regular configuration: members of daemons outside the transitional set are removed.
  If the configuration only lost daemons (regular == transitional) and no exchange was
  pending, changed groups get view ``(ring, 1)`` with cause NETWORK at once. Otherwise
  every daemon submits one G_STATE with its own clients' memberships (CONTROL lane);
  when states tagged with this ring have arrived from every daemon, the table becomes
  their union and each group whose members changed (or that was signalled) gets view
  ``(ring, 1)`` with cause NETWORK. A transitional configuration during the exchange
  abandons it; the next regular configuration redoes it (stale states fail the tag).
* Every NETWORK view is preceded by a transitional signal for that group (sent at the
  transitional configuration, or right before the view when the change was a merge).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Callable, Iterable

from .events import Cause, GroupView
from .group_wire import GState
from .types import RingId

log = logging.getLogger(__name__)

Member = tuple[int, str]          # (daemon node id, client name)
ViewId = tuple[int, int, int]     # (ring rep, ring seq, index)
Out = tuple[str, GroupView]       # (local client, event)

NO_VIEW: ViewId = (0, 0, 0)


class Phase(enum.Enum):
    """Where the table stands relative to the ring's configurations."""

    STARTING = "starting"          # no regular configuration yet
    OPERATIONAL = "operational"    # GOP: views follow joins/leaves one by one
    TRANSITIONAL = "transitional"  # between a transitional and the next regular config
    EXCHANGE = "exchange"          # regular config installed, G_STATEs being collected


@dataclass(slots=True)
class _View:
    view_id: ViewId
    members: frozenset[Member]


class GroupTable:
    """Group membership state of one daemon, driven only by ordered deliveries."""

    def __init__(self, my_node: int, name_of: Callable[[Member], str]) -> None:
        self.my_node = my_node
        self._name_of = name_of
        self.phase = Phase.STARTING
        self.ring_id: RingId | None = None
        self.ring_members: tuple[int, ...] = ()
        self._trans_members: tuple[int, ...] | None = None
        self._op_index = 0
        self._table: dict[str, set[Member]] = {}
        self._by_member: dict[Member, set[str]] = {}
        self._views: dict[str, _View] = {}
        self._route: dict[str, tuple[str, ...]] = {}
        self._gone: dict[str, set[Member]] = {}   # left since the group's last view
        self._connected: set[str] = set()
        self._changed: set[str] = set()
        self._signaled: set[str] = set()
        self._need_exchange = False
        self._exchange_ring: RingId | None = None
        self._states: dict[int, GState] = {}
        self.stale_states = 0
        self.unordered_ops = 0

    # ------------------------------------------------------------ read side

    @property
    def group_count(self) -> int:
        return len(self._table)

    @property
    def member_count(self) -> int:
        return sum(len(m) for m in self._table.values())

    def route(self, group: str) -> tuple[str, ...]:
        """Local clients that receive data sent to ``group`` now (sorted)."""
        return self._route.get(group, ())

    def members(self, group: str) -> tuple[str, ...]:
        """Private names of the group's members in its last view (sorted)."""
        v = self._views.get(group)
        return self._names(v.members) if v else ()

    def snapshot(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Every group with the private names of its last view, sorted by group."""
        return tuple((g, self._names(self._views[g].members)) for g in sorted(self._views))

    def view_id(self, group: str) -> ViewId | None:
        v = self._views.get(group)
        return v.view_id if v else None

    def local_memberships(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """This daemon's connected clients' memberships (for G_STATE), sorted."""
        out: dict[str, list[str]] = {}
        for (node, client), groups in self._by_member.items():
            if node == self.my_node and client in self._connected:
                for g in groups:
                    out.setdefault(g, []).append(client)
        return tuple((g, tuple(sorted(cs))) for g, cs in sorted(out.items()))

    def state_message(self) -> GState:
        assert self._exchange_ring is not None
        return GState(self._exchange_ring, self.my_node, self.local_memberships())

    @property
    def exchanging(self) -> bool:
        return self._exchange_ring is not None

    # ------------------------------------------------------------ local clients

    def client_connected(self, client: str) -> None:
        self._connected.add(client)

    def client_gone(self, client: str) -> None:
        """A local client went away: it receives nothing more (its G_KILL follows)."""
        self._connected.discard(client)
        for g in sorted(self._by_member.get((self.my_node, client), ())):
            self._reroute(g)

    # ------------------------------------------------------------ ordered operations

    def _in_gop(self, in_transitional: bool) -> bool:
        if in_transitional or self.phase is not Phase.OPERATIONAL:
            if not in_transitional and self.phase is not Phase.TRANSITIONAL:
                self.unordered_ops += 1      # NORMAL-lane op before the exchange ended
            return False
        return True

    def join(self, group: str, member: Member, in_transitional: bool) -> list[Out]:
        if member in self._table.get(group, ()):
            return []
        self._add(group, member)
        if not self._in_gop(in_transitional):
            self._changed.add(group)
            return []
        self._op_index += 1
        return self._gop_view(group, Cause.JOIN, member)

    def leave(self, group: str, member: Member, in_transitional: bool) -> list[Out]:
        if member not in self._table.get(group, ()):
            return []
        self._remove(group, member)
        leaver_local = member[0] == self.my_node and member[1] in self._connected
        if not self._in_gop(in_transitional):
            self._changed.add(group)
            self._gone.setdefault(group, set()).add(member)
            self._reroute(group)
            if not leaver_local:
                return []
            v = self._views.get(group)
            vid = v.view_id if v else NO_VIEW
            return [(member[1], GroupView(group, vid, (), Cause.LEAVE,
                                          (self._name_of(member),)))]
        self._op_index += 1
        out = self._gop_view(group, Cause.LEAVE, member)
        if leaver_local:
            vid = self._current_vid()
            out.append((member[1], GroupView(group, vid, (), Cause.LEAVE,
                                             (self._name_of(member),))))
        return out

    def kill(self, member: Member, in_transitional: bool) -> list[Out]:
        groups = sorted(self._by_member.get(member, ()))
        if not groups:
            return []
        for g in groups:
            self._remove(g, member)
        if not self._in_gop(in_transitional):
            for g in groups:
                self._changed.add(g)
                self._gone.setdefault(g, set()).add(member)
                self._reroute(g)
            return []
        self._op_index += 1
        out: list[Out] = []
        for g in groups:
            out.extend(self._gop_view(g, Cause.DISCONNECT, member))
        return out

    def _current_vid(self) -> ViewId:
        assert self.ring_id is not None
        return (self.ring_id.rep, self.ring_id.seq, self._op_index)

    def _gop_view(self, group: str, cause: Cause, who: Member) -> list[Out]:
        members = frozenset(self._table.get(group, ()))
        if not members:
            self._drop_view(group)
            return []
        vid = self._current_vid()
        self._set_view(group, _View(vid, members))
        view = GroupView(group, vid, self._names(members), cause, (self._name_of(who),))
        return [(c, view) for c in self._route.get(group, ())]

    # ------------------------------------------------------------ configurations

    def transitional(self, members: Iterable[int], left: Iterable[int]) -> list[Out]:
        """A transitional configuration: signal the groups that lose members."""
        trans = tuple(sorted(set(members)))
        gone = set(left) | (set(self.ring_members) - set(trans))
        self._trans_members = trans
        self.phase = Phase.TRANSITIONAL
        if self._exchange_ring is not None:
            log.debug("transitional configuration during the exchange of %s: redo later",
                      self._exchange_ring)
            self._exchange_ring = None
            self._states = {}
        out: list[Out] = []
        if not gone:
            return out
        for g in sorted(self._views):
            v = self._views[g]
            if any(node in gone for node, _ in v.members):
                self._changed.add(g)
                out.extend(self._signal(g))
        return out

    def regular(self, ring_id: RingId, members: Iterable[int]) -> tuple[list[Out], bool]:
        """A regular configuration. Returns (client events, exchange needed).

        When an exchange is needed the caller submits ``state_message()`` on the CONTROL
        lane and keeps the NORMAL lane closed; otherwise it opens the NORMAL lane.
        """
        regular = tuple(sorted(set(members)))
        if self._trans_members is None:        # no transitional config was delivered
            prev = set(self.ring_members) if self.ring_members else {self.my_node}
            self._trans_members = tuple(sorted(prev & set(regular))) or (self.my_node,)
        trans = set(self._trans_members)
        for member in sorted(m for m in self._by_member if m[0] not in trans):
            for g in sorted(self._by_member.get(member, ())):
                self._remove(g, member)
                self._changed.add(g)
        self.ring_id = ring_id
        self.ring_members = regular
        self._trans_members = None
        self._op_index = 1
        if set(regular) == trans and not self._need_exchange:
            self.phase = Phase.OPERATIONAL
            return self._install_views(), False
        self.phase = Phase.EXCHANGE
        self._need_exchange = True
        self._exchange_ring = ring_id
        self._states = {}
        return [], True

    def state(self, msg: GState, sender: int, in_transitional: bool) -> list[Out] | None:
        """A G_STATE. Returns None while the exchange goes on, else the new views."""
        if (in_transitional or self._exchange_ring is None or msg.ring_id != self._exchange_ring
                or msg.daemon != sender or sender not in self.ring_members):
            self.stale_states += 1
            return None
        self._states[sender] = msg
        if len(self._states) < len(self.ring_members):
            return None
        # Every daemon's state arrived: the table becomes their union.
        for member in sorted(self._by_member):
            for g in sorted(self._by_member.get(member, ())):
                self._remove(g, member)
        for node in sorted(self._states):
            for g, clients in self._states[node].groups:
                for c in clients:
                    self._add(g, (node, c))
        self._states = {}
        self._exchange_ring = None
        self._need_exchange = False
        self.phase = Phase.OPERATIONAL
        return self._install_views()

    def _install_views(self) -> list[Out]:
        """Give every changed group view (ring, 1) with cause NETWORK."""
        assert self.ring_id is not None
        vid: ViewId = (self.ring_id.rep, self.ring_id.seq, 1)
        out: list[Out] = []
        for g in sorted(set(self._table) | set(self._views)):
            new = frozenset(self._table.get(g, ()))
            old = self._views.get(g)
            old_members = old.members if old else frozenset()
            if new == old_members and g not in self._signaled and g not in self._gone:
                continue
            if not new:
                self._drop_view(g)
                continue
            if g not in self._signaled and old is not None:
                out.extend(self._signal(g))
            self._set_view(g, _View(vid, new))
            view = GroupView(g, vid, self._names(new), Cause.NETWORK,
                             self._names(new ^ old_members))
            out.extend((c, view) for c in self._route.get(g, ()))
        self._changed.clear()
        self._signaled.clear()
        return out

    def signal_for_transitional_data(self, group: str) -> list[Out]:
        """Data for ``group`` arrives in the transitional phase: make sure its local
        members got the transitional signal first (the daemon may have skipped a gap
        holding the group's own changes, so the current view may be stale)."""
        if group in self._signaled or group not in self._views:
            return []
        self._changed.add(group)
        return self._signal(group)

    def _signal(self, group: str) -> list[Out]:
        self._signaled.add(group)
        v = self._views[group]
        sig = GroupView(group, v.view_id, self._names(v.members), Cause.NETWORK, (),
                        transitional=True)
        return [(c, sig) for c in self._route.get(group, ())]

    # ------------------------------------------------------------ table plumbing

    def _add(self, group: str, member: Member) -> None:
        self._table.setdefault(group, set()).add(member)
        self._by_member.setdefault(member, set()).add(group)

    def _remove(self, group: str, member: Member) -> None:
        members = self._table.get(group)
        if members is not None:
            members.discard(member)
            if not members:
                del self._table[group]
        groups = self._by_member.get(member)
        if groups is not None:
            groups.discard(group)
            if not groups:
                del self._by_member[member]

    def _set_view(self, group: str, view: _View) -> None:
        self._views[group] = view
        self._gone.pop(group, None)
        self._reroute(group)

    def _drop_view(self, group: str) -> None:
        self._views.pop(group, None)
        self._route.pop(group, None)
        self._gone.pop(group, None)

    def _reroute(self, group: str) -> None:
        """Local receivers: members of the last view, still in the table, connected, and
        not gone since that view (a leave and a re-join in the transitional phase must
        not bring data back before the member's next view)."""
        v = self._views.get(group)
        now = self._table.get(group)
        if v is None or not now:
            self._route.pop(group, None)
            return
        me = self.my_node
        gone = self._gone.get(group, ())
        r = tuple(sorted(c for node, c in v.members
                         if node == me and c in self._connected and (node, c) in now
                         and (node, c) not in gone))
        if r:
            self._route[group] = r
        else:
            self._route.pop(group, None)

    def _names(self, members: Iterable[Member]) -> tuple[str, ...]:
        return tuple(sorted(self._name_of(m) for m in members))
