"""`robot-gcs record [NAMES...] [-a] -o FILE`: record topics and groups to MCAP.

Like ``ros2 bag record``. NAMES are topics (``/odom``), plain groups (``ctl``) or shell
patterns over topic names (``'/cam/*'``); ``-a`` takes every topic the registry
announces, now and later. It attaches to the ring like every command (cli/ring.py;
``--connect unix:PATH`` picks a daemon), as a tool Node, and writes what that daemon
delivers, in the agreed order (recorder.py; the file format is described there and in
bag.py).

It stops on Ctrl-C or SIGTERM, after ``--duration`` seconds or ``--max-messages``
messages, and finishes the file (summary and index); killed harder, the file is still
readable up to its last complete chunk (at most ``--flush`` seconds are lost). On a
terminal a progress line shows messages, rate, bytes, missed and bad.

Exit codes (cli/tools.py): 0 done, 1 the daemon ended the session (the file is finished
and keeps what came before), 2 bad arguments, 3 no daemon.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any, Callable, TextIO

from ..cli.ring import add_ring_arguments
from ..cli.tools import NOTHING, OK, close_tool, load_type, open_tool, run_tool
from ..errors import SessionClosed
from .selection import Selection
from .writer import COMPRESSIONS, default_output

PROG = "robot-gcs record"


def size_arg(text: str) -> int:
    """``4096``, ``64K``, ``10M``, ``1G`` -> bytes."""
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:].upper(), 1)
    digits = text[:-1] if mult > 1 else text
    try:
        value = float(digits) * mult
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 4096, 64K, 10M)") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a size must not be negative: {text!r}")
    return int(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_ring_arguments(parser, launch=True)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="topics (/odom), groups (ctl) or topic patterns ('/cam/*')")
    parser.add_argument("-a", "--all", action="store_true", help="every topic, now and later")
    parser.add_argument("-o", "--output", metavar="FILE.mcap",
                        help="output file (default: gcs_<date-time>.mcap here)")
    parser.add_argument("--compression", choices=COMPRESSIONS, default="zstd",
                        help="per-chunk compression")
    parser.add_argument("--chunk-size", type=size_arg, default=1 << 20, metavar="BYTES",
                        help="uncompressed bytes per chunk")
    parser.add_argument("--flush", type=float, default=1.0, metavar="S",
                        help="write a chunk at least every S seconds (what a kill can lose)")
    parser.add_argument("-b", "--max-bag-size", type=size_arg, default=0, metavar="BYTES",
                        help="split: a new file after BYTES (0: never)")
    parser.add_argument("-d", "--max-bag-duration", type=float, default=0.0, metavar="S",
                        help="split: a new file every S seconds (0: never)")
    parser.add_argument("--duration", type=float, default=0.0, metavar="S",
                        help="stop after S seconds (0: until Ctrl-C)")
    parser.add_argument("--max-messages", type=int, default=0, metavar="N",
                        help="stop after N messages (0: no limit)")
    parser.add_argument("--type", action="append", default=[], metavar="module:Class",
                        help="a message class to decode with (repeatable)")
    parser.add_argument("--no-ring", action="store_true",
                        help="do not record the ring membership (the diagnostics group)")


def run(args: argparse.Namespace) -> int:
    return run_tool(PROG, _run, args)


class Progress:
    """The progress line on a terminal (nothing elsewhere); owned by the recording loop."""

    def __init__(self, out: TextIO, period: float = 0.5) -> None:
        self.out = out
        self.live = out.isatty()
        self.period = period
        self._next = 0.0
        self._last = (0.0, 0)

    def show(self, now: float, stats: Any) -> None:
        if not self.live or now < self._next:
            return
        t0, n0 = self._last
        rate = (stats.messages - n0) / (now - t0) if t0 else 0.0
        self._last = (now, stats.messages)
        self._next = now + self.period
        self.out.write(f"\rrecording {stats.messages:,} msgs  {rate:,.0f} msg/s  "
                       f"{stats.bytes / 1e6:.1f} MB  missed {stats.missed}  bad {stats.bad}  ")
        self.out.flush()

    def done(self) -> None:
        if self.live:
            self.out.write("\n")


def launch_types(args: argparse.Namespace) -> dict[str, type]:
    """Message classes by topic from --launch (empty without it)."""
    if not getattr(args, "launch", None):
        return {}
    from ..launch.loader import load_launch
    return dict(load_launch(args.launch, check_config=False).topic_types)


def _run(args: argparse.Namespace) -> int:
    from .recorder import Recorder
    from .typelookup import RegistryTypes
    from .writer import BagWriter
    selection = Selection.parse(args.names, args.all)
    declared = launch_types(args)
    extra = tuple(load_type(t) for t in args.type)
    output = args.output or default_output(time.time())
    node = open_tool(args, "record", topic_types=declared)
    try:
        writer = BagWriter(output, compression=args.compression, chunk_size=args.chunk_size,
                           flush_s=args.flush, split_bytes=args.max_bag_size,
                           split_s=args.max_bag_duration, clock=time.monotonic,
                           metadata={"ring_daemon": node.private_name, "pid": str(os.getpid())})
        rec = Recorder(node, selection, writer, ring=not args.no_ring,
                       types=RegistryTypes(node.registry, declared, extra))
        progress = Progress(sys.stderr)
        code = drive(node, rec, args.duration, args.max_messages, progress.show)
        progress.done()
        s = rec.statistics()
        print(f"recorded {s.messages} messages and {s.views} views to {', '.join(s.files)} "
              f"({s.bytes / 1e6:.2f} MB); missed {s.missed}, bad {s.bad}", file=sys.stderr)
        return code
    finally:
        try:
            close_tool(node)
        except SessionClosed:
            pass


def drive(node: Any, rec: Any, duration: float, max_messages: int = 0,
          show: Callable[[float, Any], None] | None = None) -> int:
    """Spin a recorder's Node until Ctrl-C, SIGTERM, ``duration`` seconds or
    ``max_messages``; the sink is closed (file finished) whatever happens. Returns the
    exit code: NOTHING when the daemon ended the session (said on stderr), else OK."""
    stop = {"flag": False}
    old = signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__("flag", True))
    start = time.monotonic()
    try:
        while not stop["flag"]:
            node.spin_once(0.05)
            now = time.monotonic()
            rec.tick(now)
            stats = rec.statistics()
            if show is not None:
                show(now, stats)
            if max_messages and stats.messages >= max_messages:
                break
            if duration and now - start >= duration:
                break
    except KeyboardInterrupt:
        pass
    except SessionClosed as exc:
        print(f"the daemon ended the session ({exc}); what came before is kept", file=sys.stderr)
        return NOTHING
    finally:
        signal.signal(signal.SIGTERM, old)
        rec.close()
    return OK
