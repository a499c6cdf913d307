"""Finding the class of a message a tool receives, from its type fingerprint.

What it owns: ``RegistryTypes``, the lookup (topic, fingerprint) -> message class that the
recorder and the Foxglove server use for messages from other processes. In order: the
launch file's declared type of the topic, the classes named by ``--type`` options, the
type paths the ring's registry announces for the topic, then any type path announced
with that fingerprint. A class counts only if its fingerprint matches. Classes found are
cached per (topic, fingerprint); a miss is not (callers ask again after the registry
changed); a type path that does not import is skipped (the message is then kept raw).

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
        self._cache: dict[tuple[str, int], type] = {}

    def __call__(self, topic: str, fingerprint: int) -> type | None:
        key = (topic, fingerprint)
        found = self._cache.get(key)
        if found is None:
            found = self._find(topic, fingerprint)
            if found is not None:
                self._cache[key] = found
        return found

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
