"""Daemon: config -> UDP transport + event loop + group engine on one thread.

Theory of operation
-------------------
One ``Daemon`` is one ring member. It owns a thread (the daemon thread) running an
``EventLoop`` (runtime/loop.py); that thread alone touches the sans-IO ``GroupEngine``
(core/groups.py, wrapping core/engine.py). The loop feeds the engine datagrams
(``handle_packet``), timer expiries (``handle_timer``) and client commands, and carries
out the returned actions in order: ``Send`` -> UDP (runtime/transport.py; BROADCAST_RING
goes to ``ring_targets``, BROADCAST_ALL to every other peer), ``SetTimer``/``CancelTimer``
-> the loop's timer heap, ``Persist`` -> the state file (runtime/state.py), ``ToClient``
-> the client's sink, ``DeliverConfig`` -> the membership history.

Life cycle (a Daemon object starts once): ``start()`` binds the UDP socket(s) in the
caller's thread (so a port clash raises there), starts the thread and returns once the
engine has started.
``stop()`` (also ``with daemon:``) disconnects every client through the ring (others see
DISCONNECT views), waits until the engine's send queue is empty (bounded by the token
timeout), calls ``engine.leave()`` so the others reconfigure at once, and joins the
thread. A running daemon is also stopped this way at interpreter exit (atexit).

Contract for client carriers (in-process sessions here; the socket server in
runtime/ipc.py):

* ``attach_client(name, sink) -> ClientHandle`` is thread-safe. ``sink.push(event) ->
  bool`` is called ON THE DAEMON THREAD for every event of that client, in order; it must
  not block. False means the sink overflowed: the daemon detaches the client (the ring
  sees a DISCONNECT), counts it and calls ``sink.closed(reason)`` (daemon thread) if the
  sink has that method -- also when the daemon stops. Optional sink attributes read by
  ``statistics()``: ``kind`` (str), ``queue_depth()``, ``high_water``, ``dropped``.
* ``ClientHandle`` (any thread): ``join(group)``, ``leave(group)``, ``multicast(groups,
  payload, service, msg_type=0, self_discard=False, timeout=None, local_payload=None)``,
  ``send_private(private_name, payload, ...)``, ``close()``, ``.private_name``. Commands
  are queued in call order and run on the daemon thread; at most ``send_queue``
  multicasts per client may wait there, beyond that ``multicast`` raises
  ``Backpressure`` (or waits up to ``timeout``). Argument errors raise
  ``LocalProtocolError`` in the caller; use after close raises ``SessionClosed``.
  Called ON the daemon thread (the ipc server does), nothing ever waits: a full send
  queue raises ``Backpressure`` at once whatever the timeout.
* Objects passed as ``local_payload`` reach only sinks with ``local_objects = True``
  (in-process sessions); other sinks get the encoded bytes (``ToClient.raw_payload``).
* ``daemon.loop`` offers ``add_reader``/``remove_reader``/``call_soon_threadsafe``/
  ``call_later`` for code running on the daemon thread.
* If ``robot_gcs.runtime.ipc`` exists and the daemon has a client address (config
  ``socket:``/``tcp:`` or the ``client_address``/``tcp_address`` arguments), one
  ``IpcServer(daemon, address)`` per address is created (``daemon.ipc`` is the first);
  ``start()`` is called ON THE DAEMON THREAD before the loop runs (after the engine
  started); ``close()`` on the daemon thread when stopping, before clients are
  disconnected.
* ``loop.add_writer``/``remove_writer`` exist too (same fd may have a reader).
* ``statistics()`` -> ``DaemonStats`` (runtime/stats.py), built on the daemon thread.
* ``on_membership`` (attribute): called on the daemon thread with each ``MembershipEvent``;
  ``wait_members(n or names, timeout)`` blocks until such a ring is installed.
* Health (diagnostics/): unless ``health=False``, ``start()`` starts a
  ``HealthPublisher`` (one in-process session "diag", silent until a console listens)
  and ``stop()`` closes it first; ``health()`` returns the health model.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import logging
import os
import random
import sys
import threading
import time
import weakref
from collections import deque
from typing import Any, Callable, Protocol

from ..client.session import check_client_name
from ..config import DaemonEntry, GcsConfig, load_config
from ..core.actions import (BROADCAST_ALL, BROADCAST_RING, CancelTimer, Deliver,
                            DeliverConfig, Persist, Send, SetTimer)
from ..core.types import TimerId
from ..errors import Backpressure, ConfigError, GcsError, LocalProtocolError, SessionClosed
from .clients import ClientHandle
from .loop import EventLoop, LagStats, TimerHandle
from .state import StateStore
from .stats import DaemonStats, MembershipEvent, MembershipLog, build_stats
from .transport import UdpTransport

log = logging.getLogger(__name__)

__all__ = ["Daemon", "ClientHandle", "Sink", "default_engine_factory"]


class Sink(Protocol):
    def push(self, event: Any) -> bool: ...


EngineFactory = Callable[[GcsConfig, DaemonEntry, int, "int | None", int], Any]


def default_engine_factory(config: GcsConfig, me: DaemonEntry, incarnation: int,
                           ring_seq: int | None, seed: int) -> Any:
    """The real engines: core Engine wrapped in the GroupEngine."""
    from ..core.engine import Engine
    from ..core.groups import GroupEngine
    engine = Engine(config.engine_config(), int(me.node_id), incarnation, ring_seq, seed)
    return GroupEngine(engine, config.names())


def _to_client_type() -> type | None:
    try:
        from ..core import groups
    except ImportError:
        return None
    return getattr(groups, "ToClient", None)


class Daemon:
    """An embedded group-communication daemon (a thread of the host program)."""

    def __init__(self, config: GcsConfig, name: str, *, state_dir: str | None = None,
                 client_address: str | None = None, tcp_address: str | None = None,
                 serve_clients: bool = True,
                 engine_factory: EngineFactory | None = None, seed: int | None = None,
                 clock: Callable[[], float] = time.monotonic, health: bool = True) -> None:
        self.config = config
        self.entry = config.daemon(name)
        self.name = name
        self.node_id = int(self.entry.node_id)
        self.client_address = client_address or self.entry.socket
        self.tcp_address = tcp_address or self.entry.tcp
        self._serve_clients = serve_clients
        self._factory = engine_factory or default_engine_factory
        self._seed = seed if seed is not None else random.SystemRandom().getrandbits(32)
        self._clock = clock
        self._state = StateStore(state_dir if state_dir is not None else config.ring.state_dir,
                                 config.ring.name, name)
        self.loop = EventLoop(clock)
        self.transport = UdpTransport(config, self.entry)
        self.engine: Any = None
        self.ipc: Any = None                   # the first (configured `socket:`) server
        self.ipc_servers: list[Any] = []
        self.incarnation = 0
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._timers: dict[TimerId, TimerHandle] = {}
        # engine deadline per armed timer; the loop handle may fire earlier (a later
        # deadline re-uses the pending handle) and is then re-armed, see _on_timer
        self._deadlines: dict[TimerId, float] = {}
        self._timer_cbs: dict[TimerId, Callable[[], None]] = {
            t: functools.partial(self._on_timer, t) for t in TimerId}
        self._clients: dict[str, ClientHandle] = {}
        self._clients_lock = threading.Lock()
        self._cmds: deque[tuple[ClientHandle, str, tuple[Any, ...]]] = deque()
        self._drain_scheduled = False
        self._engine_blocked = False
        self._exec_depth = 0
        self._deferred_detach: deque[tuple[ClientHandle, str]] = deque()
        self._stopping = False
        self._stopped = threading.Event()
        self._leave_timer: TimerHandle | None = None
        self._start_time = 0.0
        self._membership = MembershipLog(config.names())
        self._to_client: type | None = None
        self.engine_errors = 0
        self.sessions_detached = 0
        self.undeliverable = 0
        self._last_stats: DaemonStats | None = None
        self._stat_waiters: list[threading.Event] = []
        self._ring_cond = threading.Condition()
        self._ring_members: tuple[str, ...] = ()
        # called on the daemon thread for each installed regular configuration
        self.on_membership: Callable[[MembershipEvent], None] | None = None
        self._health_enabled = health
        self._health_pub: Any = None
        self._at_exit: Callable[[], None] | None = None

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], name: str, **kw: Any) -> "Daemon":
        return cls(load_config(path), name, **kw)

    # ------------------------------------------------------------ life cycle

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopping

    def start(self, timeout: float = 10.0) -> "Daemon":
        """Bind the UDP socket(s), start the daemon thread; return once the engine runs."""
        if self._thread is not None:
            raise LocalProtocolError(f"daemon {self.name} was already started")
        sw = self.config.ring.runtime.switch_interval_ms
        if sw is not None:
            sys.setswitchinterval(sw / 1000.0)
        ring_seq = self._state.ring_seq
        try:
            self.incarnation = self._state.next_incarnation()
        except OSError as exc:
            raise ConfigError(f"cannot write daemon state in {os.path.dirname(str(self._state.path))}"
                              f": {exc.strerror}", self.config.path, None,
                              "ring.state_dir") from None
        self.transport.open()
        self._to_client = _to_client_type()
        try:
            self.engine = self._factory(self.config, self.entry, self.incarnation, ring_seq,
                                        self._seed)
        except BaseException:
            self.transport.close()
            raise
        for s in self.transport.sockets():
            self.loop.add_reader(s, functools.partial(self._on_readable, s))
        self._start_time = time.monotonic()
        self._thread = threading.Thread(target=self._thread_main, daemon=True,
                                        name=f"robot_gcs-{self.name}")
        self._thread.start()
        if not self._started.wait(timeout):
            raise GcsError(f"daemon {self.name} did not start within {timeout}s")
        if self._start_error is not None:
            raise self._start_error
        log.info("daemon %s (node %d, incarnation %d) listening on %s:%d", self.name,
                 self.node_id, self.incarnation, *self.transport.bound_address)
        if self._health_enabled:
            self._start_health()
        ref = weakref.ref(self)

        def at_exit() -> None:           # a program that forgets stop() still leaves cleanly
            d = ref()
            if d is not None and d.running:
                d.stop(timeout=2.0)

        self._at_exit = at_exit
        atexit.register(at_exit)
        return self

    def _start_health(self) -> None:
        try:
            from ..diagnostics.publisher import HealthPublisher
        except ImportError:
            return
        try:
            period = self.config.ring.diagnostics_period_ms / 1000.0
            self._health_pub = HealthPublisher(self, period=period).start()
        except Exception:
            log.exception("health publisher of %s did not start", self.name)
            self._health_pub = None

    def health(self) -> Any:
        """The diagnostics health model as seen from this daemon (diagnostics/)."""
        from ..diagnostics import health_of
        return health_of(self)

    def _thread_main(self) -> None:
        try:
            now = self.loop.time()
            self._execute(self.engine.start(now))
            if self._serve_clients and (self.client_address or self.tcp_address):
                self._start_ipc()
        except BaseException as exc:   # report to start() and give up
            self._start_error = exc
            self._started.set()
            self.transport.close()
            self._stopped.set()
            return
        self._started.set()
        try:
            self.loop.run()
        finally:
            self._finish()

    def _start_ipc(self) -> None:
        try:
            from . import ipc  # type: ignore[attr-defined]
        except ImportError:
            log.info("no ipc module; %s serves in-process sessions only", self.name)
            return
        for address in (self.client_address, self.tcp_address):
            if address:
                server = ipc.IpcServer(self, address)
                server.start()
                self.ipc_servers.append(server)
        if self.ipc_servers:
            self.ipc = self.ipc_servers[0]

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect clients through the ring, leave the ring, join the thread."""
        if self._thread is None:
            return
        if self._at_exit is not None:
            atexit.unregister(self._at_exit)
            self._at_exit = None
        pub, self._health_pub = self._health_pub, None
        if pub is not None and threading.current_thread() is not self._thread:
            try:
                pub.close()
            except Exception:
                log.exception("closing the health publisher of %s", self.name)
        if not self._stopping and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._begin_stop)
        if threading.current_thread() is self._thread:
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("daemon %s did not stop within %ss; forcing", self.name, timeout)
            self.loop.stop()
            self._thread.join(timeout)

    def __enter__(self) -> "Daemon":
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _begin_stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        for server in self.ipc_servers:
            try:
                server.close()
            except Exception:
                log.exception("closing an ipc server of %s", self.name)
        if self._cmds:
            self._drain()          # queued sends and the ipc clients' disconnects go first
        now = self.loop.time()
        for name in sorted(self._clients):
            h = self._clients[name]
            self._detach(h, "daemon stopped", now)
        # give the G_KILLs a chance to be sequenced before we leave
        limit = self.config.ring.params.token_timeout
        self._leave_timer = self.loop.call_later(limit, self._leave_now)
        self._check_flushed()

    def _check_flushed(self) -> None:
        if not self._stopping or self._leave_timer is None:
            return
        try:
            queued = self._engine_stats().send_queue_len
        except Exception:
            queued = 0
        if queued == 0:
            self._leave_now()

    def _leave_now(self) -> None:
        if self._leave_timer is None:
            return
        self._leave_timer.cancel()
        self._leave_timer = None
        ge = self.engine
        now = self.loop.time()
        try:
            if hasattr(ge, "leave"):
                self._execute(ge.leave(now))
            else:      # GroupEngine without leave(): drive the wrapped ring engine
                self._execute(ge.on_engine_actions(now, ge.engine.leave(now)))
        except Exception:
            self.engine_errors += 1
            log.exception("engine.leave failed on %s", self.name)
        self.loop.stop()

    def _finish(self) -> None:
        self._stopping = True
        self._last_stats = self._build_stats()
        for t in self._timers.values():
            t.cancel()
        self._timers.clear()
        self._deadlines.clear()
        for h in list(self._clients.values()):
            h._mark_closed("daemon stopped")
            self._sink_closed(h, "daemon stopped")
        self._clients.clear()
        for h, _, _ in self._cmds:
            h._mark_closed("daemon stopped")
        self._cmds.clear()
        self.transport.close()
        self.loop.close()
        self._stopped.set()
        with self._clients_lock:           # statistics() callers get _last_stats now
            for ev in self._stat_waiters:
                ev.set()
            self._stat_waiters.clear()
        log.info("daemon %s stopped", self.name)

    def wait_stopped(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    # ------------------------------------------------------------ clients

    def attach_client(self, name: str, sink: Any) -> ClientHandle:
        """Register a client (any thread); events go to ``sink.push`` on the daemon thread."""
        check_client_name(name)
        if self._thread is None or self._stopping or self._stopped.is_set():
            raise SessionClosed(f"daemon {self.name} is not running")
        with self._clients_lock:
            if name in self._clients:
                raise LocalProtocolError(f"client name {name!r} is already in use on "
                                         f"daemon {self.name}")
            h = ClientHandle(self, name, sink, self.config.ring.runtime.send_queue)
            self._clients[name] = h
        self._post(h, "connect", ())
        return h

    def connect(self, name: str, queue_size: int | None = None) -> Any:
        """An in-process Session for client ``name`` (private name ``#name#daemon``)."""
        from ..client.inprocess import InProcessSession
        return InProcessSession(self, name, queue_size or self.config.ring.runtime.session_queue)

    def _post(self, h: ClientHandle, op: str, args: tuple[Any, ...]) -> None:
        if self._stopped.is_set():
            h._mark_closed("daemon stopped")
            return
        self._cmds.append((h, op, args))
        if not self._drain_scheduled:
            self._drain_scheduled = True
            self.loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self._drain_scheduled = False
        self._engine_blocked = False
        freed: dict[ClientHandle, int] = {}     # send-queue room, handed back per batch
        try:
            self._drain_cmds(freed)
        finally:
            for h, n in freed.items():
                h._release(n)

    def _drain_cmds(self, freed: dict[ClientHandle, int]) -> None:
        cmds = self._cmds
        ge = self.engine
        while cmds:
            h, op, args = cmds[0]
            now = self.loop.time()
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
                self._engine_blocked = True      # retried after the next packet or timer
                return
            except (LocalProtocolError, SessionClosed) as exc:
                actions = []
                log.warning("%s: %s refused: %s", h.private_name, op, exc)
            except Exception:
                actions = []
                self.engine_errors += 1
                log.exception("engine failed on %s from %s", op, h.private_name)
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

    # ------------------------------------------------------------ engine driving

    def _on_readable(self, sock: Any) -> None:
        ge = self.engine
        for data, addr in self.transport.receive(sock):
            try:
                actions = ge.handle_packet(self.loop.time(), addr, data)
            except Exception:
                self.engine_errors += 1
                log.exception("engine failed on a packet from %s", addr)
                continue
            self._execute(actions)
        self._after_engine()

    def _on_timer(self, tid: TimerId) -> None:
        self._timers.pop(tid, None)
        deadline = self._deadlines.get(tid)
        if deadline is None:
            return
        if deadline > self.loop.time():      # moved later while this handle was pending
            self._timers[tid] = self.loop.call_at(deadline, self._timer_cbs[tid])
            return
        del self._deadlines[tid]
        try:
            actions = self.engine.handle_timer(self.loop.time(), tid)
        except Exception:
            self.engine_errors += 1
            log.exception("engine failed on timer %s", tid)
            return
        self._execute(actions)
        self._after_engine()

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
        if not self._exec_depth:
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
                # re-arming later (TOKEN_LOSS on every visit) keeps the pending handle:
                # no heap push and cancelled entry per token visit
                tid = a.timer_id
                self._deadlines[tid] = a.deadline
                old = self._timers.get(tid)
                if old is None or old.when > a.deadline:
                    if old is not None:
                        old.cancel()
                    self._timers[tid] = self.loop.call_at(a.deadline, self._timer_cbs[tid])
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
            try:
                self.on_membership(ev)
            except Exception:
                log.exception("on_membership callback failed")

    # ------------------------------------------------------------ statistics

    def _engine_stats(self) -> Any:
        ge = self.engine
        fn = getattr(ge, "statistics", None)
        if fn is None or getattr(ge, "engine", None) is not None:
            fn = ge.engine.statistics
        return fn()

    def wait_members(self, members: int | tuple[str, ...], timeout: float | None = None) -> bool:
        """Wait until the installed ring has ``members`` (a count, or exactly these names).

        Returns False on timeout. For programs and tests that must not start before the
        ring is whole; it waits on the configuration event itself, never polls.
        """
        def ok() -> bool:
            cur = self._ring_members
            return len(cur) == members if isinstance(members, int) else cur == tuple(members)

        with self._ring_cond:
            return self._ring_cond.wait_for(ok, timeout)

    def membership_history(self) -> tuple[MembershipEvent, ...]:
        return self._membership.history()

    def _build_stats(self) -> DaemonStats:
        return build_stats(self)

    def statistics(self, timeout: float = 2.0) -> DaemonStats:
        """A frozen snapshot, built on the daemon thread (last one once stopped)."""
        if self._thread is None or not self._thread.is_alive() or self.loop.in_loop_thread():
            if self._last_stats is not None and not self.loop.in_loop_thread():
                return self._last_stats
            return self._build_stats()
        box: list[DaemonStats] = []
        done = threading.Event()

        def build() -> None:
            box.append(self._build_stats())
            done.set()

        with self._clients_lock:
            self._stat_waiters.append(done)
        self.loop.call_soon_threadsafe(build)
        if not self._stopped.is_set():
            done.wait(timeout)
        with self._clients_lock:
            if done in self._stat_waiters:
                self._stat_waiters.remove(done)
        if not box:
            if self._last_stats is not None:
                return self._last_stats
            raise GcsError(f"daemon {self.name} did not answer statistics() in {timeout}s")
        self._last_stats = box[0]
        return box[0]

    def lag(self) -> LagStats:
        return self.loop.lag.snapshot()
