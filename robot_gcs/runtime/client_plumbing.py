"""ClientPlumbing: the daemon's client side -- attach, command queue, sinks, detach.

Theory of operation
-------------------
A mixin of ``Daemon`` (runtime/daemon.py); it owns no state of its own, only the
methods that move client traffic, using the attributes ``Daemon.__init__`` creates.

* ``attach_client`` (any thread) registers a ``ClientHandle`` (runtime/clients.py)
  under ``_clients_lock`` and posts its ``connect``.
* ``_try_inline`` (any thread but the daemon's) runs a command on the caller's thread
  while the daemon thread idles in select and nothing is queued (caller-runs, under the
  loop lock; see runtime/loop.py); otherwise ``_enqueue`` appends ``(handle, op, args)``
  to ``_cmds`` and schedules one ``_drain`` on the daemon thread; ``_drain`` feeds the
  commands to the engine in call order. An engine ``Backpressure`` stops the drain (``_engine_blocked``); it is retried
  after the next packet or timer (engine_driver.py). Send-queue room taken by
  multicasts/privates is handed back to each handle once per drained batch.
* ``_to_sink`` (daemon thread, or an inline caller) pushes an event to the client's sink; a sink that
  refuses (overflow) gets the client detached -- deferred until the current action
  list is fully carried out if one is being executed, so the order of actions the
  engine produced before the disconnect is kept.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, cast

from ..client.session import check_client_name
from ..core.types import TimerId
from ..errors import Backpressure, LocalProtocolError, SessionClosed
from .clients import ClientHandle

if TYPE_CHECKING:
    from .daemon import Daemon

log = logging.getLogger(__name__)

__all__ = ["ClientPlumbing"]


class ClientPlumbing:
    """Client attach/command/sink methods of ``Daemon`` (state lives in the Daemon)."""

    name: str
    config: Any
    engine: Any
    loop: Any
    _thread: threading.Thread | None
    _stopping: bool
    _stopped: threading.Event
    _clients: dict[str, ClientHandle]
    _clients_lock: threading.Lock
    _cmds: deque[tuple[ClientHandle, str, tuple[Any, ...]]]
    _drain_scheduled: bool
    _engine_blocked: bool
    _exec_depth: int
    _deferred_detach: deque[tuple[ClientHandle, str]]
    engine_errors: int
    sessions_detached: int
    undeliverable: int

    _inline_ok: bool
    inline_commands: int
    _execute: Callable[[list[Any]], None]        # engine_driver.py
    _inline_due: list[TimerId] | None
    _fire_due_inline: Callable[..., None]        # engine_driver.py
    _release_held_for_command: Callable[[], None]   # engine_driver.py
    _reply: Any

    def attach_client(self, name: str, sink: Any) -> ClientHandle:
        """Register a client (any thread); events go to ``sink.push`` on the daemon thread."""
        check_client_name(name)
        if self._thread is None or self._stopping or self._stopped.is_set():
            raise SessionClosed(f"daemon {self.name} is not running")
        with self._clients_lock:
            if name in self._clients:
                raise LocalProtocolError(f"client name {name!r} is already in use on "
                                         f"daemon {self.name}")
            h = ClientHandle(cast("Daemon", self), name, sink,
                             self.config.ring.runtime.send_queue)
            self._clients[name] = h
        self._post(h, "connect", ())
        return h

    def connect(self, name: str, queue_size: int | None = None, *,
                reads_ring: bool = True) -> Any:
        """An in-process Session for client ``name`` (private name ``#name#daemon``).

        ``reads_ring=False``: this session never becomes the daemon's waiting reader
        (runtime/waiting_reader.py) -- for sessions that mostly wait for a timeout
        (periodic publishers), so the role stays free for the latency-sensitive ones.
        """
        from ..client.inprocess import InProcessSession
        return InProcessSession(cast("Daemon", self), name,
                                queue_size or self.config.ring.runtime.session_queue,
                                reads_ring=reads_ring)

    def _post(self, h: ClientHandle, op: str, args: tuple[Any, ...]) -> None:
        """Any thread: run the command inline if the daemon idles, else queue it."""
        if not self._try_inline(h, op, args):
            self._enqueue(h, op, args)

    def _enqueue(self, h: ClientHandle, op: str, args: tuple[Any, ...]) -> None:
        if self._stopped.is_set():
            h._mark_closed("daemon stopped")
            return
        self._cmds.append((h, op, args))
        if not self._drain_scheduled:
            self._drain_scheduled = True
            self.loop.call_soon_threadsafe(self._drain)

    def _try_inline(self, h: ClientHandle, op: str, args: tuple[Any, ...]) -> bool:
        """Caller-runs: feed one command to the engine on the caller's thread.

        Only while the daemon thread waits in select (the loop lock, never waited for)
        and nothing is queued, so no queued command is overtaken and the engine still
        sees one caller at a time. A TOKEN_HOLD the command made due (the held token of
        a singleton ring or an idle rep) runs at once too: the message is ordered, sent
        and -- on a singleton ring -- delivered to the local sinks before ``multicast``
        returns, without waking the daemon thread. False: queue it instead (daemon
        busy, stopping, or the engine's send queue is full).
        """
        if self._cmds or not self._inline_ok or not self.loop.try_enter():
            return False
        try:
            if self._cmds or self._stopping or self._stopped.is_set():
                return False
            try:
                actions = self._feed(h, op, args, self.loop.time())
            except Backpressure:
                return False
            self.inline_commands += 1
            self._inline_due = []
            try:
                if actions:
                    self._execute(actions)
                self._release_held_for_command()
            finally:
                self._fire_due_inline()
            return True
        finally:
            self.loop.leave()

    def _drain(self) -> None:
        self._drain_scheduled = False
        self._engine_blocked = False
        freed: dict[ClientHandle, int] = {}     # send-queue room, handed back per batch
        try:
            self._drain_cmds(freed)
            self._release_held_for_command()
        finally:
            for h, n in freed.items():
                h._release(n)

    def _feed(self, h: ClientHandle, op: str, args: tuple[Any, ...], now: float) -> list[Any]:
        """One client command into the engine; refusals are logged and give no actions."""
        ge = self.engine
        actions: list[Any] = []
        try:
            if op == "multicast":
                gs, data, svc, mt, sd, local = args
                actions = ge.client_multicast(now, h.name, gs, data, svc, mt, sd, local)
            elif op == "join":
                actions = ge.client_join(now, h.name, args[0])
            elif op == "leave":
                actions = ge.client_leave(now, h.name, args[0])
            elif op == "private":
                target, data, svc, mt = args
                actions = ge.client_send_private(now, h.name, target, data, svc, mt)
            elif op == "connect":
                actions = ge.client_connect(now, h.name)
            elif op == "disconnect":
                actions = ge.client_disconnect(now, h.name)
            else:  # pragma: no cover
                raise AssertionError(op)
        except Backpressure:
            raise
        except (LocalProtocolError, SessionClosed) as exc:
            log.warning("%s: %s refused: %s", h.private_name, op, exc)
        except Exception:
            self.engine_errors += 1
            log.exception("engine failed on %s from %s", op, h.private_name)
        return actions

    def _drain_cmds(self, freed: dict[ClientHandle, int]) -> None:
        cmds = self._cmds
        while cmds:
            h, op, args = cmds[0]
            try:
                actions = self._feed(h, op, args, self.loop.time())
            except Backpressure:
                self._engine_blocked = True      # retried after the next packet or timer
                return
            cmds.popleft()
            if op == "multicast" or op == "private":
                freed[h] = freed.get(h, 0) + 1
            if actions:
                self._execute(actions)

    def _forget(self, h: ClientHandle) -> bool:
        with self._clients_lock:
            if self._clients.get(h.name) is not h:
                return False
            del self._clients[h.name]
            return True

    def _detach(self, h: ClientHandle, reason: str, now: float,
                forgotten: bool = False) -> None:
        """Daemon thread: the daemon ends a client (overflow, stop)."""
        if not forgotten and not self._forget(h):
            return
        h._mark_closed(reason)
        try:
            actions = self.engine.client_disconnect(now, h.name)
        except (LocalProtocolError, KeyError):
            actions = []
        except Exception:
            self.engine_errors += 1
            log.exception("engine failed disconnecting %s", h.private_name)
            actions = []
        self._sink_closed(h, reason)
        self._execute(actions)

    def _sink_closed(self, h: ClientHandle, reason: str) -> None:
        closed = getattr(h.sink, "closed", None)
        if callable(closed):
            try:
                closed(reason)
            except Exception:
                log.exception("sink of %s failed in closed()", h.private_name)

    def _to_sink(self, client: str, event: Any, raw: bytes | None = None) -> None:
        h = self._clients.get(client)
        if h is None:
            self.undeliverable += 1
            return
        if raw is not None and not getattr(h.sink, "local_objects", False):
            event = dataclasses.replace(event, payload=raw)   # socket sinks need the bytes
        try:
            ok = h.sink.push(event)
        except Exception:
            log.exception("sink of %s failed", h.private_name)
            ok = False
        if ok:
            h.delivered += 1
            self._reply.fed(h.sink)
            return
        self.sessions_detached += 1
        reason = "client stopped reading (queue overflow)"
        log.warning("detaching %s: %s", h.private_name, reason)
        if self._exec_depth:
            # finish the current action list first: the engine produced it before this
            # disconnect, so its timers/sends must be carried out before the new ones
            if self._forget(h):
                h._mark_closed(reason)
                self._deferred_detach.append((h, reason))
        else:
            self._detach(h, reason, self.loop.time())

