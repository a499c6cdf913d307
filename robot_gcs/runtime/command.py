"""``robot-gcs daemon -c CONFIG -n NAME``: a standalone daemon in the foreground.

Theory of operation
-------------------
Loads the config (``-c``, before or after the subcommand, else ``$ROBOT_GCS_CONFIG``),
starts a ``Daemon`` (runtime/daemon.py) that serves socket sessions on
its configured client address (``socket:`` in the config, or ``--socket``), prints one
``ready`` line once the UDP socket is bound and then one line per installed ring
configuration (time, ring id, members, joined, left, cause), until SIGINT or SIGTERM.
SIGHUP re-reads the config's keys (``key_file``, ``accept_key_files``) for a key rollover
without a restart (README "Security"); a bad config is reported and the old keys stay.
On either signal it stops cleanly: clients are disconnected through the ring (their
groups see DISCONNECT) and the daemon leaves the ring so the others reconfigure at
once. Exit status 0 on a clean stop, 2 on a config error, 1 if the daemon failed.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from types import FrameType

from ..config import load_config
from ..errors import ConfigError, GcsError
from .daemon import Daemon
from .membership_log import MembershipEvent

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", default=argparse.SUPPRESS, metavar="RING.yaml",
                        help="ring configuration (YAML); default: $ROBOT_GCS_CONFIG")
    parser.add_argument("-n", "--name", default=argparse.SUPPRESS, metavar="DAEMON",
                        help="this daemon's name in the config (required)")
    parser.add_argument("--socket", default=None,
                        help="client address to serve (unix:/path or tcp:host:port); "
                             "default: the daemon's `socket:` in the config")
    parser.add_argument("--tcp", default=None,
                        help="also serve socket sessions on tcp:host:port (overrides config `tcp:`)")
    parser.add_argument("--state-dir", default=None,
                        help="where to persist ring seq and incarnation (overrides config)")
    parser.add_argument("--stats-interval", type=float, default=0.0,
                        help="print a statistics line every N seconds (0: never)")


_say_lock = threading.Lock()


def _say(line: str) -> None:
    """One whole line on stdout: the daemon thread (membership) and the main thread
    (ready, stats) both print, and ``print`` writes the text and the newline apart."""
    with _say_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _fmt(ev: MembershipEvent) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(ev.time)) + f".{int(ev.time * 1000) % 1000:03d}"
    parts = [stamp, f"ring {ev.ring_id[0]}.{ev.ring_id[1]}", f"members {','.join(ev.members)}",
             f"cause {ev.cause.value}"]
    if ev.joined:
        parts.append(f"joined {','.join(ev.joined)}")
    if ev.left:
        parts.append(f"left {','.join(ev.left)}")
    return "  ".join(parts)


def run(args: argparse.Namespace) -> int:
    args.config = getattr(args, "config", None) or os.environ.get("ROBOT_GCS_CONFIG")
    args.name = getattr(args, "name", None)
    if not args.config or not args.name:
        print("robot-gcs daemon: give -c RING.yaml (or ROBOT_GCS_CONFIG) and -n NAME",
              file=sys.stderr)
        return 2
    try:
        cfg = load_config(args.config)
        cfg.daemon(args.name)
    except ConfigError as exc:
        print(f"robot-gcs daemon: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    reload = threading.Event()
    wake = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        (reload if signum == signal.SIGHUP else stop).set()
        wake.set()

    old = {s: signal.signal(s, on_signal)
           for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    tcp = args.tcp if args.tcp is None or args.tcp.startswith("tcp:") else "tcp:" + args.tcp
    daemon = Daemon(cfg, args.name, client_address=args.socket, tcp_address=tcp,
                    state_dir=args.state_dir)
    daemon.on_membership = lambda ev: _say(_fmt(ev))
    try:
        try:
            daemon.start()
        except (OSError, GcsError) as exc:       # one line, no traceback
            print(f"robot-gcs daemon: cannot start {args.name}: {exc}", file=sys.stderr)
            return 2 if isinstance(exc, ConfigError) else 1
        host, port = daemon.transport.bound_address
        clients = ""
        if daemon.ipc_servers:
            clients = ", clients at " + ", ".join(
                str(getattr(s, "bound_address", "?")) for s in daemon.ipc_servers)
        _say(f"daemon {args.name} (node {daemon.node_id}, ring {cfg.ring.name}) ready on "
             f"{host}:{port}{clients}")
        next_stats = time.monotonic() + args.stats_interval
        while not stop.is_set():
            wait = 1.0
            if args.stats_interval > 0:
                wait = max(0.0, next_stats - time.monotonic())
            wake.wait(wait)
            wake.clear()
            if reload.is_set():          # checked after the clear: no SIGHUP is lost
                reload.clear()
                _reload_keys(daemon, args.config)
            if stop.is_set():
                break
            if not daemon.running:
                print(f"robot-gcs daemon: {args.name} stopped unexpectedly", file=sys.stderr)
                return 1
            if args.stats_interval > 0 and time.monotonic() >= next_stats:
                next_stats += args.stats_interval
                _say(_stats_line(daemon))
        _say(f"daemon {args.name} stopping")
        daemon.stop()
        return 0
    finally:
        if daemon.running:
            daemon.stop()
        for s, h in old.items():
            signal.signal(s, h)


def _reload_keys(daemon: Daemon, path: str) -> None:
    from ..security.keys import key_fingerprint
    try:
        cfg = load_config(path)
        daemon.reload_keys(cfg)
    except GcsError as exc:
        print(f"robot-gcs daemon: keys NOT reloaded (the old ones stay): {exc}",
              file=sys.stderr, flush=True)
        return
    assert cfg.ring.key is not None
    extra = "".join(f", accepting {key_fingerprint(k)}" for k in cfg.ring.accept_keys)
    print(f"daemon {daemon.name}: keys reloaded, sealing with {key_fingerprint(cfg.ring.key)}"
          f"{extra}", flush=True)


def _stats_line(daemon: Daemon) -> str:
    st = daemon.statistics()
    state = st.engine.state.value if st.engine is not None else "?"
    return (f"stats {st.name}: state {state} lag worst {st.loop_lag.worst * 1000:.1f} ms "
            f"p99 {st.loop_lag.p99 * 1000:.1f} ms, in {st.packets_in} out {st.packets_out} "
            f"pkts, dropped {st.dropped_total}, sessions {len(st.sessions)}")
