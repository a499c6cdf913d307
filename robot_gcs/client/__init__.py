"""Client side of the Session API: in-process sessions (queues) and socket sessions.

``Session`` (session.py) is the API both carry; ``InProcessSession`` (inprocess.py) is
what ``daemon.connect(name)`` returns; ``robot_gcs.connect(address, name)`` returns a
socket session (socket_session.py).
"""

from .inprocess import InProcessSession, QueueSink
from .session import Session

__all__ = ["Session", "InProcessSession", "QueueSink"]
