"""``robot-gcs bench``: latency and throughput of the real stack (like Spread's spflooder).

Theory of operation
-------------------
Four scenarios, each a list of ``BenchRow`` (median and p99 latency, msgs/s, MB/s):

* ``embedded``: a one-daemon ring inside this process. *rtt*: a session multicasts to a
  group only it has joined and waits for its own message (submit -> ring -> delivery);
  *one-way*: another in-process session receives in its own thread, latency measured from
  the ``multicast()`` call to ``receive()`` returning, one message in flight at a time;
  *flood*: the sender sends as fast as the session takes messages, the other receives.
  Repeated with a pure-Python CPU-bound thread running in this process (``+cpu``).
* ``socket``: the same through Unix-socket sessions to a daemon running as a separate
  process (``robot-gcs daemon``; its ``ready`` line is awaited).
* ``ring`` (runtime/bench_ring.py): N daemons, each embedded in its own worker process on
  loopback (spawned, driven over a pipe). *flood*: every worker sends ``count`` messages
  of each size and service while receiving everybody's; throughput is all messages over
  the time from the first start to the last delivery anywhere; latency is send -> delivery at every daemon
  (``time.monotonic_ns`` is one clock for all processes on Linux). *one-way light*: one
  sender with one message in flight, latency at every other daemon. *rtt*: ping-pong
  between two daemons at light load, with and without a CPU-bound thread in the pinger's
  process, in the N-daemon ring and (N != 2) in a separate ring of two, whose row is the
  one compared with the target. *kill*: one worker is SIGKILLed; the survivors report when their group view
  without it (cause NETWORK) arrived.
* ``robot`` (runtime/bench_robot.py, ``--robot``): the robot-shaped load, each row in a
  fresh ring of worker processes, each an embedded daemon + one Node publishing periodic
  topics from Node timers and subscribed to the others': CPU % per processor from /proc,
  publish -> callback p50/p99/max and delivered/expected, and (unless ``--no-floor``) the
  CPU % of a bare Python loop moving the same datagrams (bench_floor.py). Its
  ``RobotRow`` records carry the figures the table shows in the note; ``--json`` lists
  them under ``robot``. A ``+cpu`` row run with a switch interval above 1 ms gets a line
  saying that the robot profile runs 0.25 ms (``switch_hint``).

``--loss PCT`` runs all of it again inside a private network namespace that drops that
share of the UDP datagrams at random (runtime/bench_loss.py).

Every loop is bounded by a count and by a deadline; a row that hits the deadline says so
(``note``). Figures are reported, never asserted; ``report_targets`` compares them with the
project's targets. ``--json`` prints the rows and the environment as one JSON document.
The row, the stamped payload and the ring config both scenario modules share live in
bench_rows.py, below them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from ..core.events import DataMessage
from ..core.types import Service
from ..errors import Backpressure, GcsError
from . import bench_loss
from .bench_ring import bench_ring
from .bench_robot import RobotRow, bench_robot, robot_loads, robot_targets, switch_hint
from .bench_rows import (STAMP, BenchError, BenchRow, CpuHog, RingSettings, make_row,
                         stamped_payload, view_with, write_config)

SIZES = (100, 1000, 10_000, 100_000)
SCENARIOS = ("embedded", "socket", "ring", "robot")


def _own(s: Any, timeout: float) -> DataMessage:
    end = time.monotonic() + timeout
    while True:
        ev = s.receive(timeout=max(0.0, end - time.monotonic()))
        if ev is None:
            raise BenchError(f"{s.private_name}: own message not back within {timeout}s")
        if isinstance(ev, DataMessage) and ev.sender == s.private_name:
            return ev


# ------------------------------------------------------------------ machine speed

def cpu_reference(rounds: int = 3000) -> float:
    """p50 seconds of a fixed piece of pure Python (arithmetic, a small dict), timed back
    to back: how fast this machine runs Python right now. On a VM it moves by 30-40 %
    from minute to minute, and every latency row moves with it, so the bench prints it
    before and after the rows (21 us on the 2-core VM of the issue notes at its usual
    speed)."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        s = 0
        for i in range(400):
            s += i * i
        d = {i: str(i) for i in range(50)}
        times.append(time.perf_counter() - t0)
    del d
    times.sort()
    return times[len(times) // 2]


# ------------------------------------------------------------------ session loops

WARMUP_ROUNDS = 20
WARMUP_SECONDS = 0.1
PACE = 0.01               # the paced row: a 100 Hz loop
PACED_COUNT = 200


def rtt(s: Any, group: str, size: int, count: int, seconds: float,
        pace: float = 0.0) -> tuple[list[float], str]:
    """Own-message round trips of one session (it must be the only member of ``group``).

    The first WARMUP_ROUNDS, and at least WARMUP_SECONDS of round trips, are not
    counted: a CPU that was idle runs cold for a while (on a VM a 20 us piece of Python
    takes about 3x as long right after a 10 ms sleep), which would make the figure a
    measure of what ran before the row rather than of the daemon. ``pace``: sleep this
    long between round trips, as a control loop does (each then starts on a cold CPU).
    """
    payload = bytes(size)
    out: list[float] = []
    end = time.monotonic() + seconds
    warm_until = time.monotonic() + min(WARMUP_SECONDS, seconds / 10)
    i = 0
    while len(out) < count:
        if time.monotonic() > end:
            return out, f"deadline {seconds}s"
        warm = i >= WARMUP_ROUNDS and time.monotonic() >= warm_until
        t0 = time.perf_counter()
        s.multicast(group, payload, timeout=2.0)
        _own(s, 2.0)
        i += 1
        if warm:
            out.append(time.perf_counter() - t0)
        if pace:
            time.sleep(pace)                      # the workload: a periodic loop
    return out, ""


def one_way(tx: Any, rx: Any, group: str, size: int, count: int,
            seconds: float) -> tuple[list[float], str]:
    """multicast() -> receive() in another thread, one message in flight at a time."""
    lat: list[float] = []
    got = threading.Semaphore(0)
    end = time.monotonic() + seconds
    errors: list[BaseException] = []

    def receiver() -> None:
        try:
            while time.monotonic() < end + 2.0:
                ev = rx.receive(timeout=0.5)
                if isinstance(ev, DataMessage) and ev.sender == tx.private_name \
                        and ev.msg_type == 0:
                    sent_ns, seq = STAMP.unpack_from(ev.payload)
                    if seq == 0xFFFFFFFF:
                        return
                    lat.append((time.monotonic_ns() - sent_ns) / 1e9)
                    got.release()
        except BaseException as exc:     # reported by the caller
            errors.append(exc)
            got.release()

    t = threading.Thread(target=receiver, daemon=True, name="bench-rx")
    t.start()
    note = ""
    for i in range(count + 20):
        if time.monotonic() > end:
            note = f"deadline {seconds}s"
            break
        tx.multicast(group, stamped_payload(size, i), timeout=2.0)
        if not got.acquire(timeout=2.0) or errors:
            raise BenchError(f"one-way: message {i} not received within 2s: {errors}")
    tx.multicast(group, stamped_payload(size, 0xFFFFFFFF), timeout=2.0)
    t.join(3.0)
    return lat[20:], note


def flood_pair(tx: Any, rx: Any, group: str, size: int, count: int,
               seconds: float) -> tuple[list[float], int, float, str]:
    """tx sends ``count`` messages as fast as the session takes them; rx (own thread)
    receives them. Returns sampled latencies, messages received, seconds, note."""
    end = time.monotonic() + seconds
    lat: list[float] = []
    got = [0]
    last = [0]
    done = threading.Event()
    step = max(1, count // 2000)

    def receiver() -> None:
        try:
            while got[0] < count and time.monotonic() < end:
                ev = rx.receive(timeout=0.5)
                if isinstance(ev, DataMessage) and ev.msg_type == 1 and \
                        ev.sender == tx.private_name:
                    now = time.monotonic_ns()
                    if got[0] % step == 0:
                        lat.append((now - STAMP.unpack_from(ev.payload)[0]) / 1e9)
                    got[0] += 1
                    last[0] = now
        finally:
            done.set()

    threading.Thread(target=receiver, daemon=True, name="bench-flood-rx").start()
    start = time.monotonic_ns()
    for i in range(count):
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            try:
                tx.multicast(group, stamped_payload(size, i), msg_type=1, timeout=min(0.5, left))
                break
            except Backpressure:
                continue
    done.wait(max(0.0, end - time.monotonic()) + 1.0)
    note = "latency under saturation" if got[0] == count else \
        f"incomplete: {got[0]}/{count} by deadline"
    return lat, got[0], max(0, last[0] - start) / 1e9, note


def _session_rows(scenario: str, tx: Any, rx: Any, sizes: tuple[int, ...], count: int,
                  seconds: float, cpu: bool) -> list[BenchRow]:
    rows = []
    for size in sizes:
        lat, note = rtt(tx, "bench.rtt", size, count, seconds)
        rows.append(make_row(scenario, "rtt", Service.AGREED, size, lat, len(lat), sum(lat), note))
        lat, note = one_way(tx, rx, "bench.oneway", size, count, seconds)
        rows.append(make_row(scenario, "one-way", Service.AGREED, size, lat, len(lat), sum(lat),
                         note))
        per = max(20, min(5 * count, 20_000_000 // size))
        lat, got, secs, note = flood_pair(tx, rx, "bench.oneway", size, per, seconds)
        rows.append(make_row(scenario, "flood", Service.AGREED, size, lat, got, secs, note))
    if scenario == "embedded":
        lat, note = rtt(tx, "bench.rtt", sizes[0], min(count, PACED_COUNT), seconds,
                        pace=PACE)
        rows.append(make_row(scenario, "rtt 100 Hz", Service.AGREED, sizes[0], lat, len(lat),
                         sum(lat), note or "one round trip every 10 ms, as a control loop"))
    if cpu:
        with CpuHog():
            lat, note = rtt(tx, "bench.rtt", sizes[0], count, seconds)
        rows.append(make_row(scenario, "rtt +cpu", Service.AGREED, sizes[0], lat, len(lat),
                         sum(lat), note or "CPU-bound thread in this process"))
    return rows


def _join_pair(tx: Any, rx: Any) -> None:
    tx.join("bench.rtt")
    view_with(tx, "bench.rtt", 1, 10)
    tx.join("bench.oneway")
    view_with(tx, "bench.oneway", 1, 10)
    rx.join("bench.oneway")
    view_with(rx, "bench.oneway", 2, 10)
    view_with(tx, "bench.oneway", 2, 10)
    tx.leave("bench.oneway")       # tx must not queue its own one-way messages unread
    view_with(rx, "bench.oneway", 1, 10)


# ------------------------------------------------------------------ configs and processes

def bench_embedded(tmp: Path, sizes: tuple[int, ...], count: int, seconds: float,
                   settings: RingSettings, cpu: bool) -> list[BenchRow]:
    from .daemon import Daemon
    from ..config import load_config
    (tmp / "embedded").mkdir()
    cfg = load_config(write_config(tmp / "embedded", 1, settings))
    with Daemon(cfg, "b1", serve_clients=False) as d:
        with d.connect("tx") as tx, d.connect("rx") as rx:
            _join_pair(tx, rx)
            return _session_rows("embedded", tx, rx, sizes, count, seconds, cpu)


def bench_socket(tmp: Path, sizes: tuple[int, ...], count: int, seconds: float,
                 settings: RingSettings, cpu: bool) -> list[BenchRow]:
    from .. import connect
    (tmp / "socket").mkdir()
    path = write_config(tmp / "socket", 1, settings)
    proc = subprocess.Popen([sys.executable, "-m", "robot_gcs.cli", "daemon", "-c", str(path),
                             "-n", "b1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        _await_ready(proc, 20.0)
        address = f"unix:{tmp / 'socket' / 'b1.sock'}"
        with connect(address, "tx") as tx, connect(address, "rx") as rx:
            _join_pair(tx, rx)
            return _session_rows("socket", tx, rx, sizes, count, seconds, cpu)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _await_ready(proc: subprocess.Popen[str], timeout: float) -> None:
    """Wait for the daemon's ``ready`` line (bounded)."""
    box: list[str] = []
    done = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "ready" in line:
                box.append(line)
                done.set()
                break
        done.set()
        for _ in proc.stdout:          # keep the pipe drained
            pass

    threading.Thread(target=read, daemon=True).start()
    if not done.wait(timeout) or not box:
        err = proc.stderr.read() if proc.poll() is not None and proc.stderr else ""
        raise BenchError(f"daemon process did not report ready within {timeout}s {err}")


# ------------------------------------------------------------------ report and CLI

def format_table(rows: list[BenchRow]) -> str:
    head = ("scenario", "test", "service", "size", "count", "p50 us", "p99 us", "msgs/s",
            "MB/s", "note")
    body = [(r.scenario, r.test, r.service, str(r.size), str(r.count),
             "-" if r.p50_us is None else f"{r.p50_us:.1f}",
             "-" if r.p99_us is None else f"{r.p99_us:.1f}", f"{r.msgs_per_s:.0f}",
             f"{r.mb_per_s:.2f}", r.note) for r in rows]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
             for line in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report_targets(rows: list[BenchRow], robot: Sequence[RobotRow] = ()) -> list[str]:
    """The project's targets, each with the measured figure (reported, not asserted)."""
    def find(scen: str, test: str, size: int = 100, service: str = "AGREED") -> BenchRow | None:
        for r in rows:
            if r.scenario.startswith(scen) and r.test == test and r.size == size and \
                    r.service == service:
                return r
        return None

    out = []
    emb, sock = find("embedded", "rtt"), find("socket", "rtt")
    if emb is not None and emb.p50_us is not None:
        cmp = f", socket {sock.p50_us} us" if sock and sock.p50_us is not None else ""
        out.append(f"embedded own-message rtt p50 {emb.p50_us} us (target < 50 us and below "
                   f"the socket session's{cmp}): "
                   f"{'met' if emb.p50_us < 50 and (not sock or (sock.p50_us or 0) > emb.p50_us) else 'MISSED'}")
    fl = find("ring", "flood")
    if fl is not None:
        out.append(f"{fl.scenario} AGREED 100 B throughput {fl.msgs_per_s:.0f} msgs/s "
                   f"(target >= 20000): {'met' if fl.msgs_per_s >= 20000 else 'MISSED'}")
    pp = find("ring x2", "rtt 2 daemons") or find("ring", "rtt 2 daemons")
    if pp is not None and pp.p50_us is not None:
        out.append(f"AGREED rtt between two daemons p50 {pp.p50_us} us ({pp.scenario}; "
                   f"target < 500 us): {'met' if pp.p50_us < 500 else 'MISSED'}")
    for r in rows:
        if r.test == "SIGKILL -> view":
            worst = r.seconds
            out.append(f"SIGKILLed daemon seen as a view change after {worst * 1000:.0f} ms "
                       f"({r.note}; target NETWORK < 1 s): "
                       f"{'met' if r.count and worst < 1 and 'network' in r.note else 'MISSED'}")
    return out + robot_targets(robot)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("The footer's CPU reference is the p50 time of a fixed piece of pure "
                     "Python, before and after the rows: how fast this machine ran Python "
                     "meanwhile. Compare latency figures only between runs with similar "
                     "references; on a VM it moves by 30-40 % from minute to minute.")
    parser.add_argument("--only", default=None,
                        help="comma list of scenarios: embedded, socket, ring, robot "
                             "(default: embedded,socket,ring; with --robot: robot)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)),
                        help="payload sizes in bytes (default 100,1000,10000,100000)")
    parser.add_argument("--count", type=int, default=2000,
                        help="messages per latency row (embedded/socket floods send 5x this, "
                             "capped at 20 MB)")
    parser.add_argument("--flood-count", type=int, default=20000,
                        help="messages per sender in a ring flood row (capped at 5 MB per sender)")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="deadline per row (every loop is also bounded by count)")
    parser.add_argument("--daemons", type=int, default=3, help="daemons in the ring scenario")
    parser.add_argument("--services", default="agreed,safe", help="services for flood rows")
    parser.add_argument("--token-ms", type=int, default=None,
                        help="token timeout of the bench rings (detection time of a kill; "
                             "default: the engine default, consensus 1.2 x token)")
    parser.add_argument("--cpus", default=None,
                        help="pin this process and every bench process it starts to these CPUs "
                             "(comma list, e.g. 0): hand-offs between threads and processes "
                             "then stay on one CPU (see the README on wake-up costs)")
    parser.add_argument("--reply-window-us", type=int, default=None,
                        help="runtime.reply_window_us of the bench daemons (0: off; default: "
                             "the config default, 300)")
    parser.add_argument("--inline-receive", choices=("on", "off"), default=None,
                        help="runtime.inline_receive of the bench daemons (a session waiting "
                             "in receive() reads the ring itself; default: the config "
                             "default, on)")
    parser.add_argument("--switch-interval-ms", type=float, default=None,
                        help="sys.setswitchinterval for every bench process (config "
                             "runtime.switch_interval_ms; default: Python's 5 ms)")
    parser.add_argument("--no-cpu", action="store_true",
                        help="skip the rows measured with a CPU-bound thread")
    parser.add_argument("--no-kill", action="store_true", help="skip the SIGKILL row")
    parser.add_argument("--insecure", action="store_true",
                        help="rings without sealing (security: insecure): run once with and "
                             "once without to see what sealing costs")
    parser.add_argument("--loss", type=float, default=None, metavar="PCT",
                        help="run every row in a private network namespace that drops PCT %% "
                             "of the UDP datagrams at random (nftables; needs root, ip and "
                             "nft): what a lossy link does to latency and delivery")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    robot = parser.add_argument_group(
        "robot load (--robot)", "each row a fresh ring of processes, each an embedded daemon "
        "+ one Node: idle, one row per --topics value, the largest again with only the "
        "last processor publishing (one sender), and again with a CPU-bound thread in "
        "one processor (not with --no-cpu); --switch-interval-ms "
        "0.25 runs them as config/robot.yaml does")
    robot.add_argument("--robot", action="store_true",
                       help="run the robot rows (alone, unless --only names more scenarios)")
    robot.add_argument("--processors", type=int, default=3,
                       help="processes in each robot ring (default 3)")
    robot.add_argument("--topics", default="1,5,10",
                       help="topics each processor publishes, one row per value (default 1,5,10)")
    robot.add_argument("--rate", type=float, default=100.0,
                       help="publish rate of every topic in Hz (default 100)")
    robot.add_argument("--robot-size", type=int, default=200,
                       help="message size in bytes (default 200)")
    robot.add_argument("--robot-seconds", type=float, default=5.0,
                       help="measured seconds per robot row, after a warm-up (default 5)")
    robot.add_argument("--robot-service", default="fifo",
                       help="service of the robot topics (default fifo)")
    robot.add_argument("--no-floor", action="store_true",
                       help="skip the bare-loop floor after each row (as many plain Python "
                            "processes moving as many datagrams, no protocol: the part of "
                            "the row's CPU that no protocol work removes)")


def run(args: argparse.Namespace) -> int:
    if args.loss is not None and not bench_loss.inside():
        return bench_loss.run_in_lossy_namespace(args)    # runs this again, inside it
    only = {x.strip() for x in (args.only or ("" if args.robot else "embedded,socket,ring"))
            .split(",") if x.strip()} | ({"robot"} if args.robot else set())
    unknown = only - set(SCENARIOS)
    try:
        sizes = tuple(int(x) for x in args.sizes.split(",") if x.strip())
        services = tuple(Service[x.strip().upper()] for x in args.services.split(",")
                         if x.strip())
        topics = tuple(int(x) for x in args.topics.split(",") if x.strip())
        robot_service = Service[args.robot_service.strip().upper()]
    except (ValueError, KeyError) as exc:
        print(f"robot-gcs bench: bad --sizes, --services, --topics or --robot-service: {exc}",
              file=sys.stderr)
        return 2
    if "robot" in only and (args.processors < 2 or not topics or min(topics) < 1
                            or not args.rate > 0 or args.robot_size < STAMP.size
                            or not args.robot_seconds > 0):
        print(f"robot-gcs bench: bad robot arguments (processors >= 2; topics >= 1; rate > 0; "
              f"robot size >= {STAMP.size}; robot seconds > 0)", file=sys.stderr)
        return 2
    try:
        cpus = {int(x) for x in args.cpus.split(",") if x.strip()} if args.cpus else None
        if cpus is not None:
            os.sched_setaffinity(0, cpus)     # children (spawned workers, daemons) inherit it
    except (ValueError, OSError) as exc:
        print(f"robot-gcs bench: bad --cpus {args.cpus!r}: {exc}", file=sys.stderr)
        return 2
    if unknown or not sizes or min(sizes) < STAMP.size or args.count < 1 or args.daemons < 2:
        print(f"robot-gcs bench: bad arguments (scenarios {sorted(unknown)}; sizes >= "
              f"{STAMP.size}; count >= 1; daemons >= 2)", file=sys.stderr)
        return 2
    def log(message: str) -> None:
        if not args.json:
            print(f"... {message}", flush=True)

    rows: list[BenchRow] = []
    robot: list[RobotRow] = []
    failures: list[str] = []
    ref_before = cpu_reference()
    tmp = Path(tempfile.mkdtemp(prefix="gcsbench"))
    switch_before = sys.getswitchinterval()
    settings = RingSettings(args.token_ms, args.switch_interval_ms, args.reply_window_us,
                            None if args.inline_receive is None else args.inline_receive == "on",
                            args.insecure)
    try:
        for scen in SCENARIOS:
            if scen not in only:
                continue
            log(f"{scen} ...")
            try:
                if scen == "embedded":
                    rows += bench_embedded(tmp, sizes, args.count, args.seconds, settings,
                                           not args.no_cpu)
                elif scen == "socket":
                    if args.switch_interval_ms is not None:    # the client side too
                        sys.setswitchinterval(args.switch_interval_ms / 1000.0)
                    rows += bench_socket(tmp, sizes, args.count, args.seconds, settings,
                                         not args.no_cpu)
                elif scen == "ring":
                    bench_ring(tmp, args.daemons, sizes, services, args.flood_count,
                               args.count, args.seconds, settings, not args.no_cpu,
                               not args.no_kill, log, rows)
                else:
                    loads = robot_loads(topics, args.rate, args.robot_size, robot_service,
                                        not args.no_cpu)
                    try:
                        bench_robot(tmp, args.processors, loads, args.robot_seconds, settings,
                                    log, robot, floor=not args.no_floor)
                    finally:
                        rows += [r.bench_row() for r in robot]
            except GcsError as exc:
                failures.append(f"{scen}: {exc}")
                log(f"{scen} failed: {exc}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        # what the bench processes ran with (ring and robot workers get it from settings)
        switch_used = (args.switch_interval_ms / 1000.0 if args.switch_interval_ms is not None
                       else sys.getswitchinterval())
        sys.setswitchinterval(switch_before)
    ref_after = cpu_reference()
    targets = report_targets(rows, robot)
    lost = bench_loss.dropped() if args.loss is not None else None
    if args.json:
        print(json.dumps({"rows": [asdict(r) for r in rows], "targets": targets,
                          "robot": [asdict(r) for r in robot],
                          "failures": failures, "environment": {
                              "python": platform.python_version(), "cpus": os.cpu_count(),
                              "platform": platform.platform(),
                              "loadavg_1min": round(os.getloadavg()[0], 2),
                              "cpus_pinned": sorted(cpus) if cpus is not None else None,
                              "switch_interval": switch_used,
                              "ring_packets": "insecure" if args.insecure else "sealed",
                              "loss_percent": args.loss, "datagrams_dropped": lost,
                              "cpu_reference_us": [round(ref_before * 1e6, 1),
                                                   round(ref_after * 1e6, 1)]}}, indent=1))
    else:
        print(format_table(rows))
        pinned = f", pinned to CPUs {args.cpus}" if cpus is not None else ""
        sealing = "NOT sealed (--insecure)" if args.insecure else "sealed"
        print(f"(ring packets {sealing}; "
              f"python {platform.python_version()}, {os.cpu_count()} CPUs{pinned}, load average "
              f"{os.getloadavg()[0]:.1f}, switch interval {switch_used * 1000:g} ms, "
              f"CPU reference {ref_before * 1e6:.1f} -> {ref_after * 1e6:.1f} us: see --help)")
        if args.loss is not None:
            print(f"(every ring in a private network namespace dropping {args.loss:g} % of the "
                  f"UDP datagrams at random: {lost} dropped; targets assume no loss)")
        hint = switch_hint(robot, switch_used)
        if hint is not None:
            print(hint)
        for line in targets:
            print(line)
        for f in failures:
            print(f"FAILED {f}")
    return 1 if failures else 0


if __name__ == "__main__":      # the inner run of --loss (bench_loss.py)
    sys.exit(run(bench_loss.args_from_env()))
