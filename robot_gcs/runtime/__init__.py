"""The only place with sockets and threads: event loop, UDP transport, Daemon.

``Daemon`` (daemon.py) runs one sans-IO group engine on its own thread with an
``EventLoop`` (loop.py) and a ``UdpTransport`` (transport.py); ``state.py`` persists the
ring seq across restarts; ``command.py`` is ``robot-gcs daemon``.
"""

from .daemon import ClientHandle, Daemon
from .loop import EventLoop, LagStats
from .stats import DaemonStats, MembershipEvent, SessionStats

__all__ = ["Daemon", "ClientHandle", "EventLoop", "LagStats", "DaemonStats",
           "MembershipEvent", "SessionStats"]
