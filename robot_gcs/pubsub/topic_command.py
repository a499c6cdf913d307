"""`robot-gcs topic list | echo TOPIC | hz TOPIC | pub TOPIC VALUE`: topic tools.

Like ``ros2 topic``. Each tool attaches to the ring the way every command does
(cli/ring.py: ``-c RING.yaml``, ``--launch FILE``, ``$ROBOT_GCS_CONFIG`` or the daemons
running here) with one socket session and a Node on it:

* ``list``: every topic the registry announces, with its type and its publishing /
  subscribing nodes (waits until every registry member has announced, at most
  ``--timeout`` seconds). Two types on one topic are flagged ``TYPE MISMATCH``.
* ``echo``: joins the topic's group and prints each message. Types are decoded by
  fingerprint, with classes from ``--type module:Class``, the ``--launch`` file, or the
  type paths publishers announced; unknown types are shown as raw bytes.
* ``hz``: prints the rate once per second (mean, min/max interval) like ``ros2 topic hz``.
* ``pub``: publishes VALUE once (or ``--count`` times at ``--rate`` Hz, at the ring's pace
  when that is slower: it waits while the daemon pushes back). The topic's type
  is ``--type``, else the launch file's, else the one the registry announces; VALUE is
  then a YAML mapping of its fields (``'{x: 1.0, y: 2.0}'``). A topic nobody typed takes
  the UTF-8 bytes of VALUE. A type that differs from the topic's known one is refused
  (exit 2, naming both): a typed topic never gets raw bytes or a stranger's type.

Exit codes (cli/tools.py): 0 done, 1 nothing received before ``--timeout``, 2 bad
arguments or a refused type, 3 no daemon.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Any

from ..cli.tools import (BAD_ARGS, NOTHING, OK, ToolError, close_tool, load_type, open_tool,
                         publish_waiting, run_tool, tool_parser, tool_parsers, wait_registry)
from ..errors import MalformedPacket
from .codec import MessageCodec, RawCodec, Sample, codec_for, decode_envelope, type_path
from .node import TOPIC_MSG_TYPE, Node
from .qos import QoS, check_topic, parse_service, topic_group

PROG = "robot-gcs topic"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = tool_parsers(parser, "tool", "tools", launch=True)
    p = tool_parser(sub, "list", "topics with types, publishers and subscribers", launch=True)
    p.add_argument("--timeout", type=float, default=2.0,
                   help="seconds to wait for every node to announce")
    p = tool_parser(sub, "echo", "print a topic's messages", launch=True)
    p.add_argument("topic", help="topic name, e.g. /odom")
    p.add_argument("--type", metavar="module:Class", help="message type to decode with")
    p.add_argument("--count", type=int, default=0, help="stop after N messages (0: until Ctrl-C)")
    p.add_argument("--timeout", type=float, default=0.0, help="give up after S seconds (0: never)")
    p = tool_parser(sub, "hz", "print a topic's rate", launch=True)
    p.add_argument("topic", help="topic name, e.g. /odom")
    p.add_argument("--window", type=int, default=100, help="intervals averaged")
    p.add_argument("--duration", type=float, default=0.0, help="stop after S seconds (0: until Ctrl-C)")
    p = tool_parser(sub, "pub", "publish a value", launch=True)
    p.add_argument("topic", help="topic name, e.g. /odom")
    p.add_argument("value", help="a YAML mapping of the type's fields, or text for an untyped topic")
    p.add_argument("--type", metavar="module:Class",
                   help="message type, or bytes (default: the launch file's, else the registry's)")
    p.add_argument("--service", default=None,
                   help="delivery service (default: the launch file's, else agreed)")
    p.add_argument("--count", type=int, default=1, help="messages to publish")
    p.add_argument("--rate", type=float, default=10.0, help="Hz, with --count > 1")
    p.add_argument("--timeout", type=float, default=2.0,
                   help="seconds to wait for the registry (the topic's type)")


def _launch(args: argparse.Namespace) -> tuple[dict[str, type], dict[str, QoS]]:
    """Message classes and QoS by topic, from --launch."""
    if not getattr(args, "launch", None):
        return {}, {}
    from ..launch.loader import load_launch
    lf = load_launch(args.launch, check_config=False)
    return lf.topic_types, lf.topic_qos


def run(args: argparse.Namespace) -> int:
    return run_tool(PROG, _run, args)


def _run(args: argparse.Namespace) -> int:
    if getattr(args, "topic", None):
        check_topic(args.topic)
    types, qos = _launch(args)
    node = open_tool(args, "topic", default_qos=qos, topic_types=types)
    try:
        if args.tool == "list":
            return _list(node, args)
        if args.tool == "pub":
            return _pub(node, args, types)
        return _watch(node, args, types)
    finally:
        close_tool(node)


def _list(node: Node, args: argparse.Namespace) -> int:
    wait_registry(node, args.timeout)
    topics: dict[str, dict[str, Any]] = {}
    for member, eps in sorted(node.registry.graph().items()):
        for role, infos in (("pubs", eps.pubs), ("subs", eps.subs)):
            for e in infos:
                t = topics.setdefault(e.topic, {"types": set(), "pubs": [], "subs": [], "service": set()})
                t["types"].add(e.type_path)
                t[role].append(member)
                if role == "pubs":
                    t["service"].add(e.service)
    if not topics:
        print("no topics announced")
        return NOTHING
    for topic in sorted(topics):
        t = topics[topic]
        types = ", ".join(sorted(t["types"]))
        warn = "  (TYPE MISMATCH)" if len(t["types"]) > 1 else ""
        print(f"{topic}  [{types}]{warn}  service: {', '.join(sorted(t['service'])) or '-'}")
        print(f"    publishers:  {', '.join(sorted(set(t['pubs']))) or '-'}")
        print(f"    subscribers: {', '.join(sorted(set(t['subs']))) or '-'}")
    return OK


def _codecs(node: Node, topic: str, explicit: str | None,
            types: dict[str, type]) -> dict[int, MessageCodec | RawCodec]:
    classes: list[type | None] = []
    if explicit:
        classes.append(load_type(explicit))
    if types.get(topic) is not None:
        classes.append(types[topic])
    for path in node.registry.topic_types(topic):
        if path != "bytes":
            try:
                classes.append(load_type(path))
            except ToolError:
                pass
    out: dict[int, MessageCodec | RawCodec] = {}
    for cls in classes + [None]:
        c = codec_for(cls)
        out[c.fingerprint] = c
    return out


def _show(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def _watch(node: Node, args: argparse.Namespace, types: dict[str, type]) -> int:
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
            return OK
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
            return OK if state["n"] else NOTHING


def _known_type(node: Node, topic: str, types: dict[str, type]) -> tuple[str, str] | None:
    """(type path, who says so) of ``topic``, from the launch file or the registry."""
    if topic in types:
        return type_path(types[topic]), "the launch file"
    known = node.registry.topic_types(topic)
    if len(known) > 1:
        raise ToolError(f"{topic} carries several types ({', '.join(sorted(known))}): fix the "
                        "nodes first (robot-gcs topic list)")
    if known:
        (path, (_, who)), = known.items()
        return path, ", ".join(who)
    return None


def _same_type(cls: type | None, path: str) -> bool:
    """``cls`` is the type ``path`` names (same name, fields and field types)."""
    if type_path(cls) == path:
        return True
    try:
        other = load_type(path) if path != "bytes" else None
    except ToolError:
        return False
    return codec_for(cls).fingerprint == codec_for(other).fingerprint


def _pub(node: Node, args: argparse.Namespace, types: dict[str, type]) -> int:
    import yaml
    wait_registry(node, args.timeout)
    known = _known_type(node, args.topic, types)
    cls: type | None
    if args.type:
        cls = None if args.type == "bytes" else load_type(args.type)
    elif known is not None:
        cls = types.get(args.topic) or (None if known[0] == "bytes" else load_type(known[0]))
    else:
        cls = None
    mine = type_path(cls)
    if known is not None and not _same_type(cls, known[0]):
        raise ToolError(f"refused: {args.topic} carries {known[0]} (says {known[1]}), not "
                        f"{mine}; pass --type {known[0]}", BAD_ARGS)
    if cls is None:
        value: Any = args.value.encode()
    else:
        fields = yaml.safe_load(args.value)
        if not isinstance(fields, dict):
            raise ToolError(f"{args.topic} carries {mine}: VALUE must be a YAML mapping of its "
                            "fields, e.g. '{x: 1.0}'")
        try:
            value = cls(**fields)
        except TypeError as exc:
            raise ToolError(f"VALUE does not fit {mine}: {exc}") from None
    base = node.qos_for(args.topic, None)
    q = QoS(service=parse_service(args.service) if args.service else base.service, depth=base.depth)
    pub = node.create_publisher(args.topic, cls if cls is not None else bytes, q)
    period = 1.0 / args.rate if args.rate > 0 else 0.0
    start = time.monotonic()
    for i in range(max(1, args.count)):
        due = start + i * period
        while time.monotonic() < due:       # spinning keeps the session drained between sends
            node.spin_once(due - time.monotonic())
        publish_waiting(node, pub, value)
    how = "raw bytes (the topic has no declared or announced type)" if cls is None else mine
    print(f"published {max(1, args.count)} message(s) on {args.topic} as {how}")
    return OK
