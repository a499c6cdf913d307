"""``robot-gcs status``: print one snapshot of the health model and exit.

Attaches like the monitor (``--connect unix:/tmp/robot_gcs/cpu1.sock`` or ``-c CONFIG
[-n NAME]``), joins the diagnostics group, waits until every daemon's publisher has
reported (or ``--timeout``), prints, leaves. With ``-c`` every daemon of the config is
listed; one that never reported is STALE in state UNKNOWN. ``--json`` prints the documented document of
``diagnostics/status.py`` (schema ``robot_gcs.status/1``); without it, the console view
as plain text. Exit status: 0 printed (whatever the grades; ``--check`` makes it 0 OK,
1 WARN, 2 ERROR, 3 STALE), 4 cannot attach.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys

from ..errors import GcsError
from .attach import MonitorClient, default_client_name, expected_daemons, resolve_address
from .console import render_text
from .rules import load_rules
from .status import status_document


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--connect", metavar="ADDR",
                        help="daemon session address: unix:/path.sock or tcp:host:port")
    parser.add_argument("-c", "--config", help="ring config; picks a daemon serving a local socket")
    parser.add_argument("-n", "--name", help="with -c: the daemon to attach to")
    parser.add_argument("--rules", help="rule file (default: diagnostics/default.yaml)")
    parser.add_argument("--json", action="store_true", help="print the JSON document")
    parser.add_argument("--timeout", type=float, default=3.0,
                        help="seconds to wait for every daemon's snapshot (default 3)")
    parser.add_argument("--check", action="store_true",
                        help="exit status by overall grade: 0 OK, 1 WARN, 2 ERROR, 3 STALE")


def run(args: argparse.Namespace) -> int:
    try:
        rules = load_rules(args.rules)
        address = resolve_address(args.connect, args.config, args.name)
        expected = expected_daemons(args.config)
        from ..client.socket_session import connect
        session = connect(address, default_client_name("status"))
    except GcsError as exc:
        print(f"robot-gcs status: {exc}", file=sys.stderr)
        return 4
    client = MonitorClient(session, rules, expected)
    try:
        complete = client.wait_complete(args.timeout)
        cluster = client.cluster()
    except GcsError as exc:
        print(f"robot-gcs status: lost the daemon: {exc}", file=sys.stderr)
        return 4
    finally:
        client.close()
    if not complete:
        missing = sorted(client.missing() | client.unheard())
        print(f"robot-gcs status: not every daemon reported within {args.timeout}s "
              f"(missing: {', '.join(missing) or 'all'})", file=sys.stderr)
    if args.json:
        json.dump(status_document(cluster), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        width = shutil.get_terminal_size((100, 40)).columns
        rows = 12 + len(cluster.daemons) + len(cluster.groups) + len(cluster.topics) \
            + len(cluster.sessions) + min(len(cluster.events), 20)
        sys.stdout.write(render_text(cluster, width=width, height=max(24, rows)))
    return int(cluster.grade) if args.check else 0
