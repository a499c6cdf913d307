"""Message codecs: raw bytes, typed dataclass messages, type fingerprints, the topic envelope.

What it owns: how a topic message becomes bytes on the ring and back.

Typed messages are plain Python dataclasses whose fields are annotated with supported
types::

    bool -> '?' (1 byte)   int -> i64   float -> f64   str -> u32 length + UTF-8
    bytes -> u32 length + bytes   another message dataclass (nested)
    tuple[T, ...] / list[T] -> u32 count + items     tuple[T1, T2] -> fixed items
    IntEnum subclass -> i64 (its name is part of the fingerprint)

All integers little-endian. A dataclass with only bool/int/float fields is packed with one
``struct.Struct`` call. The *fingerprint* is the first 8 bytes of BLAKE2b over a canonical
text description of the type: class name, field names and field types, recursively (the
module path is not part of it, so moving a class does not change it; renaming a field or
changing its type does). Raw bytes messages have the fingerprint of the description "raw".

Every topic message travels in an envelope (network byte order)::

    magic u8 (0x54 'T') | flags u8 (bit0 HANDOVER) | fingerprint u64 | publisher id u32 |
    publisher seq u32 | stamp f64 (publisher's time.time()) | body

In the same process the daemon hands subscribers a ``Sample`` (the envelope fields plus the
publisher's object) instead of the bytes, so local delivery never packs or unpacks.

Errors: encoding a value that does not match its type is the caller's fault
(LocalProtocolError); bytes that do not decode came from a peer (MalformedPacket).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import importlib
import struct
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable

from ..core.fastnew import maker
from ..errors import LocalProtocolError, MalformedPacket

# ---------------------------------------------------------------------------- envelope

ENVELOPE = struct.Struct("!BBQIId")
ENVELOPE_MAGIC = 0x54
FLAG_HANDOVER = 0x01


@dataclass(frozen=True, slots=True)
class Sample:
    """One topic message with its envelope fields; ``value`` is bytes or a dataclass."""

    fingerprint: int
    publisher_id: int
    seq: int
    stamp: float
    value: Any
    handover: bool = False
    size: int = 0           # body bytes (not on the wire; for bandwidth statistics)


#: ``Sample(...)`` with every field given, positionally (core/fastnew.py): the per-message path
new_sample = maker(Sample)


def encode_envelope(sample: Sample, body: bytes) -> bytes:
    flags = FLAG_HANDOVER if sample.handover else 0
    return ENVELOPE.pack(ENVELOPE_MAGIC, flags, sample.fingerprint, sample.publisher_id,
                         sample.seq, sample.stamp) + body


def decode_envelope(data: bytes) -> tuple[Sample, memoryview]:
    """Split a topic message into its header (``value`` left None) and body.

    Raises MalformedPacket if it is not a topic envelope.
    """
    if len(data) < ENVELOPE.size:
        raise MalformedPacket("topic_truncated", f"{len(data)} bytes")
    magic, flags, fp, pub_id, seq, stamp = ENVELOPE.unpack_from(data, 0)
    if magic != ENVELOPE_MAGIC:
        raise MalformedPacket("topic_magic", f"0x{magic:02x}")
    hdr = new_sample(fp, pub_id, seq, stamp, None, bool(flags & FLAG_HANDOVER),
                     len(data) - ENVELOPE.size)
    return hdr, memoryview(data)[ENVELOPE.size:]


# ---------------------------------------------------------------------------- fingerprints

def _fp(desc: str) -> int:
    return int.from_bytes(hashlib.blake2b(desc.encode(), digest_size=8).digest(), "big")


RAW_DESCRIPTION = "raw"
RAW_FINGERPRINT = _fp(RAW_DESCRIPTION)

# ---------------------------------------------------------------------------- typed codecs

_U32 = struct.Struct("<I")
_SCALARS: dict[type, tuple[str, str]] = {bool: ("bool", "?"), int: ("i64", "q"), float: ("f64", "d")}

Encoder = Callable[[Any, list[bytes]], None]   # appends the encoded pieces
Decoder = Callable[[memoryview, int], tuple[Any, int]]


class MessageCodec:
    """Compiled encoder/decoder for one message dataclass (use ``codec_for(cls)``)."""

    __slots__ = ("cls", "description", "fingerprint", "_enc", "_dec")

    def __init__(self, cls: type, description: str, enc: Encoder, dec: Decoder) -> None:
        self.cls = cls
        self.description = description
        self.fingerprint = _fp(description)
        self._enc = enc
        self._dec = dec

    def encode(self, value: Any) -> bytes:
        if type(value) is not self.cls:
            raise LocalProtocolError(
                f"expected a {self.cls.__name__} message, got {type(value).__name__}")
        out: list[bytes] = []
        try:
            self._enc(value, out)
        except (struct.error, TypeError, AttributeError, UnicodeEncodeError) as exc:
            raise LocalProtocolError(f"cannot encode {self.cls.__name__}: {exc}") from None
        return b"".join(out)

    def decode(self, data: "bytes | memoryview") -> Any:
        mv = memoryview(data)
        try:
            value, off = self._dec(mv, 0)
        except (struct.error, UnicodeDecodeError, ValueError, TypeError) as exc:
            raise MalformedPacket("topic_body", f"{self.cls.__name__}: {exc}") from None
        if off != len(mv):
            raise MalformedPacket("topic_body", f"{self.cls.__name__}: {len(mv) - off} trailing bytes")
        return value


class RawCodec:
    """Raw bytes messages: the body is the payload."""

    cls = bytes
    description = RAW_DESCRIPTION
    fingerprint = RAW_FINGERPRINT

    def encode(self, value: Any) -> bytes:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        raise LocalProtocolError(f"raw topic expects bytes, got {type(value).__name__}")

    def decode(self, data: "bytes | memoryview") -> bytes:
        return bytes(data)


RAW = RawCodec()
_CACHE: dict[type, MessageCodec] = {}


def codec_for(msg_type: "type | None") -> "MessageCodec | RawCodec":
    """The codec for a message type: ``None``/``bytes`` -> raw, a dataclass -> typed."""
    if msg_type is None or msg_type is bytes:
        return RAW
    codec = _CACHE.get(msg_type)
    if codec is None:
        desc, enc, dec = _compile(msg_type, ())
        codec = MessageCodec(msg_type, desc, enc, dec)
        _CACHE[msg_type] = codec
    return codec


def import_type(path: str) -> Any:
    """``module:Name`` (or ``module:Outer.Inner``) -> the object it names.

    Raises ImportError / AttributeError / ValueError (not of that form)."""
    if path.count(":") != 1:
        raise ValueError(f"{path!r} is not of the form module:Name")
    mod_name, attr = path.split(":")
    obj: Any = importlib.import_module(mod_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def type_path(msg_type: "type | None") -> str:
    """``module:QualName`` of a message type, or ``bytes`` for raw topics."""
    if msg_type is None or msg_type is bytes:
        return "bytes"
    return f"{msg_type.__module__}:{msg_type.__qualname__}"


def _compile(tp: Any, stack: tuple[type, ...]) -> tuple[str, Encoder, Decoder]:
    if tp in _SCALARS:
        name, code = _SCALARS[tp]
        st = struct.Struct("<" + code)
        check = _checker(tp)

        def enc_s(v: Any, out: list[bytes]) -> None:
            check(v)
            out.append(st.pack(v))

        def dec_s(mv: memoryview, off: int) -> tuple[Any, int]:
            return st.unpack_from(mv, off)[0], off + st.size
        return name, enc_s, dec_s
    if isinstance(tp, type) and issubclass(tp, enum.IntEnum):
        st = struct.Struct("<q")
        etp = tp

        def enc_e(v: Any, out: list[bytes]) -> None:
            out.append(st.pack(int(etp(v))))

        def dec_e(mv: memoryview, off: int) -> tuple[Any, int]:
            return etp(st.unpack_from(mv, off)[0]), off + 8
        return f"enum {tp.__name__}", enc_e, dec_e
    if tp is str or tp is bytes:
        is_str = tp is str

        def enc_b(v: Any, out: list[bytes]) -> None:
            if is_str:
                if not isinstance(v, str):
                    raise TypeError(f"expected str, got {type(v).__name__}")
                b = v.encode()
            else:
                if not isinstance(v, (bytes, bytearray)):
                    raise TypeError(f"expected bytes, got {type(v).__name__}")
                b = bytes(v)
            out.append(_U32.pack(len(b)))
            out.append(b)

        def dec_b(mv: memoryview, off: int) -> tuple[Any, int]:
            (n,) = _U32.unpack_from(mv, off)
            off += 4
            if off + n > len(mv):
                raise ValueError("string runs past the end")
            raw = bytes(mv[off:off + n])
            return (raw.decode() if is_str else raw), off + n
        return ("str" if is_str else "bytes"), enc_b, dec_b
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (list, tuple) and (origin is list or (len(args) == 2 and args[1] is Ellipsis)):
        if not args:
            raise LocalProtocolError(f"unsupported message field type {tp!r}: give the item type")
        idesc, ienc, idec = _compile(args[0], stack)
        make: Callable[[list[Any]], Any] = list if origin is list else tuple

        def enc_l(v: Any, out: list[bytes]) -> None:
            if not isinstance(v, (list, tuple)):
                raise TypeError(f"expected a sequence, got {type(v).__name__}")
            out.append(_U32.pack(len(v)))
            for item in v:
                ienc(item, out)

        def dec_l(mv: memoryview, off: int) -> tuple[Any, int]:
            (n,) = _U32.unpack_from(mv, off)
            off += 4
            if n > len(mv):
                raise ValueError("sequence count exceeds the message")
            items = []
            for _ in range(n):
                item, off = idec(mv, off)
                items.append(item)
            return make(items), off
        return f"[{idesc}]", enc_l, dec_l
    if origin is tuple and args:
        parts = [_compile(a, stack) for a in args]

        def enc_t(v: Any, out: list[bytes]) -> None:
            if not isinstance(v, (list, tuple)) or len(v) != len(parts):
                raise TypeError(f"expected a {len(parts)}-tuple")
            for (_, e, _), item in zip(parts, v):
                e(item, out)

        def dec_t(mv: memoryview, off: int) -> tuple[Any, int]:
            items = []
            for _, _, d in parts:
                item, off = d(mv, off)
                items.append(item)
            return tuple(items), off
        return "(" + ",".join(p[0] for p in parts) + ")", enc_t, dec_t
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _compile_dataclass(tp, stack)
    if isinstance(tp, types.UnionType) or origin is typing.Union:
        raise LocalProtocolError(f"unsupported message field type {tp!r}: optional fields are not supported")
    raise LocalProtocolError(f"unsupported message field type {tp!r}")


def _checker(tp: type) -> Callable[[Any], None]:
    if tp is float:
        def chk(v: Any) -> None:
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise TypeError(f"expected float, got {type(v).__name__}")
    elif tp is int:
        def chk(v: Any) -> None:
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"expected int, got {type(v).__name__}")
    else:
        def chk(v: Any) -> None:
            if not isinstance(v, bool):
                raise TypeError(f"expected bool, got {type(v).__name__}")
    return chk


def _compile_dataclass(cls: type, stack: tuple[type, ...]) -> tuple[str, Encoder, Decoder]:
    if cls in stack:
        raise LocalProtocolError(f"message type {cls.__name__} contains itself")
    try:
        hints = typing.get_type_hints(cls)
    except Exception as exc:  # NameError etc. from unresolvable annotations
        raise LocalProtocolError(f"cannot resolve field types of {cls.__name__}: {exc}") from None
    fields = [f for f in dataclasses.fields(cls) if f.init]
    names = [f.name for f in fields]
    ftypes = [hints[n] for n in names]
    if all(t in _SCALARS for t in ftypes):
        st = struct.Struct("<" + "".join(_SCALARS[t][1] for t in ftypes))
        checks = [_checker(t) for t in ftypes]
        desc = cls.__name__ + "{" + ",".join(f"{n}:{_SCALARS[t][0]}" for n, t in zip(names, ftypes)) + "}"
        getters = [_attr(n) for n in names]

        def enc_flat(v: Any, out: list[bytes]) -> None:
            vals = [g(v) for g in getters]
            for c, x in zip(checks, vals):
                c(x)
            out.append(st.pack(*vals))

        def dec_flat(mv: memoryview, off: int) -> tuple[Any, int]:
            return cls(*st.unpack_from(mv, off)), off + st.size
        return desc, enc_flat, dec_flat
    parts = [_compile(t, stack + (cls,)) for t in ftypes]
    desc = cls.__name__ + "{" + ",".join(f"{n}:{p[0]}" for n, p in zip(names, parts)) + "}"
    encs = [(n, p[1]) for n, p in zip(names, parts)]
    decs = [p[2] for p in parts]

    def enc_dc(v: Any, out: list[bytes]) -> None:
        if not isinstance(v, cls):
            raise TypeError(f"expected {cls.__name__}, got {type(v).__name__}")
        for n, e in encs:
            e(getattr(v, n), out)

    def dec_dc(mv: memoryview, off: int) -> tuple[Any, int]:
        vals = []
        for d in decs:
            x, off = d(mv, off)
            vals.append(x)
        return cls(*vals), off
    return desc, enc_dc, dec_dc


def _attr(name: str) -> Callable[[Any], Any]:
    return lambda v: getattr(v, name)
