"""`robot-gcs param list [NODE] | get NODE NAME | set NODE NAME VALUE`: node parameters.

Like ``ros2 param``. Attaches to the ring the way every command does (cli/ring.py),
finds the node by the name you type (``talker``, or ``#talker#cpu1`` when two processors
run a ``talker``) in the registry, and calls its built-in parameter service
(parameters.py) -- so it reaches launched components and hand-written nodes alike.

* ``list``: every node's parameters (or one node's) with value and type.
* ``get``: one value.
* ``set``: VALUE is parsed as YAML (``2.5``, ``true``, ``[1, 2]``, ``debug``); the node
  checks its type and may refuse (its on-set callbacks): the reason is printed, exit 1.

Exit codes (cli/tools.py): 0 done, 1 no such node / parameter, or refused, 2 bad
arguments, 3 no daemon.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..cli.tools import (NOTHING, OK, ToolError, close_tool, find_node, node_names, open_tool,
                         run_tool, tool_parser, tool_parsers, wait_registry)
from .node import Node
from .parameters import ParamReply, ParamRequest

PROG = "robot-gcs param"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = tool_parsers(parser, "op", "operations")
    p = tool_parser(sub, "list", "parameters of every node (or of one)")
    p.add_argument("node", nargs="?", help="node name (talker or #talker#cpu1); default: all")
    _timeout(p)
    p = tool_parser(sub, "get", "one parameter's value")
    p.add_argument("node", help="node name (talker or #talker#cpu1)")
    p.add_argument("param", metavar="NAME", help="parameter name")
    _timeout(p)
    p = tool_parser(sub, "set", "set a parameter at run time")
    p.add_argument("node", help="node name (talker or #talker#cpu1)")
    p.add_argument("param", metavar="NAME", help="parameter name")
    p.add_argument("value", help="new value, as YAML (2.5, true, [1, 2], debug)")
    _timeout(p)


def _timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=float, default=3.0,
                   help="seconds to wait for the registry and for each node's answer")


def run(args: argparse.Namespace) -> int:
    return run_tool(PROG, _run, args)


def _ask(node: Node, target: str, req: ParamRequest, timeout: float) -> dict[str, Any]:
    reply: ParamReply = node.parameter_client().call(req, timeout=timeout, server=target)
    if not reply.ok:
        raise ToolError(f"{target}: {reply.body}", NOTHING)
    found: dict[str, Any] = json.loads(reply.body)
    return found


def _line(name: str, p: dict[str, Any]) -> str:
    text = f"{name} = {json.dumps(p['value'])}  ({p['type']})"
    return text + (f"  {p['description']}" if p.get("description") else "")


def _run(args: argparse.Namespace) -> int:
    node = open_tool(args, "param")
    try:
        wait_registry(node, args.timeout)
        if args.op == "list":
            targets = [find_node(node, args.node)] if args.node else sorted(node_names(node))
            if not targets:
                print("no nodes in the ring")
                return NOTHING
            for target in targets:
                params = _ask(node, target, ParamRequest("list", ""), args.timeout)
                print(f"{target}:")
                for name in sorted(params):
                    print(f"  {_line(name, params[name])}")
            return OK
        target = find_node(node, args.node)
        if args.op == "get":
            params = _ask(node, target, ParamRequest("get", json.dumps([args.param])), args.timeout)
            print(_line(args.param, params[args.param]))
            return OK
        import yaml
        try:
            value = yaml.safe_load(args.value)
        except yaml.YAMLError as exc:
            raise ToolError(f"VALUE is not YAML: {exc}") from None
        params = _ask(node, target, ParamRequest("set", json.dumps({args.param: value})),
                      args.timeout)
        print(f"set {target} {_line(args.param, params[args.param])}")
        return OK
    finally:
        close_tool(node)
