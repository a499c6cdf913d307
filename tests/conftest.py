"""Test-session isolation: daemons started by tests advertise themselves in a runtime
directory of this session (diagnostics/rundir.py), never in the machine's
/tmp/robot_gcs/run, so a developer's `robot-gcs topic list` does not find test rings and
tests do not find the developer's. Subprocesses inherit the variable."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_RUN = tempfile.mkdtemp(prefix="robot_gcs_run_")
os.environ["ROBOT_GCS_RUNTIME_DIR"] = _RUN
atexit.register(shutil.rmtree, _RUN, True)
os.environ.pop("ROBOT_GCS_CONFIG", None)
