"""ROS 2 standard messages as robot_gcs message dataclasses, made from rosbags' type store.

What it owns: a cache of generated classes, one per ROS message type, so a robot_gcs node
can publish ``nav_msgs/msg/Odometry`` without anyone writing the dataclass by hand. The
definitions come from ``rosbags`` (its ROS 2 Humble type store: std_msgs, geometry_msgs,
sensor_msgs, nav_msgs, builtin_interfaces, ... as ROS ships them), imported lazily.

Use::

    from robot_gcs.bridge.ros_types import ros_class
    Odometry = ros_class("nav_msgs/msg/Odometry")

or in a launch file ``type: robot_gcs.bridge.ros_types:nav_msgs.Odometry`` (this module's
attributes are the ROS packages, theirs the messages; that is also the type path the
registry announces, so another process finds the same class).

Field mapping (ring side): bool -> bool; every integer type -> int; float32/float64 ->
float; string -> str; ``uint8``/``byte``/``char`` arrays and sequences -> bytes; other
fixed arrays -> tuple (default: N zeros); other sequences -> list; nested messages ->
their class (default: a fresh default instance). Constants become class attributes.
The class keeps the ROS definition in ``__ros_type__`` and ``__ros_fields__`` for the DDS
side (idl.py), which uses the exact ROS types (int32, float32, ...). ``wstring`` is not
supported (LocalProtocolError).

The cache is guarded by one lock (classes may be asked for from several threads).
"""

from __future__ import annotations

import dataclasses
import threading
import types
from typing import Any

from ..errors import LocalProtocolError

BYTE_TYPES = ("uint8", "byte", "char", "octet")
INT_TYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
             "byte", "char", "octet")
FLOAT_TYPES = ("float32", "float64")

# rosbags' Nodetype values: BASE=1, NAME=2, ARRAY=3, SEQUENCE=4
BASE, NAME, ARRAY, SEQUENCE = 1, 2, 3, 4

_lock = threading.RLock()
_classes: dict[str, type] = {}
_store: Any = None


def _typestore() -> Any:
    global _store
    if _store is None:
        try:
            from rosbags.typesys import Stores, get_typestore
        except ImportError:
            raise LocalProtocolError("ROS message types need rosbags: pip install "
                                     "'robot_gcs[bridges]'") from None
        _store = get_typestore(Stores.ROS2_HUMBLE)
    return _store


def normalize(name: str) -> str:
    """``nav_msgs/Odometry`` or ``nav_msgs/msg/Odometry`` -> ``nav_msgs/msg/Odometry``."""
    parts = name.strip("/").split("/")
    if len(parts) == 2:
        parts = [parts[0], "msg", parts[1]]
    if len(parts) != 3 or not all(parts):
        raise LocalProtocolError(f"bad ROS message type {name!r}: expected pkg/msg/Name")
    return "/".join(parts)


def known_types() -> list[str]:
    """Every message type the store defines (``pkg/msg/Name``)."""
    return sorted(_typestore().fielddefs)


def ros_class(name: str) -> type:
    """The robot_gcs message dataclass of ROS type ``name`` (made once, then cached)."""
    full = normalize(name)
    with _lock:
        cls = _classes.get(full)
        if cls is None:
            cls = _make(full)
            _classes[full] = cls
        return cls


def ros_type_of(cls: Any) -> str | None:
    """``pkg/msg/Name`` if ``cls`` was made here, else None."""
    return getattr(cls, "__ros_type__", None)


def _make(full: str) -> type:
    defs = _typestore().fielddefs
    if full not in defs:
        from ..hints import did_you_mean
        raise LocalProtocolError(f"unknown ROS message type {full}"
                                 f"{did_you_mean(full, list(defs))}")
    consts, fields = defs[full]
    pkg, _, short = full.split("/")
    spec = []
    for fname, desc in fields:
        ftype, default = _ring_field(full, fname, desc)
        spec.append((fname, ftype, default))
    ns: dict[str, Any] = {c[0]: c[2] for c in consts}
    ns["__ros_type__"] = full
    ns["__ros_fields__"] = tuple((n, d) for n, d in fields)
    cls = dataclasses.make_dataclass(short, spec, namespace=ns)
    cls.__module__ = __name__
    cls.__qualname__ = f"{pkg}.{short}"
    return cls


def _ring_field(owner: str, fname: str, desc: Any) -> tuple[Any, Any]:
    """(annotation, dataclasses.field) of one ROS field on the ring side."""
    kind, rest = int(desc[0]), desc[1]
    if kind == BASE:
        return _base(owner, fname, rest[0])
    if kind == NAME:
        sub = ros_class(rest)
        return sub, dataclasses.field(default_factory=sub)
    inner, size = rest
    if int(inner[0]) == BASE and inner[1][0] in BYTE_TYPES:
        n = size if kind == ARRAY else 0
        return bytes, dataclasses.field(default=bytes(n))
    itype, idefault = _ring_field(owner, fname, inner)
    if kind == ARRAY:
        zero = idefault.default if idefault.default is not dataclasses.MISSING else None
        if zero is None:
            fac = idefault.default_factory
            return types.GenericAlias(tuple, (itype, ...)), dataclasses.field(
                default_factory=lambda: tuple(fac() for _ in range(size)))
        return types.GenericAlias(tuple, (itype, ...)), dataclasses.field(default=(zero,) * size)
    return types.GenericAlias(list, (itype,)), dataclasses.field(default_factory=list)


def _base(owner: str, fname: str, tname: str) -> tuple[Any, Any]:
    if tname == "bool":
        return bool, dataclasses.field(default=False)
    if tname in INT_TYPES:
        return int, dataclasses.field(default=0)
    if tname in FLOAT_TYPES:
        return float, dataclasses.field(default=0.0)
    if tname == "string":
        return str, dataclasses.field(default="")
    raise LocalProtocolError(f"{owner}.{fname}: ROS type {tname} is not supported")


class _Package:
    """Attribute access to one ROS package's messages: ``ros_types.nav_msgs.Odometry``."""

    def __init__(self, pkg: str) -> None:
        self._pkg = pkg

    def __getattr__(self, name: str) -> type:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return ros_class(f"{self._pkg}/msg/{name}")
        except LocalProtocolError as exc:
            raise AttributeError(str(exc)) from None


def __getattr__(name: str) -> _Package:
    if name.startswith("_"):
        raise AttributeError(name)
    return _Package(name)
