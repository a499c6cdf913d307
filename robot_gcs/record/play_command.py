"""`robot-gcs play FILE... [--rate R | --fast] [--topics ...] [--remap A:=B] [--loop]`.

Like ``ros2 bag play``: publishes a recording's topic messages into the ring it attaches
to (cli/ring.py), in the recorded order, at the recorded timing scaled by ``--rate``
(``--fast``: as fast as the ring takes them). Give every file of a split recording, in
order. ``--topics`` takes topics or patterns; ``--remap /a:=/b`` renames; ``--loop``
repeats until Ctrl-C. The message types must import here (player.py).

Exit codes (cli/tools.py): 0 done, 2 bad arguments or an unplayable recording, 3 no daemon.
"""

from __future__ import annotations

import argparse
import sys

from ..cli.ring import add_ring_arguments
from ..cli.tools import BAD_ARGS, OK, ToolError, close_tool, open_tool, run_tool

PROG = "robot-gcs play"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_ring_arguments(parser, launch=True)
    parser.add_argument("files", nargs="+", metavar="FILE", help="the recording's file(s), in order")
    parser.add_argument("-r", "--rate", type=float, default=1.0, help="speed factor of the recorded timing")
    parser.add_argument("--fast", action="store_true", help="as fast as possible (ignores --rate)")
    parser.add_argument("--topics", nargs="+", default=[], metavar="TOPIC",
                        help="play only these topics (names or patterns)")
    parser.add_argument("--remap", action="append", default=[], metavar="FROM:=TO",
                        help="publish topic FROM as TO (repeatable)")
    parser.add_argument("--service", default=None,
                        help="publish with this service (default: as recorded)")
    parser.add_argument("-l", "--loop", action="store_true", help="play again and again")


def run(args: argparse.Namespace) -> int:
    return run_tool(PROG, _run, args)


def _remaps(items: list[str]) -> dict[str, str]:
    from ..pubsub.qos import check_topic
    out = {}
    for item in items:
        src, sep, dst = item.partition(":=")
        if not sep:
            raise ToolError(f"--remap wants FROM:=TO, got {item!r}", BAD_ARGS)
        out[check_topic(src)] = check_topic(dst)
    return out


def _run(args: argparse.Namespace) -> int:
    from .player import Player
    from .schema import BagError
    from .selection import Selection
    select = Selection.parse(args.topics, allow_empty=True)
    remap = _remaps(args.remap)
    if args.rate <= 0 and not args.fast:
        raise ToolError("--rate must be > 0 (use --fast for as fast as possible)", BAD_ARGS)
    node = open_tool(args, "play")
    try:
        player = Player(node, list(args.files), rate=0.0 if args.fast else args.rate,
                        select=select, remap=remap, service=args.service)
        try:
            stats = player.play(0 if args.loop else 1)
        except KeyboardInterrupt:
            stats = player.statistics()
        except BagError as exc:
            raise ToolError(str(exc), BAD_ARGS) from None
        print(f"played {stats.published} messages ({stats.loops} loop(s)); skipped "
              f"{stats.skipped} of unknown type", file=sys.stderr)
        return OK
    finally:
        close_tool(node)
