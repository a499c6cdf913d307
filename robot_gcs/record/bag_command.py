"""`robot-gcs bag info FILE... | bag compare A B`: look into recordings.

``info`` prints what ``ros2 bag info`` prints -- files, size, duration, start and end,
message count, and per topic its type, count and rate -- plus the group views and ring
memberships recorded, and whether each file is complete (a recorder that was killed
leaves a file without footer; it is read up to its last complete chunk). Give every
file of a split recording, in order.

``compare`` checks that two recordings of the same ring agree: inside the span both
recorded, the same messages (matched by agreed position) with the same content in the
same order (bag.py). Exit 0 when they agree, 1 when not (the differences are listed).

Exit codes: 0 done, 1 the recordings differ, 2 a file is missing or not MCAP.
"""

from __future__ import annotations

import argparse

from ..cli.tools import NOTHING, OK, run_tool

PROG = "robot-gcs bag"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="tool", metavar="TOOL", required=True, title="tools")
    p = sub.add_parser("info", help="what a recording holds", description="what a recording holds")
    p.add_argument("files", nargs="+", metavar="FILE", help="the recording's file(s), in order")
    p = sub.add_parser("compare", help="do two recordings hold the same agreed order",
                       description="do two recordings hold the same agreed order")
    p.add_argument("a", metavar="A", help="a recording (several files: comma-separated)")
    p.add_argument("b", metavar="B", help="the other recording")


def run(args: argparse.Namespace) -> int:
    return run_tool(PROG, _run, args)


def _run(args: argparse.Namespace) -> int:
    from .bag import compare, summarize
    from .schema import BagError
    from ..cli.tools import BAD_ARGS, ToolError
    try:
        if args.tool == "info":
            print(summarize(list(args.files)))
            return OK
        c = compare(args.a.split(","), args.b.split(","))
    except BagError as exc:
        raise ToolError(str(exc), BAD_ARGS) from None
    print(f"{c.common} messages in both; {len(c.only_a)} only in A, {len(c.only_b)} only in B, "
          f"{len(c.differ)} differ; order {'same' if c.order_ok else 'DIFFERENT'}")
    for label, keys in (("only in A", c.only_a), ("only in B", c.only_b), ("differ", c.differ)):
        for k in keys[:10]:
            print(f"  {label}: {k[0]} view {'.'.join(map(str, k[1]))} #{k[2]}")
    return OK if c.ok else NOTHING
