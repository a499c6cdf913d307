"""A Ctrl-C never lands half-way through engine code run by the main thread.

Theory of operation
-------------------
CPython runs Python-level signal handlers on the main thread, between bytecodes. When
the main thread is a guest of a daemon's loop -- it holds the engine lock to run an
inline command, to serve the ring as the waiting reader, or to read statistics -- the
``KeyboardInterrupt`` that Python's default SIGINT handler raises would abandon the
engine in the middle of a token visit, with its packets half sent and its timers half
set.

``SHIELD`` closes that window. While at least one daemon runs (``acquire``/``release``,
called by ``Daemon.start``/``stop`` on the main thread), Python's *default* SIGINT handler
is replaced by one that, while the main thread is inside a guarded section
(``depth > 0``), only records the interrupt; the section raises it as it ends
(``EventLoop.leave``, after the lock is free). Outside a section it raises at once, as
before. A handler the program installed itself is left alone (the program chose what
Ctrl-C does), and so is every other signal. The previous handler comes back when the
last daemon stops.

State: one ``Shield`` per process (signal handlers are per process); ``depth`` and
``pending`` are touched only by the main thread (the handler runs there too).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

__all__ = ["Shield", "SHIELD", "MAIN_THREAD"]

MAIN_THREAD = threading.main_thread().ident


class Shield:
    """Defers KeyboardInterrupt while the main thread runs engine code."""

    def __init__(self) -> None:
        self.depth = 0            # guarded sections the main thread is in
        self.pending = False      # a Ctrl-C arrived inside one
        self._users = 0           # running daemons that asked for the shield
        self._previous: Any = None
        self._installed = False

    def acquire(self) -> bool:
        """A daemon starts. Only the main thread can install the handler; True if this
        call counts as a user (then call ``release`` once)."""
        if threading.get_ident() != MAIN_THREAD:
            return False
        self._users += 1
        if not self._installed \
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
            self._installed = True
        return True

    def release(self) -> None:
        """A daemon that counted as a user stops. The handler goes back once no daemon
        uses it -- on the main thread; elsewhere it stays until the main thread's next
        ``release`` (outside a guarded section it behaves as the default handler)."""
        self._users = max(0, self._users - 1)
        if self._users == 0 and self._installed and threading.get_ident() == MAIN_THREAD:
            self._installed = False
            if signal.getsignal(signal.SIGINT) == self._on_sigint:
                signal.signal(signal.SIGINT, self._previous)

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self.depth > 0:
            self.pending = True
            return
        signal.default_int_handler(signum, frame)

    def raise_pending(self) -> None:
        """End of the outermost section on the main thread: deliver a deferred Ctrl-C."""
        if self.pending and self.depth == 0:
            self.pending = False
            raise KeyboardInterrupt


SHIELD = Shield()
