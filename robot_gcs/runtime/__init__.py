"""The only place with sockets and threads: the daemon that hosts the sans-IO engine.

**Ownership rule.** The engine and everything it owns -- its timers, the client sinks'
push side, the membership log's writer -- are touched only by the thread that holds the
loop lock (``EventLoop.lock``); that thread runs one input to completion and carries out
its actions, including the engine timers that came due, before it lets go. The lock
holder is the daemon thread while it runs loop callbacks, or a guest that took the lock
while the daemon thread waits in ``select``: a caller of ``multicast()``/``join()``
(runtime/commands.py), a session blocked in ``receive()`` that serves the ring
(runtime/waiting_reader.py), a caller of ``statistics()``. Before the loop runs and
after it ended, the daemon thread alone.

Parts (runtime/README.md has the picture and the data path): ``Daemon`` (daemon.py) is
the facade that composes ``EventLoop`` (loop.py), ``UdpTransport`` (transport.py),
``EngineHost`` (engine_host.py), ``ClientTable`` (client_table.py), ``Commands``
(commands.py), ``WaitingReader`` (waiting_reader.py), ``MembershipLog``
(membership_log.py), ``StateStore`` (state.py) and the socket servers (ipc.py);
``stats.py`` holds the frozen ``DaemonStats``, ``command.py`` is ``robot-gcs daemon``.
"""

from .clients import ClientHandle
from .daemon import Daemon
from .loop import EventLoop, LagStats
from .membership_log import MembershipEvent
from .stats import DaemonStats, SessionStats

__all__ = ["Daemon", "ClientHandle", "EventLoop", "LagStats", "DaemonStats",
           "MembershipEvent", "SessionStats"]
