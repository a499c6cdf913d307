"""WaitingReader: a session thread blocked in ``receive()`` reads the ring itself.

Theory of operation
-------------------
A mixin of ``Daemon`` (runtime/daemon.py). Without it, a datagram meant for a local
client wakes two threads one after the other: the kernel wakes the daemon thread, which
feeds the engine and pushes the event to the session's queue, which wakes the session
thread. On a machine where waking a thread on another CPU costs tens of microseconds
(any VM, most idle laptops), that second wake-up is a large part of an AGREED round
trip between two daemons.

So an in-process session that finds its queue empty does not just sleep on it: it waits
in its own ``epoll`` on the ring sockets *and* on its sink's eventfd (runtime side of
``client/inprocess.py``'s ``QueueSink``). A datagram wakes it; it takes the loop lock
(runtime/loop.py), reads the socket and runs the engine, so its own events are in its
queue when it returns: no hand-off. Events that the daemon thread produces meanwhile
(timers, other sessions' commands) are pushed as usual; the push writes the sink's
eventfd while a reader waits, which wakes it.

Rules that keep this equal to the daemon thread doing the work:

* The session thread runs engine code only while it holds the loop lock, like an inline
  command (caller-runs); engine timers that come due meanwhile run through the same
  ``_inline_due`` path, and anything that must stay on the daemon thread (detaching a
  client, ``on_membership``) is handed to it there.
* One waiting reader at a time per daemon (a slot taken without blocking); the others
  sleep on their queues as before. The first session to wait gets the role, so sessions
  that mostly wait for a timeout (the health publisher) are made with
  ``connect(name, reads_ring=False)`` and leave it to the application's sessions.
* While a reader waits, the daemon thread stops watching the ring sockets (the loop's
  ``mute_reader``), so a datagram wakes one thread, not two competing for the GIL; the
  reader gives them back (``unmute_reader``) before ``receive()`` returns.
* A stopping or stopped daemon is never served: the reader falls back to its queue,
  which ends with the close marker.
* A session that waits while a token is held for its reply (it was the only one handed
  data; it came back to wait, or the token came while it waited) has no reply to send:
  the token goes on at once (runtime/reply_window.py), so a subscriber does not hold up
  the ring.
* ``_on_readable`` ignores an empty read (a stale wake-up after the sockets changed
  hands), so it changes nothing -- in particular it does not release a token held by
  the reply window.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from ..core.types import TimerId

__all__ = ["WaitingReader"]


class WaitingReader:
    """Serve the ring from a session thread blocked in ``receive()`` (state: Daemon)."""

    loop: Any
    transport: Any
    _stopping: bool
    _inline_due: list[TimerId] | None
    _fire_due_inline: Callable[..., None]
    _on_readable: Callable[[Any], None]
    _release_held_for_waiter: Callable[[Any], None]
    _reader_slot: threading.Lock
    _reader_ok: bool
    reader_serves: int

    def wait_serving(self, sink: Any, timeout: float | None) -> float | None:
        """Wait until ``sink`` holds an event, serving the ring sockets meanwhile.

        Returns the time still left to wait on the sink alone (0.0 once it has an event
        or the time is up; the given timeout when this thread cannot serve).
        """
        if not self._reader_ok or not self._reader_slot.acquire(blocking=False):
            return timeout
        sink.reader_active = True
        try:
            return self._serve_until(sink, timeout)
        finally:
            sink.reader_active = False
            self._reader_slot.release()
            if sink.closed_reason is not None:
                sink.release_poller()

    def _serve_until(self, sink: Any, timeout: float | None) -> float | None:
        loop = self.loop
        if not loop.try_enter():
            return timeout                     # the daemon thread is busy: it delivers
        try:                                   # (under the lock the sockets stay open)
            if self._stopping:
                return timeout
            socks = self.transport.sockets()
            poller = sink.reader_poller(socks)
            if poller is None:
                return timeout
            self._release_held_for_waiter(sink)
            if sink.has_events():
                return 0.0
            for s in socks:                    # from now on only this thread wakes on them
                loop.mute_reader(s)
        finally:
            loop.leave()
        muted = True
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
                    self._serve(readable)
                    sink.ring_reads += 1
                    if self._stopping or sink.has_events():
                        self._unmute(socks)
                        muted = False
                    else:                       # a token held for us, who wait already
                        self._release_held_for_waiter(sink)
                finally:
                    loop.leave()
                if not muted:
                    return 0.0 if sink.has_events() else remaining
        finally:
            if muted:
                if loop.try_enter():
                    try:
                        self._unmute(socks)
                    finally:
                        loop.leave()
                else:                          # never block here: the loop does it
                    loop.call_soon_threadsafe(lambda: self._unmute(socks))

    def _unmute(self, socks: list[Any]) -> None:
        for s in socks:
            self.loop.unmute_reader(s)

    def _serve(self, readable: list[Any]) -> None:
        if self._stopping:
            return
        self.reader_serves += 1
        self._inline_due = []
        try:
            for s in readable:
                self._on_readable(s)
        finally:
            self._fire_due_inline()
