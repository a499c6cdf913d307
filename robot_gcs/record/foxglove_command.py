"""`robot-gcs foxglove [NAMES...] [--host H] [--port P]`: live topics in Foxglove.

Serves the Foxglove WebSocket protocol (``foxglove.websocket.v1``, through
``foxglove-sdk``) on 127.0.0.1:8765 by default: open Foxglove, "Open connection",
``ws://127.0.0.1:8765``. Every topic the registry announces (or only NAMES: topics,
groups, patterns) is a channel with the JSON schema of its message type, plus
``#gcs/views`` and ``#gcs/ring`` (live.py). It attaches to the ring like every command
(cli/ring.py). Binding to another address than loopback exposes the robot's topics to
that network: say ``--host 0.0.0.0`` only on a network you trust.

Prints ``serving ws://HOST:PORT`` (the real port with ``--port 0``) once listening;
stops on Ctrl-C, SIGTERM or after ``--duration``. Exit codes as cli/tools.py.
"""

from __future__ import annotations

import argparse

from ..cli.ring import add_ring_arguments
from ..cli.tools import close_tool, load_type, open_tool, run_tool

PROG = "robot-gcs foxglove"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_ring_arguments(parser, launch=True)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="topics, groups or topic patterns (default: every topic)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8765, help="port (0: any free one)")
    parser.add_argument("--duration", type=float, default=0.0, metavar="S",
                        help="stop after S seconds (0: until Ctrl-C)")
    parser.add_argument("--type", action="append", default=[], metavar="module:Class",
                        help="a message class to decode with (repeatable)")


def run(args: argparse.Namespace) -> int:
    return run_tool(PROG, _run, args)


def _run(args: argparse.Namespace) -> int:
    from .live import FoxgloveSink
    from .record_command import drive, launch_types
    from .recorder import Recorder
    from .selection import Selection
    from .typelookup import RegistryTypes
    selection = Selection.parse(args.names, everything=not args.names)
    declared = launch_types(args)
    extra = tuple(load_type(t) for t in args.type)
    node = open_tool(args, "foxglove", topic_types=declared)
    try:
        sink = FoxgloveSink(args.host, args.port)
        rec = Recorder(node, selection, sink, types=RegistryTypes(node.registry, declared, extra))
        print(f"serving ws://{args.host}:{sink.port}  (Foxglove: Open connection -> "
              "Foxglove WebSocket)", flush=True)
        return drive(node, rec, args.duration)
    finally:
        close_tool(node)
