"""EngineHost: runs the engine -- one input at a time, its actions carried out in order.

Theory of operation
-------------------
The host owns the engine (runtime/engine_port.py), the engine's timers, and the
carrying out of actions. Every method here is called by the thread that holds the loop
lock (runtime/README.md: the ownership rule) -- the daemon thread in a loop callback, or
a guest: a session thread running an inline command or serving the ring.

An *input* is one engine call: a datagram, a timer, a client command, a client waiting
again. ``feed`` makes the call and carries out the returned actions; ``settle`` ends an
input batch: engine timers that came due meanwhile run too (the engine sets TOKEN_HOLD
and REPLY_WINDOW to ``now`` to mean "once this input is done"), a few rounds at most,
then the loop's timer handle is re-armed. Whoever took the lock settles before letting
go, so an inline command on a singleton ring is ordered and delivered before
``multicast`` returns, and a guest never leaves a due timer for the daemon thread.

Actions: ``Send`` -> UDP (BROADCAST_RING to the engine's ``ring_targets``, BROADCAST_ALL
to every peer); ``SetTimer``/``CancelTimer`` -> the timer table; ``Persist`` -> the state
file; ``ToClient`` -> the client's sink (a sink that overflows gets its client detached
after the action list, as an input of its own, so the engine's earlier actions keep
their order); ``ClientGone`` -> the client table frees the name; ``DeliverConfig`` -> the
membership log, and ``on_membership`` on the loop thread.

Timers: ``_timers`` maps each armed engine timer to (deadline, slack); the loop holds ONE
handle, for the earliest ``deadline + slack``. A pending handle earlier than needed is
kept (when it fires it finds nothing due and re-arms), so re-arming TOKEN_LOSS at every
token visit costs no heap push, and a guest that sets a timer with slack (the reply
window's end, a shortened token retransmission) rides on a wake-up the loop has
anyway; ``settle`` runs any timer past its deadline after every input. The table is
consistent after any exception: an entry is removed just before its timer runs, and
``settle`` re-arms the handle in a ``finally``. Engine exceptions are counted (``engine_errors``), never raised
-- except the refusals of client commands (``LocalProtocolError``, ``Backpressure``),
which go back to runtime/commands.py.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from typing import Any, Callable

from ..core.actions import (BROADCAST_ALL, BROADCAST_RING, CancelTimer, Deliver,
                            DeliverConfig, Persist, Send, SetTimer)
from ..core.events import DataMessage
from ..core.groups import ClientGone, GroupAction, ToClient
from ..core.types import TimerId
from ..errors import Backpressure, LocalProtocolError
from .client_table import ClientTable
from .engine_port import HostedEngine
from .loop import EventLoop, TimerHandle
from .membership_log import MembershipEvent, MembershipLog
from .state import StateStore
from .transport import UdpTransport

log = logging.getLogger(__name__)

__all__ = ["EngineHost", "SETTLE_ROUNDS"]

SETTLE_ROUNDS = 4          # rounds of due timers one input may run before the loop takes over
_INF = float("inf")
_ORDER = {tid: i for i, tid in enumerate(TimerId)}   # due timers run in a fixed order


class EngineHost:
    """The engine with its timers and action executor (see the module docstring)."""

    def __init__(self, engine: HostedEngine, loop: EventLoop, transport: UdpTransport,
                 state: StateStore, clients: ClientTable, membership: MembershipLog,
                 name: str) -> None:
        self.engine = engine
        self.loop = loop
        self.transport = transport
        self._state = state
        self._clients = clients
        self._membership = membership
        self.name = name
        self._timers: dict[TimerId, tuple[float, float]] = {}
        self._handle: TimerHandle | None = None
        self._dirty = False                  # _timers changed since the last _arm
        self._next_due = _INF                # earliest deadline (valid when not dirty)
        self._depth = 0                      # nesting of carry_out
        self._overflowed: list[Any] = []     # ClientHandles whose sink refused an event
        self.after_input: Callable[[], None] | None = None   # runtime/daemon.py wires it
        self.on_membership: Callable[[MembershipEvent], None] | None = None
        self.engine_errors = 0
        self.undeliverable = 0               # ToClient for a client no longer attached
        self.sessions_detached = 0           # clients detached for overflow

    @property
    def busy(self) -> bool:
        """An action list is being carried out (a command must not run nested in it)."""
        return self._depth > 0

    # ------------------------------------------------------------ inputs

    def feed(self, fn: Callable[..., list[GroupAction]], *args: Any) -> None:
        """One engine input (lock held): ``fn(now, *args)``, then its actions."""
        try:
            actions = fn(self.loop.time(), *args)
        except (LocalProtocolError, Backpressure):
            raise
        except Exception:
            self.engine_errors += 1
            log.exception("%s: engine failed in %s", self.name,
                          getattr(fn, "__name__", fn))
            return
        self.carry_out(actions)

    def start(self) -> None:
        """The engine's first input (daemon thread, before the loop runs)."""
        self.carry_out(self.engine.start(self.loop.time()))
        self.settle()

    def on_readable(self, sock: Any) -> None:
        """Datagrams are waiting on ``sock``: feed them, in arrival order."""
        batch = self.transport.receive(sock)
        if not batch:            # a waiting reader (runtime/waiting_reader.py) was first
            return
        try:
            handle = self.engine.handle_packet
            for data, addr in batch:
                self.feed(handle, addr, data)
        finally:
            self.settle()

    def settle(self) -> None:
        """End of an input batch: run engine timers that came due, re-arm the loop."""
        try:
            timers = self._timers
            for _ in range(SETTLE_ROUNDS):
                now = self.loop.time()
                if not self._dirty and self._next_due > now:
                    break
                due = [tid for tid, (d, _s) in timers.items() if d <= now]
                if not due:
                    break
                if len(due) > 1:
                    due.sort(key=_ORDER.__getitem__)
                for tid in due:
                    entry = timers.get(tid)
                    if entry is not None and entry[0] <= now:
                        del timers[tid]
                        self._dirty = True
                        self.feed(self.engine.handle_timer, tid)
        finally:
            if self._dirty:
                self._arm()
            hook = self.after_input
            if hook is not None:
                hook()

    def _arm(self) -> None:
        """Make the loop wake by the earliest ``deadline + slack`` (keeps an earlier
        handle); called only after the due timers ran, so it never arms one for now."""
        self._dirty = False
        next_due = wake = _INF
        for d, s in self._timers.values():
            if d < next_due:
                next_due = d
            if d + s < wake:
                wake = d + s
        self._next_due = next_due
        if wake == _INF:
            return
        h = self._handle
        if h is None or h.cancelled or h.when > wake:
            if h is not None:
                h.cancel()
            self._handle = self.loop.call_at(wake, self._on_handle)

    def _on_handle(self) -> None:
        self._handle = None
        self._dirty = True              # re-arm for whatever is still pending
        self.settle()

    def cancel_timers(self) -> None:
        """The daemon stops: forget every engine timer."""
        self._timers.clear()
        self._next_due = _INF
        self._dirty = False
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    # ------------------------------------------------------------ actions

    def carry_out(self, actions: list[GroupAction]) -> None:
        self._depth += 1
        try:
            self._carry_out(actions)
        finally:
            self._depth -= 1
        if not self._depth and self._overflowed:
            self._detach_overflowed()

    def _carry_out(self, actions: list[GroupAction]) -> None:
        tr = self.transport
        for a in actions:
            if type(a) is Send:
                dest = a.dest
                if dest >= 0:
                    tr.send_to(dest, a.data)
                elif dest == BROADCAST_RING:
                    tr.broadcast(a.data, self.engine.ring_targets)
                else:
                    assert dest == BROADCAST_ALL
                    tr.broadcast(a.data, tr.peers)
            elif type(a) is ToClient:
                self._to_client(a)
            elif type(a) is SetTimer:
                self._timers[a.timer_id] = (a.deadline, a.slack)
                self._dirty = True
            elif type(a) is CancelTimer:
                if self._timers.pop(a.timer_id, None) is not None:
                    self._dirty = True
            elif type(a) is Persist:
                self._persist(a.ring_seq)
            elif type(a) is DeliverConfig:
                self._note_config(a)
            elif type(a) is ClientGone:
                self._clients.released(a.client)
            elif type(a) is Deliver:
                self.undeliverable += 1       # a ring message the group layer did not take
            else:
                self.engine_errors += 1
                log.error("%s: engine returned an unknown action %r", self.name, a)

    def _to_client(self, a: ToClient) -> None:
        h = self._clients.get(a.client)
        if h is None:
            self.undeliverable += 1
            return
        sink = h.sink
        event = a.event
        if a.raw_payload is not None and not sink.local_objects \
                and isinstance(event, DataMessage):
            event = dataclasses.replace(event, payload=a.raw_payload)   # sockets need bytes
        try:
            ok = sink.push(event)
        except Exception:
            log.exception("%s: sink of %s failed", self.name, h.private_name)
            ok = False
        if ok:
            h.delivered += 1
        elif h not in self._overflowed:
            self._overflowed.append(h)

    def _detach_overflowed(self) -> None:
        while self._overflowed:
            h = self._overflowed.pop(0)
            self.sessions_detached += 1
            reason = "client stopped reading (queue overflow)"
            log.warning("%s: detaching %s: %s", self.name, h.private_name, reason)
            self.detach(h, reason)

    def detach(self, h: Any, reason: str) -> None:
        """The daemon ends client ``h``: its groups see it leave (an input of its own)."""
        if not self._clients.forget(h):
            return
        h.mark_closed(reason)
        try:
            self.feed(self.engine.client_disconnect, h.name)
        except LocalProtocolError:            # it never got connected: the name is free
            self._clients.released(h.name)
        except Backpressure:                  # cannot happen (a disconnect never waits)
            self._clients.released(h.name)
        try:
            h.sink.closed(reason)
        except Exception:
            log.exception("%s: sink of %s failed in closed()", self.name, h.private_name)

    def _persist(self, ring_seq: int) -> None:
        try:
            self._state.save_ring_seq(ring_seq)
        except OSError:
            log.exception("%s: cannot persist ring seq %d", self.name, ring_seq)

    def _note_config(self, a: DeliverConfig) -> None:
        ev = self._membership.note(a, time.time())
        if ev is None:
            return
        log.info("%s: ring %d.%d members %s (joined %s, left %s)", self.name, ev.ring_id[0],
                 ev.ring_id[1], ",".join(ev.members), ",".join(ev.joined) or "-",
                 ",".join(ev.left) or "-")
        if self.on_membership is not None:      # user code: on the loop thread, later
            self.loop.call_soon(functools.partial(self._membership_callback, ev))

    def _membership_callback(self, ev: MembershipEvent) -> None:
        cb = self.on_membership
        if cb is None:
            return
        try:
            cb(ev)
        except Exception:
            log.exception("%s: on_membership callback failed", self.name)
