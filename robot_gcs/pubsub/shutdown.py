"""After the first Ctrl-C, the program shuts down quietly.

What it owns: one rule. The first Ctrl-C (SIGINT) tells a robot program to stop: ``Node.spin``
returns, ``robot-gcs demo`` stops its console. From that moment the program is shutting
down -- daemons leave the ring, processes are reaped -- and a second Ctrl-C must not cut
that short with a ``KeyboardInterrupt`` traceback out of ``Daemon.stop()``. So
``quiet_interrupts()`` replaces the SIGINT handler with one that only counts; SIGTERM and
SIGKILL still end a program that hangs. Only the main thread can install a handler (and
only there does Python deliver SIGINT); elsewhere the call does nothing.

At interpreter exit Python puts back the default action for every signal that has a Python
handler, so a Ctrl-C landing in those last milliseconds would still kill the process
(exit status -2). An ``atexit`` hook therefore turns a still-quiet SIGINT into SIG_IGN,
which Python leaves alone at exit.

State: the handler and its count belong to the process (signal handlers are per process).
"""

from __future__ import annotations

import atexit
import signal
import threading
from types import FrameType

_count = [0]


def _count_interrupt(signum: int, frame: FrameType | None) -> None:
    _count[0] += 1


def _ignore_at_exit() -> None:
    if signal.getsignal(signal.SIGINT) is _count_interrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def quiet_interrupts() -> bool:
    """Ignore further Ctrl-Cs (counted); True if the handler was installed."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGINT) is not _count_interrupt:
        atexit.unregister(_ignore_at_exit)
        atexit.register(_ignore_at_exit)
    signal.signal(signal.SIGINT, _count_interrupt)
    return True


def interrupts_ignored() -> int:
    """How many Ctrl-Cs arrived after ``quiet_interrupts()``."""
    return _count[0]
