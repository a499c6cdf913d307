"""EngineDriver: feeds the engine its inputs and carries out the actions it returns.

Theory of operation
-------------------
A mixin of ``Daemon`` (runtime/daemon.py), run only on the daemon thread. Inputs:
datagrams (``_on_readable``) and timer expiries (``_on_timer``); client commands come
through client_plumbing.py. Every action list is carried out in order by ``_execute``:
``Send`` -> UDP (BROADCAST_RING to the engine's ``ring_targets``, BROADCAST_ALL to every
other peer), ``SetTimer``/``CancelTimer`` -> the loop's timer heap, ``Persist`` -> the
state file (runtime/state.py), ``ToClient`` -> the client's sink, ``DeliverConfig`` ->
the membership log (runtime/stats.py) and ``on_membership``.

Timers: ``_deadlines`` holds the engine's current deadline per timer id; a later
deadline keeps the pending loop handle (no heap push per token visit) and ``_on_timer``
re-arms it when it fires early, so each timer fires once, at its current deadline.
Engine exceptions are counted (``engine_errors``) and logged, never raised out of the loop.

Reply window (runtime/reply_window.py): a token that arrives, last in its batch, right
after local clients were handed data may be held for a few hundred microseconds; a
client command (inline or drained) feeds it at once, after the command, so the reply
rides on this visit; ``_held_expired`` feeds it otherwise. Any new datagram feeds the
held token first, so the engine still sees packets in arrival order. The window's end
is a timer with slack: while tokens are being held the daemon thread wakes every
``REPLY_TICK`` (10 ms) anyway, so a session thread that holds one (waiting reader)
never has to wake it -- a wake-up that would cost the reply its CPU and the GIL. A
window no reply came for thus ends within 10 ms; after ``MISSES`` such windows the
policy stops holding for a while.

Inline (caller-runs) commands from client_plumbing.py also come through here, on the
caller's thread with the loop lock held; ``_fire_due_inline`` runs the TOKEN_HOLD they
made due. What must stay on the daemon thread is handed to it: detaching an overflowing
client and the ``on_membership`` callback.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Any, Callable

from ..core.actions import (BROADCAST_ALL, BROADCAST_RING, CancelTimer, Deliver,
                            DeliverConfig, Persist, Send, SetTimer)
from ..core.types import TimerId
from ..core.wire import is_token
from .loop import TimerHandle
from .reply_window import ReplyWindow
from .stats import MembershipEvent

log = logging.getLogger(__name__)

__all__ = ["EngineDriver"]

REPLY_TICK = 0.01         # while tokens are held for replies the loop wakes this often ...
REPLY_TICK_FOR = 1.0      # ... until no token was held for this long


class EngineDriver:
    """Engine input/action-execution methods of ``Daemon`` (state lives in the Daemon)."""

    name: str
    engine: Any
    loop: Any
    transport: Any
    _state: Any
    _membership: Any
    _timers: dict[TimerId, TimerHandle]
    _deadlines: dict[TimerId, float]
    _inline_due: list[TimerId] | None
    _timer_cbs: dict[TimerId, Callable[[], None]]
    _to_client: type | None
    _cmds: Any
    _engine_blocked: bool
    _stopping: bool
    _exec_depth: int
    _deferred_detach: Any
    _ring_cond: threading.Condition
    _ring_members: tuple[str, ...]
    on_membership: Callable[[MembershipEvent], None] | None
    # client_plumbing.py / daemon.py
    _drain: Callable[[], None]
    _check_flushed: Callable[[], None]
    _detach: Callable[..., None]
    _to_sink: Callable[..., None]
    engine_errors: int
    undeliverable: int
    _reply: ReplyWindow
    _held_token: tuple[bytes, Any] | None
    _held_timer: TimerHandle | None
    _reply_tick: TimerHandle | None
    _last_hold: float

    def _on_readable(self, sock: Any) -> None:
        batch = self.transport.receive(sock)
        if not batch:              # a waiting reader (runtime/waiting_reader.py) was first
            return
        if self._held_token is not None:
            self._feed_held()                   # arrival order: the held token goes first
        last = len(batch) - 1
        reply = self._reply
        for i, (data, addr) in enumerate(batch):
            if is_token(data):
                if i == last and not self._cmds and reply.should_hold():
                    self._hold(data, addr)
                    break
                reply.fed_sinks = False
            self._feed_packet(data, addr)
        self._after_engine()

    def _feed_packet(self, data: bytes, addr: Any) -> None:
        try:
            actions = self.engine.handle_packet(self.loop.time(), addr, data)
        except Exception:
            self.engine_errors += 1
            log.exception("engine failed on a packet from %s", addr)
            return
        self._execute(actions)

    # ------------------------------------------------------------ reply window
    def _hold(self, data: bytes, addr: Any) -> None:
        """Hold a token for the reply window. Its end may run up to REPLY_TICK late: a
        session thread holding it (runtime/waiting_reader.py) then need not wake the
        daemon thread, which wakes every REPLY_TICK anyway while replies are held."""
        loop = self.loop
        now = loop.time()
        self._held_token = (data, addr)
        self._last_hold = now
        if self._reply_tick is None:
            self._reply_tick = loop.call_at(now + REPLY_TICK, self._on_reply_tick)
        self._held_timer = loop.call_at(now + self._reply.window, self._held_expired,
                                        slack=REPLY_TICK)

    def _on_reply_tick(self) -> None:
        now = self.loop.time()
        if now - self._last_hold < REPLY_TICK_FOR:
            self._reply_tick = self.loop.call_at(now + REPLY_TICK, self._on_reply_tick)
        else:
            self._reply_tick = None

    def _feed_held(self) -> None:
        held, self._held_token = self._held_token, None
        if self._held_timer is not None:
            self._held_timer.cancel()
            self._held_timer = None
        if held is not None:
            self._feed_packet(*held)

    def _held_expired(self) -> None:
        self._held_timer = None
        if self._held_token is not None:
            self._reply.expired()
            self._feed_held()
            self._after_engine()

    def _release_held_for_waiter(self, sink: Any) -> None:
        """The only session handed data before the held token is waiting for more
        instead of replying: no reply is coming, pass the token on now."""
        if self._held_token is not None and self._reply.held_for is sink:
            self._reply.waiter_returned()
            self._feed_held()
            self._after_engine()

    def _release_held_for_command(self) -> None:
        """After a local command: a held token carries it now; with no token held, the
        clients have reacted to what they were handed, so the next token is not held."""
        if self._held_token is not None:
            self._reply.released_by_command()
            self._feed_held()
        else:
            self._reply.fed_sinks = False

    def _on_timer(self, tid: TimerId) -> None:
        self._timers.pop(tid, None)
        deadline = self._deadlines.get(tid)
        if deadline is None:
            return
        if deadline > self.loop.time():      # moved later while this handle was pending
            self._timers[tid] = self.loop.call_at(deadline, self._timer_cbs[tid])
            return
        self._run_timer(tid)
        self._after_engine()

    def _fire_due_inline(self, max_rounds: int = 4) -> None:
        """Inline path: run the engine timers that came due (TOKEN_HOLD), then arm the rest.

        While ``_inline_due`` is a list, ``SetTimer`` actions with a deadline already
        passed are only recorded (no loop handle, no wake-up of the daemon thread); they
        run here, a few rounds at most, and whatever is still due afterwards goes to the
        loop like any timer.
        """
        due = self._inline_due
        assert due is not None
        for _ in range(max_rounds):
            if not due:
                break
            batch = due[:] if len(due) == 1 else sorted(set(due), key=lambda t: t.value)
            due.clear()
            for tid in batch:
                deadline = self._deadlines.get(tid)
                if deadline is not None and deadline <= self.loop.time():
                    self._run_timer(tid)
        self._inline_due = None
        for tid in set(due):
            deadline = self._deadlines.get(tid)
            if deadline is not None:
                self._arm(tid, deadline)

    def _arm(self, tid: TimerId, deadline: float) -> None:
        # re-arming later (TOKEN_LOSS on every visit) keeps the pending handle: no heap
        # push and cancelled entry per token visit; _on_timer re-arms it when it fires
        old = self._timers.get(tid)
        if old is None or old.when > deadline:
            if old is not None:
                old.cancel()
            self._timers[tid] = self.loop.call_at(deadline, self._timer_cbs[tid])

    def _run_timer(self, tid: TimerId) -> None:
        del self._deadlines[tid]
        try:
            actions = self.engine.handle_timer(self.loop.time(), tid)
        except Exception:
            self.engine_errors += 1
            log.exception("engine failed on timer %s", tid)
            return
        self._execute(actions)

    def _after_engine(self) -> None:
        if self._engine_blocked and self._cmds:
            self._drain()
        if self._stopping:
            self._check_flushed()

    def _execute(self, actions: list[Any]) -> None:
        self._exec_depth += 1
        try:
            self._execute_list(actions)
        finally:
            self._exec_depth -= 1
        if not self._exec_depth and self._deferred_detach:
            if self.loop.in_loop_thread():
                self._run_deferred_detach()
            else:       # inline caller: detaching may touch the selector; the loop does it
                self.loop.call_soon_threadsafe(self._run_deferred_detach)

    def _run_deferred_detach(self) -> None:
        while self._deferred_detach:
            h, reason = self._deferred_detach.popleft()
            self._detach(h, reason, self.loop.time(), forgotten=True)

    def _execute_list(self, actions: list[Any]) -> None:
        tc = self._to_client
        for a in actions:
            t = type(a)
            if t is Send:
                dest = a.dest
                if dest >= 0:
                    self.transport.send_to(dest, a.data)
                elif dest == BROADCAST_RING:
                    self.transport.broadcast(a.data, self._ring_targets())
                elif dest == BROADCAST_ALL:
                    self.transport.broadcast(a.data, self.transport.peers)
            elif tc is not None and t is tc:
                self._to_sink(a.client, a.event, getattr(a, "raw_payload", None))
            elif t is SetTimer:
                tid = a.timer_id
                self._deadlines[tid] = a.deadline
                due = self._inline_due
                if due is not None and a.deadline <= self.loop.time():
                    due.append(tid)           # run by _fire_due_inline on this thread
                else:
                    self._arm(tid, a.deadline)
            elif t is CancelTimer:
                self._deadlines.pop(a.timer_id, None)
                old = self._timers.pop(a.timer_id, None)
                if old is not None:
                    old.cancel()
            elif t is Persist:
                try:
                    self._state.save_ring_seq(a.ring_seq)
                except OSError:
                    log.exception("cannot persist ring seq %d for %s", a.ring_seq, self.name)
            elif t is DeliverConfig:
                self._note_config(a)
            elif t is Deliver:
                self.undeliverable += 1
            elif hasattr(a, "client") and hasattr(a, "event"):
                self._to_sink(a.client, a.event)

    def _ring_targets(self) -> Any:
        ge = self.engine
        targets = getattr(ge, "ring_targets", None)
        if targets is None:
            targets = ge.engine.ring_targets
        return targets

    def _note_config(self, a: DeliverConfig) -> None:
        ev = self._membership.note(a, time.time())
        if ev is None:
            return
        with self._ring_cond:
            self._ring_members = ev.members
            self._ring_cond.notify_all()
        log.info("%s: ring %d.%d members %s (joined %s, left %s)", self.name, ev.ring_id[0],
                 ev.ring_id[1], ",".join(ev.members), ",".join(ev.joined) or "-",
                 ",".join(ev.left) or "-")
        if self.on_membership is not None:
            if self.loop.in_loop_thread():
                self._membership_callback(ev)
            else:                   # inline caller: callbacks run on the daemon thread
                self.loop.call_soon_threadsafe(functools.partial(self._membership_callback, ev))

    def _membership_callback(self, ev: MembershipEvent) -> None:
        cb = self.on_membership
        if cb is None:
            return
        try:
            cb(ev)
        except Exception:
            log.exception("on_membership callback failed")

