"""Bridge counters for a daemon's health snapshot.

What it owns: a weak side table daemon -> the bridges running on it in this process
(robot_gcs/bridge registers each one it starts and unregisters it when it closes), and
``bridge_records``, which reads them into ``BridgeHealth`` rows for ``DaemonHealth.bridges``
(publisher.py). Nothing here imports the bridge package: a bridge is anything with
``health(now)`` returning ``BridgeHealth`` rows, so arrows keep pointing down.

Rules: one lock guards the table; ``health(now)`` is called outside it and a source that
raises is skipped for that sample (logged once), never breaking the snapshot. ``now`` is
the sampler's monotonic clock, passed in.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any, Iterable, Protocol

from .model import BridgeHealth

log = logging.getLogger(__name__)


class BridgeSource(Protocol):
    def health(self, now: float) -> Iterable[BridgeHealth]: ...


_bridges: "weakref.WeakKeyDictionary[Any, weakref.WeakSet[Any]]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()
_failed: set[int] = set()


def add_bridge(daemon: Any, bridge: BridgeSource) -> None:
    with _lock:
        _bridges.setdefault(daemon, weakref.WeakSet()).add(bridge)


def remove_bridge(daemon: Any, bridge: BridgeSource) -> None:
    with _lock:
        found = _bridges.get(daemon)
        if found is not None:
            found.discard(bridge)


def bridge_records(daemon: Any, now: float) -> tuple[BridgeHealth, ...]:
    """Every rule of every bridge on ``daemon`` (sorted by bridge, direction, topic)."""
    with _lock:
        sources = list(_bridges.get(daemon, ()))
    out: list[BridgeHealth] = []
    for src in sources:
        try:
            out.extend(src.health(now))
        except Exception:
            if id(src) not in _failed:
                _failed.add(id(src))
                log.exception("bridge health source %r failed (logged once)", src)
    return tuple(sorted(out, key=lambda b: (b.bridge, b.direction, b.topic)))
