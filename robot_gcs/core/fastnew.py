"""Cheaper construction of frozen slots dataclasses on the per-message path.

What it owns: ``maker(cls)``, a positional constructor for a frozen ``slots=True``
dataclass that builds the very same value as ``cls(...)`` with every field given.

Why: a frozen dataclass's generated ``__init__`` stores each field through
``object.__setattr__(self, "name", value)`` (a name lookup per field, to get around the
frozen ``__setattr__``); on this project's hot path (Mcast, Token, Deliver, SetTimer,
Send, DataMessage, ToClient per message) that is about a third of their cost. ``maker``
calls each slot's descriptor directly instead, once per field, with no other change:
the result is an ordinary instance of ``cls`` (equal, hashable, frozen afterwards).

Rules:
* Every field must be passed, positionally, in declaration order (no defaults).
* Only for dataclasses that are frozen, use slots, have no ``__post_init__`` and no
  ``InitVar``/``init=False`` fields; for any other class ``maker`` returns ``cls`` itself,
  so a later change to such a class (a validating ``__post_init__``) is honoured.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, TypeVar

T = TypeVar("T")


def _plain(cls: type) -> bool:
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or not hasattr(cls, "__slots__"):
        return False
    if hasattr(cls, "__post_init__"):
        return False
    fs = dataclasses.fields(cls)
    if len(fs) != len(getattr(cls, "__dataclass_fields__", {})):
        return False            # InitVar / ClassVar pseudo-fields
    return all(f.init for f in fs)


def maker(cls: type[T]) -> Callable[..., T]:
    """A positional constructor equivalent to ``cls(*all_fields)`` (see module doc)."""
    if not _plain(cls):
        return cls
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    ns: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"def make_{cls.__name__}({', '.join(names)}):", "    o = _new(_cls)"]
    for i, name in enumerate(names):
        ns[f"_set{i}"] = cls.__dict__[name].__set__
        lines.append(f"    _set{i}(o, {name})")
    lines.append("    return o")
    exec("\n".join(lines), ns)   # noqa: S102 - generated from field names only
    fn: Callable[..., T] = ns[f"make_{cls.__name__}"]
    fn.__doc__ = f"{cls.__name__}({', '.join(names)}), every field given (core.fastnew)."
    return fn
