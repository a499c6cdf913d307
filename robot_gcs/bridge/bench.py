"""Bridge benchmark: the latency a bridge adds and the CPU it costs, at a fixed rate.

    python -m robot_gcs.bridge.bench [ros2|fleet ...] [--rate 1000] [--seconds 5] [--size 200]
                                     [--inbound]

What it does (one bridge kind at a time, everything on loopback):

1. a 2-daemon ring in this process; a publisher node on daemon 2 sends ``Blob`` messages
   (``size`` body bytes, the send time ``time.monotonic_ns`` inside) at ``rate`` Hz;
   a subscriber node on daemon 1 measures the ring latency. CPU of this process over the
   phase: the baseline.
2. the same again with a bridge on daemon 1 (``bridge.bench``: out rule for the topic)
   and a receiver in a child process (Cyclone DDS reader of ``rt/bench``, or a Zenoh
   router subscribed to ``fleet/bench/bench``) that measures publisher -> outside latency
   (one clock: monotonic time is shared by the processes of a Linux machine).

With ``--inbound`` also the other direction (``run_inbound``): a child process publishes
on the outside at ``rate``; the bridge on daemon 1 brings it in; a ring subscriber on
daemon 2 measures outside -> ring latency, next to a plain outside reader in this process
(the outside hop alone) -- so inbound added latency ~ e2e - outside hop - ring hop, and
the process CPU difference there includes the ring carrying the messages.

Added latency = outside p50/p99 minus ring p50/p99 of the same phase; bridge CPU = this
process's CPU in phase 2 minus phase 1, as a share of one core (the receiver's CPU is its
own process's and is not counted). On a shared or virtual machine these figures are noisy:
run it a few times. Nothing here is asserted by the default tests.

Threads: the publisher runs on the caller's thread; subscriber and bridge nodes spin on
their own threads (``_Spin``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..pubsub.node import Node
from ..pubsub.qos import QoS
from ..testing import write_ring_config
from .bridge import Bridge
from .core import bridge_node_name
from .spec import BridgeSpec, DdsOptions, OutRule, RemoteQoS, ZenohOptions

TOPIC = "/bench"


@dataclass(frozen=True, slots=True)
class Blob:
    """A benchmark message: body = 8 + 8 + 4 + len(data) bytes."""

    seq: int
    sent_ns: int
    data: bytes


def _percentiles(lat_s: list[float]) -> dict[str, float]:
    if not lat_s:
        return {"n": 0, "p50_us": float("nan"), "p99_us": float("nan")}
    q = sorted(lat_s)
    return {"n": len(q), "p50_us": q[len(q) // 2] * 1e6,
            "p99_us": q[min(len(q) - 1, int(len(q) * 0.99))] * 1e6,
            "mean_us": statistics.fmean(q) * 1e6}


class _Spin:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.thread = threading.Thread(target=node.spin, daemon=True)
        self.thread.start()

    def cpu_seconds(self) -> float:
        """CPU time of the spinning thread so far (Linux /proc; 0.0 elsewhere)."""
        return _thread_cpu(self.thread.native_id)

    def stop(self) -> None:
        self.node.stop()
        self.thread.join(10)


def _paced(n: int, rate: float, send: Callable[[int], None]) -> None:
    """``send(0..n-1)`` at ``rate`` Hz (sleeping to each due time; late ones go at once)."""
    period = 1.0 / rate
    t0 = time.monotonic()
    for i in range(n):
        due = t0 + i * period
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        send(i)


def _publish(pub_node: Node, rate: float, seconds: float, size: int) -> int:
    pub = pub_node.create_publisher(Blob, TOPIC, QoS.sensor(depth=10))
    pad = bytes(max(0, size - 20))
    n = int(rate * seconds)

    def send(i: int) -> None:
        pub.publish(Blob(i, time.monotonic_ns(), pad))
        if i % 50 == 0:
            pub_node.spin_once(0)
    _paced(n, rate, send)
    pub.destroy()
    return n


def _phase(d1: Any, d2: Any, rate: float, seconds: float, size: int,
           bridge_spec: BridgeSpec | None, peer_cmd: list[str] | None,
           env: dict[str, str]) -> dict[str, Any]:
    ring_lat: list[float] = []

    def on_blob(b: Blob) -> None:
        ring_lat.append((time.monotonic_ns() - b.sent_ns) / 1e9)
    sub_node = Node("bench_sub", d1)
    sub_node.create_subscription(Blob, TOPIC, on_blob, QoS.sensor(depth=1000))
    spins = [_Spin(sub_node)]
    bridge = None
    peer = None
    if bridge_spec is not None:
        bnode = Node(bridge_node_name("bench"), d1)
        bridge = Bridge(bnode, d1, bridge_spec)
        spins.append(_Spin(bnode))
    if peer_cmd is not None:
        peer = subprocess.Popen(peer_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True, env=env)
        assert peer.stdout is not None
        peer.stdout.readline()                 # {"ready": true}
    pub_node = Node("bench_pub", d2)
    # warm-up: until the outside (or the ring subscriber) sees messages
    warm_until = time.monotonic() + 2.0
    while time.monotonic() < warm_until:
        _publish(pub_node, rate, 0.2, size)
    ring_lat.clear()
    if peer is not None and peer.stdin is not None:
        peer.stdin.write("reset\n")
        peer.stdin.flush()
    cpu0, wall0, thr0 = time.process_time(), time.monotonic(), spins[-1].cpu_seconds()
    sent = _publish(pub_node, rate, seconds, size)
    cpu1, wall1, thr1 = time.process_time(), time.monotonic(), spins[-1].cpu_seconds()
    out: dict[str, Any] = {"sent": sent, "ring": _percentiles(ring_lat),
                           "cpu_share": (cpu1 - cpu0) / (wall1 - wall0),
                           "thread_share": (thr1 - thr0) / (wall1 - wall0)}
    if peer is not None:
        assert peer.stdin is not None and peer.stdout is not None
        peer.stdin.write("report\n")
        peer.stdin.flush()
        out["outside"] = json.loads(peer.stdout.readline())
        peer.stdin.close()
        peer.wait(30)
    if bridge is not None:
        out["bridge"] = [s for s in bridge.statistics()]
        bridge.close()
    for s in spins:
        s.stop()
    for n in (sub_node, pub_node) + ((bridge.node,) if bridge is not None else ()):
        n.destroy()
    return out


def _ring(prefix: str) -> tuple[Path, list[Any]]:
    """A started 2-daemon loopback ring ``<prefix>1``, ``<prefix>2`` in this process."""
    from ..runtime.daemon import Daemon
    work = Path(tempfile.mkdtemp(prefix="bridge-bench-"))
    cfg = write_ring_config(work, 2, name=f"{prefix}{os.getpid()}", prefix=prefix)
    daemons = [Daemon.from_file(str(cfg), name=f"{prefix}{i}") for i in (1, 2)]
    for d in daemons:
        d.start()
    return work, daemons


def run(kind: str, rate: float = 1000.0, seconds: float = 5.0, size: int = 200) -> dict[str, Any]:
    """One bench row for ``kind`` (ros2 or fleet)."""
    from .ros2 import loopback_config
    work, daemons = _ring("bb")
    env = dict(os.environ)
    try:
        base = _phase(daemons[0], daemons[1], rate, seconds, size, None, None, env)
        if kind == "ros2":
            domain = random.randint(1, 200)
            env["CYCLONEDDS_URI"] = loopback_config(domain)
            spec = BridgeSpec("bench", "ros2", out=(OutRule(TOPIC, Blob, "bench",
                                                            qos=RemoteQoS(reliable=False, depth=100)),),
                              options=DdsOptions(domain, loopback_config(domain)))
            peer = [sys.executable, "-m", "robot_gcs.bridge.bench", "--peer", "ros2", str(domain)]
        else:
            import socket
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            endpoint = f"tcp/127.0.0.1:{port}"
            spec = BridgeSpec("bench", "fleet", out=(OutRule(TOPIC, Blob),),
                              options=ZenohOptions("bench", mode="peer", connect=(endpoint,)))
            peer = [sys.executable, "-m", "robot_gcs.bridge.bench", "--peer", "fleet", endpoint]
        # the fleet receiver listens, so start it before the bridge connects
        bridged = _phase(daemons[0], daemons[1], rate, seconds, size, spec, peer, env)
    finally:
        for d in daemons:
            d.stop()
        shutil.rmtree(work, ignore_errors=True)
    o, r = bridged["outside"], bridged["ring"]
    return {"kind": kind, "rate_hz": rate, "size_b": size, "seconds": seconds,
            "ring_p50_us": r["p50_us"], "ring_p99_us": r["p99_us"],
            "outside_p50_us": o["p50_us"], "outside_p99_us": o["p99_us"],
            "outside_received": o["n"], "sent": bridged["sent"],
            "added_p50_us": o["p50_us"] - r["p50_us"], "added_p99_us": o["p99_us"] - r["p99_us"],
            "cpu_base": base["cpu_share"], "cpu_with_bridge": bridged["cpu_share"],
            "bridge_cpu": bridged["cpu_share"] - base["cpu_share"],
            "bridge_thread_cpu": bridged["thread_share"]}


# ---------------------------------------------------------------- inbound (outside -> ring)

def _receive(kind: str, where: str, name: str, got: Callable[[int], None],
             listen: bool) -> list[Any]:
    """Receive Blobs of ``name`` (DDS ``rt/<name>``, Zenoh ``fleet/<name>``) with plain
    Cyclone / Zenoh and call ``got(sent_ns)`` for each; returns what must stay alive.
    ``where``: the DDS domain, or the Zenoh endpoint to listen on (``listen``) or connect to."""
    if kind == "ros2":
        from cyclonedds.core import Listener as _Listener, Policy, Qos
        from cyclonedds.domain import DomainParticipant
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic
        from .idl import dds_type
        dt = dds_type(Blob)
        listener: Any = _Listener
        dp = DomainParticipant(int(where))

        def on_data(reader: Any) -> None:
            for x in reader.take(256):
                if isinstance(x, dt.idl_cls):
                    got(x.sent_ns)
        return [dp, DataReader(dp, Topic(dp, f"rt/{name}", dt.idl_cls),
                               qos=Qos(Policy.Reliability.BestEffort, Policy.History.KeepLast(100)),
                               listener=listener(on_data_available=on_data))]
    import zenoh
    from .fleet import decode_message, zenoh_config
    opts = ZenohOptions("receiver", listen=(where,)) if listen else \
        ZenohOptions("receiver", connect=(where,))
    session: Any = zenoh.open(zenoh_config(opts))
    return [session, session.declare_subscriber(
        f"fleet/{name}", lambda x: got(decode_message(x.payload.to_bytes(), Blob)[1].sent_ns))]


class _Reference:
    """A plain DDS reader / Zenoh subscriber of the peer's messages in this process: the
    latency of the outside hop alone."""

    def __init__(self, kind: str, where: str) -> None:
        self.lat: list[float] = []
        self._keep = _receive(kind, where, "bench_in" if kind == "ros2" else "peer/bench",
                              lambda ns: self.lat.append((time.monotonic_ns() - ns) / 1e9),
                              listen=False)

    def close(self) -> None:
        for k in self._keep:
            if hasattr(k, "close"):
                k.close()
        self._keep.clear()


def run_inbound(kind: str, rate: float = 1000.0, seconds: float = 5.0,
                size: int = 200) -> dict[str, Any]:
    """Outside publisher (child process) -> bridge on daemon 1 -> ring subscriber on
    daemon 2, against a plain outside reader in this process and the ring alone."""
    from .ros2 import loopback_config
    from .spec import InRule
    work, daemons = _ring("bi")
    env = dict(os.environ)
    keep: list[Any] = []
    if kind == "ros2":
        from cyclonedds.domain import Domain
        domain = random.randint(1, 200)
        env["CYCLONEDDS_URI"] = loopback_config(domain)
        keep.append(Domain(domain, loopback_config(domain)))   # this process's DDS config
        where = str(domain)
        spec = BridgeSpec("bench", "ros2", inbound=(InRule(
            "bench_in", "/bench_in", Blob, qos=RemoteQoS(reliable=False, depth=100),
            ring_qos=QoS.sensor(depth=1000)),), options=DdsOptions(domain, None))
    else:
        import socket
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            where = f"tcp/127.0.0.1:{sock.getsockname()[1]}"
        spec = BridgeSpec("bench", "fleet", inbound=(InRule(
            "fleet/peer/bench", "/bench_in", Blob, ring_qos=QoS.sensor(depth=1000)),),
            options=ZenohOptions("bench", connect=(where,)))
    peer = subprocess.Popen([sys.executable, "-m", "robot_gcs.bridge.bench", "--peer-pub", kind,
                             where, str(size)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env)
    assert peer.stdin is not None and peer.stdout is not None
    peer.stdout.readline()                                  # {"ready": true}
    ref = _Reference(kind, where)
    ring_lat: list[float] = []
    sub_node = Node("bench_sub", daemons[1])
    sub_node.create_subscription(Blob, "/bench_in", lambda b: ring_lat.append(
        (time.monotonic_ns() - b.sent_ns) / 1e9), QoS.sensor(depth=1000))
    sub = _Spin(sub_node)

    def burst(n: int) -> tuple[float, float]:
        assert peer.stdin is not None and peer.stdout is not None
        ring_lat.clear()
        ref.lat.clear()
        cpu0, wall0 = time.process_time(), time.monotonic()
        peer.stdin.write(f"go {n} {rate}\n")
        peer.stdin.flush()
        peer.stdout.readline()                              # {"done": n}
        return time.process_time() - cpu0, time.monotonic() - wall0
    bridge = None
    try:
        burst(int(rate))                                    # warm-up (discovery)
        base_cpu, base_wall = burst(int(rate * seconds))
        reference = _percentiles(ref.lat)
        bnode = Node(bridge_node_name("bench"), daemons[0])
        bridge = Bridge(bnode, daemons[0], spec)
        bspin = _Spin(bnode)
        burst(int(rate))                                    # warm-up
        thread_id = bridge.inbound.thread_id
        thr0 = _thread_cpu(thread_id)
        cpu, wall = burst(int(rate * seconds))
        thr = (_thread_cpu(thread_id) - thr0) / wall
        e2e, outside = _percentiles(ring_lat), _percentiles(ref.lat)
        bspin.stop()
    finally:
        peer.stdin.close()
        peer.wait(30)
        sub.stop()
        if bridge is not None:
            bridge.close()
            bridge.node.destroy()
        sub_node.destroy()
        ref.close()
        for d in daemons:
            d.stop()
        shutil.rmtree(work, ignore_errors=True)
    return {"kind": kind, "direction": "in", "rate_hz": rate, "size_b": size,
            "seconds": seconds, "sent": int(rate * seconds), "ring_received": e2e["n"],
            "outside_p50_us": outside["p50_us"], "outside_p99_us": outside["p99_us"],
            "reference_p50_us": reference["p50_us"],
            "e2e_p50_us": e2e["p50_us"], "e2e_p99_us": e2e["p99_us"],
            "cpu_base": base_cpu / base_wall, "cpu_with_bridge": cpu / wall,
            "bridge_cpu": cpu / wall - base_cpu / base_wall, "bridge_thread_cpu": thr}


def _thread_cpu(native_id: int | None) -> float:
    """CPU seconds of one thread of this process (Linux /proc; 0.0 elsewhere)."""
    try:
        with open(f"/proc/self/task/{native_id}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _peer_pub(kind: str, where: str, size: int) -> int:
    """The outside publisher: on ``go N RATE`` publishes N Blobs at RATE Hz."""
    pad = bytes(max(0, size - 20))
    keep: list[Any] = []
    if kind == "ros2":
        from cyclonedds.core import Policy, Qos
        from cyclonedds.domain import DomainParticipant
        from cyclonedds.pub import DataWriter
        from cyclonedds.topic import Topic
        from .idl import dds_type
        dt = dds_type(Blob)
        dp = DomainParticipant(int(where))
        writer = DataWriter(dp, Topic(dp, "rt/bench_in", dt.idl_cls),
                            qos=Qos(Policy.Reliability.BestEffort, Policy.History.KeepLast(100)))
        keep.append(dp)

        def send(i: int) -> None:
            writer.write(dt.idl_cls(i, time.monotonic_ns(), pad))
    else:
        import zenoh
        from .fleet import encode_payload, zenoh_config
        from ..pubsub.codec import codec_for
        codec = codec_for(Blob)
        session: Any = zenoh.open(zenoh_config(ZenohOptions("peer", listen=(where,))))
        zpub = session.declare_publisher("fleet/peer/bench")
        keep.append(session)

        def send(i: int) -> None:
            zpub.put(encode_payload(codec.fingerprint, "peer",
                                    codec.encode(Blob(i, time.monotonic_ns(), pad))))
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        parts = line.split()
        if len(parts) != 3 or parts[0] != "go":
            continue
        n = int(parts[1])
        _paced(n, float(parts[2]), send)
        time.sleep(0.2)                     # let the last ones land before "done"
        print(json.dumps({"done": n}), flush=True)
    return 0


# ---------------------------------------------------------------- the outside receiver

def _peer(kind: str, where: str) -> int:
    lat: list[float] = []
    lock = threading.Lock()

    def got(sent_ns: int) -> None:
        with lock:
            lat.append((time.monotonic_ns() - sent_ns) / 1e9)
    keep = _receive(kind, where, "bench" if kind == "ros2" else "bench/bench", got, listen=True)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        with lock:
            if cmd == "reset":
                lat.clear()
            elif cmd == "report":
                print(json.dumps(_percentiles(lat)), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="latency and CPU a bridge adds")
    ap.add_argument("kinds", nargs="*", default=["ros2", "fleet"])
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--inbound", action="store_true", help="also outside -> ring rows")
    ap.add_argument("--peer", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--peer-pub", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.peer:
        return _peer(*args.peer)
    if args.peer_pub:
        return _peer_pub(args.peer_pub[0], args.peer_pub[1], int(args.peer_pub[2]))
    for kind in args.kinds:
        rows = [run(kind, args.rate, args.seconds, args.size)]
        if args.inbound:
            rows.append(run_inbound(kind, args.rate, args.seconds, args.size))
        for row in rows:
            print(json.dumps({k: round(v, 3) if isinstance(v, float) else v
                              for k, v in row.items()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
