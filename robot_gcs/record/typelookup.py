"""Finding the class of a message a tool receives, from its type fingerprint.

What it owns: ``RegistryTypes``, the lookup (topic, fingerprint) -> message class that the
recorder and the Foxglove server use for messages from other processes. In order: the
launch file's declared type of the topic, the classes named by ``--type`` options, the
type paths the ring's registry announces for the topic, then any type path announced
with that fingerprint. A class counts only if its fingerprint matches. Answers are
cached per (topic, fingerprint), misses too until the registry changes size; a type path
that does not import is skipped (the message is then kept raw).

Owned by the thread that spins the tool's Node (it reads that Node's registry).
"""

from __future__ import annotations

from typing import Mapping

from ..cli.tools import ToolError, load_type
from ..errors import LocalProtocolError
from ..pubsub.codec import codec_for
from ..pubsub.registry import Registry


class RegistryTypes:
    def __init__(self, registry: Registry, declared: Mapping[str, type] | None = None,
                 extra: tuple[type, ...] = ()) -> None:
        self._registry = registry
        self._declared = dict(declared or {})
        self._extra = extra
        self._cache: dict[tuple[str, int], type | None] = {}
        self._graph_size = -1

    def __call__(self, topic: str, fingerprint: int) -> type | None:
        size = len(self._registry.graph())
        if size != self._graph_size:
            self._graph_size = size
            self._cache = {k: v for k, v in self._cache.items() if v is not None}
        key = (topic, fingerprint)
        if key not in self._cache:
            self._cache[key] = self._find(topic, fingerprint)
        return self._cache[key]

    def _find(self, topic: str, fingerprint: int) -> type | None:
        candidates: list[type] = []
        if topic in self._declared:
            candidates.append(self._declared[topic])
        candidates += self._extra
        paths = list(self._registry.topic_types(topic))
        any_path = self._registry.type_name(fingerprint)
        if any_path:
            paths.append(any_path)
        for path in paths:
            if path == "bytes":
                continue
            try:
                cls = load_type(path)
            except ToolError:
                continue
            if isinstance(cls, type):
                candidates.append(cls)
        for cls in candidates:
            try:
                if codec_for(cls).fingerprint == fingerprint:
                    return cls
            except LocalProtocolError:           # not a message type: not this one
                continue
        return None
