"""The floor under a robot row's CPU: a bare Python loop moving the same datagrams.

Theory of operation
-------------------
A robot row's CPU % (bench_robot.py) is the whole processor: the ring protocol, the
runtime, the node and the interpreter's own cost of waking up and making system calls.
The last part does not shrink with better protocol code, so a row's figure means little
without it. ``floor_figures`` measures it on this machine, now: ``processors`` worker
processes on loopback, each one epoll loop and one UDP socket, with no protocol, no
parsing and no sealing:

* every ``1 / token_hz`` s a worker sends a 64-byte datagram to the next worker (the
  token's hops and the ring's other small packets: HURRYs, retransmissions), in the
  first wake-up it has anyway after that time, or half a period later in one of its own
  (a ring member forwards the token in the wake-up that brought it or a message);
* every ``1 / rate_hz`` s a publishing worker sends one datagram of ``data_bytes`` to
  each other worker (a processor's topics of one period, packed as the ring's packer
  packs them);
* every datagram that arrives is read once (one ``recv`` per readiness, no parsing).

``floor_rates`` derives those rates from a measured robot row so that each worker moves
what a daemon of the row moved: data datagrams for the row's publishers, and small ones
for the rest of the row's packets per daemon (at least one per token rotation);
bench_robot.py runs it after each row without a CPU-bound thread.
Timers are fixed schedules with per-worker phases, not a circulating token, so a lost
datagram (``--loss``) loses nothing but itself. CPU % per worker is read from
/proc/<pid>/stat over a window after a warm-up, as for the robot rows. Figures are
reported next to the row's, never asserted.

Owner: each worker's socket and counters belong to that worker's only thread; the
parent reads the workers only through their pipes (bench_ring.py's ``_Ring`` handle:
gather, call, close) and /proc.
"""

from __future__ import annotations

import multiprocessing
import select
import socket
import time
from dataclasses import dataclass
from typing import Any

from .bench_ring import _Ring
from .bench_rows import cpu_seconds, send_error

SMALL = 64              # bytes of a token-like datagram
WARMUP = 0.5            # seconds of traffic before the measured window
START_DELAY = 0.2       # the schedule starts this long after the parent sends it


@dataclass(frozen=True, slots=True)
class FloorFigures:
    """What the bare loop cost and moved (per worker CPU %, datagrams)."""

    cpu_pct: tuple[float, ...]
    packets_per_s: float       # datagrams in + out of a worker per second (mean)
    data_received: int
    data_expected: int


def _worker(conn: Any, index: int, n: int, token_hz: float, rate_hz: float,
            data_bytes: int, publishes: bool) -> None:
    """One bare process: bind, report the port, send and read on the parent's schedule,
    report what it sent; on the parent's word (every worker has stopped sending) read
    what is left in the socket and report what it got."""
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        conn.send(("port", sock.getsockname()[1]))
        cmd = conn.recv()
        if cmd[0] != "go":                       # "exit": the parent gave up
            return
        _go, ports, t0, until = cmd
        peers = [("127.0.0.1", p) for i, p in enumerate(ports) if i != index]
        succ = ("127.0.0.1", ports[(index + 1) % n])
        small, data = b"t" * SMALL, b"d" * data_bytes
        never = float("inf")
        token_gap = 1.0 / token_hz if token_hz > 0 else never
        data_gap = 1.0 / rate_hz if publishes and rate_hz > 0 else never
        start, stop = t0 / 1e9, until / 1e9
        next_token = start + token_gap * index / n if token_gap != never else never
        next_data = start + data_gap * index / n if data_gap != never else never
        ep = select.epoll()
        ep.register(sock.fileno(), select.EPOLLIN)
        counts = [0, 0, 0]                       # data sent, data got, datagrams in + out

        def read_one() -> bool:
            try:
                d = sock.recv(65536)
            except BlockingIOError:
                return False
            counts[2] += 1
            if d[:1] == b"d":
                counts[1] += 1
            return True

        time.sleep(max(0.0, start - time.monotonic()))
        while True:
            now = time.monotonic()
            if now >= stop:
                break
            wake = min(next_token + token_gap / 2, next_data, stop)
            for _fd, _ev in ep.poll(max(0.0, wake - now)):
                read_one()                       # one read per wake-up, as a loop does
            now = time.monotonic()
            if now >= stop:
                break
            if now >= next_token:
                sock.sendto(small, succ)
                counts[2] += 1
                next_token += token_gap
            if now >= next_data:
                for p in peers:
                    sock.sendto(data, p)
                counts[2] += len(peers)
                counts[0] += 1
                next_data += data_gap
        conn.send(("sent", counts[0]))
        if conn.recv()[0] != "drain":            # nobody sends any more (or "exit")
            return
        while read_one():                        # (loopback: a sent datagram is queued)
            pass
        ep.close()
        sock.close()
        conn.send(("done", counts[1], counts[2]))
    except BaseException as exc:      # the parent reports it
        send_error(conn, f"floor{index}", exc)


class _FloorRing(_Ring):
    """bench_ring's worker handle (gather, call, close) around bare-loop workers."""

    def __init__(self, processors: int, token_hz: float, rate_hz: float, data_bytes: int,
                 publishers: int) -> None:
        self.n = processors
        ctx = multiprocessing.get_context("spawn")
        pipes = [ctx.Pipe() for _ in range(processors)]
        self.conns = [parent for parent, _child in pipes]
        self.procs = [ctx.Process(target=_worker, daemon=True,
                                  args=(child, i, processors, token_hz, rate_hz, data_bytes,
                                        i >= processors - publishers))
                      for i, (_parent, child) in enumerate(pipes)]
        for p in self.procs:
            p.start()


def floor_figures(processors: int, token_hz: float, rate_hz: float, data_bytes: int,
                  publishers: int, seconds: float) -> FloorFigures:
    """Run the bare loop in ``processors`` fresh processes; the last ``publishers`` of them
    publish. Bounded: every wait has a deadline, every worker stops by its schedule."""
    ring = _FloorRing(processors, token_hz, rate_hz, data_bytes, publishers)
    try:
        ports = [reply[1] for reply in ring.gather(ring.conns, 60.0)]
        t0 = time.monotonic_ns() + int(START_DELAY * 1e9)
        w0 = t0 + int(WARMUP * 1e9)
        w1 = w0 + int(seconds * 1e9)
        for c in ring.conns:
            c.send(("go", ports, t0, w1))
        pids = [p.pid for p in ring.procs]
        time.sleep(max(0.0, (w0 - time.monotonic_ns()) / 1e9))
        a_ns, a = time.monotonic_ns(), [cpu_seconds(pid) for pid in pids]
        time.sleep(max(0.0, (w1 - time.monotonic_ns()) / 1e9))
        b_ns, b = time.monotonic_ns(), [cpu_seconds(pid) for pid in pids]
        sent = [reply[1] for reply in ring.gather(ring.conns, 30.0)]
        done = ring.call([("drain",)] * processors, 30.0)
    finally:
        ring.close()
    return FloorFigures(
        cpu_pct=tuple(round(100 * (y - x) / ((b_ns - a_ns) / 1e9), 2) for x, y in zip(a, b)),
        packets_per_s=round(sum(d[2] for d in done) / processors / ((w1 - t0) / 1e9), 1),
        data_received=sum(d[1] for d in done),
        data_expected=sum(sent) * (processors - 1))


def floor_rates(processors: int, publishers: int, rate_hz: float, rotations_per_s: float,
                packets_per_s: float) -> tuple[float, float]:
    """(token_hz, rate_hz) for workers that move what a row's daemon moved: the row's
    publishers send ``rate_hz`` data datagrams to each other processor; the rest of the
    row's packets per daemon (in + out, mean) are small ones, one sent and one received
    per hop, at least one hop per token rotation."""
    data_in_out = 2 * publishers * rate_hz * (processors - 1) / processors
    token_hz = max(rotations_per_s, (packets_per_s - data_in_out) / 2)
    return token_hz, rate_hz
