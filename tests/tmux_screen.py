"""A console under test in a tmux window of a given size, read with ``capture-pane``.

``TmuxScreen(name, cmd)`` starts ``cmd`` in a detached 80x24 session; ``read()`` is the
screen now; ``wait_for(ok, timeout, what)`` reads it until ``ok(screen)`` (waiting on the
screen content, never a fixed sleep) or fails with the last screen; ``close()`` ends the
session (only the one it started). ``row(screen, name)`` is a panel row starting with
``name``.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from typing import Callable

HAVE_TMUX = shutil.which("tmux") is not None


def row(screen: str, name: str) -> str:
    return next((line for line in screen.splitlines() if line.startswith(f"│ {name} ")), "")


class TmuxScreen:
    def __init__(self, name: str, cmd: str, width: int = 80, height: int = 24) -> None:
        self.name = name
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", str(width), "-y",
                        str(height), cmd], check=True)

    def read(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name],
                              capture_output=True, text=True).stdout

    def wait_for(self, ok: Callable[[str], bool], timeout: float, what: str = "screen") -> str:
        deadline = time.monotonic() + timeout
        text = self.read()
        while not ok(text):
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not seen within {timeout}s; last screen:\n{text}")
            time.sleep(0.1)      # screen polling interval (we wait on the screen content)
            text = self.read()
        return text

    def alive(self) -> bool:
        return subprocess.run(["tmux", "has-session", "-t", self.name],
                              capture_output=True).returncode == 0

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], capture_output=True)

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)
