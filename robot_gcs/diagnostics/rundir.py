"""The local daemons' directory: how command-line tools find the robot on this machine.

What it owns: the records in the well-known runtime directory (``$ROBOT_GCS_RUNTIME_DIR``,
default ``/tmp/robot_gcs/run``). Every daemon that serves socket sessions -- standalone,
embedded in a launched processor, or in a hand-written program -- writes one small JSON
record there when its health publisher starts (publisher.py: the daemon's presence on
this machine) and removes it when it stops::

    {"ring": "robot-demo", "config": "/abs/config/robot_demo.yaml", "daemon": "cpu1",
     "address": "unix:/tmp/robot_gcs/demo-cpu1.sock", "pid": 4242}

``live_records()`` reads them back for ``robot-gcs topic/status/monitor/param/service``
when no ring is named (cli/ring.py). A record whose process is gone (killed: no chance to
remove it) is deleted by the reader; one whose Unix socket does not exist is skipped.

Rules: a record is written to a temporary name and renamed, so readers never see half a
record; every file operation that fails (a read-only /tmp, a race with another reader) is
logged at DEBUG and skipped -- finding the robot is a convenience, never a reason for a
daemon to fail. File names carry the pid, so daemons of the same name in different
processes (tests) never overwrite each other's records.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass

log = logging.getLogger(__name__)

RUNTIME_DIR_ENV = "ROBOT_GCS_RUNTIME_DIR"
DEFAULT_RUNTIME_DIR = "/tmp/robot_gcs/run"


@dataclass(frozen=True, slots=True)
class DaemonRecord:
    ring: str
    config: str            # absolute path of the ring config ("" if built from text)
    daemon: str
    address: str           # session address: unix:/path or tcp:host:port
    pid: int
    path: str = ""         # the record's file


def runtime_dir() -> str:
    return os.environ.get(RUNTIME_DIR_ENV) or DEFAULT_RUNTIME_DIR


def advertise(ring: str, config: str | None, daemon: str, address: str) -> str | None:
    """Write this process's record for ``daemon``; its path, or None if it could not be."""
    directory = runtime_dir()
    pid = os.getpid()
    path = os.path.join(directory, f"{ring}.{daemon}.{pid}.json")
    doc = {"ring": ring, "config": os.path.abspath(config) if config else "", "daemon": daemon,
           "address": address, "pid": pid}
    try:
        os.makedirs(directory, exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f)
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("cannot advertise %s in %s: %s", daemon, directory, exc)
        return None
    return path


def withdraw(path: str | None) -> None:
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:          # someone else's process: it exists
        return True
    return True


def live_records(directory: str | None = None) -> list[DaemonRecord]:
    """The records of daemons that are running now, sorted by ring and daemon name."""
    directory = directory or runtime_dir()
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    out = []
    for name in names:
        if not name.endswith(".json"):
            continue
        path = os.path.join(directory, name)
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
            rec = DaemonRecord(str(doc["ring"]), str(doc["config"]), str(doc["daemon"]),
                               str(doc["address"]), int(doc["pid"]), path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.debug("skipping daemon record %s: %s", path, exc)
            continue
        if not _alive(rec.pid):
            withdraw(path)
            continue
        if rec.address.startswith("unix:") and not os.path.exists(rec.address[5:]):
            continue
        out.append(rec)
    return sorted(out, key=lambda r: (r.ring, r.config, r.daemon, r.pid))
