"""Node parameters: declared with a type and a default, read and set at run time.

What it owns: one node's parameters (``ParameterStore``), the type rules every parameter
follows (``ParameterType``, ``coerce``) -- the launch loader checks a launch file's
``params:`` with the same rules before anything starts -- and the built-in parameter
service every Node serves (``PARAM_SERVICE``), which ``robot-gcs param list/get/set``
calls.

Rules (rclpy's shape: ``declare_parameter``, ``get_parameter(name).value``,
``set_parameters``, ``add_on_set_parameters_callback``):

* A parameter is declared once, with a default; its type is the default's (``bool``,
  ``int``, ``float``, ``str``, ``list``, ``dict``) unless given. A ``None`` default makes it
  nullable: of the given type, or of any type when none is given.
* Setting checks the type and converts an ``int`` to a ``float`` parameter; anything else of
  the wrong type is a ``ParameterError`` naming the parameter, the type and the value. A
  set of several values is all or nothing; the node's on-set callbacks (rclpy's
  ``SetParametersResult``) may refuse it with a reason.
* ``view()`` is a live read-only mapping name -> value (a launched component's
  ``self.config``), so a value set with ``robot-gcs param set`` is what the next callback reads.

Owner: the node's spinning thread (the parameter service's requests run among its
callbacks); ``view()`` reads are safe from any thread.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from ..errors import LocalProtocolError
from ..hints import did_you_mean

PARAM_SERVICE = "#param"          # every node serves it at its private name
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


class ParameterError(LocalProtocolError):
    """A parameter was declared, read or set wrongly (unknown name, wrong type, refused)."""


class ParameterType(enum.Enum):
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    STR = "str"
    LIST = "list"
    DICT = "dict"
    ANY = "any"

    @classmethod
    def of(cls, spec: "ParameterType | type | None", default: Any = None) -> "ParameterType":
        """The type named by ``spec`` (a ParameterType or a Python type), else the default's."""
        if isinstance(spec, ParameterType):
            return spec
        if spec is not None:
            for py, t in _PY_TYPES:
                if spec is py:
                    return t
            if spec is object:
                return cls.ANY
            raise ParameterError(f"unsupported parameter type {spec!r}: one of bool, int, "
                                 "float, str, list, dict")
        if default is None:
            return cls.ANY
        for py, t in _PY_TYPES:
            if type(default) is py or (py is list and isinstance(default, tuple)):
                return t
        return cls.ANY


_PY_TYPES: tuple[tuple[type, ParameterType], ...] = (
    (bool, ParameterType.BOOL), (int, ParameterType.INT), (float, ParameterType.FLOAT),
    (str, ParameterType.STR), (list, ParameterType.LIST), (dict, ParameterType.DICT))

_ARTICLE = {ParameterType.INT: "an int", ParameterType.ANY: "any value"}


def type_phrase(ptype: ParameterType) -> str:
    """``a float``, ``an int``: for messages."""
    return _ARTICLE.get(ptype, f"a {ptype.value}")


def coerce(ptype: ParameterType, value: Any, nullable: bool = False) -> Any:
    """``value`` as a value of ``ptype`` (an int for a float is converted); ``TypeError``
    with the reason when it is not one."""
    if value is None and (nullable or ptype is ParameterType.ANY):
        return None
    ok: Callable[[Any], bool] = {
        ParameterType.BOOL: lambda v: isinstance(v, bool),
        ParameterType.INT: lambda v: isinstance(v, int) and not isinstance(v, bool),
        ParameterType.FLOAT: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        ParameterType.STR: lambda v: isinstance(v, str),
        ParameterType.LIST: lambda v: isinstance(v, (list, tuple)),
        ParameterType.DICT: lambda v: isinstance(v, dict),
        ParameterType.ANY: lambda v: True,
    }[ptype]
    if not ok(value):
        raise TypeError(f"expected {type_phrase(ptype)}, got {value!r} ({type(value).__name__})")
    if ptype is ParameterType.FLOAT:
        return float(value)
    if ptype is ParameterType.LIST:
        return list(value)
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise TypeError(f"{value!r} cannot be carried as a parameter value (not JSON)") from None
    return value


@dataclass(frozen=True, slots=True)
class Parameter:
    """One declared parameter and its current value."""

    name: str
    value: Any
    type: ParameterType
    description: str = ""
    read_only: bool = False
    nullable: bool = False

    def to_jsonable(self) -> dict[str, Any]:
        return {"value": self.value, "type": self.type.value, "description": self.description,
                "read_only": self.read_only}


@dataclass(frozen=True, slots=True)
class SetParametersResult:
    """What an on-set callback answers (rclpy's shape): refuse with a reason, or accept."""

    successful: bool
    reason: str = ""


OnSet = Callable[[list[Parameter]], "SetParametersResult | None"]


@dataclass(frozen=True, slots=True)
class ParamRequest:
    """A request of the built-in parameter service."""

    op: str          # "list" | "get" | "set"
    body: str        # JSON: [names] for get, {name: value} for set, "" for list


@dataclass(frozen=True, slots=True)
class ParamReply:
    ok: bool
    body: str        # JSON {name: Parameter.to_jsonable()} when ok, else the reason


class ParameterService:
    """The parameter service's type (``Request``/``Response``, like any service type)."""

    Request = ParamRequest
    Response = ParamReply


class _LiveView(Mapping[str, Any]):
    def __init__(self, store: "ParameterStore") -> None:
        self._store = store

    def __getitem__(self, key: str) -> Any:
        return self._store._params[key].value

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._store._params))

    def __len__(self) -> int:
        return len(self._store._params)

    def __repr__(self) -> str:
        return f"<parameters {dict(self)!r}>"


class ParameterStore:
    """The parameters of one node (``node`` names it in messages)."""

    def __init__(self, node: str) -> None:
        self.node = node
        self._params: dict[str, Parameter] = {}
        self._callbacks: list[OnSet] = []

    def declare(self, name: str, default: Any = None,
                type: "ParameterType | type | None" = None, description: str = "",
                read_only: bool = False) -> Parameter:
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ParameterError(f"bad parameter name {name!r}: letters, digits, '_' and '.'")
        if name in self._params:
            raise ParameterError(f"node {self.node}: parameter {name} is already declared")
        ptype = ParameterType.of(type, default)
        nullable = default is None
        try:
            value = coerce(ptype, default, nullable)
        except TypeError as exc:
            raise ParameterError(f"node {self.node}: default of parameter {name}: {exc}") from None
        p = Parameter(name, value, ptype, description, read_only, nullable)
        self._params[name] = p
        return p

    def has(self, name: str) -> bool:
        return name in self._params

    def get(self, name: str) -> Parameter:
        try:
            return self._params[name]
        except KeyError:
            raise ParameterError(f"node {self.node} has no parameter {name!r}"
                                 + did_you_mean(name, self._params)) from None

    def list(self) -> tuple[Parameter, ...]:
        return tuple(self._params[n] for n in sorted(self._params))

    def view(self) -> Mapping[str, Any]:
        return _LiveView(self)

    def add_on_set_callback(self, cb: OnSet) -> None:
        self._callbacks.append(cb)

    def set(self, values: Mapping[str, Any]) -> SetParametersResult:
        """Check and set every value, or none; raises ``ParameterError`` with the reason."""
        new: list[Parameter] = []
        for name, value in values.items():
            p = self.get(name)
            if p.read_only:
                raise ParameterError(f"node {self.node}: parameter {name} is read-only")
            try:
                v = coerce(p.type, value, p.nullable)
            except TypeError as exc:
                raise ParameterError(f"node {self.node}: parameter {name} is {type_phrase(p.type)} "
                                     f"parameter: {exc}") from None
            new.append(Parameter(p.name, v, p.type, p.description, p.read_only, p.nullable))
        for cb in self._callbacks:
            res = cb(list(new))
            if res is not None and not res.successful:
                raise ParameterError(f"node {self.node} refused "
                                     f"{', '.join(p.name for p in new)}: {res.reason or 'no reason given'}")
        for p in new:
            self._params[p.name] = p
        return SetParametersResult(True)

    # ------------------------------------------------------------ the service side

    def serve(self, req: ParamRequest) -> ParamReply:
        """Answer one request of the parameter service (never raises)."""
        try:
            if req.op == "list":
                chosen = self.list()
            elif req.op == "get":
                names = json.loads(req.body)
                if not isinstance(names, list):
                    raise ParameterError("get wants a list of names")
                chosen = tuple(self.get(str(n)) for n in names)
            elif req.op == "set":
                values = json.loads(req.body)
                if not isinstance(values, dict):
                    raise ParameterError("set wants a mapping of names to values")
                self.set(values)
                chosen = tuple(self.get(n) for n in values)
            else:
                raise ParameterError(f"unknown parameter operation {req.op!r}")
        except (ParameterError, ValueError) as exc:
            return ParamReply(False, str(exc))
        return ParamReply(True, json.dumps({p.name: p.to_jsonable() for p in chosen},
                                           sort_keys=True))
