"""Which message type an endpoint has when its creator did not say.

What it owns: ``resolve_type``, the one rule behind "a topic never silently falls back to
raw bytes" (node.py). In order:

1. the type given to ``create_publisher`` / ``create_subscription`` -- refused if the
   launch file declares the topic with another type;
2. the launch file's declared type of the topic (``topics: /odom: {type: ...}``);
3. the type the ring's registry announces for the topic (publishers' and subscribers'
   announcements), once the registry is complete or ``wait()`` gave up: exactly one type
   path, imported here;
4. otherwise ``LocalProtocolError`` saying how to give the type.

``bytes`` is the raw type: given, declared (``type: bytes``) or announced.
"""

from __future__ import annotations

from typing import Callable, Mapping

from ..errors import LocalProtocolError
from .codec import codec_for, import_type, type_path
from .registry import Registry


def resolve_type(node: str, topic: str, given: type | None, declared: Mapping[str, type],
                 registry: Registry, wait: Callable[[], object]) -> type:
    decl = declared.get(topic)
    if given is not None:
        fp = codec_for(given).fingerprint            # LocalProtocolError: not a message type
        if decl is not None and codec_for(decl).fingerprint != fp:
            raise LocalProtocolError(
                f"node {node}: topic {topic} is declared as {type_path(decl)} in the launch "
                f"file, not {type_path(given)}")
        return given
    if decl is not None:
        return decl
    wait()
    types = registry.topic_types(topic)
    if not types:
        raise LocalProtocolError(
            f"node {node}: no message type for {topic}: pass it (create_subscription(MsgType, "
            f"'{topic}', callback) / create_publisher(MsgType, '{topic}')), declare the topic's "
            f"type in the launch file, or start a node that uses {topic} first (nobody in the "
            "registry announces it). Raw messages are the type bytes.")
    if len(types) > 1:
        who = "; ".join(f"{path} by {', '.join(m)}" for path, (_, m) in sorted(types.items()))
        raise LocalProtocolError(f"node {node}: the registry announces several types for "
                                 f"{topic} ({who}): pass the one you mean")
    (path, (_, members)), = types.items()
    if path == "bytes":
        return bytes
    try:
        found = import_type(path)
    except (ImportError, AttributeError, ValueError) as exc:
        raise LocalProtocolError(
            f"node {node}: {', '.join(members)} announce {path} for {topic}, which cannot be "
            f"imported here ({type(exc).__name__}: {exc}); pass the type") from None
    if not isinstance(found, type):
        raise LocalProtocolError(f"node {node}: {path} (announced for {topic}) is not a class")
    return found
