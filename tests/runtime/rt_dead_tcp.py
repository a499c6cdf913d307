"""Run inside a private network namespace: a TCP client goes silent, the daemon notices.

``python rt_dead_tcp.py WORKDIR`` starts a daemon thread (fake engine) serving TCP on
127.0.0.1, an in-process watcher and a TCP client in group ``g``; then nftables drops
every packet of the client's connection (its link "died": no FIN, no RST, nothing), and
the watcher waits for the client's DISCONNECT view. Prints one JSON line:
``{"disconnected": bool, "after": seconds, "dropped": packets}``. Never run it outside a
namespace of its own: it installs an nftables table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from rt_fakes import FakeFactory, write_config  # noqa: E402

import robot_gcs  # noqa: E402
from robot_gcs import Cause, GroupView  # noqa: E402
from robot_gcs.runtime.daemon import Daemon  # noqa: E402
from robot_gcs.runtime.limits import IpcLimits  # noqa: E402

WAIT = 60.0


def nft(text: str) -> str:
    return subprocess.run(["nft", "-f", "-"], input=text, capture_output=True, text=True,
                          check=True, timeout=20).stdout


def main() -> int:
    work = Path(sys.argv[1])
    _, cfg = write_config(work, 2)
    limits = IpcLimits(keepalive_idle=1, keepalive_interval=1, keepalive_count=2)
    d = Daemon(cfg, "d1", engine_factory=FakeFactory(), health=False, serve_clients=True,
               client_address="tcp:127.0.0.1:0", ipc_limits=limits)
    d.start()
    try:
        assert d.ipc is not None
        watch = d.connect("watch")
        watch.join("g")
        dead = robot_gcs.connect(d.ipc.bound_address, "dead", token=cfg.ring.client_token)
        dead.join("g")
        while True:
            ev = watch.receive(timeout=WAIT)
            assert isinstance(ev, GroupView), ev
            if "#dead#d1" in ev.members:
                break
        port = dead._sock.getsockname()[1]            # type: ignore[union-attr]
        nft("table inet gcs {\n chain input {\n  type filter hook input priority 0;"
            f" policy accept;\n  tcp sport {port} counter drop\n"
            f"  tcp dport {port} counter drop\n }}\n}}\n")
        t0 = time.monotonic()
        gone = False
        while time.monotonic() - t0 < WAIT:
            ev = watch.receive(timeout=max(0.1, WAIT - (time.monotonic() - t0)))
            if isinstance(ev, GroupView) and ev.cause is Cause.DISCONNECT \
                    and "#dead#d1" in ev.changed:
                gone = True
                break
        after = time.monotonic() - t0
        rules = subprocess.run(["nft", "list", "table", "inet", "gcs"], capture_output=True,
                               text=True, timeout=20).stdout
        dropped = sum(int(w.split()[1]) for w in rules.split("counter")[1:])
        print(json.dumps({"disconnected": gone, "after": round(after, 2),
                          "dropped": dropped}), flush=True)
        dead.close()
        watch.close()
        return 0
    finally:
        d.stop()


if __name__ == "__main__":
    sys.exit(main())
