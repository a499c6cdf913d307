"""How ``create_publisher`` / ``create_subscription`` read their arguments.

What it owns: the one rule that accepts both argument orders -- rclpy's
(``create_publisher(Odometry, "/odom", 10)``, ``create_subscription(Odometry, "/odom",
cb, 10)``) and the topic-first one (``create_publisher("/odom", Odometry)``,
``create_subscription("/odom", cb, qos, Odometry)``) -- and refuses what is ambiguous.

Rules: a ``str`` first argument is the topic (topic-first order); a class first and a
``str`` second is rclpy's order. Anything else is a ``LocalProtocolError`` that shows both
forms. QoS may be a ``QoS`` or, as in rclpy, an int: the depth, on top of the topic's QoS from
the launch file (or the default QoS) -- the node applies it (``Node.qos_for``). The
message type, when given, must be a class (a message dataclass, or ``bytes`` for raw
topics); a keyword ``msg_type=`` that contradicts a positional one is an error.
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import LocalProtocolError
from .qos import QoS

PUB_FORMS = "create_publisher(MsgType, '/topic', qos) or create_publisher('/topic', MsgType, qos)"
SUB_FORMS = ("create_subscription(MsgType, '/topic', callback, qos) or "
             "create_subscription('/topic', callback, qos, MsgType)")


def qos_arg(q: Any) -> QoS | int | None:
    """A QoS, or rclpy's int depth, or None (the launch file's / default)."""
    if q is None or isinstance(q, QoS):
        return q
    if isinstance(q, int) and not isinstance(q, bool):
        if q < 1:
            raise LocalProtocolError(f"QoS depth must be >= 1, got {q}")
        return q
    raise LocalProtocolError(f"qos must be a QoS or an int depth, got {q!r}")


def _type_arg(t: Any, forms: str) -> type | None:
    if t is None or isinstance(t, type):
        return t
    raise LocalProtocolError(f"the message type must be a class (a message dataclass or bytes), "
                             f"got {t!r}; use {forms}")


def _merge_type(positional: Any, keyword: Any, forms: str) -> type | None:
    a, b = _type_arg(positional, forms), _type_arg(keyword, forms)
    if a is not None and b is not None and a is not b:
        raise LocalProtocolError(f"two message types given ({a.__name__} and {b.__name__}); "
                                 f"use {forms}")
    return a if a is not None else b


def publisher_args(first: Any, second: Any, qos: Any,
                   msg_type: Any = None) -> tuple[str, type | None, QoS | int | None]:
    """(topic, message type or None, QoS or None) from either order."""
    if isinstance(first, str) and not isinstance(second, str):
        if isinstance(second, QoS) and qos is None:      # create_publisher("/t", QoS(...))
            second, qos = None, second
        return first, _merge_type(second, msg_type, PUB_FORMS), qos_arg(qos)
    if isinstance(second, str) and not isinstance(first, str):
        return second, _merge_type(first, msg_type, PUB_FORMS), qos_arg(qos)
    raise LocalProtocolError(f"cannot tell the topic from the type in "
                             f"({first!r}, {second!r}): use {PUB_FORMS}")


def subscription_args(first: Any, second: Any, third: Any, fourth: Any,
                      msg_type: Any = None,
                      ) -> tuple[str, Callable[[Any], Any], QoS | int | None, type | None]:
    """(topic, callback, QoS or None, message type or None) from either order."""
    if isinstance(first, str) and callable(second) and not isinstance(second, type):
        topic, callback, q, t = first, second, third, fourth
        if isinstance(q, type) and (t is None or isinstance(t, QoS)):
            q, t = t, q                                    # ("/t", cb, MsgType[, qos])
    elif isinstance(second, str) and not isinstance(first, str) and callable(third):
        topic, callback, q, t = second, third, fourth, first
    else:
        raise LocalProtocolError(f"cannot tell topic, type and callback apart in "
                                 f"({first!r}, {second!r}, ...): use {SUB_FORMS}")
    return topic, callback, qos_arg(q), _merge_type(t, msg_type, SUB_FORMS)
