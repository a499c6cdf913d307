"""After the first Ctrl-C, the program shuts down quietly.

What it owns: one rule. The first Ctrl-C (SIGINT) tells a robot program to stop: ``Node.spin``
returns, ``robot-gcs demo`` stops its console. From that moment the program is shutting
down -- daemons leave the ring, processes are reaped -- and a second Ctrl-C must not cut
that short with a ``KeyboardInterrupt`` traceback out of ``Daemon.stop()``. So
``quiet_interrupts()`` replaces the SIGINT handler with one that only counts; SIGTERM and
SIGKILL still end a program that hangs. Only the main thread can install a handler (and
only there does Python deliver SIGINT); elsewhere the call does nothing.

State: the handler and its count belong to the process (signal handlers are per process).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

_count = [0]


def _count_interrupt(signum: int, frame: FrameType | None) -> None:
    _count[0] += 1


def quiet_interrupts() -> bool:
    """Ignore further Ctrl-Cs (counted); True if the handler was installed."""
    if threading.current_thread() is not threading.main_thread():
        return False
    signal.signal(signal.SIGINT, _count_interrupt)
    return True


def interrupts_ignored() -> int:
    """How many Ctrl-Cs arrived after ``quiet_interrupts()``."""
    return _count[0]
