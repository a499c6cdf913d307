"""Recording throughput and recorder CPU: ``python -m robot_gcs.record.bench_record``.

What it measures: a ring of ``--daemons`` daemons on loopback (embedded in this process,
or each its own ``robot-gcs daemon`` process with ``--daemon-processes``),
``--publishers`` publisher processes (socket sessions, spread over the daemons; threads on
in-process sessions with ``--embedded-publishers``) sending
``--size``-byte raw messages on ``/bench`` (AGREED) as fast as the ring takes them (or
at ``--rate`` msgs/s in total), and one recorder --
``robot-gcs record`` as a child process on daemon 1's socket, like a user runs it --
writing zstd MCAP. It reports the messages recorded per second while the publishers ran,
the messages published vs. recorded (``dropped`` = published - recorded; the recorder's
own ``missed`` counts gaps in publisher sequence numbers), and the recorder's CPU
(user + system seconds from /proc over the wall time). Loopback only; every process it
starts it stops by pid. Figures from a shared machine are noisy: run it a few times.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _publish_main(address: str, count: int, size: int, rate: float) -> int:
    """A publisher process: ``count`` raw ``/bench`` envelopes over a socket session."""
    from ..client.socket_session import connect
    session = connect(address, f"benchpub{os.getpid()}")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()                       # go
    _publish(session, os.getpid(), count, size, rate)
    sys.stdout.write(f"sent {count}\n")
    sys.stdout.flush()
    session.close()
    return 0


def _publish(session: Any, publisher_id: int, count: int, size: int, rate: float) -> None:
    """``count`` raw ``/bench`` envelopes on ``session``, as fast as the daemon takes them
    (``multicast`` waits for room) or at ``rate``/s."""
    from ..pubsub.codec import RAW_FINGERPRINT, Sample, encode_envelope
    from ..pubsub.node import TOPIC_MSG_TYPE
    payload = bytes(size)
    start = time.monotonic()
    for seq in range(1, count + 1):
        if rate:
            due = start + seq / rate
            while (left := due - time.monotonic()) > 0:
                session.receive(left)
        data = encode_envelope(Sample(RAW_FINGERPRINT, publisher_id, seq, time.time(), None),
                               payload)
        session.multicast("t:/bench", data, msg_type=TOPIC_MSG_TYPE, timeout=30.0)


class _EmbeddedPublisher:
    """A publisher thread on an in-process session of an embedded daemon (no socket hop:
    what a robot program's own topics cost). Owner: its thread, after ``start``."""

    def __init__(self, daemon: Any, index: int, count: int, size: int, rate: float) -> None:
        self.session = daemon.connect(f"benchpub{index}")
        self.go = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, name=f"benchpub{index}",
                                       args=(1000 + index, count, size, rate), daemon=True)
        self.thread.start()

    def _run(self, pid: int, count: int, size: int, rate: float) -> None:
        self.go.wait()
        _publish(self.session, pid, count, size, rate)
        self.sent = count

    def join(self, timeout: float) -> int:
        self.thread.join(timeout)
        self.session.close()
        return self.sent


def bench(daemons: int = 1, count: int = 100_000, size: int = 100, rate: float = 0.0,
          compression: str = "zstd", publishers: int = 2,
          daemon_processes: bool = False, embedded_publishers: bool = False) -> dict[str, Any]:
    if embedded_publishers and daemon_processes:
        raise ValueError("embedded publishers need embedded daemons (no --daemon-processes)")
    from ..runtime.daemon import Daemon
    from ..testing import write_ring_config
    from .bag import BagTail, read_bag
    tmp = Path(tempfile.mkdtemp(prefix="recbench", dir="/tmp"))
    cfg = write_ring_config(tmp, daemons, name="recbench", sockets=True)
    ds = [] if daemon_processes else [Daemon.from_file(str(cfg), name=f"d{i + 1}")
                                      for i in range(daemons)]
    procs: list[subprocess.Popen[str]] = []
    out = tmp / "bench.mcap"
    rec = None
    try:
        for d in ds:
            d.start()
        for i in range(daemons if daemon_processes else 0):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "robot_gcs.cli", "daemon", "-c", str(cfg), "-n", f"d{i + 1}"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
            out_lines: list[str] = []
            while procs[-1].stdout is not None and len(out_lines) < 20:
                out_lines.append(procs[-1].stdout.readline())
                if " ready on " in out_lines[-1] or not out_lines[-1]:
                    break
            if not out_lines or " ready on " not in out_lines[-1]:
                raise RuntimeError(f"daemon d{i + 1} did not start: {out_lines!r}")
        per = count // publishers
        total = per * publishers
        rec = subprocess.Popen(
            [sys.executable, "-m", "robot_gcs.cli", "record", "--connect", f"unix:{tmp / 'd1.sock'}",
             "/bench", "-o", str(out), "--max-messages", str(total), "--compression", compression,
             "--no-ring"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        from ..core.events import GroupView
        from ..pubsub.node import Node
        from ..client.socket_session import connect
        watch = Node("watch", connect(f"unix:{tmp / 'd1.sock'}", "watch"))
        seen: dict[str, tuple[str, ...]] = {}
        watch.join_group("t:/bench", lambda ev: seen.__setitem__("m", ev.members)
                         if isinstance(ev, GroupView) else None)
        deadline = time.monotonic() + 30
        while not any(m.startswith("#record-") for m in seen.get("m", ())):
            if time.monotonic() > deadline:
                raise RuntimeError("the recorder did not join in 30 s: "
                                   + (rec.stderr.read() if rec.poll() is not None and rec.stderr else ""))
            watch.spin_once(0.05)
        watch.destroy()
        watch.session.close()
        if embedded_publishers:
            threads = [_EmbeddedPublisher(ds[i % daemons], i, per, size, rate / publishers)
                       for i in range(publishers)]
        else:
            pubs = [subprocess.Popen([sys.executable, "-m", "robot_gcs.record.bench_record",
                                      "--publish", f"unix:{tmp / f'd{i % daemons + 1}.sock'}",
                                      "--count", str(per), "--size", str(size),
                                      "--rate", str(rate / publishers)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                    for i in range(publishers)]
            for p in pubs:
                assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        cpu0 = _cpu_seconds(rec.pid)
        t0 = time.monotonic()
        sent = 0
        if embedded_publishers:
            for t in threads:
                t.go.set()
            sent = sum(t.join(120) for t in threads)
        else:
            for p in pubs:
                assert p.stdin is not None
                p.stdin.write("go\n")
                p.stdin.flush()
            for p in pubs:
                assert p.stdout is not None
                line = p.stdout.readline().split()
                sent += int(line[1]) if line[:1] == ["sent"] else 0
                p.wait(60)
        t_pub = time.monotonic() - t0
        cpu_pub = _cpu_seconds(rec.pid) - cpu0
        before = os.times()                    # children reaped so far: the publishers
        try:
            rec.wait(120)
        except subprocess.TimeoutExpired:
            os.kill(rec.pid, signal.SIGINT)
            rec.wait(30)
        t_all = time.monotonic() - t0
        after = os.times()                     # ... and now the recorder, its whole life
        cpu = (after.children_user - before.children_user
               + after.children_system - before.children_system)
        summary = rec.stderr.read() if rec.stderr else ""
        tail = BagTail()
        recorded = sum(1 for r in read_bag([str(out)], tail) if r.kind == "topic")
        return {"daemons": daemons, "daemon_processes": daemon_processes, "publishers": publishers,
                "embedded_publishers": embedded_publishers, "size": size, "published": sent,
                "recorded": recorded, "dropped": sent - recorded, "publish_s": round(t_pub, 3),
                "record_s": round(t_all, 3), "msgs_per_s": round(recorded / t_all),
                "publish_rate": round(sent / t_pub), "recorder_cpu_s": round(cpu, 3),
                "recorder_cpu_share_while_publishing": round(cpu_pub / t_pub, 3),
                "file_bytes": out.stat().st_size, "summary": summary.strip().splitlines()[-1:]}
    finally:
        if rec is not None and rec.poll() is None:
            os.kill(rec.pid, signal.SIGKILL)
            rec.wait(10)
        for d in ds:
            d.stop()
        for proc in procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


def bench_offline(count: int = 200_000, size: int = 100, compression: str = "zstd",
                  typed: bool = False) -> dict[str, Any]:
    """The recorder's own cost, without a ring: DATA frames as a daemon sends them are
    decoded (client/wire.py) and recorded to MCAP by a Recorder, in this process. The
    figure is what one recorder process can take per second of one core."""
    from ..client.wire import SERVER_FRAME_TYPES, FrameDecoder, encode_data
    from ..core.events import Cause, DataMessage, GroupView
    from ..core.types import Service
    from ..pubsub.codec import Sample, codec_for, encode_envelope
    from ..pubsub.node import TOPIC_MSG_TYPE
    from ..pubsub.registry import Registry
    from .recorder import Recorder
    from .selection import Selection
    from .writer import BagWriter

    class _Session:
        name, private_name = "rec", "#rec#d1"

        def join(self, group: str) -> None:
            pass

    class _Node:
        session: Any = _Session()
        registry = Registry("#rec#d1")

    tmp = Path(tempfile.mkdtemp(prefix="recoff", dir="/tmp"))
    try:
        node = _Node()
        writer = BagWriter(str(tmp / "off.mcap"), compression=compression, clock=time.monotonic)
        rec = Recorder(node, Selection.parse(["/bench"]), writer,
                       types=lambda t, fp: BenchReading if typed else None, ring=False)
        observe = node.session.observer
        observe(GroupView("t:/bench", (1, 1, 1), ("#rec#d1",), Cause.JOIN, ("#rec#d1",)))
        codec = codec_for(BenchReading if typed else None)
        frames = bytearray()
        for seq in range(1, count + 1):
            body = codec.encode(BenchReading(seq, *([0.5] * 12)) if typed else bytes(size))
            env = encode_envelope(Sample(codec.fingerprint, 7, seq, 1.0, None), body)
            frames += encode_data(DataMessage("#pub#d1", ("t:/bench",), Service.AGREED, env,
                                              TOPIC_MSG_TYPE))
        decoder = FrameDecoder(SERVER_FRAME_TYPES)
        cpu0, t0 = time.process_time(), time.monotonic()
        view = memoryview(frames)
        for off in range(0, len(frames), 65536):       # the socket's reads
            decoder.feed(bytes(view[off:off + 65536]))
            for frame in decoder.frames():
                observe(frame)
            rec.tick(time.monotonic())
        rec.close()
        cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
        st = rec.statistics()
        return {"mode": "offline", "typed": typed, "body_bytes": len(body), "messages": st.messages,
                "missed": st.missed, "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
                "msgs_per_cpu_s": round(st.messages / cpu), "file_bytes": st.bytes}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class BenchReading:
    """A 104-byte typed message (sequence number and twelve floats)."""

    seq: int
    a: float
    b: float
    c: float
    d: float
    e: float
    f: float
    g: float
    h: float
    i: float
    j: float
    k: float
    m: float


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m robot_gcs.record.bench_record",
                                description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--daemons", type=int, default=1)
    p.add_argument("--count", type=int, default=100_000)
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--rate", type=float, default=0.0, help="msgs/s in total (0: as fast as possible)")
    p.add_argument("--compression", default="zstd")
    p.add_argument("--publishers", type=int, default=2, help="publisher processes (threads "
                   "with --embedded-publishers)")
    p.add_argument("--embedded-publishers", action="store_true",
                   help="publishers are threads on in-process sessions of the embedded daemons "
                   "(a robot program's own topics), not socket clients")
    p.add_argument("--daemon-processes", action="store_true",
                   help="each daemon in its own process (robot-gcs daemon), not in this one")
    p.add_argument("--offline", action="store_true",
                   help="the recorder alone: decode and record prepared frames, no ring")
    p.add_argument("--typed", action="store_true", help="offline: a 104-byte dataclass message")
    p.add_argument("--publish", metavar="ADDR", help=argparse.SUPPRESS)   # a publisher child
    a = p.parse_args(argv)
    if a.publish:
        return _publish_main(a.publish, a.count, a.size, a.rate)
    if a.offline:
        print(json.dumps(bench_offline(a.count, a.size, a.compression, a.typed), indent=1))
        return 0
    print(json.dumps(bench(a.daemons, a.count, a.size, a.rate, a.compression, a.publishers,
                           a.daemon_processes, a.embedded_publishers), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
