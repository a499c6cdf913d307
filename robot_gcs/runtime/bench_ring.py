"""Ring scenario of ``robot-gcs bench``: N daemons in N worker processes on loopback.

Theory of operation
-------------------
The parent (``bench_ring``) writes a ring config with N daemons, spawns one worker per
daemon (``multiprocessing`` "spawn": no threads are forked) and drives them over pipes.
A worker embeds its daemon, opens one session, joins group ``bench`` and waits for the
view with all N members before answering ``ready``. Commands, each bounded by a count and
a deadline:

* ``flood``: a barrier first (every worker multicasts a marker and waits for all N: by
  total order everything sent earlier has been delivered), then every worker sends
  ``count`` messages (monotonic send time in the payload) from a thread while its main
  thread receives everybody's; it reports what it got, when the last one came, sampled
  send -> delivery latencies of other workers' messages and the view changes it saw.
* ``oneway``: one sender, one message in flight (it waits for its own delivery); the
  others record send -> delivery latency (light load, per service and size).
* ``pingpong``: the pinger multicasts, the ponger answers each ping, the pinger times the
  round trip (two ordered messages through two daemons); the others just receive. Ping
  and pong are sent with ``self_discard`` (request/reply: nobody wants its own copy back,
  which would cost each sender a wake-up per message).
* ``watch``: wait for the ``bench`` view without the victim; the parent SIGKILLs the
  victim right after every survivor said it is watching.
* ``cpu``: start/stop a CPU-bound thread in the worker; stopping answers the share of
  the wall time the thread ran (``CpuHog.share``), which the ``+cpu`` row's note shows.

``time.monotonic_ns`` is CLOCK_MONOTONIC on Linux, one clock for every process.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..core.events import DataMessage, GroupView
from ..core.types import Service
from ..config import load_config
from ..errors import Backpressure
from .bench_rows import (STAMP, BenchError, BenchRow, CpuHog, RingSettings, make_row,
                         percentile, stamped_payload, view_with, write_config)


def _worker_main(conn: Any, cfg_path: str, name: str, n: int) -> None:
    """One ring member: embedded daemon + one session, obeying the parent's commands."""
    from .daemon import Daemon
    from ..config import load_config
    try:
        d = Daemon(load_config(cfg_path), name, serve_clients=False)
        d.start()
        s = d.connect("bench")
        s.join("bench")
        view_with(s, "bench", n, 60)
        conn.send(("ready", name, s.private_name))
        hog: CpuHog | None = None
        while True:
            cmd = conn.recv()
            op = cmd[0]
            if op == "exit":
                break
            if op == "cpu":
                share = None
                if cmd[1] and hog is None:
                    hog = CpuHog().__enter__()
                elif not cmd[1] and hog is not None:
                    hog.__exit__()
                    share, hog = hog.share, None
                conn.send(("cpu", share))
            elif op == "flood":
                conn.send(("flood", _flood(s, *cmd[1:])))
            elif op == "pingpong":
                conn.send(("pingpong", _pingpong(s, *cmd[1:])))
            elif op == "oneway":
                conn.send(("oneway", _oneway(s, *cmd[1:])))
            elif op == "watch":
                conn.send(("watching",))
                conn.send(("watch", _watch(s, *cmd[1:])))
            elif op == "lag":
                st = d.statistics()
                conn.send(("lag", st.loop_lag.worst, st.loop_lag.p99))
        s.close()
        d.stop()
    except BaseException as exc:      # the parent reports it
        import traceback
        try:
            conn.send(("error", name, "".join(traceback.format_exception(exc))))
        except OSError:
            pass


MARK = 0xFFFFFFFE


def _barrier(s: Any, round_id: int, n: int, end: float) -> int:
    """Every worker multicasts a marker and waits for all n (total order: whatever was
    sent before has been delivered here). Returns the view changes seen meanwhile."""
    s.multicast("bench", stamped_payload(16, MARK), msg_type=round_id, timeout=max(0.1, end - time.monotonic()))
    marks: set[str] = set()
    views = 0
    while len(marks) < n:
        left = end - time.monotonic()
        if left <= 0:
            raise BenchError(f"barrier of round {round_id}: {len(marks)}/{n} markers")
        ev = s.receive(timeout=min(0.5, left))
        if isinstance(ev, DataMessage) and ev.msg_type == round_id and \
                STAMP.unpack_from(ev.payload)[1] == MARK:
            marks.add(ev.sender)
        elif isinstance(ev, GroupView) and not ev.transitional:
            views += 1
    return views


def _flood(s: Any, round_id: int, size: int, count: int, service: int, senders: int,
           seconds: float, send: bool) -> dict[str, Any]:
    views = _barrier(s, round_id, senders, time.monotonic() + max(30.0, 3 * seconds))
    end = time.monotonic() + seconds
    start_ns = time.monotonic_ns()
    sent = [0]
    bp = [0]

    def sender() -> None:
        for i in range(count):
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    return
                try:
                    s.multicast("bench", stamped_payload(size, i), service=Service(service),
                                msg_type=round_id, timeout=min(left, 0.5))
                    break
                except Backpressure:
                    bp[0] += 1
            sent[0] += 1

    t = threading.Thread(target=sender, daemon=True)
    if send:
        t.start()
    expected = count * senders
    got = 0
    lat: list[int] = []
    depth: list[int] = []       # this session's queued events at each latency sample
    last_ns = start_ns
    step = max(1, expected // 5000)          # keep at most ~5000 latency samples
    while got < expected and time.monotonic() < end:
        ev = s.receive(timeout=max(0.0, min(0.5, end - time.monotonic())))
        if isinstance(ev, DataMessage) and ev.msg_type == round_id:
            last_ns = time.monotonic_ns()
            if got % step == 0 and ev.sender != s.private_name:
                lat.append(last_ns - STAMP.unpack_from(ev.payload)[0])
                depth.append(s.pending_events)
            got += 1
        elif isinstance(ev, GroupView) and not ev.transitional:
            views += 1
    if send:
        t.join(max(0.0, end - time.monotonic()) + 1.0)
    return {"got": got, "expected": expected, "start_ns": start_ns, "last_ns": last_ns,
            "lat_ns": lat, "sent": sent[0], "backpressure": bp[0], "views": views,
            "depth": depth}


def _pingpong(s: Any, round_id: int, pinger: str, ponger: str, size: int, count: int,
              seconds: float, n: int) -> dict[str, Any]:
    _barrier(s, round_id, n, time.monotonic() + max(30.0, 3 * seconds))
    end = time.monotonic() + seconds
    lat: list[float] = []
    if s.private_name == pinger:
        for i in range(count + 20):
            if time.monotonic() > end:
                break
            t0 = time.perf_counter()
            s.multicast("bench", stamped_payload(size, i), msg_type=round_id, self_discard=True,
                        timeout=2.0)
            while True:
                ev = s.receive(timeout=2.0)
                if ev is None:
                    raise BenchError("pong not received within 2s")
                if isinstance(ev, DataMessage) and ev.sender == ponger and \
                        ev.msg_type == round_id and STAMP.unpack_from(ev.payload)[1] == i:
                    break
            if i >= 20:
                lat.append(time.perf_counter() - t0)
        s.multicast("bench", stamped_payload(8, 0xFFFFFFFF), msg_type=round_id, timeout=2.0)
        return {"lat": lat}
    while time.monotonic() < end + 2.0:            # ponger and bystanders
        ev = s.receive(timeout=0.5)
        if isinstance(ev, DataMessage) and ev.sender == pinger and ev.msg_type == round_id:
            seq = STAMP.unpack_from(ev.payload)[1]
            if seq == 0xFFFFFFFF:
                break
            if s.private_name == ponger:
                s.multicast("bench", stamped_payload(size, seq), msg_type=round_id,
                            self_discard=True, timeout=2.0)
    return {}


def _oneway(s: Any, round_id: int, sender: str, size: int, count: int, service: int,
            seconds: float, n: int) -> dict[str, Any]:
    """Light load: the sender has one message in flight (it waits for its own delivery);
    every other worker records send -> delivery latency."""
    _barrier(s, round_id, n, time.monotonic() + max(30.0, 3 * seconds))
    end = time.monotonic() + seconds
    lat: list[int] = []
    svc = Service(service)
    if s.private_name == sender:
        for i in range(count):
            if time.monotonic() > end:
                break
            s.multicast("bench", stamped_payload(size, i), service=svc, msg_type=round_id, timeout=2.0)
            while True:
                ev = s.receive(timeout=2.0)
                if ev is None:
                    raise BenchError("own message not delivered within 2s")
                if isinstance(ev, DataMessage) and ev.sender == sender and \
                        ev.msg_type == round_id:
                    break
        s.multicast("bench", stamped_payload(16, 0xFFFFFFFF), service=svc, msg_type=round_id,
                    timeout=2.0)
        return {"lat_ns": lat}
    while time.monotonic() < end + 2.0:
        ev = s.receive(timeout=0.5)
        if isinstance(ev, DataMessage) and ev.sender == sender and ev.msg_type == round_id:
            sent_ns, seq = STAMP.unpack_from(ev.payload)
            if seq == 0xFFFFFFFF:
                break
            lat.append(time.monotonic_ns() - sent_ns)
    return {"lat_ns": lat}


def _watch(s: Any, victim: str, seconds: float) -> dict[str, Any]:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ev = s.receive(timeout=max(0.0, min(0.5, end - time.monotonic())))
        if isinstance(ev, GroupView) and ev.group == "bench" and not ev.transitional \
                and victim not in ev.members:
            return {"view_ns": time.monotonic_ns(), "cause": ev.cause.value}
    return {"view_ns": None, "cause": None}


class _Ring:
    """The parent's handle on N spawned worker processes."""

    def __init__(self, tmp: Path, n: int, settings: RingSettings, subdir: str = "ring") -> None:
        (tmp / subdir).mkdir()
        self.cfg = write_config(tmp / subdir, n, settings)
        self.token_ms = round(load_config(self.cfg).ring.params.token_timeout * 1000)
        self.n = n
        ctx = multiprocessing.get_context("spawn")
        self.conns: list[Any] = []
        self.procs: list[Any] = []
        self.names: list[str] = []
        for i in range(n):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_worker_main, args=(child, str(self.cfg), f"b{i + 1}", n),
                            daemon=True)
            p.start()
            self.conns.append(parent)
            self.procs.append(p)
        for reply in self.gather(self.conns, 90.0):
            self.names.append(reply[2])

    def gather(self, conns: list[Any], timeout: float) -> list[Any]:
        replies: dict[int, Any] = {}
        end = time.monotonic() + timeout
        while len(replies) < len(conns):
            left = end - time.monotonic()
            ready = multiprocessing.connection.wait(
                [c for c in conns if id(c) not in replies], max(0.0, left))
            if not ready:
                raise BenchError(f"ring workers did not answer within {timeout}s")
            for c in ready:
                try:
                    msg = c.recv()  # type: ignore[union-attr,call-arg]
                except EOFError:
                    raise BenchError("a ring worker died") from None
                if msg[0] == "error":
                    raise BenchError(f"ring worker {msg[1]} failed:\n{msg[2]}")
                replies[id(c)] = msg
        return [replies[id(c)] for c in conns]

    def call(self, cmds: list[tuple[Any, ...]], timeout: float,
             conns: list[Any] | None = None) -> list[Any]:
        conns = conns if conns is not None else self.conns
        for c, cmd in zip(conns, cmds):
            c.send(cmd)
        return self.gather(conns, timeout)

    def close(self) -> None:
        for c, p in zip(self.conns, self.procs):
            if p.is_alive():
                try:
                    c.send(("exit",))
                except OSError:
                    pass
        for p in self.procs:
            p.join(15)
            if p.is_alive():
                p.kill()
                p.join(5)


def bench_ring(tmp: Path, n: int, sizes: tuple[int, ...], services: tuple[Service, ...],
               flood_count: int, count: int, seconds: float, settings: RingSettings, cpu: bool,
               kill: bool, progress: Callable[[str], None],
               rows: list[BenchRow] | None = None) -> list[BenchRow]:
    """Ring rows, appended to ``rows`` as they are measured (kept if a later row fails)."""
    rows = [] if rows is None else rows
    ring = _Ring(tmp, n, settings)
    try:
        round_id = 0
        for service in services:
            for size in sizes:
                round_id += 1
                per = max(20, min(flood_count, (5_000_000 // size)))
                progress(f"ring flood {service.name} {size} B x {per} x {n}")
                res = [r[1] for r in ring.call(
                    [("flood", round_id, size, per, int(service), n, seconds, True)] * n,
                    4 * seconds + 60)]
                start = min(r["start_ns"] for r in res)
                last = max(r["last_ns"] for r in res)
                got = min(r["got"] for r in res)
                lat = [x / 1e9 for r in res for x in r["lat_ns"]]
                note = "" if got == n * per else f"incomplete: {got}/{n * per} by deadline"
                depth = sorted(x for r in res for x in r["depth"])
                if depth:            # where a backlog sits: the receivers' queues, or before
                    note = (note + "; " if note else "latency under saturation; ") + \
                        f"receiver queue p50 {percentile(depth, 0.5):.0f} events"
                views = max(r["views"] for r in res)
                if views:
                    note = (note + "; " if note else "") + f"{views} view changes during the row"
                rows.append(make_row(f"ring x{n}", "flood", service, size, lat, got,
                                 (last - start) / 1e9, note or "latency under saturation"))
        light = max(20, count // 4)
        for service in services:
            for size in sizes:
                round_id += 1
                progress(f"ring one-way {service.name} {size} B x {light}")
                res = [r[1] for r in ring.call(
                    [("oneway", round_id, ring.names[0], size, light, int(service), seconds,
                      n)] * n, 4 * seconds + 60)]
                lat = [x / 1e9 for r in res[1:] for x in r["lat_ns"]]
                per = len(res[1]["lat_ns"])
                rows.append(make_row(f"ring x{n}", "one-way light", service, size, lat, per,
                                 sum(lat) / max(1, n - 1),
                                 "one message in flight; latency at every other daemon"
                                 + ("" if per >= light else f"; deadline {seconds}s")))
        round_id = _pingpong_rows(ring, rows, round_id, count, seconds, cpu, progress)
        if kill and n >= 2:
            progress("ring kill")
            victim = ring.names[-1]
            survivors = ring.conns[:-1]
            for c in survivors:
                c.send(("watch", victim, 20.0))
            ring.gather(survivors, 10)             # all are watching
            t0 = time.monotonic_ns()
            os.kill(ring.procs[-1].pid, signal.SIGKILL)
            res = [r[1] for r in ring.gather(survivors, 30)]
            ring.conns, ring.procs = ring.conns[:-1], ring.procs[:-1]
            lats = [(r["view_ns"] - t0) / 1e9 for r in res if r["view_ns"] is not None]
            causes = sorted({str(r["cause"]) for r in res})
            p50, p99 = percentile(lats, 0.5), percentile(lats, 0.99)
            rows.append(BenchRow(f"ring x{n}", "SIGKILL -> view", "-", 0, len(lats),
                                 round(max(lats), 4) if lats else 0.0, 0.0, 0.0,
                                 None if p50 is None else round(p50 * 1e6, 1),
                                 None if p99 is None else round(p99 * 1e6, 1),
                                 f"survivors' view cause {','.join(causes)}; "
                                 f"token {ring.token_ms} ms"))
    finally:
        ring.close()
    if n != 2:           # the round-trip target is between two daemons: a ring of two
        pair = _Ring(tmp, 2, settings, subdir="pair")
        try:
            _pingpong_rows(pair, rows, round_id, count, seconds, False, progress)
        finally:
            pair.close()
    return rows


def _pingpong_rows(ring: _Ring, rows: list[BenchRow], round_id: int, count: int,
                   seconds: float, cpu: bool, progress: Callable[[str], None]) -> int:
    """Ping-pong between the ring's first two daemons (the others only receive)."""
    n = ring.n
    for with_cpu in ([False, True] if cpu else [False]):
        round_id += 1
        if with_cpu:
            ring.call([("cpu", True)], 10, [ring.conns[0]])
        progress(f"ring ping-pong {'+cpu' if with_cpu else ''}")
        res = ring.call([("pingpong", round_id, ring.names[0], ring.names[1], 100, count,
                          seconds, n)] * n, 4 * seconds + 60)
        hog = ""
        if with_cpu:
            share = ring.call([("cpu", False)], 10, [ring.conns[0]])[0][1]
            hog = f"CPU-bound thread in the pinger's process (ran {share:.0%} of the time)"
        lat = res[0][1]["lat"]
        rows.append(make_row(f"ring x{n}", "rtt 2 daemons" + (" +cpu" if with_cpu else ""),
                         Service.AGREED, 100, lat, len(lat), sum(lat),
                         "; ".join(x for x in (
                             hog, f"deadline {seconds}s" if len(lat) < count else "") if x)))
    return round_id
