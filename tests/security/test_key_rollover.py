"""Key rollover without stopping the ring (README "Security" steps), in-process and
through ``robot-gcs daemon`` + SIGHUP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from robot_gcs import DataMessage, GroupView
from robot_gcs.config import load_config
from robot_gcs.errors import LocalProtocolError
from robot_gcs.runtime.daemon import Daemon
from robot_gcs.security.keys import write_key_file
from robot_gcs.testing import write_ring_config

from sealed_ring import joined_sessions

ROOT = Path(__file__).resolve().parents[2]
WAIT = 20.0


def _exchange(sessions: list[Any], tag: str) -> None:
    for i, s in enumerate(sessions):
        s.multicast("g", f"{tag} {i}".encode())
    want = [f"{tag} {i}".encode() for i in range(len(sessions))]
    for s in sessions:
        got = []
        while len(got) < len(want):
            ev = s.receive(timeout=WAIT)
            assert ev is not None, f"{s.private_name}: {tag}: got {got}"
            assert not isinstance(ev, GroupView), f"view change during rollover: {ev}"
            if isinstance(ev, DataMessage):
                got.append(ev.payload)
        assert sorted(got) == want


def test_three_step_rollover_keeps_the_ring(tmp_path: Path) -> None:
    old, new = tmp_path / "old.key", tmp_path / "new.key"
    write_key_file(str(old))
    write_key_file(str(new))
    path = write_ring_config(tmp_path, 2, extra_ring=f"  key_file: {old}")
    text = path.read_text()

    def cfg(key: Path, accept: Path | None) -> Any:
        extra = f"\n  accept_key_files: [{accept}]" if accept else ""
        p = tmp_path / f"ring-{key.stem}-{accept.stem if accept else 'none'}.yaml"
        p.write_text(text.replace(f"  key_file: {old}", f"  key_file: {key}{extra}"))
        return load_config(p)

    c0 = load_config(path)
    ds = [Daemon(c0, n, health=False) for n in ("d1", "d2")]
    try:
        for d in ds:
            d.start()
        sessions = joined_sessions(ds, "g", WAIT)
        history = [d.membership_history() for d in ds]
        _exchange(sessions, "before")
        for d in ds:                                    # 1: everyone also accepts the new key
            d.reload_keys(cfg(old, new))
        _exchange(sessions, "accepting")
        ds[0].reload_keys(cfg(new, old))                # 2: one by one, seal with the new key
        _exchange(sessions, "mixed")
        ds[1].reload_keys(cfg(new, old))
        _exchange(sessions, "switched")
        for d in ds:                                    # 3: forget the old key
            d.reload_keys(cfg(new, None))
        _exchange(sessions, "after")
        assert [d.membership_history() for d in ds] == history
        with pytest.raises(LocalProtocolError, match="another ring"):
            other = tmp_path / "other.yaml"
            other.write_text(text.replace("testring", "other"))
            ds[0].reload_keys(load_config(other))
    finally:
        for d in ds:
            d.stop()


def test_sighup_reloads_the_keys_of_a_standalone_daemon(tmp_path: Path) -> None:
    old, new = tmp_path / "old.key", tmp_path / "new.key"
    write_key_file(str(old))
    write_key_file(str(new))
    path = write_ring_config(tmp_path, 1, extra_ring=f"  key_file: {old}")
    proc = subprocess.Popen([sys.executable, "-m", "robot_gcs.cli", "daemon", "-c", str(path),
                             "-n", "d1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines: list[str] = []
    seen = {"ready": threading.Event(), "reloaded": threading.Event()}

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            for word, ev in seen.items():
                if word in line:
                    ev.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert seen["ready"].wait(30), lines
        path.write_text(path.read_text().replace(f"key_file: {old}",
                                                 f"key_file: {new}\n  accept_key_files: [{old}]"))
        proc.send_signal(signal.SIGHUP)
        if not seen["reloaded"].wait(30):
            proc.terminate()
            err = proc.communicate(timeout=20)[1]
            raise AssertionError(f"no reload: {lines} {err}")
        assert proc.poll() is None                       # still running
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, (lines, proc.stderr.read() if proc.stderr else "")
