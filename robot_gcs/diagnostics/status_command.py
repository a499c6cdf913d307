"""``robot-gcs status``: print one snapshot of the health model and exit.

Names the ring the way every command does (cli/ring.py: ``-c RING.yaml``,
``$ROBOT_GCS_CONFIG``, ``--connect ADDR`` or the daemons running here), attaches to the
first daemon that answers, joins the diagnostics and registry groups, waits until every
daemon's publisher and every node has reported (or ``--timeout``), prints, leaves. With a
config every daemon of it is listed; one that never reported is STALE in state UNKNOWN.
``--json`` prints the documented document of ``diagnostics/status.py`` (schema
``robot_gcs.status/1``); without it, the console view as plain text (``--detail``: the
detail view). Exit status: 0 printed (whatever the grades; ``--check`` makes it 0 OK,
1 WARN, 2 ERROR, 3 STALE), 4 cannot name or attach to the ring.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys

from ..cli.ring import add_ring_arguments, connect_first, ring_target
from ..errors import ConfigError, GcsError
from .attach import RingWatcher, default_client_name
from .console import render_text
from .rules import load_rules
from .status import status_document

NO_RING = 4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_ring_arguments(parser)
    parser.add_argument("--rules", help="rule file (default: diagnostics/default.yaml)")
    parser.add_argument("--json", action="store_true", help="print the JSON document")
    parser.add_argument("--detail", action="store_true",
                        help="the detail view (full ring ids, every node and group)")
    parser.add_argument("--timeout", type=float, default=3.0,
                        help="seconds to wait for every daemon's snapshot and every node")
    parser.add_argument("--check", action="store_true",
                        help="exit status by overall grade: 0 OK, 1 WARN, 2 ERROR, 3 STALE")


def run(args: argparse.Namespace) -> int:
    try:
        rules = load_rules(args.rules)
        target = ring_target(args)
        session, daemon = connect_first(target, default_client_name("status"))
    except (GcsError, ConfigError) as exc:
        print(f"robot-gcs status: {exc}", file=sys.stderr)
        return NO_RING
    watcher = RingWatcher(rules, target.daemons)
    try:
        watcher.attach(session, daemon)
        complete = watcher.wait_complete(args.timeout)
        cluster = watcher.cluster()
    except GcsError as exc:
        print(f"robot-gcs status: lost the daemon: {exc}", file=sys.stderr)
        return NO_RING
    finally:
        watcher.close()
    if not complete:
        missing = sorted(watcher.missing() | watcher.unheard())
        print(f"robot-gcs status: not every daemon reported within {args.timeout}s "
              f"(missing: {', '.join(missing) or 'none; some nodes did not announce'})",
              file=sys.stderr)
    if args.json:
        json.dump(status_document(cluster), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        width = shutil.get_terminal_size((100, 40)).columns
        rows = 16 + len(cluster.daemons) + len(cluster.groups) + len(cluster.topics) \
            + len(cluster.sessions) + len(cluster.nodes) + min(len(cluster.events), 20)
        sys.stdout.write(render_text(cluster, width=width, height=max(24, rows),
                                     detail=args.detail))
    return int(cluster.grade) if args.check else 0
