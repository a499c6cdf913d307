"""Where the console attaches after losing its daemon (monitor_command.Attacher).

What an operator relies on: the console moves to the *next* daemon of the ring (config
order) that is up, whatever was up when the console started, and tries the daemon it
lost only last.
"""

from __future__ import annotations

import socket
from pathlib import Path

from robot_gcs.cli.ring import RingTarget
from robot_gcs.diagnostics.monitor_command import Attacher


def _sock(path: Path) -> str:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))               # the file exists: a daemon is up there
    s.close()
    return f"unix:{path}"


def test_after_a_loss_the_next_daemon_in_ring_order_comes_first(tmp_path: Path) -> None:
    a1, a2, a3 = _sock(tmp_path / "1.sock"), _sock(tmp_path / "2.sock"), _sock(tmp_path / "3.sock")
    # at the console's start cpu2 was not up yet: the target put cpu3 before it
    target = RingTarget((("cpu1", a1), ("cpu3", a3), ("cpu2", a2)), None,
                        ("cpu1", "cpu2", "cpu3"), "-c ring.yaml")
    at = Attacher(target, watcher=None)      # type: ignore[arg-type]
    assert [d for d, _a in at._order()] == ["cpu1", "cpu3", "cpu2"]   # first attach
    at.current = "cpu1"                      # ... then cpu1 died
    assert [d for d, _a in at._order()] == ["cpu2", "cpu3", "cpu1"]
    (tmp_path / "2.sock").unlink()           # cpu2 is not up: cpu3 first, cpu2 after it
    assert [d for d, _a in at._order()] == ["cpu3", "cpu2", "cpu1"]
