"""Persistent daemon state across restarts: ring seq and incarnation (PROTOCOL.md 7).

Theory of operation
-------------------
A restarted representative must never reuse a ring id, and every restart needs a new,
larger incarnation (peers drop packets from incarnations older than the newest seen --
except a JOIN of a smaller one after its sender's silence, core/lives.py: a daemon whose
state directory is gone and whose clock is behind still gets back in).
``StateStore`` keeps both in one small JSON file per (ring, daemon) in the configured
state directory: ``<state_dir>/<ring>-<daemon>.json``.

* ``Persist(ring_seq)`` actions are written before the engine goes on (the daemon
  executes actions in order), atomically: write a temp file in the same directory,
  fsync, ``os.replace``, fsync the directory.
* ``next_incarnation()`` returns ``max(stored + 1, clock-derived)``; the clock part
  (eighths of a second since 2020-09-13, strictly increasing within a process) keeps
  incarnations increasing even without a state directory (``StateStore(None, ...)``),
  where nothing is written. The u32 wraps in 2037.
* A corrupt or unreadable file is logged and treated as absent (the engine then starts
  with ``persisted_ring_seq=None``: NULL old ring, seq above anything it hears).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import time

log = logging.getLogger(__name__)

_EPOCH = 1_600_000_000


_last_lock = threading.Lock()
_last_issued = 0


def clock_incarnation(now: float | None = None) -> int:
    """Eighths of a second since 2020-09-13 (u32: lasts until 2037), strictly increasing
    within this process, so a daemon re-created at once in the same program still gets a
    new incarnation without a state directory."""
    global _last_issued
    t = time.time() if now is None else now
    inc = max(1, int((t - _EPOCH) * 8) & 0xFFFFFFFF)
    with _last_lock:
        if inc <= _last_issued:
            inc = _last_issued + 1
        _last_issued = inc
    return inc


class StateStore:
    def __init__(self, state_dir: str | None, ring: str, daemon: str) -> None:
        self.path: str | None = None
        if state_dir is not None:
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{ring}-{daemon}")
            self.path = os.path.join(state_dir, safe + ".json")
        self.ring_seq: int | None = None
        self.incarnation: int | None = None
        self.writes = 0
        self._load()

    def _load(self) -> None:
        if self.path is None or not os.path.exists(self.path):
            return
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
            rs = data.get("ring_seq")
            inc = data.get("incarnation")
            self.ring_seq = int(rs) if rs is not None else None
            self.incarnation = int(inc) if inc is not None else None
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            log.warning("ignoring unreadable daemon state %s: %s", self.path, exc)

    def next_incarnation(self) -> int:
        inc = clock_incarnation()
        if self.incarnation is not None:
            inc = max(inc, self.incarnation + 1) & 0xFFFFFFFF or 1
        self.incarnation = inc
        self._write()
        return inc

    def save_ring_seq(self, ring_seq: int) -> None:
        self.ring_seq = ring_seq
        self._write()

    def _write(self) -> None:
        if self.path is None:
            return
        d = os.path.dirname(self.path)
        os.makedirs(d, exist_ok=True)
        payload = json.dumps({"ring_seq": self.ring_seq, "incarnation": self.incarnation})
        fd, tmp = tempfile.mkstemp(prefix=".state-", dir=d)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        try:
            dfd = os.open(d, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass
        self.writes += 1
