"""What every ``robot-gcs bench`` scenario shares: the row, the stamped payload, the rings.

Theory of operation
-------------------
A scenario (bench.py: embedded and socket; bench_ring.py: N daemons in N processes;
bench_robot.py: periodic topics between N processes)
measures latencies in seconds and hands them to ``make_row``, which turns them into one
frozen ``BenchRow`` (p50/p99 in microseconds, msgs/s, MB/s). A measured message carries
its send time in its first bytes (``STAMP``: ``time.monotonic_ns`` and a sender-local
sequence number, see ``stamped_payload``); ``time.monotonic_ns`` is one clock for every
process on Linux, so a receiver in another process can compute the latency.
``RingSettings`` is what the bench sets in its daemons' config and ``write_config`` writes
that config; ``CpuHog`` is the CPU-bound thread of the ``+cpu`` rows; ``cpu_seconds``
reads a worker process's CPU time from /proc and ``send_error`` is a worker's report of
the exception that ended it.

This module is a leaf below the scenario modules: it imports none of them.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.events import GroupView
from ..core.types import Service
from ..errors import GcsError
from ..testing import write_ring_config

STAMP = struct.Struct("!qI")          # monotonic_ns at send, sender-local seq


class BenchError(GcsError):
    """A benchmark could not run (daemon did not start, message lost, ...)."""


@dataclass(frozen=True, slots=True)
class BenchRow:
    scenario: str           # embedded / socket / ring
    test: str               # rtt, one-way, flood, kill, ...
    service: str
    size: int               # payload bytes
    count: int              # messages measured
    seconds: float
    msgs_per_s: float
    mb_per_s: float
    p50_us: float | None
    p99_us: float | None
    note: str = ""


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q))]


def make_row(scenario: str, test: str, service: Service | str, size: int, lat_s: list[float],
             count: int, seconds: float, note: str = "") -> BenchRow:
    rate = count / seconds if seconds > 0 else 0.0
    p50, p99 = percentile(lat_s, 0.5), percentile(lat_s, 0.99)
    return BenchRow(scenario, test, service.name if isinstance(service, Service) else service,
                    size, count, round(seconds, 4), round(rate, 1), round(rate * size / 1e6, 3),
                    None if p50 is None else round(p50 * 1e6, 1),
                    None if p99 is None else round(p99 * 1e6, 1), note)


def stamped_payload(size: int, seq: int) -> bytes:
    head = STAMP.pack(time.monotonic_ns(), seq)
    return head + bytes(max(0, size - len(head)))


def view_with(s: Any, group: str, n: int, timeout: float) -> GroupView:
    """Receive on session ``s`` until a regular view of ``group`` has ``n`` members."""
    end = time.monotonic() + timeout
    while True:
        ev = s.receive(timeout=max(0.0, end - time.monotonic()))
        if ev is None:
            raise BenchError(f"{s.private_name}: no view of {group} with {n} members "
                             f"within {timeout}s")
        if isinstance(ev, GroupView) and ev.group == group and len(ev.members) >= n \
                and not ev.transitional:
            return ev


class CpuHog:
    """A pure-Python busy loop in a thread (what a CPU-bound control loop costs us).

    ``share`` (after ``__exit__``): the fraction of the wall time the loop's thread was
    on a CPU -- what the rest of its process (the daemon, the node) and the GIL
    hand-offs left it; near 1.0 when a CPU is free for it and nothing else in the
    process runs. The cost of a shorter switch interval shows here.
    """

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._spin, daemon=True, name="bench-cpu-hog")
        self.loops = 0
        self.share = 0.0

    def _spin(self) -> None:
        n = 0
        cpu0, wall0 = time.thread_time(), time.monotonic()
        while not self._stop.is_set():
            for _ in range(10_000):
                n += 1
        wall = time.monotonic() - wall0
        self.share = (time.thread_time() - cpu0) / wall if wall > 0 else 0.0
        self.loops = n

    def __enter__(self) -> "CpuHog":
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join(5)


def send_error(conn: Any, name: str, exc: BaseException) -> None:
    """A bench worker's last word: ``("error", name, traceback)`` on its pipe, which the
    parent's ``gather`` raises as a BenchError (a pipe already gone is ignored)."""
    import traceback
    try:
        conn.send(("error", name, "".join(traceback.format_exception(exc))))
    except OSError:
        pass


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads) from /proc/<pid>/stat, in seconds
    (resolution: one clock tick, 10 ms with the usual USER_HZ of 100)."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()      # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class RingSettings:
    """What the bench sets in its daemons' config (None: the config default)."""

    token_ms: int | None = None
    switch_ms: float | None = None
    reply_window_us: int | None = None
    inline_receive: bool | None = None
    insecure: bool = False          # True: ring packets not sealed (to measure sealing)


def write_config(tmp: Path, n: int, settings: RingSettings) -> Path:
    return write_ring_config(tmp, n, name=f"bench{os.getpid()}", prefix="b",
                             token_ms=settings.token_ms, switch_interval_ms=settings.switch_ms,
                             reply_window_us=settings.reply_window_us,
                             inline_receive=settings.inline_receive, sockets=True,
                             insecure=settings.insecure,
                             filename="bench.yaml")
