"""Error types of robot_gcs.

Every error says whose fault it is, so a caller knows what to do:

* ``LocalProtocolError`` -- the caller misused an API (wrong state, bad argument).
  Fix the calling code.
* ``RemoteProtocolError`` / ``MalformedPacket`` -- a peer sent junk. The runtime
  counts and drops these; they only escape from explicit decode calls.
* ``ConfigError`` -- a configuration or launch file is wrong; it carries the file,
  the line and the field so the message points at the exact spot.
* ``Backpressure`` -- a bounded queue is full; retry later or pass a timeout.
* ``SessionClosed`` -- the session (or its daemon) is gone; reconnect.
"""

from __future__ import annotations


class GcsError(Exception):
    """Root of every error raised by robot_gcs."""


class LocalProtocolError(GcsError):
    """The caller used an API wrongly (bad argument, wrong state)."""


class RemoteProtocolError(GcsError):
    """A peer sent something that violates the protocol."""


class MalformedPacket(RemoteProtocolError):
    """A datagram could not be decoded (truncated, bad magic/version, bad MAC...).

    ``reason`` is a short stable token used as a counter key in statistics.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class ConfigError(GcsError):
    """A configuration, launch or rule file is invalid.

    The message reads ``path:line: field: problem`` so editors can jump to it.
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.problem = message
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        what = f"{field}: " if field else ""
        super().__init__(f"{where}{what}{message}")


class Backpressure(GcsError):
    """A bounded queue is full. Retry later, slow down, or pass a timeout to block."""


class SessionClosed(GcsError):
    """The session is closed (by the caller, the daemon, or a disconnect).

    ``reason`` says why (for example ``"client stopped reading"``).
    """

    def __init__(self, reason: str = "session closed") -> None:
        self.reason = reason
        super().__init__(reason)
