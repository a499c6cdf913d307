"""Node loggers: records that go to Python logging and to the ring topic ``/rosout``.

What it owns: ``NodeLogger`` (``node.get_logger()``, rclpy's shape: ``debug``, ``info``,
``warning``/``warn``, ``error``, ``fatal``, ``set_level``) and ``Log``, the message type
of ``/rosout`` (like ROS's rcl_interfaces/Log), which the console shows.

Rules:

* Each node has its own level: the built-in parameter ``log_level`` (``debug``, ``info``,
  ``warn``, ``error``, ``fatal``; default ``info``), so ``robot-gcs param set talker
  log_level debug`` changes it at run time. A record below it goes nowhere.
* A record at or above it goes to the Python logger ``robot_gcs.node.<name>`` (the host
  program decides what its handlers show) and is published on ``/rosout`` (FIFO) with the
  node's private name. Logging never raises: a record the ring cannot take now
  (``Backpressure``) or after the session closed is counted in ``dropped``.
* ``/rosout`` is a topic of its own: the launch file need not declare it.

Owner: the node's spinning thread logs (as with publishing); ``set_level`` may be called
from any thread (one parameter write).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from ..errors import GcsError
from .parameters import Parameter, SetParametersResult

ROSOUT = "/rosout"
LEVELS: dict[str, int] = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
                          "warning": logging.WARNING, "error": logging.ERROR,
                          "fatal": logging.CRITICAL}
LEVEL_PARAM = "log_level"


@dataclass(frozen=True, slots=True)
class Log:
    """One record on ``/rosout``."""

    stamp: float          # the node's wall clock (time.time())
    level: int            # Python logging level (10 debug ... 50 fatal)
    name: str             # the node's private name (#talker#cpu1)
    msg: str


def level_name(level: int) -> str:
    return {logging.DEBUG: "DEBUG", logging.INFO: "INFO", logging.WARNING: "WARN",
            logging.ERROR: "ERROR", logging.CRITICAL: "FATAL"}.get(level, str(level))


def parse_level(value: Any) -> int:
    """``"debug"`` / ``"WARN"`` / ``30`` -> a logging level; ValueError otherwise."""
    if isinstance(value, int) and not isinstance(value, bool) and value in LEVELS.values():
        return value
    if isinstance(value, str) and value.lower() in LEVELS:
        return LEVELS[value.lower()]
    raise ValueError(f"log level must be one of {', '.join(sorted(set(LEVELS) - {'warning'}))}, "
                     f"got {value!r}")


def check_level_params(params: list[Parameter]) -> SetParametersResult | None:
    """A node's on-set callback: ``log_level`` must name a level."""
    for p in params:
        if p.name == LEVEL_PARAM:
            try:
                parse_level(p.value)
            except ValueError as exc:
                return SetParametersResult(False, str(exc))
    return None


class LoggerOwner(Protocol):
    """What a NodeLogger needs of its Node."""

    @property
    def name(self) -> str: ...

    @property
    def private_name(self) -> str: ...

    @property
    def wall_clock(self) -> Callable[[], float]: ...

    def _log_level(self) -> int: ...

    def _set_log_level(self, level: str) -> None: ...

    def _publish_log(self, record: Log) -> None: ...


class NodeLogger:
    """A node's logger. ``node.get_logger().info("reached %s", goal)``."""

    def __init__(self, node: LoggerOwner) -> None:
        self.node = node
        self.python = logging.getLogger(f"robot_gcs.node.{node.name}")
        self.published = 0
        self.dropped = 0

    def set_level(self, level: "str | int") -> None:
        """This node's level (also the parameter ``log_level``)."""
        lvl = parse_level(level)
        self.node._set_log_level(level_name(lvl).lower())

    def get_effective_level(self) -> int:
        return self.node._log_level()

    def is_enabled_for(self, level: int) -> bool:
        return level >= self.node._log_level()

    def log(self, level: int, msg: str, *args: Any) -> bool:
        """Log ``msg % args`` at ``level``; True if it was at or above the node's level."""
        if level < self.node._log_level():
            return False
        text = msg % args if args else str(msg)
        self.python.log(level, "[%s] %s", self.node.name, text)
        try:
            self.node._publish_log(Log(self.node.wall_clock(), level, self.node.private_name, text))
            self.published += 1
        except GcsError:
            self.dropped += 1
        return True

    def debug(self, msg: str, *args: Any) -> bool:
        return self.log(logging.DEBUG, msg, *args)

    def info(self, msg: str, *args: Any) -> bool:
        return self.log(logging.INFO, msg, *args)

    def warning(self, msg: str, *args: Any) -> bool:
        return self.log(logging.WARNING, msg, *args)

    warn = warning

    def error(self, msg: str, *args: Any) -> bool:
        return self.log(logging.ERROR, msg, *args)

    def fatal(self, msg: str, *args: Any) -> bool:
        return self.log(logging.CRITICAL, msg, *args)
