"""What the node tools (``robot-gcs topic``, ``service``, ``param``) share.

What it owns: the tools' parsers (``tool_parsers``/``tool_parser``: the ring options at
every level), attaching a tool's Node to the ring (``open_tool``: the ring named by
ring.py, a socket session to the first daemon that answers, a Node marked as a tool in
the registry so listings leave it out), waiting for the registry to be complete, finding
a node by the name a user types (``find_node``: ``talker`` or ``#talker#cpu1``, the one
spelling of names everywhere), publishing at the ring's pace (``publish_waiting``),
importing a type a user names, and the exit codes.

Exit codes: 0 done, 1 nothing to show / the call or set failed, 2 bad arguments
(including a refused type), 3 no daemon to attach to.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..errors import Backpressure, ConfigError, GcsError, LocalProtocolError
from ..hints import did_you_mean
from ..pubsub.codec import import_type
from ..pubsub.endpoints import Publisher
from ..pubsub.node import Node
from .ring import RobotNotFound, add_ring_arguments, connect_first, ring_target

OK, NOTHING, BAD_ARGS, NO_DAEMON = 0, 1, 2, 3


class ToolError(GcsError):
    """A tool cannot go on; ``code`` is its exit status."""

    def __init__(self, message: str, code: int = BAD_ARGS) -> None:
        self.code = code
        super().__init__(message)


def tool_parsers(parser: argparse.ArgumentParser, dest: str, title: str,
                 launch: bool = False) -> "argparse._SubParsersAction[argparse.ArgumentParser]":
    """The sub-commands of a tool (``topic list``...), the ring options on the tool too."""
    add_ring_arguments(parser, launch)
    return parser.add_subparsers(dest=dest, metavar=dest.upper(), required=True, title=title)


def tool_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]", name: str,
                help_text: str, launch: bool = False) -> argparse.ArgumentParser:
    """One sub-command, with the ring options (they may come after it as well)."""
    p = sub.add_parser(name, help=help_text, description=help_text)
    add_ring_arguments(p, launch)
    return p


def open_tool(args: argparse.Namespace, prefix: str, **node_kw: Any) -> Node:
    """A tool's Node on a socket session to the ring (ToolError NO_DAEMON if none)."""
    try:
        target = ring_target(args)
        session, _ = connect_first(target, f"{prefix}-{os.getpid()}")
    except (RobotNotFound, ConfigError) as exc:
        raise ToolError(str(exc), NO_DAEMON) from None
    return Node(f"{prefix}-{os.getpid()}", session, tool=True, **node_kw)


def close_tool(node: Node) -> None:
    session = node.session
    node.destroy()
    try:
        session.close()
    except GcsError:
        pass


def publish_waiting(node: Node, pub: Publisher, value: Any, timeout: float = 30.0) -> None:
    """``pub.publish(value)``, waiting while the daemon pushes back (Backpressure): the
    node spins meanwhile, so its session stays drained. A tool publishing as fast as it can
    goes at the ring's pace instead of failing; Backpressure only after ``timeout``."""
    deadline = node.clock() + timeout
    while True:
        try:
            pub.publish(value)
            return
        except Backpressure:
            if node.clock() >= deadline:
                raise
            node.spin_once(0.001)


def wait_registry(node: Node, timeout: float) -> bool:
    """Read the ring until every registry member announced (or ``timeout``)."""
    return node._wait_until(node.registry.complete, timeout)


def node_names(node: Node) -> dict[str, str]:
    """Private name -> node name of every non-tool node in the registry."""
    return {m: e.node for m, e in node.registry.graph().items() if not e.tool}


def find_node(node: Node, who: str) -> str:
    """The private name of the node ``who`` names (``talker`` or ``#talker#cpu1``)."""
    names = node_names(node)
    if who in names:
        return who
    matches = [m for m, n in names.items() if n == who]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ToolError(f"several nodes are named {who}: {', '.join(sorted(matches))}; "
                        "say which (the full name)")
    known = set(names) | set(names.values())
    raise ToolError(f"no node {who} in the ring{did_you_mean(who, known)} "
                    f"(nodes: {', '.join(sorted(names)) or 'none'})", NOTHING)


def load_type(path: str) -> Any:
    """A class named ``module:Name`` (the current directory importable, like python -m)."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return import_type(path)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ToolError(f"cannot import {path}: {type(exc).__name__}: {exc}") from None


def run_tool(prog: str, body: Any, args: argparse.Namespace) -> int:
    """Run ``body(args)`` and turn its errors into a message and an exit status."""
    try:
        return int(body(args))
    except ToolError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return exc.code
    except (LocalProtocolError, ConfigError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return BAD_ARGS
    except GcsError as exc:
        print(f"{prog}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return NOTHING
    except KeyboardInterrupt:
        return OK

