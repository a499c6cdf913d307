"""WaitingReader: a session thread blocked in ``receive()`` reads the ring itself.

Theory of operation
-------------------
Without it, a datagram meant for a local client wakes two threads one after the other:
the kernel wakes the daemon thread, which feeds the engine and pushes the event to the
session's queue, which wakes the session thread. Where waking a thread on another CPU
costs tens of microseconds (any VM, most idle laptops), that second wake-up is a large
part of an AGREED round trip between two daemons.

So an in-process session that finds its queue empty (client/inprocess.py) does not just
sleep on it: it waits in its own ``epoll`` on the ring sockets *and* on its sink's
eventfd. A datagram wakes it; it takes the loop lock, becoming the engine's lock holder
(runtime/README.md), and runs the input itself (``EngineHost.on_readable``), so its own
events are in its queue when it returns: no hand-off. Events that other lock holders
produce meanwhile are pushed as usual; a push writes the sink's eventfd while a reader
waits, which wakes it.

Rules that keep this equal to the daemon thread doing the work:

* It runs engine code only while it holds the loop lock, and settles before letting go,
  like every lock holder.
* One waiting reader at a time per daemon (``_slot``, taken without blocking); the others
  sleep on their queues as before. The first session to wait gets the role, so sessions
  that mostly wait for a timeout (the health publisher) are made with
  ``connect(name, reads_ring=False)`` and leave it to the application's sessions.
* While a reader waits, the daemon thread stops watching the ring sockets
  (``RingWatch.mute``), so a datagram wakes one thread, not two competing for the GIL;
  the reader gives them back (``RingWatch.unmute``) before ``receive()`` returns. Both
  are kernel calls on the ring watch's own epoll and take no lock (ring_watch.py).
* Waiting is an engine input (``client_waiting``): a token the engine holds for this
  client's reply (core/reply_window.py) goes on at once -- the client is a subscriber,
  not a server -- both when it starts to wait and when it waits on after a read.
* A stopping or stopped daemon is never served: the reader falls back to its queue,
  which ends with the close marker.

Owner: ``_slot`` serialises readers; ``serves`` is counted by the slot holder, which is
also the only thread that mutes and unmutes the ring sockets.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from .engine_host import EngineHost
from .loop import EventLoop
from .ring_watch import RingWatch
from .transport import UdpTransport

__all__ = ["WaitingReader"]


class WaitingReader:
    """Serve the ring from a session thread blocked in ``receive()``."""

    def __init__(self, host: EngineHost, loop: EventLoop, watch: RingWatch,
                 transport: UdpTransport, enabled: bool, stopping: Callable[[], bool]) -> None:
        self._host = host
        self._loop = loop
        self._watch = watch
        self._transport = transport
        self._enabled = enabled
        self._stopping = stopping
        self._slot = threading.Lock()
        self.serves = 0                  # datagram batches served by waiting sessions

    @property
    def busy(self) -> bool:
        """A session is the waiting reader now."""
        return self._slot.locked()

    def wait_serving(self, sink: Any, client: str, timeout: float | None) -> float | None:
        """Wait until ``sink`` holds an event, serving the ring sockets meanwhile.

        Returns the time still left to wait on the sink alone (0.0 once it has an event
        or the time is up; the given timeout when this thread cannot serve).
        """
        if not self._enabled or not self._slot.acquire(blocking=False):
            return timeout
        sink.reader_active = True
        try:
            return self._serve_until(sink, client, timeout)
        finally:
            sink.reader_active = False
            self._slot.release()
            if sink.closed_reason is not None:
                sink.release_poller()

    def _serve_until(self, sink: Any, client: str, timeout: float | None) -> float | None:
        loop = self._loop
        host = self._host
        started = time.monotonic()
        if not loop.enter(timeout):            # the daemon thread finishes what it does
            return timeout if not loop.running else 0.0    # stopped / the time is up
        if timeout is not None:                # (its events are in the queue by then)
            timeout = max(0.0, timeout - (time.monotonic() - started))
        try:                                   # (under the lock the sockets stay open)
            if self._stopping():
                return timeout
            socks = self._transport.sockets()
            poller = sink.reader_poller(socks)
            if poller is None:
                return timeout
            self._waiting(client)
            if sink.has_events():
                return 0.0
        finally:
            loop.leave()
        self._watch.mute(socks)                # from now on only this thread wakes on them
        by_fd = {s.fileno(): s for s in socks}
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                remaining = None if deadline is None else deadline - time.monotonic()
                sink.waiting = True            # pushes from now on write the eventfd
                try:
                    if sink.has_events() or (remaining is not None and remaining <= 0):
                        return 0.0
                    ready = poller.poll(-1 if remaining is None else remaining)
                finally:
                    sink.waiting = False
                readable = [by_fd[fd] for fd, _ in ready if fd in by_fd]
                if len(readable) < len(ready):
                    sink.drain_signal()        # the eventfd was written
                if not readable:
                    continue
                if not loop.enter(remaining):
                    return remaining           # the loop ended (or the time is up)
                try:
                    if not self._stopping():
                        self.serves += 1
                        sink.ring_reads += 1
                        for s in readable:
                            host.on_readable(s)
                    done = self._stopping() or sink.has_events()
                    if not done:                # nothing for us: we wait on, no reply
                        self._waiting(client)
                finally:
                    loop.leave()
                if done:
                    return 0.0 if sink.has_events() else remaining
        finally:
            self._watch.unmute(socks)          # no lock: ring_watch.py

    def _waiting(self, client: str) -> None:
        """Lock held: tell the engine this client waits, when a token is kept for its
        reply (the token goes on); otherwise there is nothing to tell."""
        host = self._host
        if not host.engine.waits_for(client):
            return
        try:
            host.feed(host.engine.client_waiting, client)
        finally:
            host.settle()

