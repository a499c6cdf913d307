"""Reading recordings back: records in file order, a summary, and a comparison.

What it owns: the read side of the recording format (recorder.py says what is written).
Functions only; every call opens its files and closes them before it returns or when its
iterator is exhausted or dropped.

Rules:

* ``read_bag(paths)`` yields ``BagRecord`` values in the order they were written (the
  agreed order for topic messages), file after file. It reads records sequentially, so a
  file without a footer -- its recorder was killed -- still yields every message of
  every complete chunk; where the file stops making sense the iterator stops and
  ``BagTail.error`` says where (the tail is reported, not raised).
* ``summarize`` is ``robot-gcs bag info``: per channel its type, count and rate, the time
  span, the ring memberships and group views seen, and whether each file is complete.
* ``compare(a, b)`` matches topic messages of two recordings by their agreed position
  (topic, view id, n). Inside the span both recorded -- from the later one's first
  message on to the earlier one's last -- every message must be in both, with the same
  content, in the same order. It returns a ``Comparison``; ``ok`` says whether it holds.
* A file that is not MCAP at all is a ``BagError`` naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from .schema import ORDER_KEY, BagError, require

OrderKey = tuple[str, tuple[int, ...], int]       # (topic, view id, n)


@dataclass(frozen=True, slots=True)
class BagRecord:
    topic: str
    kind: str                 # "topic", "group", "views" or "ring" (channel metadata)
    type_path: str            # the message type's module:Name ("bytes" raw, "" unknown)
    log_time: int             # ns, the recorder's wall clock at delivery
    publish_time: int         # ns, the publisher's stamp
    data: bytes               # the JSON text
    meta: Mapping[str, str] = field(default_factory=dict, compare=False)   # channel metadata

    def doc(self) -> Any:
        return json.loads(self.data)

    def order_key(self) -> OrderKey | None:
        if self.kind not in ("topic", "group"):
            return None
        o = self.doc().get(ORDER_KEY) or {}
        return (self.topic, tuple(o.get("view") or ()), int(o.get("n", 0)))


@dataclass(slots=True)
class BagTail:
    """How reading ended: ``complete`` (footer seen) per file, or the error that stopped it."""

    complete: dict[str, bool] = field(default_factory=dict)
    error: dict[str, str] = field(default_factory=dict)


def read_bag(paths: Iterable[str], tail: BagTail | None = None) -> Iterator[BagRecord]:
    """Every record of ``paths`` in file order (see the module doc)."""
    records_mod = require("mcap.records")
    Channel, Footer, Message = records_mod.Channel, records_mod.Footer, records_mod.Message
    StreamReader = require("mcap.stream_reader").StreamReader
    tail = tail if tail is not None else BagTail()
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise BagError(f"{path}: no such recording")
        channels: dict[int, tuple[str, str, str, Mapping[str, str]]] = {}
        tail.complete[path] = False
        with open(p, "rb") as f:
            if f.read(8) != b"\x89MCAP0\r\n":
                raise BagError(f"{path}: not an MCAP file")
            f.seek(0)
            records = StreamReader(f).records
            while True:
                try:
                    rec = next(records)
                except StopIteration:
                    break
                except Exception as exc:  # noqa: BLE001 - a cut file fails in many ways
                    tail.error[path] = (f"stopped at byte {f.tell()}: {type(exc).__name__} "
                                        f"{exc}".strip())
                    break
                if isinstance(rec, Message):
                    topic, kind, tp, meta = channels.get(rec.channel_id, ("?", "?", "", {}))
                    yield BagRecord(topic, kind, tp, rec.log_time, rec.publish_time, rec.data,
                                    meta)
                elif isinstance(rec, Channel):
                    channels[rec.id] = (rec.topic, rec.metadata.get("kind", ""),
                                        rec.metadata.get("type", ""), dict(rec.metadata))
                elif isinstance(rec, Footer):
                    tail.complete[path] = True


def channel_types(paths: Iterable[str]) -> dict[tuple[str, str], str]:
    """(topic, fingerprint hex) -> type path, from the summaries of complete files (a
    recording may start a topic raw, before its type was announced: recorder.py)."""
    make_reader = require("mcap.reader").make_reader
    out: dict[tuple[str, str], str] = {}
    for path in paths:
        try:
            with open(path, "rb") as f:
                summary = make_reader(f).get_summary()
        except Exception:  # noqa: BLE001 - no summary (a cut file): nothing to learn here
            continue
        for ch in (summary.channels.values() if summary is not None else ()):
            tp, fp = ch.metadata.get("type", ""), ch.metadata.get("fingerprint", "")
            if tp and fp:
                out[(ch.topic, fp)] = tp
    return out


# ---------------------------------------------------------------------------- info

@dataclass(slots=True)
class _ChannelInfo:
    kind: str
    type_path: str
    count: int = 0
    first: int = 0
    last: int = 0


def summarize(paths: list[str]) -> str:
    """``robot-gcs bag info``: what a recording holds, as text."""
    tail = BagTail()
    chans: dict[str, _ChannelInfo] = {}
    rings: list[str] = []
    views: dict[str, int] = {}
    start = end = 0
    total = 0
    for r in read_bag(paths, tail):
        c = chans.get(r.topic)
        if c is None:
            c = chans[r.topic] = _ChannelInfo(r.kind, r.type_path, first=r.log_time)
        c.count += 1
        c.last = r.log_time
        c.type_path = c.type_path or r.type_path     # a raw start, then the announced type
        start = r.log_time if not total else min(start, r.log_time)
        end = max(end, r.log_time)
        total += 1
        if r.kind == "ring":
            d = r.doc()
            if not d.get("transitional"):
                rings.append(f"ring {d['ring'][0]}.{d['ring'][1]}: {', '.join(d['daemons'])} "
                             f"({d['cause'].lower()})")
        elif r.kind == "views":
            d = r.doc()
            if not d.get("transitional") and not d.get("carried"):
                views[d["group"]] = views.get(d["group"], 0) + 1
    size = sum(Path(p).stat().st_size for p in paths)
    dur = (end - start) / 1e9
    lines = [f"Files:             {', '.join(paths)}",
             f"Bag size:          {_human(size)}",
             "Storage id:        mcap",
             f"Duration:          {dur:.3f}s",
             f"Start:             {_stamp(start)}",
             f"End:               {_stamp(end)}",
             f"Messages:          {sum(c.count for c in chans.values() if c.kind in ('topic', 'group'))}"]
    for p in paths:
        state = "complete" if tail.complete.get(p) else \
            f"INCOMPLETE (no footer; read up to its last complete chunk: {tail.error.get(p, 'cut')})"
        lines.append(f"File {Path(p).name}: {state}")
    lines.append("Topic information:")
    for topic in sorted(t for t, c in chans.items() if c.kind in ("topic", "group")):
        c = chans[topic]
        span = (c.last - c.first) / 1e9
        rate = f"{(c.count - 1) / span:.1f} Hz" if c.count > 1 and span > 0 else "-"
        lines.append(f"  Topic: {topic} | Type: {c.type_path or c.kind} | Count: {c.count} | "
                     f"Rate: {rate} | Serialization Format: json")
    lines.append("Group views: " + (", ".join(f"{g} x{n}" for g, n in sorted(views.items())) or "none"))
    lines.append("Ring membership:")
    lines += [f"  {r}" for r in rings] or ["  not recorded"]
    return "\n".join(lines)


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def _stamp(ns: int) -> str:
    import time
    if not ns:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ns / 1e9)) + f".{ns % 10**9 // 10**6:03d} ({ns / 1e9:.3f})"


# ---------------------------------------------------------------------------- compare

@dataclass(frozen=True, slots=True)
class Comparison:
    common: int                       # messages in the span both recorded
    only_a: tuple[OrderKey, ...]      # inside that span, missing from b
    only_b: tuple[OrderKey, ...]
    differ: tuple[OrderKey, ...]      # same position, different content
    order_ok: bool                    # the shared messages come in the same order

    @property
    def ok(self) -> bool:
        return self.common > 0 and not (self.only_a or self.only_b or self.differ) and self.order_ok


def messages(paths: list[str]) -> list[tuple[OrderKey, BagRecord]]:
    """Topic and group messages of a recording with their agreed positions, in order."""
    out = []
    for r in read_bag(paths):
        key = r.order_key()
        if key is not None:
            out.append((key, r))
    return out


def compare(a: list[str], b: list[str]) -> Comparison:
    ma, mb = messages(a), messages(b)
    ia = {k: i for i, (k, _) in enumerate(ma)}
    ib = {k: i for i, (k, _) in enumerate(mb)}
    shared = [k for k, _ in ma if k in ib]
    if not shared:
        return Comparison(0, (), (), (), True)
    # the span both recorded: from the first shared message to the last one, in each file
    a_lo, a_hi = ia[shared[0]], ia[shared[-1]]
    b_lo, b_hi = ib[shared[0]], ib[shared[-1]]
    only_a = tuple(k for k, _ in ma[a_lo:a_hi + 1] if k not in ib)
    only_b = tuple(k for k, _ in mb[b_lo:b_hi + 1] if k not in ia)
    differ = tuple(k for k in shared if ma[ia[k]][1].doc() != mb[ib[k]][1].doc())
    order_ok = [ib[k] for k in shared] == sorted(ib[k] for k in shared)
    return Comparison(len(shared), only_a, only_b, differ, order_ok)
