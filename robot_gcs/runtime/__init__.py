"""The only place with sockets and threads: event loop, UDP transport, Daemon.

``Daemon`` (daemon.py) runs one sans-IO group engine on its own thread with an
``EventLoop`` (loop.py) and a ``UdpTransport`` (transport.py); ``clients.py`` is the
thread-safe ``ClientHandle`` every session kind uses; ``stats.py`` the frozen
``DaemonStats``; ``state.py`` persists ring seq and incarnation across restarts;
``command.py`` is ``robot-gcs daemon``; ``ipc.py`` serves socket sessions.
"""

from .clients import ClientHandle
from .daemon import Daemon
from .loop import EventLoop, LagStats
from .stats import DaemonStats, MembershipEvent, SessionStats

__all__ = ["Daemon", "ClientHandle", "EventLoop", "LagStats", "DaemonStats",
           "MembershipEvent", "SessionStats"]
