"""Run rt_node.py daemons as child processes and watch their JSON event streams."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

NODE = str(Path(__file__).with_name("rt_node.py"))

Event = dict[str, Any]


class NodeProc:
    """One daemon process started by the test (killed only by its own pid)."""

    def __init__(self, config: Path, name: str, prefix: tuple[str, ...] = ()) -> None:
        """``prefix``: a command the daemon runs under, e.g. ``ip netns exec NS`` (it execs)."""
        self.name = name
        self.events: list[Event] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen([*prefix, sys.executable, NODE, str(config), name],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()
        self._err: list[str] = []
        threading.Thread(target=self._read_err, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            with self._cond:
                self.events.append(ev)
                self._cond.notify_all()
        with self._cond:
            self.events.append({"ev": "eof"})
            self._cond.notify_all()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._err.append(line)

    def stderr(self) -> str:
        return "".join(self._err[-40:])

    def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def wait_for(self, pred: Callable[[Event], bool], timeout: float, start: int = 0) -> Event:
        """First event (from index ``start``) matching ``pred``; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            i = start
            while True:
                while i < len(self.events):
                    ev = self.events[i]
                    i += 1
                    if pred(ev):
                        return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.name}: no matching event in {timeout}s; last "
                                         f"events {self.events[-5:]}\nstderr: {self.stderr()}")
                self._cond.wait(left)

    def mark(self) -> int:
        with self._cond:
            return len(self.events)

    def msgs(self, group: str | None = None) -> list[Event]:
        with self._cond:
            return [e for e in self.events if e["ev"] == "msg"
                    and (group is None or group in e["groups"])]

    def stats(self, timeout: float = 10.0) -> Event:
        m = self.mark()
        self.send(op="stats")
        return self.wait_for(lambda e: e["ev"] == "stats", timeout, m)

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            self.proc.kill()
        self.proc.wait(10)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass


def wait_line(proc: subprocess.Popen[str], needle: str, timeout: float,
              drain: bool = False) -> str:
    """The first line of ``proc``'s stdout holding ``needle`` (asserts it comes within
    ``timeout``). ``drain`` keeps reading the rest, so a chatty process never blocks on a
    full pipe; the caller must then not read that stdout again."""
    box: list[str] = []
    done = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if needle in line:
                box.append(line)
                break
        done.set()
        if drain:
            for _ in proc.stdout:
                pass

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(timeout) and box, f"process never printed {needle!r}"
    return box[0]


def view_with(group: str, n: int, cause: str | None = None) -> Callable[[Event], bool]:
    def pred(e: Event) -> bool:
        return (e["ev"] == "view" and e["group"] == group and not e["transitional"]
                and len(e["members"]) == n and (cause is None or e["cause"] == cause))
    return pred


def agree(nodes: list[NodeProc], per_sender: int, timeout: float,
          senders: list[NodeProc] | None = None, **shape: Any) -> list[tuple[str, str]]:
    """Every node of ``senders`` (default: all) sends ``per_sender`` AGREED messages to
    group g (``shape``: rt_node's ``batch``/``gap``); all deliver one order, FIFO per
    sender, nothing lost or duplicated. Returns that order."""
    senders = nodes if senders is None else senders
    marks = [nd.mark() for nd in nodes]
    for nd in senders:
        nd.send(op="send", group="g", count=per_sender, prefix=f"{nd.name}-", **shape)
    total = per_sender * len(senders)
    orders = []
    for nd, m in zip(nodes, marks):
        got: list[tuple[str, str]] = []

        def enough(e: Event, got: list[tuple[str, str]] = got) -> bool:
            if e["ev"] == "msg" and "g" in e["groups"]:
                got.append((e["sender"], e["payload"]))
            return len(got) >= total

        nd.wait_for(enough, timeout, m)
        orders.append(got)
    first = orders[0]
    for o in orders[1:]:
        assert o == first, "daemons delivered AGREED messages in different orders"
    for nd in nodes:
        mine = [p for s, p in first if s == f"#c#{nd.name}"]
        assert mine == ([f"{nd.name}-{i}" for i in range(per_sender)] if nd in senders
                        else [])
    return first


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def udp_drops(port: int) -> int:
    """Datagrams the kernel dropped for the UDP socket bound to ``port`` (its receive
    queue was full): the ``drops`` column of /proc/net/udp."""
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1].endswith(f":{port:04X}"):
                return int(fields[-1])
    raise LookupError(f"no UDP socket bound to port {port}")
