"""`robot-gcs topic list|echo|hz|pub` against a real embedded daemon over its Unix socket."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from robot_gcs import cli
from robot_gcs.pubsub.node import Node
from robot_gcs.testing import ring_key_line


@dataclass(frozen=True, slots=True)
class Chat:
    n: int
    text: str


@pytest.fixture()
def daemon():
    from robot_gcs.runtime.daemon import Daemon
    tmp = Path(tempfile.mkdtemp(prefix="egt", dir="/tmp"))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    cfg = tmp / "ring.yaml"
    cfg.write_text(f"ring:\n  name: topictools\n  state_dir: {tmp / 'state'}\n{ring_key_line(tmp)}\n  transport: {{mode: unicast}}\n"
                   f"daemons:\n  - name: cpu1\n    address: 127.0.0.1:{port}\n    socket: {tmp / 'cpu1.sock'}\n")
    d = Daemon.from_file(str(cfg), name="cpu1")
    d.start()
    try:
        yield d, f"unix:{tmp / 'cpu1.sock'}"
    finally:
        d.stop()
        shutil.rmtree(tmp, ignore_errors=True)


class Talker:
    """A node publishing Chat on /chatter at 50 Hz and recording /in, spinning on a thread."""

    def __init__(self, d) -> None:
        self.node = Node("talker", d)
        self.pub = self.node.create_publisher("/chatter", Chat)
        self.got: list[bytes] = []
        self.got_event = threading.Event()
        self.node.create_subscription(bytes, "/in", self._on_in)
        self.n = 0
        self.node.create_timer(0.02, self._tick)
        self.thread = threading.Thread(target=self.node.spin, daemon=True)
        self.thread.start()

    def _tick(self) -> None:
        self.n += 1
        self.pub.publish(Chat(self.n, "hello"))

    def _on_in(self, b: bytes) -> None:
        self.got.append(b)
        self.got_event.set()

    def close(self) -> None:
        self.node.stop()
        self.thread.join(5)
        self.node.destroy()


def test_topic_tools(daemon, capsys: pytest.CaptureFixture[str]) -> None:
    d, addr = daemon
    talker = Talker(d)
    try:
        assert cli.main(["topic", "--connect", addr, "list", "--timeout", "5"]) == 0
        out = capsys.readouterr().out
        assert "/chatter  [test_pubsub_topic_tools:Chat]" in out and "#talker#cpu1" in out
        assert "/in  [bytes]" in out

        assert cli.main(["topic", "--connect", addr, "echo", "/chatter", "--count", "2",
                         "--type", "test_pubsub_topic_tools:Chat", "--timeout", "10"]) == 0
        lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("[#talker#cpu1]")]
        assert len(lines) == 2 and "'text': 'hello'" in lines[0]

        assert cli.main(["topic", "--connect", addr, "hz", "/chatter", "--duration", "2.2"]) == 0
        out = capsys.readouterr().out
        rates = [float(l.split("average rate ")[1].split(" Hz")[0]) for l in out.splitlines() if "average rate" in l]
        assert rates and rates[-1] > 0      # ~50 Hz when the machine is not loaded

        assert cli.main(["topic", "--connect", addr, "pub", "/in", "ping"]) == 0
        assert talker.got_event.wait(60)     # a bound, not a figure: loaded CI boxes are slow
        assert talker.got == [b"ping"]

        assert cli.main(["topic", "--connect", addr, "pub", "/in", "{n: 1}", "--type", "nosuch:Type"]) == 2

        # a typed topic refuses raw bytes and strangers' types, naming both
        assert cli.main(["topic", "pub", "/chatter", "hello", "--connect", addr]) == 2
        assert "/chatter carries test_pubsub_topic_tools:Chat: VALUE must be a YAML mapping" \
            in capsys.readouterr().err
        assert cli.main(["topic", "pub", "/chatter", "hello", "--type", "bytes", "--connect", addr]) == 2
        err = capsys.readouterr().err
        assert "refused: /chatter carries test_pubsub_topic_tools:Chat (says #talker#cpu1), not bytes" in err
        # ...and takes the announced type by itself
        assert cli.main(["topic", "pub", "/chatter", "{n: 7, text: hi}", "--connect", addr]) == 0
        assert "as test_pubsub_topic_tools:Chat" in capsys.readouterr().out
        assert cli.main(["topic", "--connect", addr, "echo", "bad topic"]) == 2
        assert cli.main(["topic", "--connect", "unix:/nonexistent/x.sock", "list"]) == 3
    finally:
        talker.close()


def test_topic_pub_as_fast_as_it_can_goes_at_the_rings_pace(tmp_path: Path) -> None:
    """`topic pub --count N --rate <more than the ring takes>` on a 2-daemon ring waits
    while the daemon pushes back instead of failing with Backpressure, and every message
    arrives at a subscriber on the other daemon."""
    import time
    from robot_gcs.runtime.daemon import Daemon
    from robot_gcs.testing import write_ring_config
    cfg = write_ring_config(tmp_path, 2, name="fastpub", sockets=True)
    ds = [Daemon.from_file(str(cfg), name=f"d{i + 1}") for i in range(2)]
    for d in ds:
        d.start()
    try:
        got: list[bytes] = []
        node = Node("listener", ds[1])
        node.create_subscription(bytes, "/fast", got.append, 5000)
        deadline = time.monotonic() + 30         # d1 knows the subscriber is in the group
        while not dict(ds[0].statistics().group_table).get("t:/fast"):
            assert time.monotonic() < deadline, "the subscription's join never reached d1"
            node.spin_once(0.02)
        assert cli.main(["topic", "--connect", f"unix:{tmp_path / 'd1.sock'}", "pub", "/fast",
                         "x" * 100, "--type", "bytes", "--count", "3000",
                         "--rate", "1000000"]) == 0
        deadline = time.monotonic() + 30         # the events wait in the node's session
        while len(got) < 3000 and time.monotonic() < deadline:
            node.spin_once(0.05)
        assert len(got) == 3000
        node.destroy()
    finally:
        for d in ds:
            d.stop()
