"""Daemon: the facade that composes one ring member from small parts.

Theory of operation
-------------------
One ``Daemon`` is one ring member inside a host program. It composes (runtime/README.md
draws the picture):

* ``EventLoop`` (loop.py): the daemon thread's selector loop and the loop lock;
* ``UdpTransport`` (transport.py): the ring sockets;
* ``EngineHost`` (engine_host.py): the sans-IO engine (runtime/engine_port.py), its
  timers and the carrying out of its actions;
* ``ClientTable`` (client_table.py) and ``Commands`` (commands.py): attached clients and
  their commands, inline or queued;
* ``WaitingReader`` (waiting_reader.py): a session blocked in ``receive()`` serves the ring;
* ``MembershipLog`` (membership_log.py), ``StateStore`` (state.py), the socket servers
  (ipc.py) and the health publisher (diagnostics/).

The ownership rule (runtime/__init__.py) holds throughout: the engine and everything it
owns are touched only by the thread that holds the loop lock.

Life cycle (a Daemon starts once): ``start()`` binds the UDP socket(s) in the caller's
thread (a port clash raises there), creates the engine, starts the daemon thread and
returns once the engine has started. ``stop()`` (also ``with daemon:``, and at
interpreter exit) closes the socket servers, feeds the commands still queued,
disconnects every client through the ring (others see DISCONNECT views), waits until
the engine's send queue is empty (bounded by the token timeout), leaves the ring (the
others reconfigure at once) and joins the thread.

Public surface: ``connect(name)`` (an in-process Session), ``attach_client(name, sink)``
(for session carriers such as the socket server), ``statistics()``, ``health()``,
``membership_history()``, ``wait_members()``, ``lag()``, ``on_membership`` (called on the
daemon thread with each ``MembershipEvent``), ``loop`` (for code that runs on the daemon
thread: the socket servers), ``name``, ``node_id``, ``config``, ``incarnation``.
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
from typing import TYPE_CHECKING, Any, Callable

from ..client.inprocess import InProcessSession
from ..client.session import check_client_name
from ..config import GcsConfig, load_config
from ..errors import ConfigError, GcsError, LocalProtocolError, SessionClosed
from ..security.config import require_key
from .client_table import ClientTable, Sink
from .clients import ClientHandle
from .commands import Commands
from .engine_host import EngineHost
from .engine_port import EngineFactory, HostedEngine, default_engine_factory
from .interrupts import SHIELD
from .ipc import IpcServer
from .limits import IpcLimits
from .loop import EventLoop, LagStats
from .membership_log import MembershipEvent, MembershipLog
from .state import StateStore
from .stats import DaemonStats, SessionStats
from .transport import UdpTransport
from .waiting_reader import WaitingReader

if TYPE_CHECKING:
    from ..diagnostics.model import ClusterHealth
    from ..diagnostics.publisher import HealthPublisher

log = logging.getLogger(__name__)

__all__ = ["Daemon", "ClientHandle", "Sink", "default_engine_factory"]

NAME_WAIT = 5.0        # seconds connect() waits for a name whose old session is leaving


class Daemon:
    """An embedded group-communication daemon (a thread of the host program)."""

    def __init__(self, config: GcsConfig, name: str, *, state_dir: str | None = None,
                 client_address: str | None = None, tcp_address: str | None = None,
                 serve_clients: bool = True,
                 engine_factory: EngineFactory | None = None, seed: int | None = None,
                 clock: Callable[[], float] = time.monotonic, health: bool = True,
                 ipc_limits: IpcLimits | None = None) -> None:
        self.config = config
        self.entry = config.daemon(name)
        self.name = name
        self.node_id = int(self.entry.node_id)
        self.client_address = client_address or self.entry.socket
        self.tcp_address = tcp_address or self.entry.tcp
        self._serve_clients = serve_clients
        self._factory: EngineFactory = engine_factory or default_engine_factory
        self._seed = seed if seed is not None else random.SystemRandom().getrandbits(32)
        self._state = StateStore(state_dir if state_dir is not None else config.ring.state_dir,
                                 config.ring.name, name)
        self.loop = EventLoop(clock)
        self.transport = UdpTransport(config, self.entry)
        self._membership = MembershipLog(config.names())
        self._clients = ClientTable(name)
        self._host: EngineHost | None = None          # made by start()
        self._commands: Commands | None = None
        self._reader: WaitingReader | None = None
        self.ipc_servers: list[IpcServer] = []
        self._ipc_limits = ipc_limits          # None: runtime/limits.py defaults
        self.incarnation = 0
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._stopping = False
        self._stopped = threading.Event()
        self._leave_timer: Any = None
        self._start_time = 0.0
        self._last_stats: DaemonStats | None = None
        self._on_membership: Callable[[MembershipEvent], None] | None = None
        self._health_enabled = health
        self._health_pub: HealthPublisher | None = None
        self._at_exit: Callable[[], None] | None = None
        self._shielded = False

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], name: str, **kw: Any) -> "Daemon":
        return cls(load_config(path), name, **kw)

    # ------------------------------------------------------------ public surface

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopping

    @property
    def ipc(self) -> IpcServer | None:
        """The first socket server (config ``socket:``), or None."""
        return self.ipc_servers[0] if self.ipc_servers else None

    @property
    def on_membership(self) -> Callable[[MembershipEvent], None] | None:
        """Called on the daemon thread with each installed regular configuration."""
        return self._on_membership

    @on_membership.setter
    def on_membership(self, cb: Callable[[MembershipEvent], None] | None) -> None:
        self._on_membership = cb
        if self._host is not None:
            self._host.on_membership = cb

    def connect(self, name: str, queue_size: int | None = None, *,
                reads_ring: bool = True, name_wait: float = NAME_WAIT) -> InProcessSession:
        """An in-process Session for client ``name`` (private name ``#name#daemon``).

        ``reads_ring=False``: this session never becomes the daemon's waiting reader
        (runtime/waiting_reader.py) -- for sessions that mostly wait for a timeout
        (periodic publishers), so the role stays free for the latency-sensitive ones.
        A name whose previous session is still leaving its groups is waited for up to
        ``name_wait`` seconds (``ClientNameBusy`` after that).
        """
        return InProcessSession(self, name,
                                queue_size or self.config.ring.runtime.session_queue,
                                reads_ring=reads_ring, name_wait=name_wait)

    def attach_client(self, name: str, sink: Sink, wait: float = 0.0) -> ClientHandle:
        """Register a client (any thread); its events go to ``sink.push``, called by the
        engine lock holder. ``wait``: seconds to wait for a name that is still leaving
        (never on the daemon thread)."""
        check_client_name(name)
        commands = self._commands
        if commands is None or self._stopping or self._stopped.is_set():
            raise SessionClosed(f"daemon {self.name} is not running")
        if self.loop.holds_lock():
            wait = 0.0
        size = self.config.ring.runtime.send_queue
        biggest = self.config.ring.params.max_message_size
        h = self._clients.attach(name, lambda: ClientHandle(commands, self.name, name, sink,
                                                            size, biggest), wait)
        try:
            commands.post(h, "connect", (), None)
        except LocalProtocolError:
            h.mark_closed("connect refused")
            if self._clients.forget(h):
                self._clients.released(name)
            raise
        return h

    def wait_serving(self, sink: Any, client: str, timeout: float | None) -> float | None:
        """For in-process sessions: wait for ``sink`` while serving the ring
        (runtime/waiting_reader.py); returns the time left to wait on the sink alone."""
        reader = self._reader
        return timeout if reader is None else reader.wait_serving(sink, client, timeout)

    def statistics(self, timeout: float = 2.0) -> DaemonStats:
        """A frozen snapshot, built while holding the loop lock (the last one once stopped).

        Raises ``GcsError`` when the daemon thread does not let go of the lock within
        ``timeout`` seconds (it is stuck)."""
        if self.loop.holds_lock():
            return self._build_stats()
        if self._thread is None:
            return self._build_stats()            # never started: nothing runs
        if self.loop.enter(timeout):
            try:
                return self._build_stats()
            finally:
                self.loop.leave()
        if self._stopped.wait(timeout) and self._last_stats is not None:
            return self._last_stats               # stopped meanwhile (or before)
        raise GcsError(f"daemon {self.name} did not answer statistics() in {timeout}s")

    def membership_history(self) -> tuple[MembershipEvent, ...]:
        return self._membership.history()

    def wait_members(self, members: int | tuple[str, ...], timeout: float | None = None) -> bool:
        """Wait until the installed ring has ``members`` (a count, or exactly these names).

        Returns False on timeout. For programs and tests that must not start before the
        ring is whole; it waits on the configuration event itself, never polls.
        """
        return self._membership.wait_members(members, timeout)

    def lag(self) -> LagStats:
        return self.loop.lag.snapshot()

    def health(self) -> "ClusterHealth":
        """The diagnostics health model as seen from this daemon (diagnostics/)."""
        from ..diagnostics.publisher import health_of
        return health_of(self)

    # ------------------------------------------------------------ life cycle

    def start(self, timeout: float = 10.0) -> "Daemon":
        """Bind the UDP socket(s), start the daemon thread; return once the engine runs."""
        if self._thread is not None:
            raise LocalProtocolError(f"daemon {self.name} was already started")
        ring = self.config.ring
        require_key(ring.security, ring.key, self.config.path)
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
        try:
            self.transport.open()
        except OSError as exc:
            raise self._bind_error("address", f"{self.entry.host}:{self.entry.port}",
                                   exc.strerror or str(exc)) from None
        try:
            if ring.key is not None:
                from ..security.sealer import Sealer
                self.transport.sealer = Sealer(
                    (ring.key, *ring.accept_keys), self.config.cluster_id, self.node_id,
                    self.incarnation, (int(d.node_id) for d in self.config.daemons))
            engine = self._factory(self.config, self.entry, self.incarnation, ring_seq,
                                   self._seed)
        except BaseException:
            self.transport.close()
            raise
        self._compose(engine)
        self._start_time = time.monotonic()
        self._thread = threading.Thread(target=self._thread_main, daemon=True,
                                        name=f"robot_gcs-{self.name}")
        self._shielded = SHIELD.acquire()
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

    def _compose(self, engine: HostedEngine) -> None:
        runtime = self.config.ring.runtime
        host = EngineHost(engine, self.loop, self.transport, self._state, self._clients,
                          self._membership, self.name)
        host.on_membership = self._on_membership
        commands = Commands(host, self.loop, self._clients, runtime.inline_commands)
        host.after_input = self._after_input
        # a singleton ring has no datagrams worth waiting for
        self._reader = WaitingReader(host, self.loop, self.transport,
                                     runtime.inline_receive and len(self.config.daemons) > 1,
                                     lambda: self._stopping)
        self._host, self._commands = host, commands
        for sock in self.transport.sockets():
            self.loop.add_reader(sock, functools.partial(host.on_readable, sock))

    def _after_input(self) -> None:
        """Lock holder, after every engine input: resume a drain the engine's send queue
        stopped; when stopping, leave once everything is sent."""
        assert self._commands is not None
        self._commands.resume()
        if self._stopping and self._leave_timer is not None:
            self._check_flushed()

    def _start_health(self) -> None:
        from ..diagnostics.publisher import HealthPublisher
        try:
            period = self.config.ring.diagnostics_period_ms / 1000.0
            self._health_pub = HealthPublisher(self, period=period).start()
        except Exception:
            log.exception("health publisher of %s did not start", self.name)
            self._health_pub = None

    def _thread_main(self) -> None:
        assert self._host is not None
        try:               # before the loop runs, this thread alone touches the engine
            self._host.start()
            if self._serve_clients:
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
        for address, key, configured in ((self.client_address, "socket", self.entry.socket),
                                         (self.tcp_address, "tcp", self.entry.tcp)):
            if address:
                server = IpcServer(self, address, limits=self._ipc_limits)
                try:
                    server.start()
                except GcsError as exc:
                    if address != configured:        # given on the command line
                        raise
                    raise self._bind_error(key, address, str(exc)) from None
                self.ipc_servers.append(server)

    def _bind_error(self, key: str, address: str, problem: str) -> ConfigError:
        """A bind failure as a one-line error naming the address and its config line."""
        prefix = f"cannot serve sessions on {address}: "
        problem = problem[len(prefix):] if problem.startswith(prefix) else problem
        return ConfigError(f"cannot bind {address}: {problem}", self.config.path,
                           self.entry.line, f"daemons[{self.node_id - 1}].{key}")

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect clients through the ring, leave the ring, join the thread."""
        if self._thread is None:
            return
        if self._at_exit is not None:
            atexit.unregister(self._at_exit)
            self._at_exit = None
        if self._shielded:
            self._shielded = False
            SHIELD.release()
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
        """Daemon thread: end every client through the ring, then leave."""
        if self._stopping:
            return
        host, commands = self._host, self._commands
        assert host is not None and commands is not None
        self._stopping = True
        for server in self.ipc_servers:
            try:
                server.close()
            except Exception:
                log.exception("closing an ipc server of %s", self.name)
        commands.run_queue()          # queued sends and the socket clients' disconnects first
        for h in self._clients.snapshot():
            host.detach(h, "daemon stopped")
        host.settle()
        # give the G_KILLs a chance to be sequenced before we leave
        self._leave_timer = self.loop.call_later(self.config.ring.params.token_timeout,
                                                 self._leave_now)
        self._check_flushed()

    def _check_flushed(self) -> None:
        assert self._host is not None
        if self._host.engine.ring_statistics().send_queue_len == 0:
            self._leave_now()

    def _leave_now(self) -> None:
        timer, self._leave_timer = self._leave_timer, None
        if timer is None:
            return
        timer.cancel()
        host = self._host
        assert host is not None
        host.feed(host.engine.leave)
        host.cancel_timers()
        self.loop.stop()

    def _finish(self) -> None:
        """Daemon thread, after the loop ended: nobody else can take the lock now."""
        self._stopping = True
        self._last_stats = self._build_stats()
        host, commands = self._host, self._commands
        assert host is not None and commands is not None
        host.cancel_timers()
        commands.close("daemon stopped")
        for h in self._clients.close("daemon stopped"):
            if h.mark_closed("daemon stopped"):
                try:
                    h.sink.closed("daemon stopped")
                except Exception:
                    log.exception("sink of %s failed in closed()", h.private_name)
        self.transport.close()
        self.loop.close()
        self._stopped.set()
        log.info("daemon %s stopped", self.name)

    def wait_stopped(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    # ------------------------------------------------------------ statistics

    def _build_stats(self) -> DaemonStats:
        """Lock holder (or nobody running): one frozen snapshot."""
        host = self._host
        engine = host.engine if host is not None else None
        est = gst = None
        table: tuple[tuple[str, tuple[str, ...]], ...] = ()
        if engine is not None:
            try:
                est = engine.ring_statistics()
                gst = engine.statistics()
                table = engine.group_table()
            except Exception:
                log.exception("%s: engine statistics failed", self.name)
        sessions = tuple(
            SessionStats(h.name, h.private_name, h.sink.kind, h.sink.queue_depth(),
                         h.sink.high_water, h.delivered, h.sink.dropped, h.pending)
            for h in self._clients.snapshot())
        drops: dict[str, int] = {}
        for reason, n in est.drops if est is not None else ():
            drops[reason] = drops.get(reason, 0) + n
        for reason, n in gst.drops if gst is not None else ():
            drops["group_" + reason] = drops.get("group_" + reason, 0) + n
        tr = self.transport
        for reason, n in tr.errors.items():
            drops[reason] = drops.get(reason, 0) + n
        ipc = self.ipc.statistics() if self.ipc is not None else None
        return DaemonStats(
            name=self.name, node_id=self.node_id, ring=self.config.ring.name,
            running=self.running,
            uptime=time.monotonic() - self._start_time if self._start_time else 0.0,
            engine=est, groups=gst, group_table=table, ipc=ipc,
            loop_lag=self.loop.lag.snapshot(), loop_iterations=self.loop.iterations,
            callback_errors=self.loop.callback_errors,
            engine_errors=host.engine_errors if host is not None else 0,
            sessions=sessions,
            sessions_detached=host.sessions_detached if host is not None else 0,
            dropped_packets=tuple(sorted(drops.items())), packets_in=tr.recv_packets,
            packets_out=tr.sent_packets, bytes_in=tr.recv_bytes, bytes_out=tr.sent_bytes,
            membership=self._membership.history(), switch_interval=sys.getswitchinterval(),
            inline_commands=self._commands.inline_runs if self._commands is not None else 0,
            reply_holds=est.reply_holds if est is not None else 0,
            reply_hits=est.reply_hits if est is not None else 0,
            reader_serves=self._reader.serves if self._reader is not None else 0,
            undeliverable=host.undeliverable if host is not None else 0)
