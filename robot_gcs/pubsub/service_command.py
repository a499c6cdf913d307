"""`robot-gcs service list | call NAME VALUE`: service tools.

Like ``ros2 service``. Attaches to the ring the way every command does (cli/ring.py).

* ``list``: every service the registry announces, its type and its servers.
* ``call``: sends one request and prints the response. The service type is ``--type
  module:Class`` or the one its server announces; VALUE is a YAML mapping of the
  request's fields (``'{x: 0.0}'``, or ``'{}'`` for a request without fields). No server
  in the view, a refused type and a failed handler are clear errors.

Exit codes (cli/tools.py): 0 done, 1 no service / the call failed, 2 bad arguments,
3 no daemon.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from ..cli.tools import (NOTHING, OK, ToolError, close_tool, load_type, open_tool, run_tool,
                         tool_parser, tool_parsers, wait_registry)
from .node import Node
from .services import check_service_name

PROG = "robot-gcs service"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = tool_parsers(parser, "op", "operations")
    p = tool_parser(sub, "list", "services with their types and servers")
    p.add_argument("--timeout", type=float, default=2.0,
                   help="seconds to wait for every node to announce")
    p = tool_parser(sub, "call", "call a service once")
    p.add_argument("service", help="service name, e.g. /reset")
    p.add_argument("value", nargs="?", default="{}",
                   help="the request's fields as a YAML mapping")
    p.add_argument("--type", metavar="module:Class",
                   help="service type (default: the one its server announces)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the reply")


def run(args: argparse.Namespace) -> int:
    return run_tool(PROG, _run, args)


def _run(args: argparse.Namespace) -> int:
    if args.op == "call":
        check_service_name(args.service)
    node = open_tool(args, "service")
    try:
        wait_registry(node, min(args.timeout, 3.0))
        return _list(node) if args.op == "list" else _call(node, args)
    finally:
        close_tool(node)


def _list(node: Node) -> int:
    services: dict[str, list[str]] = {}
    for member, eps in sorted(node.registry.graph().items()):
        for e in eps.srvs:
            services.setdefault(f"{e.topic}  [{e.type_path}]", []).append(member)
    if not services:
        print("no services announced")
        return NOTHING
    for name in sorted(services):
        print(f"{name}\n    servers: {', '.join(services[name])}")
    return OK


def _call(node: Node, args: argparse.Namespace) -> int:
    import yaml
    if args.type:
        srv_type = load_type(args.type)
    else:
        servers = node.registry.servers(args.service)
        if not servers:
            raise ToolError(f"no server of {args.service} in the view (robot-gcs service list)",
                            NOTHING)
        srv_type = load_type(servers[0][1].type_path)
    fields = yaml.safe_load(args.value)
    if not isinstance(fields, dict):
        raise ToolError("VALUE must be a YAML mapping of the request's fields, e.g. '{x: 1.0}'")
    try:
        request = srv_type.Request(**fields)
    except (TypeError, AttributeError) as exc:
        raise ToolError(f"VALUE does not fit {args.service}'s request: {exc}") from None
    response: Any = node.create_client(srv_type, args.service).call(request, timeout=args.timeout)
    shown = dataclasses.asdict(response) \
        if dataclasses.is_dataclass(response) and not isinstance(response, type) else response
    print(f"response: {shown}")
    return OK
