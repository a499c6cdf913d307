"""Resource limits of the socket server: what a hostile or broken client may cost a daemon.

Theory of operation
-------------------
The socket server (runtime/ipc.py) serves clients it cannot trust to finish a frame, to
read what it sends, to stay alive, or to leave file descriptors for others. This module
holds the bounds and the three small guards that enforce them, so the server itself only
calls them at its few decision points:

* ``IpcLimits`` -- the numbers, one frozen value (README "Limits" lists them with what
  happens at each). A ``Daemon`` takes one (``ipc_limits=``); tests shrink them.
* ``AcceptGuard`` -- accepting. At the listener's limit (``max_connections`` open) a new
  connection is answered CLOSED(refused) and closed. When ``accept`` fails for lack of
  descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) the listening socket stays
  readable, so polling it again would spin: the guard stops polling the listener for a
  back-off that doubles from ``accept_backoff`` up to ``accept_backoff_max``, logs the
  first failure of an episode once (and, when accepting works again, how many failed),
  and counts episodes and failures.
* ``InputBudget`` -- unfinished frames. A connection's decoder holds at most one frame
  plus one read (``max_frame`` + 64 KiB: the decoder checks a frame's length before
  buffering its body); the budget bounds the sum over all connections by
  ``max_input_total`` and the age of every unfinished frame by ``frame_timeout``
  (counted from the last completed frame of that connection, so a slow trickle cannot
  hold memory forever). A connection over either bound is ended by the server with a
  reason; one sweep timer runs while any frame is unfinished.
* ``OutputBudget`` -- the bytes queued for clients that have not read them yet, summed
  over all connections and bounded by ``max_output_total`` (each connection also has its
  own ``max_buffer``). A push that would pass it ends the client holding the most unread
  bytes ("client stopped reading"; its unsent events are dropped at once so the memory
  comes back, and CLOSED follows the frame being written) -- never a reader that merely
  has this loop iteration's events waiting for the end-of-iteration write.
* ``SharedQuota`` -- the daemon's group-membership quota (core/group_limits.py) as seen
  by its client handles, so a join over the per-client or per-daemon limit raises in the
  caller's thread before it is queued (the engine checks again; its refusal of a queued
  command could only end the session).
* ``set_keepalive(sock, limits)`` -- TCP clients: kernel keepalive probes after
  ``keepalive_idle`` seconds of silence, every ``keepalive_interval``, ``keepalive_count``
  of them, and ``TCP_USER_TIMEOUT`` for data left unacknowledged as long: a client whose
  link died silently is reset, the server sees the error and detaches it (its groups
  see DISCONNECT). Unix socket peers cannot vanish that way.

Owner: ``SharedQuota`` is shared by the client handles of one daemon and guarded by its
own lock (any thread). Every other guard belongs to one ``IpcServer`` and is touched only by the code that
runs the server (the daemon thread, or the engine lock holder for pushes), like the
server itself.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
from dataclasses import dataclass
from typing import Callable, Protocol

from ..core.group_limits import GroupLimits, GroupQuota
from .loop import EventLoop, TimerHandle

log = logging.getLogger(__name__)

__all__ = ["IpcLimits", "LimitStats", "AcceptGuard", "InputBudget", "OutputBudget",
           "SharedQuota", "set_keepalive", "limit_stats"]

RESOURCE_ERRNOS = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))


@dataclass(frozen=True, slots=True)
class LimitStats:
    """What the guards of one server did (part of ``IpcStats``)."""

    accept_failures: int              # accept() calls that failed for resources
    accept_pauses: int                # episodes of a paused listener
    full_refusals: int                # connections refused at max_connections
    input_buffered: int               # unfinished-frame bytes now, all connections
    input_high_water: int
    input_timeouts: int               # connections ended for a frame never finished
    input_over_total: int             # connections ended for max_input_total
    output_buffered: int              # unread event bytes now, all connections
    output_high_water: int
    output_refusals: int              # pushes refused for max_output_total


@dataclass(frozen=True, slots=True)
class IpcLimits:
    """Bounds of one socket server (see README "Limits")."""

    max_connections: int = 256            # open connections per listener
    max_input_total: int = 32 << 20       # unfinished-frame bytes over all connections
    max_output_total: int = 64 << 20      # unread event bytes over all connections
    frame_timeout: float = 30.0           # an unfinished frame must complete within this
    hello_timeout: float = 10.0           # ... and the HELLO within this of the accept
    keepalive_idle: float = 10.0          # TCP: first probe after this much silence
    keepalive_interval: float = 2.0       # ... then one every this many seconds
    keepalive_count: int = 3              # ... and the connection is dead after this many
    accept_backoff: float = 0.05          # first pause of the listener at EMFILE
    accept_backoff_max: float = 1.0       # longest pause

    def __post_init__(self) -> None:
        for name in self.__slots__:
            value = getattr(self, name)
            if not 0 < value < float("inf"):
                raise ValueError(f"IpcLimits.{name} must be positive and finite, got {value!r}")


def set_keepalive(sock: socket.socket, limits: IpcLimits) -> None:
    """TCP keepalive and user timeout on an accepted TCP socket (best effort per option)."""
    idle = max(1, int(limits.keepalive_idle))
    interval = max(1, int(limits.keepalive_interval))
    opts = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (("TCP_KEEPIDLE", idle), ("TCP_KEEPINTVL", interval),
                        ("TCP_KEEPCNT", limits.keepalive_count),
                        ("TCP_USER_TIMEOUT",
                         1000 * (idle + interval * limits.keepalive_count))):
        opt = getattr(socket, name, None)
        if opt is not None:
            opts.append((socket.IPPROTO_TCP, opt, value))
    for level, opt, value in opts:
        try:
            sock.setsockopt(level, opt, value)
        except OSError:                   # not on this platform: the others still help
            pass


class AcceptGuard:
    """Admission and EMFILE back-off for one listener (see the module docstring)."""

    def __init__(self, loop: EventLoop, limits: IpcLimits, where: str,
                 pause: Callable[[], None], resume: Callable[[], None]) -> None:
        self._loop = loop
        self._limits = limits
        self._where = where
        self._pause, self._resume = pause, resume
        self._delay = 0.0
        self._timer: TimerHandle | None = None
        self.failures = 0             # accept() calls that failed for resources
        self.episodes = 0             # times the listener was paused for them
        self._episode_failures = 0
        self.full_refusals = 0        # connections refused at max_connections

    @property
    def paused(self) -> bool:
        return self._timer is not None

    def admit(self, open_now: int) -> bool:
        """A connection was accepted; False: refuse it (``max_connections`` open)."""
        if self._episode_failures:
            log.warning("%s: accepting connections again after %d failed attempts",
                        self._where, self._episode_failures)
            self._episode_failures = 0
        self._delay = 0.0
        if open_now >= self._limits.max_connections:
            self.full_refusals += 1
            if self.full_refusals == 1 or self.full_refusals % 1000 == 0:
                log.warning("%s: %d connections open (the limit); refusing new ones "
                            "(%d refused so far)", self._where, open_now, self.full_refusals)
            return False
        return True

    def failed(self, exc: OSError) -> None:
        """``accept`` raised: pause the listener if it is out of resources (else log)."""
        if exc.errno not in RESOURCE_ERRNOS:
            log.warning("%s: accept failed: %s", self._where, exc)
            return
        self.failures += 1
        self._episode_failures += 1
        if self._episode_failures == 1:
            self.episodes += 1
            log.warning("%s: cannot accept connections: %s; pausing the listener (logged "
                        "once until accepting works again)", self._where, exc)
        lim = self._limits
        self._delay = min(lim.accept_backoff_max, max(lim.accept_backoff, self._delay * 2))
        if self._timer is None:
            self._pause()
            self._timer = self._loop.call_later(self._delay, self._wake)

    def _wake(self) -> None:
        self._timer = None
        self._resume()

    def close(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()


class Unfinished(Protocol):
    """A connection as the input budget sees it (runtime/ipc_connection.py ``Connection``)."""

    def shut(self, reason: str, linger: bool) -> None: ...


class InputBudget:
    """Unfinished-frame bytes and ages over all connections (see the module docstring)."""

    def __init__(self, loop: EventLoop, limits: IpcLimits) -> None:
        self._loop = loop
        self._limits = limits
        self._held: dict[Unfinished, tuple[int, float]] = {}   # conn -> (bytes, since)
        self.total = 0
        self.high_water = 0
        self.over_total = 0            # connections ended for the total
        self.timeouts = 0              # connections ended for a frame that never finished
        self._sweep: TimerHandle | None = None

    def update(self, conn: Unfinished, buffered: int, progressed: bool) -> bool:
        """After a read: ``buffered`` bytes wait for the rest of a frame; ``progressed``:
        a frame completed in this read. False: the total is over its bound (end ``conn``)."""
        old, since = self._held.pop(conn, (0, 0.0))
        self.total -= old
        if buffered <= 0:
            return True
        if progressed or not old:
            since = self._loop.time()
        self._held[conn] = (buffered, since)
        self.total += buffered
        self.high_water = max(self.high_water, self.total)
        if self._sweep is None:
            self._sweep = self._loop.call_later(self._period(), self._check_ages)
        if self.total > self._limits.max_input_total:
            self.over_total += 1
            return False
        return True

    def forget(self, conn: Unfinished) -> None:
        old, _ = self._held.pop(conn, (0, 0.0))
        self.total -= old

    def _period(self) -> float:
        return max(0.02, self._limits.frame_timeout / 4)

    def _check_ages(self) -> None:
        self._sweep = None
        limit = self._limits.frame_timeout
        oldest = self._loop.time() - limit
        for conn, (_n, since) in list(self._held.items()):
            if since <= oldest:
                self.timeouts += 1
                self.forget(conn)
                conn.shut(f"protocol error: a frame stayed unfinished for {limit:g} s",
                          linger=False)
        if self._held:
            self._sweep = self._loop.call_later(self._period(), self._check_ages)

    def close(self) -> None:
        sweep, self._sweep = self._sweep, None
        if sweep is not None:
            sweep.cancel()
        self._held.clear()
        self.total = 0


class OutputBudget:
    """Unread event bytes over all connections."""

    def __init__(self, limits: IpcLimits) -> None:
        self.limit = limits.max_output_total
        self.total = 0
        self.high_water = 0
        self.refusals = 0

    def room(self, n: int) -> bool:
        if self.total + n > self.limit:
            self.refusals += 1
            return False
        return True

    def add(self, n: int) -> None:
        self.total += n
        if self.total > self.high_water:
            self.high_water = self.total

    def sub(self, n: int) -> None:
        self.total -= n



def limit_stats(accept: AcceptGuard, inp: InputBudget, out: OutputBudget) -> LimitStats:
    return LimitStats(accept.failures, accept.episodes, accept.full_refusals, inp.total,
                      inp.high_water, inp.timeouts, inp.over_total, out.total,
                      out.high_water, out.refusals)


class SharedQuota:
    """A ``GroupQuota`` any client thread may use (one lock)."""

    def __init__(self, limits: GroupLimits) -> None:
        self._lock = threading.Lock()
        self._quota = GroupQuota(limits)

    def join(self, client: str, group: str) -> bool:
        """Count ``group`` for ``client`` (True if it was new); raises over a limit."""
        with self._lock:
            had = self._quota.count(client)
            self._quota.join(client, group)
            return self._quota.count(client) > had

    def leave(self, client: str, group: str) -> None:
        with self._lock:
            self._quota.leave(client, group)

    def drop(self, client: str) -> None:
        with self._lock:
            self._quota.drop(client)

    @property
    def total(self) -> int:
        return self._quota.total
