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
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root for ip netns and nft"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"needs `{tool}`"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")


def test_silently_dead_tcp_client_gets_a_disconnect(tmp_path: Path) -> None:
    ns = f"gcs-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=20)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True, timeout=20)
        out = subprocess.run(["ip", "netns", "exec", ns, sys.executable,
                              str(HERE / "rt_dead_tcp.py"), str(tmp_path)],
                             capture_output=True, text=True, timeout=120)
    finally:
        subprocess.run(["ip", "netns", "del", ns], timeout=20)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["dropped"] > 0, result            # the link really was cut
    assert result["disconnected"], result           # ... and the daemon noticed
