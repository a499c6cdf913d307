"""`robot-gcs launch FILE --all`: every processor as a local child process, supervised.

What it owns: the child processes (one ``robot-gcs launch FILE --processor P
--supervised`` each), their output, their restart policy, and a clean shutdown.

Rules:

* Each child runs in its own session (process group), so a terminal Ctrl-C reaches only
  the supervisor, which then stops the children in order: SIGTERM to each (by pid), wait
  up to ``grace`` seconds, SIGKILL what is left. No child outlives the supervisor: a
  child's stdin is a pipe from the supervisor and the child exits when it reads EOF,
  which also happens if the supervisor is killed.
* Output of every child (stdout and stderr) is copied line by line to the supervisor's
  output prefixed with ``[P] ``; the supervisor's own lines start with ``[launch] `` and
  include ``started P pid N`` / ``P exited with code C`` (tests parse them).
* Processor restart policy (``processors.P.restart``): ``never`` (default), ``on-failure``
  (non-zero exit or killed by a signal), ``always``. A child that exits with status 3 had
  a component down for good (command.py): the supervisor says ``P FAILED``.
* ``run()`` returns 0 when stopped with every processor that ever ran still running (or
  ended cleanly), 3 when a processor's last exit was a failure and it was not brought
  back, 1 when every processor is down. The first back-off is the ring's
  failure-detection time (token + consensus timeout + 0.5 s), so the others have removed
  the dead processor from their views before its components come back under the same
  private names; it doubles up to 30 s.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import IO, Sequence

from .model import LaunchFile, Restart

log = logging.getLogger(__name__)


def _package_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _Child:
    def __init__(self, name: str, policy: Restart) -> None:
        self.name = name
        self.policy = policy
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.backoff = 0.5
        self.restart_at: float | None = None
        self.exit_codes: list[int] = []


class Supervisor:
    """Starts, watches and stops one child process per processor of a launch file."""

    def __init__(self, launch: LaunchFile, launch_path: str, *, config_override: str | None = None,
                 overrides: Sequence[str] = (), verbose: int = 0, out: IO[str] | None = None,
                 grace: float = 10.0) -> None:
        self.launch = launch
        self.launch_path = os.path.abspath(launch_path)
        self.config_override = config_override
        self.overrides = list(overrides)
        self.verbose = verbose
        self.out = out or sys.stdout
        self.grace = grace
        self.first_backoff = max(0.5, self._detection_time(config_override or launch.config_path))
        self.children = {p.name: _Child(p.name, p.restart) for p in launch.processors}
        for c in self.children.values():
            c.backoff = self.first_backoff
        self._events: "queue.Queue[tuple[str, int]]" = queue.Queue()
        self._out_lock = threading.Lock()
        self.stop_requested = False        # set from a signal handler: a plain flag, no locks

    @staticmethod
    def _detection_time(config_path: str) -> float:
        try:
            from ..config import GcsConfig
            p = GcsConfig.from_file(config_path).ring.params
            return float(p.token_timeout + p.consensus_timeout) + 0.5
        except Exception:          # the children will report a bad config themselves
            return 0.5

    # ------------------------------------------------------------------ output

    def say(self, text: str) -> None:
        self._write(f"[launch] {text}\n")

    def _write(self, line: str) -> None:
        with self._out_lock:
            try:
                self.out.write(line)
                self.out.flush()
            except (BrokenPipeError, ValueError):
                pass

    # ------------------------------------------------------------------ children

    def command(self, name: str) -> list[str]:
        cmd = [sys.executable, "-m", "robot_gcs.cli"] + ["-v"] * self.verbose + [
            "launch", self.launch_path, "--processor", name, "--supervised"]
        if self.config_override:
            cmd += ["--config", self.config_override]
        for ov in self.overrides:
            cmd += ["--set", ov]
        return cmd

    def _spawn(self, child: _Child) -> None:
        env = dict(os.environ)
        root = _package_root()
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONUNBUFFERED"] = "1"
        proc = subprocess.Popen(self.command(child.name), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
        child.proc = proc
        self.say(f"started {child.name} pid {proc.pid}")
        threading.Thread(target=self._pump, args=(child.name, proc), daemon=True,
                         name=f"pump-{child.name}").start()

    def _pump(self, name: str, proc: "subprocess.Popen[bytes]") -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            self._write(f"[{name}] {raw.decode(errors='replace').rstrip()}\n")
        code = proc.wait()
        self._events.put((name, code))

    def start(self) -> None:
        for name in sorted(self.children):
            self._spawn(self.children[name])

    def pids(self) -> dict[str, int]:
        return {n: c.proc.pid for n, c in self.children.items() if c.proc is not None and c.proc.poll() is None}

    # ------------------------------------------------------------------ main loop

    def run(self) -> int:
        """Supervise until every child is down for good or ``stop_requested``; then stop."""
        try:
            while not self.stop_requested:
                try:
                    name, code = self._events.get(timeout=0.2)
                except queue.Empty:
                    self._due_restarts()
                    continue
                self._exited(name, code)
                if all(c.proc is None and c.restart_at is None for c in self.children.values()):
                    self.say("every processor is down")
                    return 1
        finally:
            self.stop()
        failed = self.failed()
        if failed:
            self.say(f"FAILED: {', '.join(failed)}")
            return 3
        return 0

    def failed(self) -> list[str]:
        """Processors whose last exit was a failure and that were not brought back."""
        return sorted(c.name for c in self.children.values()
                      if c.exit_codes and c.exit_codes[-1] != 0 and c.proc is None
                      and c.restart_at is None)

    def _exited(self, name: str, code: int) -> None:
        child = self.children[name]
        child.exit_codes.append(code)
        child.proc = None
        how = f"signal {-code}" if code < 0 else f"code {code}"
        self.say(f"{name} exited with {how}")
        if code == 3:
            self.say(f"{name} FAILED: a component is down for good (its log says which)")
        again = child.policy is Restart.ALWAYS or (child.policy is Restart.ON_FAILURE and code != 0)
        if again and not self.stop_requested:
            child.restarts += 1
            child.restart_at = time.monotonic() + child.backoff
            self.say(f"restarting {name} in {child.backoff:.1f} s")
            child.backoff = min(30.0, child.backoff * 2)

    def _due_restarts(self) -> None:
        now = time.monotonic()
        for child in self.children.values():
            if child.restart_at is not None and now >= child.restart_at:
                child.restart_at = None
                self._spawn(child)

    def stop(self) -> None:
        """SIGTERM every child, wait up to ``grace``, SIGKILL the rest. Idempotent."""
        live = [c for c in self.children.values() if c.proc is not None]
        for c in self.children.values():
            c.restart_at = None
        for c in live:
            assert c.proc is not None
            if c.proc.poll() is None:
                try:
                    c.proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + self.grace
        for c in live:
            assert c.proc is not None
            try:
                c.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{c.name} did not stop within {self.grace:.0f} s: SIGKILL")
                c.proc.kill()
                c.proc.wait()
            if c.proc.stdin is not None:
                try:
                    c.proc.stdin.close()
                except OSError:
                    pass
        if live:
            self.say("all processors stopped")
        for c in live:
            rc = c.proc.returncode if c.proc is not None else 0
            # stopped on request: a signal we sent is not the processor's failure
            c.exit_codes.append(0 if rc in (0, -signal.SIGTERM, -signal.SIGKILL) else rc)
            c.proc = None
