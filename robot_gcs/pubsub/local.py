"""The nodes running on each daemon of this process, for the daemon's topic health.

What it owns: a weak side table daemon -> its in-process Nodes. A Node made on a daemon
(``Node("talker", daemon)``) enters itself; a destroyed (or collected) one leaves. The
daemon's health publisher (diagnostics/publisher.py) reads ``topic_statistics(daemon)``,
so every node's topics reach ``robot-gcs monitor``/``status`` -- launched components and
hand-written programs alike -- and nothing here imports diagnostics (arrows point down).

Rules: keys and nodes are weak references (many daemons per process; a dropped daemon's
entry vanishes). One lock guards the table; statistics are read outside it. A node whose
``statistics()`` races its own spinning thread is retried once, then skipped for that
sample (it shows up in the next one).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Iterable, Protocol

from .endpoints import TopicStats


class StatsSource(Protocol):
    def statistics(self) -> tuple[TopicStats, ...]: ...


_nodes: "weakref.WeakKeyDictionary[Any, weakref.WeakSet[Any]]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def add_node(daemon: Any, node: StatsSource) -> None:
    with _lock:
        _nodes.setdefault(daemon, weakref.WeakSet()).add(node)


def remove_node(daemon: Any, node: StatsSource) -> None:
    with _lock:
        nodes = _nodes.get(daemon)
        if nodes is not None:
            nodes.discard(node)


def nodes_on(daemon: Any) -> list[StatsSource]:
    with _lock:
        return list(_nodes.get(daemon, ()))


def topic_statistics(daemon: Any) -> list[TopicStats]:
    """Every endpoint statistic of every node on ``daemon`` in this process."""
    out: list[TopicStats] = []
    for node in nodes_on(daemon):
        out.extend(_read(node))
    return out


def _read(node: StatsSource) -> Iterable[TopicStats]:
    for _ in range(2):
        try:
            return node.statistics()
        except RuntimeError:           # a dict changed size under us: the node is busy
            continue
    return ()
