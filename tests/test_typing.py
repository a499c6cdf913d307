"""The typed boundaries hold: mypy --strict is clean on every package but the simulator.

The runtime talks to the engine, the client and diagnostics through Protocols; mypy is
what checks that the real classes and the test fakes keep satisfying them, so it runs
with the tests (the ``test`` extra installs it).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ["robot_gcs/core", "robot_gcs/runtime", "robot_gcs/client", "robot_gcs/diagnostics",
           "robot_gcs/pubsub", "robot_gcs/launch", "robot_gcs/config.py", "robot_gcs/errors.py",
           "robot_gcs/cli", "robot_gcs/hints.py", "robot_gcs/__init__.py",
           "robot_gcs/security", "robot_gcs/record", "robot_gcs/bridge"]


def test_mypy_strict_is_clean() -> None:
    out = subprocess.run([sys.executable, "-m", "mypy", "--strict", *CHECKED], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert "No module named mypy" not in out.stderr, "install the test extra: pip install -e '.[test]'"
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
