"""Robot scenario of ``robot-gcs bench --robot``: periodic topics between robot computers.

Theory of operation
-------------------
A robot's traffic is many small periodic topics and a control loop doing real work in
the same process. Each row of this scenario builds that load in a fresh ring of
``processors`` worker processes on loopback (ports allocated at run time by
``write_config``; each worker spawned and driven over a pipe, as in bench_ring.py, whose
``_Ring`` handle this module reuses): each worker embeds its daemon and runs one
``robot_gcs.Node``, each its own process and GIL, as on a robot.

A processor publishes ``topics`` raw-bytes topics ``/bench/<processor>/t<k>``, each from
its own ``Node.create_timer`` at ``rate_hz``, and subscribes with
``create_subscription`` to every topic of every other processor; it never subscribes to
its own. A message is ``size`` bytes stamped with ``time.monotonic_ns`` at publish
(``stamped_payload``; one clock for every process on Linux) and the subscription's
callback takes publish -> callback latency on arrival. The node spins with
``Node.spin()``, as a robot program does; a one-shot timer stops it.

One row, every step bounded by a deadline:

1. every worker starts its daemon, creates its node's endpoints and spins until its
   daemon's group table shows every topic group with its ``processors - 1``
   subscribers and the registry group with every node, then answers ``ready``;
2. the parent sends one absolute schedule (monotonic ns): publishing starts at ``t0``,
   the measured window is ``[w0, w1)`` after a warm-up, publishing stops a little after
   ``w1`` (the load is steady across the window's end) and spinning a drain later;
3. the parent reads utime + stime of every worker from ``/proc/<pid>/stat`` at ``w0``
   and at ``w1``: CPU % per processor over the window (the daemon, the node and, in the
   ``+cpu`` row, the CPU-bound thread: the whole process);
4. every worker reports how many messages it published with a stamp inside the window
   and the latencies of those it got; expected deliveries are ``(processors - 1) x``
   everything published in the window, so anything lost shows as delivered < expected.
   Keep-last overflow (``QoS.depth``), Backpressure, timer overruns and view changes
   during the row are reported too, and what the ring did meanwhile: the ring's token
   rotations per second (the rep counts them; every member handles one token per
   rotation) and each daemon's UDP packets per second (mean), read from its statistics
   at ``w0`` and ``w1`` by one-shot node timers (where the CPU goes).

Rows: idle (every endpoint up, nothing published), one per ``topics`` value, the largest
of them again with only the last processor publishing (``one_sender``: a sensor computer
streaming to the others -- the shape that lends it the quiet token, core/token_flow.py),
and the largest again with a ``CpuHog`` thread in the first processor (its CPU % is shown
apart, not in the mean/max, with the share of the wall time the thread ran: what the ring
work and the GIL hand-offs left it). After each row without that thread, its **floor**
(bench_floor.py): as many bare Python processes moving as many datagrams per second with
no protocol; its CPU % shows how much of the row's figure is the interpreter's cost of
waking up and making system calls, which no protocol work removes. Figures are
reported, never asserted: ``robot_targets`` compares them with the project's targets
(issue 13) for bench.py's ``report_targets``.

Owner: a worker's ``_Processor`` (node, endpoints, counters) is touched only by the
thread that spins its node, the worker's main thread; the parent owns the ring handle and
reads the workers only through their pipes and /proc.
"""

from __future__ import annotations

import functools
import multiprocessing
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from ..core.types import Service
from ..errors import Backpressure
from .bench_floor import floor_figures, floor_rates
from .bench_ring import _Ring
from .bench_rows import (STAMP, BenchRow, CpuHog, RingSettings, cpu_seconds, make_row,
                         percentile, send_error, stamped_payload, write_config)

TOPIC_PREFIX = "/bench"
READY_SECONDS = 60.0       # ring formed and every endpoint known everywhere
TAIL_SECONDS = 0.2         # publishing goes on this long after the window
DRAIN_SECONDS = 0.5        # spinning goes on this long after publishing stops
START_DELAY = 0.2          # the schedule starts this long after the parent sends it
FLOOR_SECONDS = 5.0        # measured seconds of a row's bare-loop floor, at most


@dataclass(frozen=True, slots=True)
class RobotLoad:
    """What every processor of one row does (rate_hz 0: endpoints up, nothing published)."""

    test: str
    topics: int
    rate_hz: float
    size: int
    service: Service
    hog: bool = False       # the first processor also runs a CPU-bound thread
    one_sender: bool = False  # only the last processor publishes (the others listen)


@dataclass(frozen=True, slots=True)
class RobotRow:
    """One robot row with every figure (the table row carries some only in its note)."""

    test: str
    processors: tuple[str, ...]
    topics: int
    rate_hz: float
    size: int
    service: str
    seconds: float
    cpu_pct: tuple[float, ...]     # per processor, over the measured window
    hog: str | None                # the processor with the CPU-bound thread
    hog_share: float | None        # the fraction of the wall time that thread ran (CpuHog)
    delivered: int
    expected: int
    p50_us: float | None
    p99_us: float | None
    max_us: float | None
    keep_last_dropped: int
    backpressure: int
    timer_overruns: int
    view_changes: int
    rotations_per_s: float         # token rotations of the ring per second (the rep counts)
    packets_per_s: float           # UDP packets in + out of a daemon per second (mean)
    senders: tuple[str, ...] = ()  # the processors that published (all, or one_sender's)
    floor_cpu_pct: tuple[float, ...] = ()   # bench_floor.py: a bare loop, same datagrams

    @property
    def some_silent(self) -> bool:
        """Only some processors published (the one-sender row)."""
        return 0 < len(self.senders) < len(self.processors)

    def cpu_mean_max(self) -> tuple[float, float]:
        """Mean and max CPU % over the processors without the CPU-bound thread."""
        cpu = [c for name, c in zip(self.processors, self.cpu_pct) if name != self.hog]
        return (sum(cpu) / len(cpu), max(cpu)) if cpu else (0.0, 0.0)

    def floor_max(self) -> float | None:
        """The bare loop's CPU % (max over its workers), None when not measured."""
        return max(self.floor_cpu_pct) if self.floor_cpu_pct else None

    def bench_row(self) -> BenchRow:
        mean, top = self.cpu_mean_max()
        floor = self.floor_max()
        notes = [f"CPU mean/max {mean:.1f}/{top:.1f} %"
                 + (f" (bare-loop floor {floor:.1f} %)" if floor is not None else "")]
        if self.some_silent:
            notes.append(f"only {', '.join(self.senders)} publishes")
        if self.hog is not None:
            hog = self.cpu_pct[self.processors.index(self.hog)]
            notes.append(f"{self.hog} with a CPU-bound thread {hog:.0f} %"
                         + (f" (the thread ran {self.hog_share:.0%} of the time)"
                            if self.hog_share is not None else ""))
        if self.expected:
            lost = self.expected - self.delivered
            notes.append(f"delivered {self.delivered}/{self.expected}"
                         + (f" ({lost} LOST)" if lost else ""))
            notes.append(f"max {self.max_us:.0f} us" if self.max_us is not None else "")
        else:
            notes.append("nothing published")
        notes.append(f"{self.rotations_per_s:.0f} rotations/s, {self.packets_per_s:.0f} pkts/s "
                     f"per daemon")
        for count, what in ((self.keep_last_dropped, "dropped by keep-last"),
                            (self.backpressure, "Backpressure"),
                            (self.timer_overruns, "timer overruns"),
                            (self.view_changes, "view changes")):
            if count:
                notes.append(f"{count} {what}")
        row = make_row(f"robot x{len(self.processors)}", self.test, self.service, self.size,
                       [], self.delivered, self.seconds, "; ".join(n for n in notes if n))
        return replace(row, p50_us=self.p50_us, p99_us=self.p99_us)


def topic_name(processor: str, k: int) -> str:
    return f"{TOPIC_PREFIX}/{processor}/t{k}"


# ------------------------------------------------------------------ worker side

class _Processor:
    """One robot computer's program: a Node publishing its topics, subscribed to the rest.

    Everything here runs on the worker's main thread (the thread that spins the node),
    except CpuHog's own thread, which touches nothing of it.
    """

    def __init__(self, daemon: Any, name: str, names: tuple[str, ...], load: RobotLoad) -> None:
        from ..pubsub.node import Node
        from ..pubsub.qos import QoS
        self.daemon = daemon
        self.name = name
        self.names = names
        self.load = load
        self.node = Node(f"robot_{name}", daemon)
        qos = QoS(service=load.service)
        self.pubs = [self.node.create_publisher(topic_name(name, k), bytes, qos)
                     for k in range(load.topics)]
        self.subs = [self.node.create_subscription(topic_name(other, k), self._on_message,
                                                   qos, bytes)
                     for other in names if other != name for k in range(load.topics)]
        self.window = (0, 0)        # [w0, w1) in monotonic ns; nothing counts before "go"
        self.publish_until = 0
        self.sent = 0               # published with a stamp inside the window
        self.backpressure = 0
        self.lat_ns: list[int] = []

    def _on_message(self, data: bytes) -> None:
        now = time.monotonic_ns()
        sent_ns = STAMP.unpack_from(data)[0]
        if self.window[0] <= sent_ns < self.window[1]:
            self.lat_ns.append(now - sent_ns)

    def _publish(self, pub: Any) -> None:
        payload = stamped_payload(self.load.size, pub.seq + 1)
        sent_ns = STAMP.unpack_from(payload)[0]
        if sent_ns >= self.publish_until:
            return
        try:
            pub.publish(payload)
        except Backpressure:
            self.backpressure += 1
            return
        if self.window[0] <= sent_ns < self.window[1]:
            self.sent += 1

    def publishes(self) -> bool:
        return self.load.rate_hz > 0 and (not self.load.one_sender
                                          or self.name == self.names[-1])

    def wait_ready(self, seconds: float) -> None:
        """Spin until this daemon's group table has every topic group with its
        subscribers and the registry with every node."""
        from ..pubsub.node import REGISTRY_GROUP
        from ..pubsub.qos import topic_group
        n = len(self.names)
        want = {topic_group(topic_name(p, k)): n - 1
                for p in self.names for k in range(self.load.topics)}
        want[REGISTRY_GROUP] = n
        end = time.monotonic() + seconds
        while True:
            self.node.spin_once(0.02)
            table = dict(self.daemon.statistics().group_table)
            short = {g: len(table.get(g, ())) for g, k in want.items()
                     if len(table.get(g, ())) < k}
            if not short:
                return
            if time.monotonic() > end:
                raise TimeoutError(f"{self.name}: groups not complete within {seconds}s: "
                                   f"{sorted(short.items())[:5]}")

    def _once(self, ns: int, callback: Callable[[], Any]) -> None:
        """Run ``callback`` once from spin at monotonic ``ns`` (a Node timer, cancelled
        when it fires)."""
        timer: list[Any] = []

        def fire() -> None:
            timer[0].cancel()
            callback()
        timer.append(self.node.create_timer(max(1e-3, (ns - time.monotonic_ns()) / 1e9), fire))

    def _mark(self, marks: list[tuple[int, int, int]]) -> None:
        st = self.daemon.statistics()
        marks.append((time.monotonic_ns(), st.engine.token_rotations if st.engine else 0,
                      st.packets_in + st.packets_out))

    def run(self, t0: int, window: tuple[int, int], publish_until: int, stop: int) -> dict[str, Any]:
        """Publish and receive on the parent's schedule (monotonic ns); the row's figures."""
        self.window = window
        self.publish_until = publish_until
        marks: list[tuple[int, int, int]] = []     # (ns, rotations, packets) at w0 and w1
        hog = CpuHog().__enter__() if self.load.hog and self.name == self.names[0] else None
        wall_start = time.time()
        try:
            time.sleep(max(0.0, (t0 - time.monotonic_ns()) / 1e9))
            timers = [self.node.create_timer(1.0 / self.load.rate_hz,
                                             functools.partial(self._publish, pub))
                      for pub in self.pubs] if self.publishes() else []
            for ns in window:
                self._once(ns, functools.partial(self._mark, marks))
            self._once(stop, self.node.stop)
            self.node.spin()
        finally:
            if hog is not None:
                hog.__exit__()
        views = sum(1 for m in self.daemon.statistics().membership if m.time >= wall_start)
        (a_ns, a_rot, a_pkt), (b_ns, b_rot, b_pkt) = marks
        secs = (b_ns - a_ns) / 1e9
        return {"rotations_per_s": (b_rot - a_rot) / secs, "packets_per_s": (b_pkt - a_pkt) / secs,
                "sent": self.sent, "lat_ns": self.lat_ns, "backpressure": self.backpressure,
                "dropped": sum(s.dropped for s in self.subs),
                "overruns": sum(t.overruns for t in timers), "views": views,
                "hog_share": hog.share if hog is not None else None}


def _worker_main(conn: Any, cfg_path: str, name: str, names: tuple[str, ...],
                 load: RobotLoad) -> None:
    """One robot processor: embedded daemon + one Node, on the parent's commands."""
    from .daemon import Daemon
    from ..config import load_config
    try:
        d = Daemon(load_config(cfg_path), name, serve_clients=False)
        d.start()
        try:
            proc = _Processor(d, name, names, load)
            proc.wait_ready(READY_SECONDS)
            conn.send(("ready", name))
            cmd = conn.recv()
            if cmd[0] == "go":
                conn.send(("result", proc.run(*cmd[1:])))
                cmd = conn.recv()              # "exit": the ring stays up until all are done
            proc.node.destroy()
        finally:
            d.stop()
    except BaseException as exc:      # the parent reports it
        send_error(conn, name, exc)


# ------------------------------------------------------------------ parent side

class _RobotRing(_Ring):
    """bench_ring's worker handle (gather, call, close) around robot processors."""

    def __init__(self, tmp: Path, n: int, settings: RingSettings, subdir: str,
                 load: RobotLoad) -> None:
        (tmp / subdir).mkdir()
        self.cfg = write_config(tmp / subdir, n, settings)
        self.n = n
        self.names = [f"b{i + 1}" for i in range(n)]     # write_config's daemon names
        ctx = multiprocessing.get_context("spawn")
        pipes = [ctx.Pipe() for _ in self.names]
        self.conns = [parent for parent, _ in pipes]
        self.procs = [ctx.Process(target=_worker_main, daemon=True,
                                  args=(child, str(self.cfg), name, tuple(self.names), load))
                      for (_, child), name in zip(pipes, self.names)]
        for p in self.procs:
            p.start()


def _sleep_until(ns: int) -> None:
    time.sleep(max(0.0, (ns - time.monotonic_ns()) / 1e9))


def _cpu_sample(pids: list[int]) -> tuple[int, list[float]]:
    return time.monotonic_ns(), [cpu_seconds(pid) for pid in pids]


def robot_row(tmp: Path, subdir: str, n: int, load: RobotLoad, seconds: float,
              settings: RingSettings) -> RobotRow:
    """One row in a fresh ring of ``n`` processors."""
    ring = _RobotRing(tmp, n, settings, subdir, load)
    try:
        ring.gather(ring.conns, 90.0 + READY_SECONDS)
        warmup = min(1.0, seconds / 5)
        t0 = time.monotonic_ns() + int(START_DELAY * 1e9)
        w0 = t0 + int(warmup * 1e9)
        w1 = w0 + int(seconds * 1e9)
        until = w1 + int(TAIL_SECONDS * 1e9)
        stop = until + int(DRAIN_SECONDS * 1e9)
        for c in ring.conns:
            c.send(("go", t0, (w0, w1), until, stop))
        pids = [p.pid for p in ring.procs]
        _sleep_until(w0)
        a_ns, a = _cpu_sample(pids)
        _sleep_until(w1)
        b_ns, b = _cpu_sample(pids)
        res = [r[1] for r in ring.gather(ring.conns, (stop - time.monotonic_ns()) / 1e9 + 30)]
    finally:
        ring.close()
    lat_us = [x / 1e3 for r in res for x in r["lat_ns"]]
    p50, p99 = percentile(lat_us, 0.5), percentile(lat_us, 0.99)
    return RobotRow(
        test=load.test, processors=tuple(ring.names), topics=load.topics,
        rate_hz=load.rate_hz, size=load.size, service=load.service.name, seconds=seconds,
        cpu_pct=tuple(round(100 * (y - x) / ((b_ns - a_ns) / 1e9), 2) for x, y in zip(a, b)),
        hog=ring.names[0] if load.hog else None,
        hog_share=next((r["hog_share"] for r in res if r["hog_share"] is not None), None),
        delivered=len(lat_us), expected=(n - 1) * sum(r["sent"] for r in res),
        p50_us=None if p50 is None else round(p50, 1),
        p99_us=None if p99 is None else round(p99, 1),
        max_us=round(max(lat_us), 1) if lat_us else None,
        keep_last_dropped=sum(r["dropped"] for r in res),
        backpressure=sum(r["backpressure"] for r in res),
        timer_overruns=sum(r["overruns"] for r in res),
        view_changes=max(r["views"] for r in res),
        rotations_per_s=round(sum(r["rotations_per_s"] for r in res), 1),   # only the rep's count
        packets_per_s=round(sum(r["packets_per_s"] for r in res) / n, 1),
        senders=tuple(ring.names[-1:] if load.one_sender else ring.names)
        if load.rate_hz > 0 else ())


def robot_loads(topics: tuple[int, ...], rate_hz: float, size: int, service: Service,
                cpu: bool) -> list[RobotLoad]:
    """The rows: idle, one per topic count, the largest again from one processor only
    and again with a CPU-bound thread."""
    def label(t: int) -> str:
        return f"{t} topic{'s' if t != 1 else ''} {rate_hz:g} Hz"
    most = max(topics)
    loads = [RobotLoad("idle", most, 0.0, size, service)]
    loads += [RobotLoad(label(t), t, rate_hz, size, service) for t in topics]
    loads.append(RobotLoad(label(most) + " one sender", most, rate_hz, size, service,
                           one_sender=True))
    if cpu:
        loads.append(RobotLoad(label(most) + " +cpu", most, rate_hz, size, service, hog=True))
    return loads


def with_floor(row: RobotRow, seconds: float) -> RobotRow:
    """The row with its bare-loop floor measured (bench_floor.py): as many processes
    moving as many datagrams per second, without the protocol."""
    n = len(row.processors)
    token_hz, rate_hz = floor_rates(n, len(row.senders), row.rate_hz, row.rotations_per_s,
                                    row.packets_per_s)
    floor = floor_figures(n, token_hz, rate_hz, row.topics * row.size, len(row.senders),
                          seconds)
    return replace(row, floor_cpu_pct=floor.cpu_pct)


def bench_robot(tmp: Path, n: int, loads: list[RobotLoad], seconds: float,
                settings: RingSettings, progress: Callable[[str], None],
                records: list[RobotRow] | None = None, floor: bool = True) -> list[RobotRow]:
    """Robot rows, appended to ``records`` as they are measured (kept if a later one
    fails); each row without a CPU-bound thread then has its floor (``with_floor``)."""
    records = [] if records is None else records
    for i, load in enumerate(loads):
        progress(f"robot x{n} {load.test}")
        row = robot_row(tmp, f"robot{i}", n, load, seconds, settings)
        records.append(row)
        if floor and row.hog is None:
            progress(f"robot x{n} {load.test}: bare-loop floor")
            records[-1] = with_floor(row, min(seconds, FLOOR_SECONDS))
    return records


def robot_targets(robot: Sequence[RobotRow]) -> list[str]:
    """Issue 13's robot targets, each with the measured figure (reported, not asserted):
    3 processors x 10 (and 1) topics x 100 Hz x 200 B, and the idle ring."""
    def find(topics: int) -> RobotRow | None:
        for r in robot:
            if len(r.processors) == 3 and r.topics == topics and r.rate_hz == 100 and \
                    r.size == 200 and r.hog is None and not r.some_silent:
                return r
        return None

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    def floor(r: RobotRow) -> str:
        f = r.floor_max()
        return "" if f is None else \
            f"; a bare Python loop moving the same datagrams: {f:.1f} %"

    out = []
    r = find(10)
    if r is not None:
        mean, top = r.cpu_mean_max()
        ok = top <= 5 and r.p50_us is not None and r.p50_us <= 400 and \
            r.p99_us is not None and r.p99_us <= 2000 and r.delivered == r.expected
        out.append(f"robot load 3x10x100 Hz 200 B {r.service}: CPU per processor max "
                   f"{top:.1f} % (mean {mean:.1f}; target <= 5 %{floor(r)}), p50 "
                   f"{r.p50_us} us (<= 400), p99 {r.p99_us} us (<= 2000), delivered "
                   f"{r.delivered}/{r.expected} (nothing lost): {verdict(ok)}")
    r = find(1)
    if r is not None:
        top = r.cpu_mean_max()[1]
        out.append(f"robot load 3x1x100 Hz 200 B {r.service}: CPU per processor max "
                   f"{top:.1f} % (target <= 3 %{floor(r)}): {verdict(top <= 3)}")
    for r in robot:
        if r.rate_hz == 0:
            top = r.cpu_mean_max()[1]
            out.append(f"idle ring x{len(r.processors)} (nodes up, nothing published): CPU "
                       f"per processor max {top:.1f} % (target <= 1 % per daemon{floor(r)}): "
                       f"{verdict(top <= 1)}")
    return out


def switch_hint(robot: Sequence[RobotRow], switch_s: float) -> str | None:
    """A line for the table's reader when a ``+cpu`` row ran with a switch interval well
    above the robot profile's (config/robot.yaml, 0.25 ms): its figures are what a
    program that embeds the daemon without that profile gets, not what the profile gets."""
    if switch_s <= 0.001 or not any(r.hog is not None for r in robot):
        return None
    return (f"(the +cpu rows ran with a {switch_s * 1000:g} ms switch interval; "
            f"config/robot.yaml runs 0.25 ms: --switch-interval-ms 0.25 shows that)")
