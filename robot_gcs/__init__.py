"""robot_gcs: group communication for robots.

Token-ring total order (AGREED, SAFE), Extended Virtual Synchrony membership, process
groups with agreed views, topics, launch files and a live console. See README.md.
"""

from .core.types import Service
from .errors import (Backpressure, ConfigError, GcsError, LocalProtocolError,
                     MalformedPacket, RemoteProtocolError, SessionClosed)

__all__ = [
    "Service",
    "GcsError", "LocalProtocolError", "RemoteProtocolError", "MalformedPacket",
    "ConfigError", "Backpressure", "SessionClosed",
]
__version__ = "0.1.0"
