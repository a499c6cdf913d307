"""Test-session isolation: daemons started by tests advertise themselves in a runtime
directory of this session (diagnostics/rundir.py), never in the machine's
/tmp/robot_gcs/run, so a developer's `robot-gcs topic list` does not find test rings and
tests do not find the developer's. Subprocesses inherit the variable.

Slow tests (sweeps, benchmarks) get an hour each instead of the default run's per-test
timeout (pyproject.toml)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

_RUN = tempfile.mkdtemp(prefix="robot_gcs_run_")
os.environ["ROBOT_GCS_RUNTIME_DIR"] = _RUN
atexit.register(shutil.rmtree, _RUN, True)
os.environ.pop("ROBOT_GCS_CONFIG", None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(3600))
