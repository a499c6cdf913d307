"""RingWatch: the ring sockets as the daemon loop sees them, mutable without the loop lock.

Theory of operation
-------------------
While a session waits in ``receive()`` and serves the ring itself (waiting_reader.py),
the daemon thread must not wake for the ring sockets too: two threads woken by one
datagram compete for the GIL. Muting used to unregister the sockets from the loop's
selector and register them again afterwards, which is loop-owned Python state and so
needed the loop lock at both ends of every wait, and Python-level selector bookkeeping
(a key object per register) on every ``receive()``.

Here the ring sockets live in an epoll of their own; the loop's selector watches only
that epoll's fd, registered once. ``mute``/``unmute`` change the sockets' event masks in
it (``epoll_ctl``; 0 = not watched): one system call per socket, which the kernel
serialises against the loop's ``epoll_wait`` -- so they need no lock. When the loop's
selector reports the epoll ready, the lock holder (the daemon thread in a callback) polls
it without waiting and runs each ready socket's callback.

A race is harmless: a datagram that became readable just before ``mute`` may still wake
the daemon thread, and a reader and the daemon thread may both try to read one socket.
Each reads only under the loop lock (``EngineHost.on_readable``), so each datagram is
read by one of them; the other finds the socket empty.

Where ``select.epoll`` does not exist, the sockets are registered with the loop directly
and ``mute``/``unmute`` do nothing: the waiting reader cannot wait there anyway (its
sink needs epoll and eventfd, client/inprocess.py).

Owner: ``add`` and ``close`` run on the loop's owner (before the loop runs, or the lock
holder); the callbacks run on the lock holder; ``mute``/``unmute`` change only the
kernel's event masks and may run on any thread -- the waiting reader's slot holder
calls them (runtime/README.md).
"""

from __future__ import annotations

import select
from typing import Any, Callable

from .loop import EventLoop

__all__ = ["RingWatch"]

_IN = getattr(select, "EPOLLIN", 1)


class _Fd:
    """A file object for a bare fd (the selectors module wants ``fileno()``)."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd


class RingWatch:
    """The ring sockets' epoll, watched by one loop registration."""

    def __init__(self, loop: EventLoop) -> None:
        self._loop = loop
        self._ep: Any = select.epoll() if hasattr(select, "epoll") else None
        self._callbacks: dict[int, Callable[[], object]] = {}
        self._fileobj: _Fd | None = None
        if self._ep is not None:
            self._fileobj = _Fd(self._ep.fileno())
            loop.add_reader(self._fileobj, self._on_ready)

    def add(self, sock: Any, callback: Callable[[], object]) -> None:
        """Watch ``sock``; ``callback`` runs on the lock holder when it is readable."""
        if self._ep is None:
            self._loop.add_reader(sock, callback)
            return
        fd = sock.fileno()
        self._callbacks[fd] = callback
        self._ep.register(fd, _IN)

    def _on_ready(self) -> None:
        ep = self._ep
        if ep is None:
            return
        callbacks = self._callbacks
        for fd, _ in ep.poll(0):
            cb = callbacks.get(fd)
            if cb is not None:
                cb()

    def mute(self, socks: list[Any]) -> None:
        """Stop watching ``socks`` (any thread): the caller waits on them itself."""
        self._set(socks, 0)

    def unmute(self, socks: list[Any]) -> None:
        """Watch ``socks`` again (any thread); one with a datagram waiting wakes the loop."""
        self._set(socks, _IN)

    def _set(self, socks: list[Any], mask: int) -> None:
        ep = self._ep
        if ep is None:
            return
        for s in socks:
            try:
                ep.modify(s.fileno(), mask)
            except (OSError, ValueError):     # closed meanwhile (the daemon stops)
                pass

    def close(self) -> None:
        """Forget the sockets and close the epoll (the loop's owner, loop not running)."""
        ep, self._ep = self._ep, None
        if ep is not None:
            if self._fileobj is not None:
                try:
                    self._loop.remove_reader(self._fileobj)
                except (KeyError, ValueError, OSError):
                    pass
            ep.close()
        self._callbacks.clear()
