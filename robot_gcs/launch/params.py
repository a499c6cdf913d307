"""What a component class declares about its parameters, and checking values against it.

What it owns: reading a component class's declaration -- ``params`` (name -> default) and
``param_types`` (name -> type, for defaults that do not say, such as ``None``) -- into one
``ParamSpec`` per parameter, and checking a launch file's (or ``--set``'s) value against it
with the node parameter rules (pubsub/parameters.py), so ``rate_hz: fast`` is refused
before anything starts, at its line, and the same value is what the node declares at run
time.

Rules: a class that declares no ``params`` accepts any parameter, typed by its value. A
declared class refuses unknown names ("did you mean"), except the parameters every node
has (``log_level``). A ``None`` default makes the parameter nullable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..hints import did_you_mean
from ..pubsub.logs import LEVEL_PARAM, parse_level
from ..pubsub.parameters import ParameterType, coerce, type_phrase

BUILTIN_PARAMS = (LEVEL_PARAM,)


@dataclass(frozen=True, slots=True)
class ParamSpec:
    name: str
    type: ParameterType
    default: Any
    nullable: bool


def declared_params(cls: Any) -> dict[str, ParamSpec]:
    """The parameters ``cls`` declares (empty: it declares none)."""
    defaults: Mapping[str, Any] = getattr(cls, "params", None) or {}
    types: Mapping[str, Any] = getattr(cls, "param_types", None) or {}
    out = {}
    for name, default in defaults.items():
        ptype = ParameterType.of(types.get(name), default)
        out[name] = ParamSpec(name, ptype, default, default is None)
    return out


def check_param(cls: Any, class_path: str, name: str, value: Any) -> Any:
    """``value`` checked (and converted) for parameter ``name`` of ``cls``.

    Raises ``KeyError`` (unknown name) or ``TypeError`` (wrong type), each with the
    sentence to show."""
    if name == LEVEL_PARAM:
        try:
            parse_level(value)
        except ValueError as exc:
            raise TypeError(str(exc)) from None
        return value
    specs = declared_params(cls)
    if not specs:
        return value
    spec = specs.get(name)
    if spec is None:
        raise KeyError(f"unknown parameter {name} of {class_path}{did_you_mean(name, specs)} "
                       f"(known: {', '.join(sorted(specs))})")
    try:
        return coerce(spec.type, value, spec.nullable)
    except TypeError as exc:
        raise TypeError(f"{class_path} declares {name} as {type_phrase(spec.type)} "
                        f"(default {spec.default!r}): {exc}") from None


def param_type(cls: Any, name: str, value: Any) -> ParameterType:
    """The type the node declares ``name`` with: the class's, else the value's."""
    spec = declared_params(cls).get(name)
    return spec.type if spec is not None else ParameterType.of(None, value)
