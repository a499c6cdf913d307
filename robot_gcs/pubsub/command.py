"""`robot-gcs topic list | echo TOPIC | hz TOPIC | pub TOPIC VALUE`: topic tools.

Like ``ros2 topic``. Each tool opens one socket session to a daemon (``--connect
unix:/path.sock``, or ``-c RING.yaml [-n DAEMON]``; default: the demo's ring config) and
uses a Node on it:

* ``list``: joins the registry group and prints every announced topic with its type and
  its publishing / subscribing nodes (waits until every registry member has announced, at
  most ``--timeout`` seconds).
* ``echo``: joins the topic's group and prints each message. Types are decoded by
  fingerprint, with classes from ``--type module:Class``, the ``--launch`` file, or the
  type paths publishers announced; unknown types are shown as raw bytes.
* ``hz``: prints the rate once per second (mean, min/max interval) like ``ros2 topic hz``.
* ``pub``: publishes VALUE once (or ``--count`` times at ``--rate`` Hz). With a message
  type, VALUE is a YAML mapping of its fields (``'{x: 1.0, y: 2.0}'``); without, the
  UTF-8 bytes of VALUE.

Exit codes: 0 done, 1 nothing received before ``--timeout``, 2 bad arguments, 3 no daemon.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from typing import Any

from ..errors import ConfigError, GcsError, LocalProtocolError, MalformedPacket
from .codec import MessageCodec, RawCodec, Sample, codec_for, decode_envelope
from .node import TOPIC_MSG_TYPE, Node
from .qos import QoS, check_topic, parse_service, topic_group


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--connect", metavar="ADDR", help="daemon session address (unix:/path or tcp:host:port)")
    parser.add_argument("-c", "--config", metavar="RING.yaml", help="ring config (default: the demo's)")
    parser.add_argument("-n", "--name", metavar="DAEMON", help="with -c: which daemon to use")
    parser.add_argument("--launch", metavar="FILE", help="launch file: message types and QoS of its topics")
    sub = parser.add_subparsers(dest="tool", metavar="TOOL", required=True)
    p = sub.add_parser("list", help="topics with types, publishers and subscribers")
    p.add_argument("--timeout", type=float, default=2.0)
    p = sub.add_parser("echo", help="print a topic's messages")
    p.add_argument("topic")
    p.add_argument("--type", metavar="module:Class")
    p.add_argument("--count", type=int, default=0, help="stop after N messages (0: until Ctrl-C)")
    p.add_argument("--timeout", type=float, default=0.0, help="give up after S seconds (0: never)")
    p = sub.add_parser("hz", help="print a topic's rate")
    p.add_argument("topic")
    p.add_argument("--window", type=int, default=100, help="intervals averaged")
    p.add_argument("--duration", type=float, default=0.0, help="stop after S seconds (0: until Ctrl-C)")
    p = sub.add_parser("pub", help="publish a value")
    p.add_argument("topic")
    p.add_argument("value")
    p.add_argument("--type", metavar="module:Class")
    p.add_argument("--service", default=None, help="delivery service (default: launch file's, else agreed)")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--rate", type=float, default=10.0, help="Hz, with --count > 1")


def _address(args: argparse.Namespace) -> str:
    if args.connect:
        return str(args.connect)
    from ..config import GcsConfig
    cfg_path = args.config
    if cfg_path is None:
        from ..launch.demo_command import find_demo_file
        cfg_path = find_demo_file(os.path.join("config", "robot_demo.yaml"))
        if cfg_path is None:
            raise LocalProtocolError("give --connect ADDR or -c RING.yaml")
    cfg = GcsConfig.from_file(cfg_path)
    entries = [cfg.daemon(args.name)] if args.name else list(cfg.daemons)
    for e in entries:
        sock = getattr(e, "socket", None)
        if not sock:
            continue
        path = sock[5:] if sock.startswith("unix:") else sock
        if args.name or sock.startswith("tcp:") or os.path.exists(path):
            return sock if ":" in sock.split("/")[0] else f"unix:{sock}"
    raise ConfigError("no daemon of this config serves a session socket here", cfg_path, None, "daemons")


def _types(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, QoS]]:
    """Message classes and QoS by topic, from --launch."""
    if not getattr(args, "launch", None):
        return {}, {}
    from ..launch.loader import load_launch
    lf = load_launch(args.launch, check_config=False)
    return {t.name: t.msg_type for t in lf.topics}, lf.topic_qos


def _import(path: str) -> Any:
    from ..launch.loader import import_object
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return import_object(path)


def run(args: argparse.Namespace) -> int:
    from ..client.socket_session import connect
    try:
        address = _address(args)
        types, qos = _types(args)
    except GcsError as exc:
        print(f"robot-gcs topic: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "topic", None):
        try:
            check_topic(args.topic)
        except LocalProtocolError as exc:
            print(f"robot-gcs topic: {exc}", file=sys.stderr)
            return 2
    try:
        session = connect(address, f"topic-{os.getpid()}")
    except GcsError as exc:
        print(f"robot-gcs topic: cannot attach to {address}: {exc}", file=sys.stderr)
        return 3
    node = Node(f"topic-{os.getpid()}", session, announce=args.tool != "pub", default_qos=qos)
    try:
        if args.tool == "list":
            return _list(node, args)
        if args.tool == "pub":
            return _pub(node, args, types)
        return _watch(node, args, types)
    except KeyboardInterrupt:
        return 0
    except (GcsError, ValueError, TypeError, ImportError, AttributeError) as exc:
        print(f"robot-gcs topic: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    finally:
        node.destroy()
        session.close()


def _list(node: Node, args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        node.spin_once(0.05)
        members = [m for m in node.registry_members() if m != node.private_name]
        if node.registry_members() and all(m in node.graph() for m in members):
            break
    topics: dict[str, dict[str, Any]] = {}
    for member, info in sorted(node.graph().items()):
        if member == node.private_name:
            continue
        for role in ("pubs", "subs"):
            for topic, tpath, fp, service in info.get(role, []):
                t = topics.setdefault(topic, {"types": set(), "pubs": [], "subs": [], "service": set()})
                t["types"].add(tpath)
                t[role].append(member)
                if role == "pubs":
                    t["service"].add(service)
    if not topics:
        print("no topics announced")
        return 1
    for topic in sorted(topics):
        t = topics[topic]
        types = ", ".join(sorted(t["types"]))
        warn = "  (TYPE MISMATCH)" if len(t["types"]) > 1 else ""
        print(f"{topic}  [{types}]{warn}  service: {', '.join(sorted(t['service'])) or '-'}")
        print(f"    publishers:  {', '.join(sorted(set(t['pubs']))) or '-'}")
        print(f"    subscribers: {', '.join(sorted(set(t['subs']))) or '-'}")
    return 0


def _codecs(node: Node, topic: str, explicit: str | None, types: dict[str, Any]) -> dict[int, Any]:
    out: dict[int, MessageCodec | RawCodec] = {}
    classes = []
    if explicit:
        classes.append(_import(explicit))
    if types.get(topic) is not None:
        classes.append(types[topic])
    for info in node.graph().values():
        for t, tpath, _, _ in info.get("pubs", []):
            if t == topic and tpath != "bytes":
                try:
                    classes.append(_import(tpath))
                except (ImportError, AttributeError, ValueError):
                    pass
    for cls in classes + [None]:
        c = codec_for(cls)
        out[c.fingerprint] = c
    return out


def _show(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def _watch(node: Node, args: argparse.Namespace, types: dict[str, Any]) -> int:
    topic = args.topic
    codecs = _codecs(node, topic, getattr(args, "type", None), types)
    times: list[float] = []
    state = {"n": 0}
    echo = args.tool == "echo"

    def on_event(ev: Any) -> None:
        if getattr(ev, "msg_type", None) != TOPIC_MSG_TYPE:
            return
        now = time.monotonic()
        state["n"] += 1
        if not echo:
            times.append(now)
            del times[:-(args.window + 1)]
            return
        if isinstance(ev.payload, Sample):       # in-process: the publisher's object
            print(f"[{ev.sender}] seq {ev.payload.seq}: {_show(ev.payload.value)}", flush=True)
            return
        try:
            hdr, body = decode_envelope(bytes(ev.payload))
        except MalformedPacket as exc:
            print(f"[{ev.sender}] malformed: {exc}")
            return
        codec = codecs.get(hdr.fingerprint)
        if codec is None:                   # a type announced since we started?
            codecs.update(_codecs(node, topic, getattr(args, "type", None), types))
            codec = codecs.get(hdr.fingerprint)
        if codec is None:
            print(f"[{ev.sender}] seq {hdr.seq}: {len(body)} bytes of unknown type "
                  f"(fingerprint {hdr.fingerprint:016x}; pass --type or --launch)")
            return
        try:
            value = codec.decode(body)
        except MalformedPacket as exc:
            print(f"[{ev.sender}] seq {hdr.seq}: undecodable: {exc}")
            return
        print(f"[{ev.sender}] seq {hdr.seq}: {_show(value)}", flush=True)

    node.join_group(topic_group(topic), on_event)
    start = time.monotonic()
    last_report = start
    limit = args.timeout if echo else args.duration
    while True:
        node.spin_once(0.1)
        now = time.monotonic()
        if echo and args.count and state["n"] >= args.count:
            return 0
        if not echo and now - last_report >= 1.0:
            last_report = now
            if len(times) >= 2:
                iv = [b - a for a, b in zip(times, times[1:])]
                mean = sum(iv) / len(iv)
                print(f"{topic}: average rate {1.0 / mean:.2f} Hz  min {min(iv) * 1e3:.2f} ms  "
                      f"max {max(iv) * 1e3:.2f} ms  window {len(iv)}", flush=True)
            else:
                print(f"{topic}: no messages yet", flush=True)
        if limit and now - start >= limit:
            return 0 if state["n"] else 1


def _pub(node: Node, args: argparse.Namespace, types: dict[str, Any]) -> int:
    import yaml
    cls = _import(args.type) if args.type else types.get(args.topic)
    if cls is None:
        value: Any = args.value.encode()
    else:
        fields = yaml.safe_load(args.value)
        if not isinstance(fields, dict):
            raise LocalProtocolError(f"with type {cls.__name__}, VALUE must be a mapping of its fields")
        value = cls(**fields)
    base = node.qos_for(args.topic, None)
    q = QoS(service=parse_service(args.service) if args.service else base.service, depth=base.depth)
    pub = node.create_publisher(args.topic, cls, q)
    period = 1.0 / args.rate if args.rate > 0 else 0.0
    start = time.monotonic()
    for i in range(max(1, args.count)):
        due = start + i * period
        while time.monotonic() < due:       # spinning keeps the session drained between sends
            node.spin_once(due - time.monotonic())
        pub.publish(value)
    print(f"published {max(1, args.count)} message(s) on {args.topic}")
    return 0
