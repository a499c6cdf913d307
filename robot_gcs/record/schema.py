"""JSON views of message dataclasses: a JSON schema, value -> JSON, JSON -> value.

What it owns: ``json_form(msg_type)``, the one mapping between a topic's message type (the
dataclasses of pubsub/codec.py, or ``bytes`` for raw topics) and the JSON that recordings
and the Foxglove server carry. Foxglove shows the fields of a ``json`` channel whose
schema is a JSON schema (``jsonschema`` encoding), so every field becomes a plottable
path: ``/odom.x``.

Rules, field type by field type (the ones codec.py allows)::

    bool -> boolean   int -> integer   float -> number (NaN/inf become null: JSON has no
    such numbers; null reads back as NaN)   str -> string
    bytes -> string, base64 (contentEncoding)   IntEnum -> integer (its value)
    list[T] / tuple[T, ...] / tuple[T1, T2] -> array   nested dataclass -> object

A raw topic (``bytes``) is the object ``{"data": base64}``. Converters are compiled once
per type (``JsonForm`` is cached) and are plain functions: no state, safe across threads.
``from_json`` raises ``BagError`` naming the field when a document does not fit the type.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import math
import typing
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import GcsError, LocalProtocolError
from ..pubsub.codec import codec_for

#: the reserved key each recorded message carries next to its fields (recorder.py)
ORDER_KEY = "_gcs"


class BagError(GcsError):
    """A recording cannot be read or replayed as asked; the message says what to do."""


ToJson = Callable[[Any], Any]
FromJson = Callable[[Any, str], Any]       # (document, field path for errors)


@dataclass(frozen=True, slots=True)
class JsonForm:
    """A message type's JSON schema and its two converters."""

    name: str                 # schema name: the type's qualified name, or "bytes"
    schema: dict[str, Any]
    to_json: ToJson           # value -> JSON-able object (no NaN)
    from_json: Callable[[Any], Any]

    def dumps(self, value: Any) -> str:
        """The message as compact JSON text."""
        text = json.dumps(self.to_json(value), separators=(",", ":"))
        if "NaN" in text or "Infinity" in text:      # rare: redo with non-finite -> null
            text = json.dumps(_finite(self.to_json(value)), separators=(",", ":"))
        return text


_CACHE: dict[Any, JsonForm] = {}


def json_form(msg_type: type | None) -> JsonForm:
    """The JSON form of a message type (``None``/``bytes``: raw). LocalProtocolError if
    the type is not a message type (codec.py's rules)."""
    key = bytes if msg_type is None else msg_type
    form = _CACHE.get(key)
    if form is None:
        if key is bytes:
            form = JsonForm("bytes", _RAW_SCHEMA, _raw_to, _raw_from)
        else:
            codec_for(key)          # LocalProtocolError unless a message type (codec.py)
            schema, to, frm = _compile(key)
            root = dict(schema)
            root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
            root["title"] = key.__qualname__
            form = JsonForm(key.__qualname__, root, to, _at_root(frm))
        _CACHE[key] = form
    return form


_RAW_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema", "title": "bytes",
    "type": "object",
    "properties": {"data": {"type": "string", "contentEncoding": "base64"}}}


def _at_root(frm: FromJson) -> Callable[[Any], Any]:
    def from_json(doc: Any) -> Any:
        return frm(doc, "")
    return from_json


def _raw_to(value: Any) -> Any:
    return {"data": base64.b64encode(bytes(value)).decode()}


def _raw_from(doc: Any) -> bytes:
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), str):
        raise BagError("a raw message must be {\"data\": base64}")
    return _b64(doc["data"], "data")


def _b64(text: Any, where: str) -> bytes:
    if not isinstance(text, str):
        raise BagError(f"{where or 'value'}: expected base64 text, got {type(text).__name__}")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise BagError(f"{where or 'value'}: not base64") from None


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def _identity(v: Any) -> Any:
    return v


def _expect(kind: type | tuple[type, ...], label: str) -> FromJson:
    def check(doc: Any, where: str) -> Any:
        if not isinstance(doc, kind) or (isinstance(doc, bool) and label != "boolean"):
            raise BagError(f"{where or 'value'}: expected {label}, got {json.dumps(doc)[:40]}")
        return doc
    return check


def _from_float(doc: Any, where: str) -> float:
    if doc is None:
        return math.nan
    if isinstance(doc, bool) or not isinstance(doc, (int, float)):
        raise BagError(f"{where or 'value'}: expected a number, got {json.dumps(doc)[:40]}")
    return float(doc)


def _compile(tp: Any) -> tuple[dict[str, Any], ToJson, FromJson]:
    if tp is bool:
        return {"type": "boolean"}, _identity, _expect(bool, "boolean")
    if tp is int:
        return {"type": "integer"}, _identity, _expect(int, "an integer")
    if tp is float:
        return {"type": "number"}, _identity, _from_float
    if tp is str:
        return {"type": "string"}, _identity, _expect(str, "a string")
    if tp is bytes:
        return ({"type": "string", "contentEncoding": "base64"},
                lambda v: base64.b64encode(v).decode(), _b64)
    if isinstance(tp, type) and issubclass(tp, enum.IntEnum):
        etp = tp
        names = ", ".join(f"{m.value} {m.name}" for m in etp)

        def enum_from(doc: Any, where: str) -> Any:
            try:
                return etp(_expect(int, "an integer")(doc, where))
            except ValueError:
                raise BagError(f"{where or 'value'}: {doc} is not a {etp.__name__}") from None
        return ({"type": "integer", "description": f"{etp.__name__}: {names}"}, int, enum_from)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (list, tuple) and args and (origin is list or (len(args) == 2 and args[1] is Ellipsis)):
        ischema, ito, ifrom = _compile(args[0])
        make: Callable[[list[Any]], Any] = list if origin is list else tuple
        to_l: ToJson = list if ito is _identity else (lambda v: [ito(x) for x in v])

        def from_l(doc: Any, where: str) -> Any:
            if not isinstance(doc, list):
                raise BagError(f"{where or 'value'}: expected an array")
            return make([ifrom(x, f"{where}[{i}]") for i, x in enumerate(doc)])
        return {"type": "array", "items": ischema}, to_l, from_l
    if origin is tuple and args:
        parts = [_compile(a) for a in args]

        def to_t(v: Any) -> Any:
            return [p[1](x) for p, x in zip(parts, v)]

        def from_t(doc: Any, where: str) -> Any:
            if not isinstance(doc, list) or len(doc) != len(parts):
                raise BagError(f"{where or 'value'}: expected an array of {len(parts)}")
            return tuple(p[2](x, f"{where}[{i}]") for i, (p, x) in enumerate(zip(parts, doc)))
        return ({"type": "array", "prefixItems": [p[0] for p in parts],
                 "minItems": len(parts), "maxItems": len(parts)}, to_t, from_t)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _compile_dataclass(tp)
    raise LocalProtocolError(f"unsupported message field type {tp!r}")


def _compile_dataclass(cls: type) -> tuple[dict[str, Any], ToJson, FromJson]:
    hints = typing.get_type_hints(cls)        # resolvable: codec_for(root) checked the type
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    parts = [_compile(hints[n]) for n in names]
    schema = {"type": "object", "title": cls.__qualname__,
              "properties": {n: p[0] for n, p in zip(names, parts)}, "required": names}
    convs = [(n, p[1]) for n, p in zip(names, parts)]
    if all(p[1] is _identity for p in parts):
        def to_dc(v: Any) -> Any:
            return {n: getattr(v, n) for n in names}
    else:
        def to_dc(v: Any) -> Any:
            return {n: c(getattr(v, n)) for n, c in convs}
    froms = [(n, p[2]) for n, p in zip(names, parts)]

    def from_dc(doc: Any, where: str) -> Any:
        if not isinstance(doc, dict):
            raise BagError(f"{where or 'value'}: expected an object for {cls.__name__}")
        vals = {}
        for n, f in froms:
            path = f"{where}.{n}" if where else n
            if n not in doc:
                raise BagError(f"{path}: missing ({cls.__name__} needs it)")
            vals[n] = f(doc[n], path)
        return cls(**vals)
    return schema, to_dc, from_dc
