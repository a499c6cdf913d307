"""Message dataclasses as Cyclone DDS types, and the conversions both ways.

What it owns: a cache class -> ``DdsType`` (the generated ``IdlStruct`` with its ROS 2 DDS
type name, and two converters, ring value -> DDS sample and back), guarded by one lock.
``cyclonedds`` is imported on first use.

Type names follow ROS 2 (rosidl on DDS): ``nav_msgs/msg/Odometry`` is the DDS type
``nav_msgs::msg::dds_::Odometry_``, so ROS 2 nodes on the same DDS domain match it. Two
sources of definitions:

* classes made by ros_types.py carry their ROS definition: the DDS struct uses the exact
  ROS field types (int32, float32, uint8[36], ...), so the CDR bytes are the ones a ROS 2
  node sends and expects;
* any other message dataclass maps to its own type ``<top package>::msg::dds_::<Class>_``
  with int -> int64, float -> float64, bool, str, bytes -> sequence<uint8>, list/tuple[T,
  ...] -> sequence<T>, IntEnum -> int64 and nested dataclasses as nested structs (a ROS 2
  package with a ``.msg`` of the same shape under that name reads it). Fixed
  heterogeneous tuples have no IDL counterpart and are refused (LocalProtocolError).

Conversion errors (an int out of range for int32, a fixed array of the wrong length) raise
``ValueError``/``TypeError`` from Cyclone; the bridge counts them per rule.
"""

from __future__ import annotations

import dataclasses
import enum
import threading
import typing
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import LocalProtocolError
from .ros_types import ARRAY, BASE, BYTE_TYPES, NAME, SEQUENCE, ros_class, ros_type_of

Conv = Callable[[Any], Any]

_lock = threading.RLock()
_cache: dict[type, "DdsType"] = {}


@dataclass(frozen=True, slots=True)
class DdsType:
    """The DDS side of one message class."""

    ring_cls: type
    idl_cls: Any                 # an IdlStruct subclass
    type_name: str               # e.g. std_msgs::msg::dds_::String_
    to_dds: Conv                 # ring value -> IdlStruct instance
    from_dds: Conv               # IdlStruct instance -> ring value


def dds_type_name(cls: type) -> str:
    ros = ros_type_of(cls)
    if ros is not None:
        pkg, sub, short = ros.split("/")
        return f"{pkg}::{sub}::dds_::{short}_"
    top = cls.__module__.split(".")[0] or "robot_gcs"
    return f"{top}::msg::dds_::{cls.__name__}_"


def dds_type(cls: type) -> DdsType:
    """The DDS type of message class ``cls`` (``LocalProtocolError`` if it has none)."""
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise LocalProtocolError(f"{cls!r} is not a message dataclass: the ROS 2 bridge "
                                 "carries typed topics only")
    with _lock:
        found = _cache.get(cls)
        if found is None:
            found = _build(cls, ())
            _cache[cls] = found
        return found


def _build(cls: type, stack: tuple[type, ...]) -> DdsType:
    from cyclonedds.idl import make_idl_struct
    if cls in stack:
        raise LocalProtocolError(f"message type {cls.__name__} contains itself")
    name = dds_type_name(cls)
    ros_fields = getattr(cls, "__ros_fields__", None)
    if ros_fields is not None:
        parts = [(fname, _from_ros(desc, stack + (cls,))) for fname, desc in ros_fields]
    else:
        hints = typing.get_type_hints(cls)
        parts = [(f.name, _from_hint(hints[f.name], stack + (cls,)))
                 for f in dataclasses.fields(cls) if f.init]
    idl_cls = make_idl_struct(name.rsplit("::", 1)[1], name, {n: p[0] for n, p in parts})
    to_convs = [(n, p[1]) for n, p in parts]
    from_convs = [(n, p[2]) for n, p in parts]

    def to_dds(v: Any) -> Any:
        return idl_cls(*[c(getattr(v, n)) for n, c in to_convs])

    def from_dds(d: Any) -> Any:
        return cls(*[c(getattr(d, n)) for n, c in from_convs])
    return DdsType(cls, idl_cls, name, to_dds, from_dds)


Part = tuple[Any, Conv, Conv]      # (IDL annotation, to DDS, from DDS)


def _same(v: Any) -> Any:
    return v


def _prim(tname: str) -> Any:
    t = _idl_types()
    if tname == "bool":
        return bool
    if tname == "string":
        return str
    if tname in BYTE_TYPES:
        return t.uint8
    if tname in ("float32", "float64", "int8", "int16", "int32", "int64", "uint16",
                 "uint32", "uint64"):
        return getattr(t, tname)
    raise LocalProtocolError(f"ROS type {tname} is not supported by the DDS bridge")


def _idl_types() -> Any:
    from cyclonedds.idl import types as t
    return t


def _from_ros(desc: Any, stack: tuple[type, ...]) -> Part:
    t = _idl_types()
    kind, rest = int(desc[0]), desc[1]
    if kind == BASE:
        return _prim(rest[0]), _same, _same
    if kind == NAME:
        sub = _build_cached(ros_class(rest), stack)
        return sub.idl_cls, sub.to_dds, sub.from_dds
    inner, size = rest
    if int(inner[0]) == BASE and inner[1][0] in BYTE_TYPES:
        ann = t.array[t.uint8, size] if kind == ARRAY else t.sequence[t.uint8]
        return ann, bytes, bytes
    ann_i, to_i, from_i = _from_ros(inner, stack)
    make: Callable[[Any], Any] = tuple if kind == ARRAY else list
    ann = t.array[ann_i, size] if kind == ARRAY else t.sequence[ann_i]
    assert kind in (ARRAY, SEQUENCE)
    return ann, _each(to_i, list), _each(from_i, make)


def _from_hint(tp: Any, stack: tuple[type, ...]) -> Part:
    t = _idl_types()
    if tp is bool:
        return bool, _same, _same
    if tp is int:
        return t.int64, _same, _same
    if tp is float:
        return t.float64, float, _same
    if tp is str:
        return str, _same, _same
    if tp is bytes:
        return t.sequence[t.uint8], bytes, bytes
    if isinstance(tp, type) and issubclass(tp, enum.IntEnum):
        etp = tp
        return t.int64, int, lambda v: etp(v)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (list, tuple) and args and (origin is list or args[-1] is Ellipsis):
        if origin is tuple and len(args) != 2:
            raise LocalProtocolError(f"{tp!r} has no DDS counterpart")
        ann_i, to_i, from_i = _from_hint(args[0], stack)
        return t.sequence[ann_i], _each(to_i, list), _each(from_i, origin)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        sub = _build_cached(tp, stack)
        return sub.idl_cls, sub.to_dds, sub.from_dds
    raise LocalProtocolError(f"message field type {tp!r} has no DDS counterpart "
                             "(fixed tuples and unions are not supported)")


def _build_cached(cls: type, stack: tuple[type, ...]) -> DdsType:
    with _lock:
        found = _cache.get(cls)
        if found is None:
            found = _build(cls, stack)
            _cache[cls] = found
        return found


def _each(conv: Conv, make: Callable[[Any], Any]) -> Conv:
    if conv is _same:
        return lambda v: make(v)
    return lambda v: make([conv(x) for x in v])
