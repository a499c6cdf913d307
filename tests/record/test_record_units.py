"""Recording pieces without a ring: JSON forms of message types, the agreed-position
tracker, selections, the writer's files (compression, splitting, a cut file) and the
recorder fed events by hand."""

from __future__ import annotations

import enum
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from robot_gcs.core.events import Cause, DataMessage, GroupView
from robot_gcs.core.types import Service
from robot_gcs.errors import LocalProtocolError
from robot_gcs.pubsub.codec import Sample, codec_for, encode_envelope
from robot_gcs.pubsub.node import TOPIC_MSG_TYPE
from robot_gcs.record.bag import BagTail, compare, read_bag, summarize
from robot_gcs.record.order import OrderTracker, Position
from robot_gcs.record.recorder import Recorder
from robot_gcs.record.schema import BagError, json_form
from robot_gcs.record.selection import Selection
from robot_gcs.record.writer import BagWriter


class Mode(enum.IntEnum):
    IDLE = 0
    RUN = 3


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class Scan:
    mode: Mode
    label: str
    blob: bytes
    points: list[Point]
    pair: tuple[int, bool]
    ranges: tuple[float, ...]


def test_json_form_round_trip_and_schema() -> None:
    form = json_form(Scan)
    v = Scan(Mode.RUN, "a\"b", b"\x00\xff", [Point(1.0, 2.5)], (7, True), (0.5, math.inf))
    doc = json.loads(form.dumps(v))
    assert doc == {"mode": 3, "label": "a\"b", "blob": "AP8=", "points": [{"x": 1.0, "y": 2.5}],
                   "pair": [7, True], "ranges": [0.5, None]}          # JSON has no inf
    back = form.from_json(doc)
    assert back.ranges[1] != back.ranges[1]                           # null reads as NaN
    assert back == Scan(Mode.RUN, "a\"b", b"\x00\xff", [Point(1.0, 2.5)], (7, True), back.ranges)
    s = form.schema
    assert s["title"] == "Scan" and s["required"] == ["mode", "label", "blob", "points", "pair", "ranges"]
    assert s["properties"]["points"]["items"]["properties"]["x"] == {"type": "number"}
    assert s["properties"]["blob"]["contentEncoding"] == "base64"
    assert json_form(None).from_json(json.loads(json_form(bytes).dumps(b"hi"))) == b"hi"


@pytest.mark.parametrize("doc, where", [
    ({"x": 1.0}, "y: missing"), ({"x": "1", "y": 2.0}, "x: expected a number"),
    ([], "expected an object")])
def test_json_form_rejects_bad_documents_naming_the_field(doc: Any, where: str) -> None:
    with pytest.raises(BagError, match=where):
        json_form(Point).from_json(doc)


def test_json_form_refuses_non_message_types() -> None:
    @dataclass
    class Bad:
        x: dict[str, int]
    with pytest.raises(LocalProtocolError):
        json_form(Bad)


def _view(group: str, vid: tuple[int, int, int], transitional: bool = False) -> GroupView:
    return GroupView(group, vid, ("#a#d1",), Cause.JOIN, ("#a#d1",), transitional)


def test_order_tracker_counts_per_view() -> None:
    t = OrderTracker()
    assert t.on_message(["g"]) is None                      # before the join view
    t.on_view(_view("g", (1, 5, 2)))
    t.on_view(_view("h", (1, 5, 3)))
    assert t.on_message(["g"]) == Position("g", (1, 5, 2), 1)
    assert t.on_message(["h", "g"]) == Position("h", (1, 5, 3), 1)     # counts in both
    assert t.on_message(["g"]) == Position("g", (1, 5, 2), 3)
    t.on_view(_view("g", (1, 5, 2), transitional=True))     # a signal keeps counting
    assert t.on_message(["g"]) == Position("g", (1, 5, 2), 4)
    t.on_view(_view("g", (1, 9, 1)))
    assert t.on_message(["g"]) == Position("g", (1, 9, 1), 1)


def test_selection() -> None:
    s = Selection.parse(["/odom", "ctl", "/cam/*", "t:/cmd"])
    assert s.topics == ("/odom", "/cmd") and s.groups == ("ctl",) and s.patterns == ("/cam/*",)
    assert s.groups_for(["/cam/left", "/imu"]) == {"t:/odom", "t:/cmd", "ctl", "t:/cam/left"}
    assert Selection.parse([], everything=True).groups_for(["/imu"]) == {"t:/imu"}
    with pytest.raises(LocalProtocolError, match="--all"):
        Selection.parse([])
    with pytest.raises(LocalProtocolError, match="bad topic name"):
        Selection.parse(["/bad topic"])


class FakeSession:
    """The session under a recorder's Node, fed by the test."""

    name = "rec"
    private_name = "#rec#d1"

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.joined: list[str] = []

    def join(self, group: str) -> None:
        self.joined.append(group)

    def receive(self, timeout: float | None = None) -> Any:
        return self.events.pop(0) if self.events else None

    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: None


class FakeNode:
    def __init__(self) -> None:
        from robot_gcs.pubsub.registry import Registry
        self.session: Any = FakeSession()
        self.registry = Registry("#rec#d1")


def _topic_msg(seq: int, value: Point, sender: str = "#pub#d2") -> DataMessage:
    codec = codec_for(Point)
    body = codec.encode(value)
    data = encode_envelope(Sample(codec.fingerprint, 42, seq, 1000.0 + seq, None), body)
    return DataMessage(sender, ("t:/pt",), Service.AGREED, data, TOPIC_MSG_TYPE)


def _record(path: Path, events: list[Any], names: tuple[str, ...] = ("/pt",), **kw: Any) -> Recorder:
    node = FakeNode()
    clock = iter(range(10**6))
    w = BagWriter(str(path), clock=lambda: float(next(clock)), **kw)
    rec = Recorder(node, Selection.parse(names), w, types=lambda t, fp: Point,
                   wall_clock=lambda: 1.0e9)
    for ev in events:
        node.session.observer(ev)
        rec.tick(0.0)
    return rec


def test_recorder_writes_positions_views_and_counts_gaps(tmp_path: Path) -> None:
    f = tmp_path / "r.mcap"
    events = [_view("t:/pt", (1, 7, 4)), _topic_msg(1, Point(1.0, 2.0)), _topic_msg(2, Point(3.0, 4.0)),
              _topic_msg(5, Point(5.0, 6.0)),
              DataMessage("#pub#d2", ("t:/pt",), Service.AGREED, b"junk", TOPIC_MSG_TYPE)]
    rec = _record(f, events, compression="lz4")
    rec.close()
    s = rec.statistics()
    assert (s.messages, s.missed, s.bad, s.views) == (3, 2, 1, 1)
    recs = [r for r in read_bag([str(f)]) if r.kind == "topic"]
    assert [r.doc()["_gcs"] for r in recs][1] == {"view": [1, 7, 4], "n": 2, "from": "#pub#d2", "pub": [42, 2]}
    assert recs[0].doc()["x"] == 1.0 and recs[0].publish_time == int(1001.0 * 1e9)
    assert recs[0].type_path.endswith("test_record_units:Point")
    views = [r.doc() for r in read_bag([str(f)]) if r.kind == "views"]
    assert views == [{"group": "t:/pt", "view": [1, 7, 4], "members": ["#a#d1"], "cause": "JOIN",
                      "changed": ["#a#d1"], "transitional": False}]
    assert "Count: 3" in summarize([str(f)])


def test_split_files_each_carry_the_views(tmp_path: Path) -> None:
    f = tmp_path / "s.mcap"
    events = [_view("t:/pt", (1, 7, 4))] + [_topic_msg(i, Point(float(i), 0.0)) for i in range(1, 40)]
    rec = _record(f, events, split_s=10.0, compression="none")
    rec.close()
    files = rec.statistics().files
    assert len(files) >= 3 and files[0].endswith("s_0.mcap") and files[1].endswith("s_1.mcap")
    for part in files[1:]:
        carried = [r.doc() for r in read_bag([part]) if r.kind == "views"]
        assert carried and carried[0]["carried"] is True
    seqs = [r.doc()["_gcs"]["pub"][1] for r in read_bag(list(files)) if r.kind == "topic"]
    assert seqs == list(range(1, 40))


def test_cut_file_reads_up_to_its_last_chunk_and_compare_finds_differences(tmp_path: Path) -> None:
    f = tmp_path / "c.mcap"
    events = [_view("t:/pt", (1, 7, 4))] + [_topic_msg(i, Point(float(i), 0.0)) for i in range(1, 200)]
    rec = _record(f, events, chunk_size=1024, flush_s=0.0)
    full = f.read_bytes()
    rec.close()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(full[:len(full) - 100])          # a chunk cut in the middle
    tail = BagTail()
    got = [r.doc()["_gcs"]["pub"][1] for r in read_bag([str(cut)], tail) if r.kind == "topic"]
    assert not tail.complete[str(cut)] and str(cut) in tail.error
    assert got == list(range(1, len(got) + 1)) and 50 < len(got) < 199
    assert compare([str(f)], [str(cut)]).ok          # the cut one is a prefix of the same order
    other = tmp_path / "o.mcap"
    _record(other, [_view("t:/pt", (1, 7, 4))] + [_topic_msg(i, Point(float(i), 1.0)) for i in range(1, 200)]).close()
    c = compare([str(f)], [str(other)])
    assert not c.ok and len(c.differ) == 199
    with pytest.raises(BagError, match="not an MCAP file"):
        list(read_bag([str(tmp_path / "x.txt")] if (tmp_path / "x.txt").write_text("x") else []))


def test_writer_rejects_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(LocalProtocolError, match="compression"):
        BagWriter(str(tmp_path / "x.mcap"), compression="gzip", clock=lambda: 0.0)


def test_writer_names_an_unwritable_output(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(BagError, match="cannot write the recording"):
        BagWriter(str(tmp_path / "file" / "x.mcap"), clock=lambda: 0.0)


def test_progress_line_only_on_a_terminal() -> None:
    import io

    from robot_gcs.record.record_command import Progress
    from robot_gcs.record.recorder import RecorderStats

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True
    out, plain = Tty(), io.StringIO()
    for stream in (out, plain):
        p = Progress(stream)
        p.show(10.0, RecorderStats(100, 1, 2, 3, (), (), 2_000_000))
        p.show(11.0, RecorderStats(25_100, 1, 2, 3, (), (), 4_500_000))
        p.done()
    assert plain.getvalue() == ""
    last = out.getvalue().split("\r")[-1]
    assert last.startswith("recording 25,100 msgs  25,000 msg/s  4.5 MB  missed 2  bad 3")


def test_bench_offline_records_every_message() -> None:
    from robot_gcs.record.bench_record import bench_offline
    row = bench_offline(count=3000, typed=True)
    assert (row["messages"], row["missed"], row["body_bytes"]) == (3000, 0, 104)


def test_bench_end_to_end_with_embedded_publishers_records_everything() -> None:
    """The ring path of the recording bench (a recorder process on the daemon's socket,
    publisher threads in this process) loses nothing; its rate is a bench figure."""
    from robot_gcs.record.bench_record import bench
    row = bench(count=2000, publishers=2, embedded_publishers=True)
    assert (row["published"], row["recorded"], row["dropped"]) == (2000, 2000, 0)


def test_plain_group_messages_are_recorded_raw_with_their_position(tmp_path: Path) -> None:
    f = tmp_path / "g.mcap"
    events = [_view("ctl", (2, 3, 9)),
              DataMessage("#a#d1", ("ctl",), Service.SAFE, b"\x01\x02", 17),
              DataMessage("#a#d1", ("other",), Service.SAFE, b"x", 17)]     # not recorded
    rec = _record(f, events, names=("ctl",))
    rec.close()
    assert rec.statistics().groups == ("ctl",)
    docs = [(r.topic, r.doc()) for r in read_bag([str(f)]) if r.kind == "group"]
    assert docs == [("ctl", {"data": "AQI=", "msg_type": 17,
                             "_gcs": {"view": [2, 3, 9], "n": 1, "from": "#a#d1"}})]


def test_bag_compare_command_and_unplayable_types(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from robot_gcs import cli
    from robot_gcs.record.player import Player
    a, b = tmp_path / "a.mcap", tmp_path / "b.mcap"
    msgs = [_topic_msg(i, Point(float(i), 0.0)) for i in range(1, 30)]
    base = [_view("t:/pt", (1, 7, 4))] + msgs[:4] + [_view("t:/pt", (1, 7, 5))] + msgs[4:]
    _record(a, base).close()
    _record(b, base[5:]).close()                     # joined later (view 5): a suffix
    assert cli.main(["bag", "compare", str(a), str(b)]) == 0
    assert "25 messages in both; 0 only in A, 0 only in B, 0 differ; order same" in capsys.readouterr().out
    c = tmp_path / "c.mcap"
    # one message missing in the middle (a delivery cannot skip one, a damaged file can):
    # from there on the positions hold other messages
    _record(c, base[:10] + base[11:]).close()
    assert cli.main(["bag", "compare", str(a), str(c)]) == 1
    out = capsys.readouterr().out
    assert "20 differ" in out and "differ: /pt view 1.7.5 #5" in out
    assert cli.main(["bag", "info", str(tmp_path / "nope.mcap")]) == 2

    class NoNode:
        session = FakeSession()

        def qos_for(self, *a: Any) -> Any:
            raise AssertionError("not reached")
    d = tmp_path / "d.mcap"
    w = BagWriter(str(d), clock=lambda: 0.0)
    ch = w.channel("/pt", json_form(Point), {"kind": "topic", "type": "nosuch.module:Point"})
    w.write(ch, 1.0, 1.0, b'{"x":1.0,"y":2.0}')
    w.close()
    with pytest.raises(BagError, match="cannot play /pt: cannot import nosuch.module:Point"):
        Player(NoNode(), [str(d)], rate=0.0).play()  # type: ignore[arg-type]


def test_player_selects_remaps_and_loops_without_a_ring(tmp_path: Path) -> None:
    from robot_gcs.errors import Backpressure
    from robot_gcs.pubsub.qos import QoS
    from robot_gcs.record.player import Player
    f = tmp_path / "p.mcap"
    events = [_view("t:/pt", (1, 7, 4))] + [_topic_msg(i, Point(float(i), 0.5)) for i in range(1, 6)]
    _record(f, events).close()

    class Pub:
        def __init__(self, topic: str, sent: list[tuple[str, Any]]) -> None:
            self.topic, self.sent, self.pushback = topic, sent, 1

        def publish(self, value: Any) -> None:
            if self.pushback:                    # the daemon is full once: retried, not lost
                self.pushback -= 1
                raise Backpressure("full")
            self.sent.append((self.topic, value))

    class PlaySession:
        """Echoes what is sent to its own private name, like the ring does."""

        name, private_name = "play", "#play#d1"

        def __init__(self) -> None:
            self.events: list[Any] = []

        def multicast(self, groups: Any, payload: bytes, service: Any = Service.AGREED,
                      msg_type: int = 0, *a: Any) -> None:
            self.events.append(DataMessage(self.private_name, (groups,), Service.AGREED,
                                           payload, msg_type))

        def receive(self, timeout: float | None = None) -> Any:
            return self.events.pop(0) if self.events else None

    class PlayNode:
        def __init__(self) -> None:
            self.sent: list[tuple[str, Any]] = []
            self.created: list[tuple[str, type, QoS]] = []
            self.spins = 0
            self.session: Any = PlaySession()
            self.clock = time.monotonic

        def qos_for(self, topic: str, qos: Any) -> QoS:
            return QoS()

        def create_publisher(self, topic: str, cls: type, qos: QoS) -> Pub:
            self.created.append((topic, cls, qos))
            return Pub(topic, self.sent)

        def spin_once(self, timeout: float) -> int:
            self.spins += 1
            self.session.receive(timeout)
            return 0

    node = PlayNode()
    stats = Player(node, [str(f)], rate=0.0, remap={"/pt": "/pt2"},  # type: ignore[arg-type]
                   service="fifo").play(loops=2)
    assert (stats.published, stats.loops, stats.skipped, stats.settled) == (10, 2, 0, True)
    assert node.sent == [("/pt2", Point(float(i), 0.5)) for i in range(1, 6)] * 2
    assert [(t, c) for t, c, _ in node.created] == [("/pt2", Point)]
    assert node.created[0][2].service.name == "FIFO"
    assert node.spins == 2          # one after the backpressure, one for the settle marker
    none = Player(PlayNode(), [str(f)], rate=0.0, select=Selection.parse(["/other"]))  # type: ignore[arg-type]
    assert none.play().published == 0


def test_in_process_samples_are_recorded_as_other_daemons_decode_them(tmp_path: Path) -> None:
    f = tmp_path / "i.mcap"
    fp = codec_for(Point).fingerprint
    local = DataMessage("#pub#d1", ("t:/pt",), Service.AGREED,
                        Sample(fp, 9, 1, 5.0, Point(1, 2)), TOPIC_MSG_TYPE)   # ints for floats
    _record(f, [_view("t:/pt", (1, 7, 4)), local, _topic_msg(2, Point(1.0, 2.0))]).close()
    a, b = [r.data for r in read_bag([str(f)]) if r.kind == "topic"]
    assert a.split(b',"_gcs"')[0] == b.split(b',"_gcs"')[0] == b'{"x":1.0,"y":2.0'
