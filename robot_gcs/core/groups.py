"""GroupEngine: Spread-style process groups on top of the ring engine (sans-IO).

What it owns: the local clients of one daemon, their requests (join, leave, multicast,
private messages, disconnect) turned into group envelopes (``group_wire``) submitted to
the ring, and the ring's deliveries turned into ``ToClient(client, event)`` actions.
Membership and views live in ``group_views.GroupTable``; PROTOCOL.md sections 1.5, 2, 5.

Rules:

* Same driver entry points as ``Engine`` (``start``, ``handle_packet``, ``handle_timer``)
  plus the client operations; each returns the engine's Send/SetTimer/CancelTimer/Persist
  actions, in order, interleaved with ``ToClient`` actions. Deliver is consumed here
  (``keep_deliveries=True`` passes it through too, for checkers); DeliverConfig is
  passed through after its client events (drivers log membership from it).
* Every group operation goes through the total order: joins, leaves, disconnects (G_KILL)
  and data share one order, so every daemon delivers each message in the same view.
* All services ride the ring as AGREED, except SAFE which rides as SAFE; the weaker
  services therefore keep FIFO and causal order and never cross a view change.
* Multi-group messages take one position in the order and reach each local client at
  most once. Groups are open: any client may send to any group or private name.
* ``self_discard``: the sending client does not receive its own message.
* ``local_payload``: a message submitted on this daemon is handed to local receivers as
  the original object when it comes back in the order (matched by a per-daemon counter
  carried in the envelope and the engine incarnation), everyone else gets the bytes.
* The ring's NORMAL lane must stay closed during a state exchange: construct the engine
  with ``EngineConfig(auto_open_lane=False)``; this class opens it when the table is
  agreed. G_STATE goes on the CONTROL lane.
* Bad envelopes from the ring are counted (``statistics().drops``) and dropped.
* Limits (core/group_limits.py): joins beyond ``groups_per_client`` or the daemon's
  ``memberships_per_daemon`` raise ``LocalProtocolError`` before anything is submitted,
  so this daemon's G_STATE always fits in one message; a state that still would not
  (limits changed) is cut to what fits and counted (``state_truncated``), never left
  unsent -- an exchange waits for every daemon's state.
* Hot-path caches only skip work: validated target names and each client's G_DATA
  prefix; and each G_DATA envelope this engine submitted, with its fields, so the own
  message coming back in the order is not decoded again (decoding the same bytes gives
  the same fields; every other daemon decodes). Each cache is bounded (cleared when full).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence, Union

from ..errors import Backpressure, LocalProtocolError, MalformedPacket
from . import group_wire as gw
from .actions import Action, CancelTimer, Deliver, DeliverConfig, Send, SetTimer
from .events import DataMessage, Event, private_name
from .fastnew import maker
from .group_limits import GroupLimits, GroupQuota, fit_state
from .group_views import GroupTable, Member, Out, Phase
from .stats import EngineStats
from .types import ConfigKind, Lane, NodeId, Service, TimerId

log = logging.getLogger(__name__)

#: size bound of each hot-path cache (a full cache is cleared: a miss only costs time)
_CACHE_MAX = 4096


@dataclass(frozen=True, slots=True)
class ToClient:
    """Hand ``event`` to the local client ``client``.

    ``raw_payload`` is set when ``event.payload`` is the submitter's local object
    (``local_payload``): the encoded bytes, for receivers that cannot take objects
    (socket sessions).
    """

    client: str
    event: Event
    raw_payload: bytes | None = None


@dataclass(frozen=True, slots=True)
class ClientGone:
    """The disconnect of local client ``client`` is ordered: its name may be used again.

    Until then a new client of that name would be handed the old one's last events, so
    a driver keeps the name reserved (``client_connect`` refuses it meanwhile).
    """

    client: str


GroupAction = Union[Action, ToClient, ClientGone]

_new_to_client = maker(ToClient)
_new_data_message = maker(DataMessage)


class EngineLike(Protocol):
    """What GroupEngine needs from the ring engine (``core.engine.Engine`` fits)."""

    @property
    def node_id(self) -> int: ...
    @property
    def incarnation(self) -> int: ...

    def start(self, now: float) -> list[Action]: ...
    def leave(self, now: float) -> list[Action]: ...
    def handle_packet(self, now: float, src: Any, data: bytes) -> list[Action]: ...
    def handle_timer(self, now: float, timer_id: TimerId) -> list[Action]: ...
    def submit(self, now: float, payload: bytes, service: Service = ...,
               lane: Lane = ..., urgent: bool = ..., owner: object = ...,
               bounded: bool = ...) -> list[Action]: ...
    def open_normal_lane(self, now: float) -> list[Action]: ...
    def reply_expected(self, client: str | None) -> None: ...
    def reply_not_coming(self, now: float, client: str) -> list[Action]: ...
    def reply_waits_for(self, client: str) -> bool: ...
    def local_burst(self, now: float, owner: object, begins: bool) -> list[Action]: ...
    @property
    def ring_targets(self) -> tuple[NodeId, ...]: ...
    def statistics(self) -> EngineStats: ...


@dataclass(frozen=True, slots=True)
class GroupStats:
    node_id: int
    phase: str
    clients: int
    groups: int
    members: int
    views_delivered: int
    messages_delivered: int
    messages_sent: int
    exchanges: int
    stale_states: int            # G_STATEs of an abandoned exchange (normal after cascades)
    unordered_ops: int           # NORMAL-lane ops seen during an exchange (must stay 0)
    pending_local_payloads: int
    drops: tuple[tuple[str, int], ...]


class GroupEngine:
    """Process groups for one daemon, wrapping one ring engine."""

    def __init__(self, engine: EngineLike, daemon_names: Mapping[int, str],
                 keep_deliveries: bool = False, limits: GroupLimits | None = None,
                 max_message: int = 4 * 1024 * 1024) -> None:
        self.engine = engine
        self._quota = GroupQuota(limits or GroupLimits.for_message(max_message))
        self._max_state = max_message
        self.node_id = int(engine.node_id)
        self._names = dict(daemon_names)
        self.daemon_name = self._names.get(self.node_id, str(self.node_id))
        self._keep = keep_deliveries
        self._clients: set[str] = set()
        self._leaving: set[str] = set()      # disconnected, their G_KILL not yet ordered
        self._table = GroupTable(self.node_id, self._member_name)
        self._local_objects: dict[int, Any] = {}
        # hot-path caches (only skip work; see _CACHE_MAX)
        self._target_fields: dict[str, bytes] = {}        # validated target -> wire field
        self._prefixes: dict[str, bytes] = {}             # local client -> G_DATA prefix
        self._own_sent: dict[bytes, gw.DataFields] = {}   # own G_DATA envelope -> fields
        self._pnames: dict[Member, str] = {}              # member -> private name
        self._op = 0
        self._drops: dict[str, int] = {}
        self._views_delivered = 0
        self._messages_delivered = 0
        self._messages_sent = 0
        self._exchanges = 0
        self._want_open = False      # the table is agreed: open the NORMAL lane after this batch
        self._depth = 0

    # ------------------------------------------------------------ read side

    @property
    def table(self) -> GroupTable:
        return self._table

    @property
    def clients(self) -> tuple[str, ...]:
        return tuple(sorted(self._clients))

    def private_name(self, client: str) -> str:
        return private_name(client, self.daemon_name)

    @property
    def ring_targets(self) -> tuple[NodeId, ...]:
        """Where the ring engine's BROADCAST_RING sends go (core/engine.py)."""
        return self.engine.ring_targets

    def ring_statistics(self) -> EngineStats:
        return self.engine.statistics()

    def group_table(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """((group, member private names), ...), sorted: the agreed table as seen here."""
        return tuple(self._table.snapshot())

    def statistics(self) -> GroupStats:
        return GroupStats(self.node_id, self._table.phase.value, len(self._clients),
                          self._table.group_count, self._table.member_count,
                          self._views_delivered, self._messages_delivered, self._messages_sent,
                          self._exchanges, self._table.stale_states,
                          self._table.unordered_ops, len(self._local_objects),
                          tuple(sorted(self._drops.items())))

    def _member_name(self, member: Member) -> str:
        name = self._pnames.get(member)
        if name is None:
            node, client = member
            name = private_name(client, self._names.get(node, str(node)))
            if len(self._pnames) >= _CACHE_MAX:
                self._pnames.clear()
            self._pnames[member] = name
        return name

    # ------------------------------------------------------------ driver entry points

    def start(self, now: float) -> list[GroupAction]:
        return self.on_engine_actions(now, self.engine.start(now))

    def handle_packet(self, now: float, src: Any, data: bytes) -> list[GroupAction]:
        return self.on_engine_actions(now, self.engine.handle_packet(now, src, data))

    def handle_timer(self, now: float, timer_id: TimerId) -> list[GroupAction]:
        return self.on_engine_actions(now, self.engine.handle_timer(now, timer_id))

    def leave(self, now: float) -> list[GroupAction]:
        """Leave the ring gracefully (the daemon is stopping)."""
        return self.on_engine_actions(now, self.engine.leave(now))

    def waits_for(self, client: str) -> bool:
        """A token is kept for local ``client``'s reply: ``client_waiting`` would move it
        (cheap; drivers ask before feeding that input)."""
        return self.engine.reply_waits_for(client)

    def client_waiting(self, now: float, client: str) -> list[GroupAction]:
        """Local ``client`` waits for events again without having sent anything: a token
        held for its reply (core/reply_window.py) goes on now."""
        return self.on_engine_actions(now, self.engine.reply_not_coming(now, client))

    def client_batch(self, now: float, client: str, begins: bool) -> list[GroupAction]:
        """Local ``client``'s burst of messages begins or ends (``Session.batch``): a token
        kept here leaves with the whole burst, not with its first message."""
        return self.on_engine_actions(now, self.engine.local_burst(now, client, begins))

    def on_engine_actions(self, now: float, actions: Sequence[Action]) -> list[GroupAction]:
        """Consume the engine's deliveries; pass everything else through, in order.

        The NORMAL lane is opened only after the whole batch, and only if the table is
        still agreed then: one engine call may deliver the last G_STATE of a ring *and*
        the configurations of the next one (the engine has moved on by the time this
        list is read), and opening the lane then would let group traffic into the next
        ring ahead of its state exchange.
        """
        self._depth += 1
        try:
            out = self._consume(now, actions)
        finally:
            self._depth -= 1
        if self._depth == 0 and self._want_open:
            self._want_open = False
            if self._engine_settled():
                out.extend(self.on_engine_actions(now, self.engine.open_normal_lane(now)))
        return out

    def _engine_settled(self) -> bool:
        """The engine is operational in the ring the table was agreed for."""
        state = getattr(self.engine, "state", None)
        ring = getattr(self.engine, "ring_id", None)
        if state is not None and getattr(state, "name", "OPERATIONAL") != "OPERATIONAL":
            return False
        return ring is None or ring == self._table.ring_id

    def _consume(self, now: float, actions: Sequence[Action]) -> list[GroupAction]:
        out: list[GroupAction] = []
        for a in actions:
            t = type(a)
            if t is SetTimer or t is Send or t is CancelTimer:
                out.append(a)
            elif isinstance(a, Deliver):
                if self._keep:
                    out.append(a)
                self._on_deliver(now, a, out)
            elif isinstance(a, DeliverConfig):
                out.append(a)
                self._on_config(now, a, out)
            else:
                out.append(a)
        return out

    # ------------------------------------------------------------ client operations

    def client_connect(self, now: float, client: str) -> list[GroupAction]:
        """Register a local client; its private name is ``#client#daemon``."""
        gw.check_client_name(client)
        if len(self.private_name(client).encode("utf-8")) > gw.MAX_NAME_BYTES:
            raise LocalProtocolError(
                f"private name {self.private_name(client)!r} exceeds {gw.MAX_NAME_BYTES} bytes")
        if client in self._clients:
            raise LocalProtocolError(f"client {client!r} is already connected to this daemon")
        if client in self._leaving:
            raise LocalProtocolError(f"client {client!r} is still leaving its groups on this "
                                     f"daemon; retry once its disconnect is ordered")
        self._clients.add(client)
        self._table.client_connected(client)
        return []

    def client_join(self, now: float, client: str, group: str) -> list[GroupAction]:
        self._check_client(client)
        gw.check_group_name(group)
        had = self._quota.count(client)
        self._quota.join(client, group)          # raises over a limit (core/group_limits.py)
        try:
            return self._submit(now, gw.encode(gw.GJoin(group, self.node_id, client,
                                                         self._next_op())),
                                Service.AGREED, owner=client)
        except BaseException:
            if self._quota.count(client) > had:
                self._quota.leave(client, group)
            raise

    def client_leave(self, now: float, client: str, group: str) -> list[GroupAction]:
        self._check_client(client)
        gw.check_group_name(group)
        self._quota.leave(client, group)
        return self._submit(now, gw.encode(gw.GLeave(group, self.node_id, client, self._next_op())),
                            Service.AGREED, owner=client)

    def client_disconnect(self, now: float, client: str) -> list[GroupAction]:
        """The client went away: it gets nothing more and leaves all its groups."""
        self._check_client(client)
        self._clients.discard(client)
        self._quota.drop(client)
        self._leaving.add(client)
        self._table.client_gone(client)
        ended = self.on_engine_actions(now, self.engine.local_burst(now, client, False))
        return ended + self._submit(now, gw.encode(gw.GKill(self.node_id, client,
                                                             self._next_op())),
                                    Service.AGREED, owner=client)

    def client_multicast(self, now: float, client: str, groups: Sequence[str] | str,
                         payload: bytes, service: Service = Service.AGREED, msg_type: int = 0,
                         self_discard: bool = False, local_payload: Any = None,
                         priority: bool = False) -> list[GroupAction]:
        """One message to one or several groups (or private names), one order position.

        ``priority``: it goes ahead of other clients' messages still queued on this
        daemon (never ahead of this client's own), so it is ordered at the next token
        visit (core/packing.py, urgent)."""
        one = groups if type(groups) is str else (
            groups[0] if type(groups) is tuple and len(groups) == 1 else None)
        if (type(one) is str and type(payload) is bytes and type(service) is Service
                and type(client) is str and client in self._clients):
            # the common call (one group, all of it seen before): straight to the envelope
            field = self._target_fields.get(one)
            prefix = self._prefixes.get(client)
            if field is not None and prefix is not None:
                return self._multicast(now, client, groups if type(groups) is tuple else (one,),
                                       (field,), prefix, payload, service, msg_type,
                                       self_discard, local_payload, True, priority)
        self._check_client(client)
        targets = (groups,) if isinstance(groups, str) else tuple(groups)
        if not targets:
            raise LocalProtocolError("a multicast needs at least one group")
        fields = self._target_fields
        plain = type(client) is str      # str subclasses: correct, just not cached
        for t in targets:
            if type(t) is not str:
                gw.check_target_name(t)
                plain = False
            elif t not in fields:
                gw.check_target_name(t)
                if len(fields) >= _CACHE_MAX:
                    fields.clear()
                fields[t] = gw.name_field(t)
        if len(targets) > 1:
            targets = tuple(dict.fromkeys(targets))
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise LocalProtocolError(f"payload must be bytes (got {type(payload).__name__})")
        if type(service) is not Service:
            service = Service(service)
        body = payload if type(payload) is bytes else bytes(payload)
        prefix = self._prefixes.get(client)
        if prefix is None:
            if len(self._prefixes) >= _CACHE_MAX:
                self._prefixes.clear()
            prefix = self._prefixes[client] = gw.data_prefix(self.node_id, client)
        group_fields = tuple([fields.get(t) or gw.name_field(t) for t in targets])
        return self._multicast(now, client, targets, group_fields, prefix, body, service,
                               msg_type, self_discard, local_payload, plain, priority)

    def _multicast(self, now: float, client: str, targets: tuple[str, ...],
                   group_fields: tuple[bytes, ...], prefix: bytes, body: bytes,
                   service: Service, msg_type: int, self_discard: bool, local_payload: Any,
                   plain: bool, priority: bool = False) -> list[GroupAction]:
        """client_multicast once its arguments are checked: envelope, submit, bookkeeping."""
        op_id = self._op = self._op % 0xFFFFFFFF + 1          # as _next_op()
        data = gw.encode_data(prefix, service, self_discard, msg_type, op_id, group_fields, body)
        own = self._own_sent
        if plain:
            # what decoding ``data`` gives (checked by tests), to skip it on delivery
            if len(own) >= _CACHE_MAX:
                own.clear()
            own[data] = (self.node_id, client, service, targets, body, int(msg_type),
                         bool(self_discard), op_id)
        try:
            actions = self.on_engine_actions(now, self.engine.submit(
                now, data, Service.SAFE if service is Service.SAFE else Service.AGREED,
                Lane.NORMAL, priority, client))        # as _submit(.., service.ring_service)
        except BaseException:
            own.pop(data, None)
            raise
        if local_payload is not None:
            self._local_objects[op_id] = local_payload
        self._messages_sent += 1
        return actions

    def client_send_private(self, now: float, client: str, private_name: str, payload: bytes,
                            service: Service = Service.AGREED, msg_type: int = 0,
                            local_payload: Any = None,
                            priority: bool = False) -> list[GroupAction]:
        """A message to one member's private name ``#client#daemon``."""
        if gw.split_private_name(private_name) is None:
            raise LocalProtocolError(f"{private_name!r} is not a private name #client#daemon")
        return self.client_multicast(now, client, (private_name,), payload, service, msg_type,
                                     False, local_payload, priority)

    def _next_op(self) -> int:
        self._op = self._op % 0xFFFFFFFF + 1
        return self._op

    def _check_client(self, client: str) -> None:
        if client not in self._clients:
            raise LocalProtocolError(f"unknown client {client!r}: call client_connect first")

    def _submit(self, now: float, data: bytes, service: Service, lane: Lane = Lane.NORMAL,
                owner: str | None = None) -> list[GroupAction]:
        # joins, leaves and disconnects are never refused for the send queue's bounds: a
        # lost G_KILL would leave a gone client in its groups for good
        return self.on_engine_actions(now, self.engine.submit(now, data, service, lane,
                                                              owner=owner, bounded=False))

    # ------------------------------------------------------------ ordered input

    def _bad_envelope(self, sender: int, exc: MalformedPacket) -> None:
        log.debug("dropping bad group envelope from %s: %s", sender, exc)
        self._drop(exc.reason)

    def _drop(self, reason: str) -> None:
        self._drops[reason] = self._drops.get(reason, 0) + 1

    def _emit(self, outs: list[Out], out: list[GroupAction]) -> None:
        for client, ev in outs:
            out.append(ToClient(client, ev))
            self.engine.reply_expected(client)
        self._views_delivered += len(outs)

    def _on_deliver(self, now: float, d: Deliver, out: list[GroupAction]) -> None:
        payload = d.payload
        if type(payload) is bytes and payload[:1] == b"\x01":
            # G_DATA, the hot path. An envelope this GroupEngine submitted itself comes
            # back byte for byte: its fields are known, decoding would give the same.
            fields = None
            if self._own_sent and d.sender == self.node_id:
                fields = self._own_sent.pop(payload, None)
            if fields is None:
                try:
                    fields = gw.decode_data_fields(payload)
                except MalformedPacket as exc:
                    self._bad_envelope(d.sender, exc)
                    return
                if fields[0] != d.sender:
                    self._drop("g_sender_mismatch")
                    return
            if not d.in_transitional and self._table.phase is not Phase.OPERATIONAL:
                self._table.unordered_ops += 1
            self._deliver_data(d, fields, out)
            return
        try:
            msg = gw.decode(payload)
        except MalformedPacket as exc:
            self._bad_envelope(d.sender, exc)
            return
        trans = d.in_transitional
        sender = int(d.sender)
        if isinstance(msg, gw.GData):
            if msg.sender_daemon != sender:
                self._drop("g_sender_mismatch")
                return
            if not trans and self._table.phase is not Phase.OPERATIONAL:
                self._table.unordered_ops += 1
            self._deliver_data(d, (msg.sender_daemon, msg.sender_client, msg.service,
                                   msg.groups, msg.payload, msg.msg_type, msg.self_discard,
                                   msg.op_id), out)
        elif isinstance(msg, gw.GState):
            views = self._table.state(msg, sender, trans)
            if views is not None:
                self._emit(views, out)
                self._want_open = True
        elif msg.daemon != sender:
            self._drop("g_sender_mismatch")
        elif isinstance(msg, gw.GJoin):
            self._emit(self._table.join(msg.group, (sender, msg.client), trans), out)
        elif isinstance(msg, gw.GLeave):
            self._emit(self._table.leave(msg.group, (sender, msg.client), trans), out)
        else:
            self._emit(self._table.kill((sender, msg.client), trans), out)
            if sender == self.node_id and d.incarnation == self.engine.incarnation \
                    and msg.client in self._leaving:
                self._leaving.discard(msg.client)
                out.append(ClientGone(msg.client))

    def _deliver_data(self, d: Deliver, fields: gw.DataFields,
                      out: list[GroupAction]) -> None:
        (sender_daemon, sender_client, service, targets, payload, msg_type, self_discard,
         op_id) = fields
        obj: Any = payload
        raw: bytes | None = None
        if (self._local_objects and d.sender == self.node_id
                and d.incarnation == self.engine.incarnation
                and op_id in self._local_objects):
            obj = self._local_objects.pop(op_id)
            raw = payload
        if len(targets) == 1 and targets[0][:1] != "#":
            receivers: Sequence[str] = self._table.route(targets[0])
        else:
            seen: set[str] = set()
            for t in targets:
                if t.startswith("#"):
                    pn = gw.split_private_name(t)
                    if pn is not None and pn[1] == self.daemon_name and pn[0] in self._clients:
                        seen.add(pn[0])
                else:
                    seen.update(self._table.route(t))
            receivers = sorted(seen)
        if not receivers:
            return
        if d.in_transitional:
            for t in targets:
                if not t.startswith("#") and self._table.route(t):
                    self._emit(self._table.signal_for_transitional_data(t), out)
        skip = sender_client if self_discard and sender_daemon == self.node_id else None
        ev = _new_data_message(self._member_name((sender_daemon, sender_client)), targets,
                         service, obj, msg_type)
        n = 0
        fed = None
        for c in receivers:
            if c != skip:
                out.append(_new_to_client(c, ev, raw))
                n += 1
                fed = c
        if n:
            self._messages_delivered += n
            self.engine.reply_expected(fed if n == 1 else None)

    def _on_config(self, now: float, c: DeliverConfig, out: list[GroupAction]) -> None:
        if c.kind is ConfigKind.TRANSITIONAL:
            self._want_open = False
            self._emit(self._table.transitional(c.members, c.left), out)
            return
        views, exchange = self._table.regular(c.ring_id, c.members)
        self._emit(views, out)
        if not exchange:
            self._want_open = True
            return
        self._want_open = False
        self._exchanges += 1
        msg = self._table.state_message()
        fitted = fit_state(msg.groups, self._max_state)
        if len(fitted) < len(msg.groups):        # built under other limits: never wedge
            log.error("group state of %d groups does not fit in %d bytes; sending the first "
                      "%d (the others lose their local members)", len(msg.groups),
                      self._max_state, len(fitted))
            self._drop("state_truncated")
            msg = gw.GState(msg.ring_id, msg.daemon, fitted)
        state = gw.encode(msg)
        try:
            out.extend(self.on_engine_actions(
                now, self.engine.submit(now, state, Service.AGREED, Lane.CONTROL)))
        except Backpressure:
            log.warning("could not submit the group state for %s: send queue full", c.ring_id)
            self._drop("state_backpressure")

    @property
    def phase(self) -> Phase:
        return self._table.phase
