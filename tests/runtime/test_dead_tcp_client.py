"""A TCP client whose link dies silently leaves its groups (issue 15, case 6).

Real kernel TCP in a network namespace this test creates and deletes: nftables drops
every packet of one client's connection (no FIN, no RST), as when a robot's Wi-Fi link
goes away. The daemon's TCP keepalive (runtime/limits.py; shortened here to 1 s idle,
1 s interval, 2 probes) makes the kernel report the connection dead, and the client's
groups see DISCONNECT. Without keepalive an idle dead connection is never noticed.
Needs root, ``ip`` and ``nft``; skips otherwise.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from robot_gcs.runtime.netns import Netns, missing

HERE = Path(__file__).resolve().parent


pytestmark = pytest.mark.skipif(missing() is not None, reason=missing() or "")


def test_silently_dead_tcp_client_gets_a_disconnect(tmp_path: Path) -> None:
    with Netns("gcs-test") as ns:
        out = subprocess.run([*ns.prefix, sys.executable, str(HERE / "rt_dead_tcp.py"),
                              str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["dropped"] > 0, result            # the link really was cut
    assert result["disconnected"], result           # ... and the daemon noticed
