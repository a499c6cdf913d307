"""A test robot program: an embedded daemon plus one in-process session, driven by JSON lines.

Run as ``python rt_node.py CONFIG NAME``. It prints one JSON object per line on stdout:
``{"ev": "ready", "pid": ...}`` once the daemon runs, then every event of its session
(``view`` / ``msg``) and answers to commands. Commands on stdin, one JSON object a line:
``join`` {group}, ``send`` {group, count, prefix, service, batch, gap} (``batch`` messages
per ``Session.batch()`` block, ``gap`` seconds between blocks: a periodic publisher's
shape), ``stats``, ``busy`` {seconds}
(a pure-Python CPU-bound thread in this process), ``stop`` (clean daemon stop, exit 0).
Tests use it to run real daemons in separate processes they can SIGKILL/SIGSTOP by pid.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from robot_gcs import Daemon, DataMessage, GroupView, SessionClosed, Service  # noqa: E402

_out_lock = threading.Lock()


def emit(obj: dict) -> None:
    line = json.dumps(obj)
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def reader(session) -> None:
    while True:
        try:
            ev = session.receive(timeout=None)
        except SessionClosed as exc:
            emit({"ev": "closed", "reason": exc.reason})
            return
        if isinstance(ev, GroupView):
            emit({"ev": "view", "group": ev.group, "view_id": list(ev.view_id),
                  "members": list(ev.members), "cause": ev.cause.value,
                  "changed": list(ev.changed), "transitional": ev.transitional,
                  "t": time.time()})
        elif isinstance(ev, DataMessage):
            emit({"ev": "msg", "sender": ev.sender, "groups": list(ev.groups),
                  "payload": bytes(ev.payload).decode(), "service": ev.service.name,
                  "t": time.time()})


def busy(seconds: float) -> None:
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        for i in range(1000):
            x += i * i
    emit({"ev": "busy_done"})


def send(session, cmd: dict) -> None:
    svc = Service[cmd.get("service", "AGREED")]
    count, per_block, gap = cmd["count"], int(cmd.get("batch", 1)), float(cmd.get("gap", 0))
    for start in range(0, count, per_block):
        with session.batch():
            for i in range(start, min(count, start + per_block)):
                session.multicast(cmd["group"], f"{cmd['prefix']}{i}".encode(), svc,
                                  timeout=30.0)
        if gap:
            time.sleep(gap)      # the load's shape (a periodic publisher), not a wait


def main() -> int:
    config, name = sys.argv[1], sys.argv[2]
    daemon = Daemon.from_file(config, name, serve_clients=False)
    daemon.on_membership = lambda m: emit({"ev": "ring", "ring_id": list(m.ring_id),
                                           "members": list(m.members), "cause": m.cause.value,
                                           "t": m.time})
    daemon.start()
    session = daemon.connect("c")
    threading.Thread(target=reader, args=(session,), daemon=True).start()
    emit({"ev": "ready", "pid": os.getpid(), "node": daemon.node_id})
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "join":
            session.join(cmd["group"])
        elif op == "send":
            send(session, cmd)
            emit({"ev": "sent", "count": cmd["count"]})
        elif op == "stats":
            st = daemon.statistics()
            e = st.engine
            emit({"ev": "stats", "lag_worst": st.loop_lag.worst, "lag_p99": st.loop_lag.p99,
                  "lag_samples": st.loop_lag.samples, "dropped": dict(st.dropped_packets),
                  "packets_in": st.packets_in, "packets_out": st.packets_out,
                  "membership": [[m.ring_id[0], m.ring_id[1], list(m.members), m.cause.value]
                                 for m in st.membership],
                  "state": getattr(getattr(e, "state", None), "value", None),
                  "engine_errors": st.engine_errors, "callback_errors": st.callback_errors,
                  "retransmits": getattr(e, "retransmits_sent", 0),
                  "tokens_lent": getattr(e, "tokens_lent", 0),
                  "lent_holds": getattr(e, "lent_holds", 0),
                  "quiet_holds": getattr(e, "quiet_holds", 0),
                  "late_tokens": getattr(e, "late_tokens", 0),
                  "rotations": getattr(e, "token_rotations", 0),
                  "switch_interval": st.switch_interval})
        elif op == "busy":
            threading.Thread(target=busy, args=(float(cmd["seconds"]),), daemon=True).start()
        elif op == "switch":
            sys.setswitchinterval(float(cmd["seconds"]))
        elif op == "reset_lag":
            daemon.loop.call_soon_threadsafe(daemon.loop.lag.reset)
        elif op == "stop":
            daemon.stop()
            emit({"ev": "stopped"})
            return 0
    daemon.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
