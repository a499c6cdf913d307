"""robot_gcs: group communication for robots.

Token-ring total order (AGREED, SAFE), Extended Virtual Synchrony membership, process
groups with agreed views, topics, launch files and a live console. See README.md.
"""

from typing import Any

from .client.session import Session
from .config import GcsConfig, load_config
from .core.events import Cause, DataMessage, GroupView
from .core.types import Service
from .runtime.daemon import Daemon
from .pubsub import Node, QoS
from .errors import (Backpressure, ConfigError, GcsError, LocalProtocolError,
                     MalformedPacket, RemoteProtocolError, SessionClosed)


def connect(address: str, name: str, **kw: Any) -> Session:
    """A socket Session to a standalone daemon (``unix:/path`` or ``tcp:host:port``)."""
    from .client.socket_session import connect as _connect
    return _connect(address, name, **kw)


__all__ = [
    "Service", "Daemon", "Session", "connect", "DataMessage", "GroupView", "Cause",
    "GcsConfig", "load_config", "Node", "QoS",
    "GcsError", "LocalProtocolError", "RemoteProtocolError", "MalformedPacket",
    "ConfigError", "Backpressure", "SessionClosed",
]
__version__ = "0.1.0"
