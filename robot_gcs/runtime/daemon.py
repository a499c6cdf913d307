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

Code layout: this module holds the life cycle; ``Daemon`` mixes in the client
plumbing (runtime/client_plumbing.py: attach, command queue, sinks, detach), the engine
driver (runtime/engine_driver.py: packets, timers, carrying out actions), the waiting
reader (runtime/waiting_reader.py: a session blocked in receive() reads the ring) and the
queries (runtime/daemon_queries.py: statistics, membership waits). All state is
created in ``Daemon.__init__``.

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

from ..config import DaemonEntry, GcsConfig, load_config
from ..core.types import TimerId
from ..errors import ConfigError, GcsError, LocalProtocolError
from .client_plumbing import ClientPlumbing
from .clients import ClientHandle
from .daemon_queries import DaemonQueries
from .engine_driver import EngineDriver
from .loop import EventLoop, TimerHandle
from .reply_window import ReplyWindow
from .state import StateStore
from .stats import DaemonStats, MembershipEvent, MembershipLog
from .transport import UdpTransport
from .waiting_reader import WaitingReader

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


class Daemon(ClientPlumbing, EngineDriver, WaitingReader, DaemonQueries):
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
        self._inline_ok = config.ring.runtime.inline_commands
        self.inline_commands = 0               # client commands the caller's thread ran
        self._inline_due: list[TimerId] | None = None   # while running inline: due timers
        # a singleton ring has no datagrams worth waiting for (runtime/waiting_reader.py)
        self._reader_ok = config.ring.runtime.inline_receive and len(config.daemons) > 1
        self._reader_slot = threading.Lock()    # one waiting reader serves at a time
        self.reader_serves = 0                 # ring reads done by a waiting session
        self._reply = ReplyWindow(config.ring.runtime.reply_window_us / 1e6)
        self._held_token: tuple[bytes, Any] | None = None   # see runtime/reply_window.py
        self._held_timer: TimerHandle | None = None
        self._reply_tick: TimerHandle | None = None   # engine_driver.py REPLY_TICK
        self._last_hold = 0.0
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
