"""A test robot program: an embedded daemon with its health publisher, until SIGTERM.

Run as ``python diag_node.py CONFIG NAME``; prints ``ready`` once the daemon runs and its
client socket (from the config) accepts sessions. Tests start three of these, attach
``robot-gcs monitor``/``status`` to one socket and SIGKILL another by pid.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from robot_gcs.diagnostics import ensure_publisher  # noqa: E402
from robot_gcs.runtime.daemon import Daemon  # noqa: E402


def main() -> int:
    config, name = sys.argv[1], sys.argv[2]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    daemon = Daemon.from_file(config, name)
    daemon.start()
    pub = ensure_publisher(daemon, period=float(os.environ.get("DIAG_PERIOD", "1.0")))
    print("ready", flush=True)
    stop.wait()
    pub.close()
    daemon.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
