"""Every decoder that takes bytes from outside raises only its typed error.

One table lists the decoders (ring packets, sealed datagrams, group envelopes, client
frames in both directions, topic envelopes and typed topic bodies, health snapshots,
config YAML) with genuine encodings to mutate. Hypothesis feeds each random bytes,
truncations, bit flips, byte overwrites and splices of genuine inputs, and length fields
set to their maximum. Anything but the decoder's typed error fails the test (IndexError,
struct.error, UnicodeDecodeError, RecursionError, MemoryError...). A tracemalloc check
shows that a small input claiming a huge length allocates nothing near that length.

The default run tries ``EXAMPLES`` examples per decoder and strategy; ``-m slow`` runs
``SLOW_EXAMPLES``.
"""

from __future__ import annotations

import dataclasses
import enum
import struct
import tracemalloc
from dataclasses import dataclass
from typing import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robot_gcs.client import wire as cwire
from robot_gcs.config import parse_config
from robot_gcs.core import group_wire, wire
from robot_gcs.core.events import Cause, DataMessage, GroupView
from robot_gcs.core.types import RingId, Service
from robot_gcs.diagnostics.collector import decode_snapshot, encode_snapshot
from robot_gcs.diagnostics.model import DaemonHealth, SessionHealth
from robot_gcs.errors import ConfigError, MalformedPacket
from robot_gcs.pubsub.codec import Sample, codec_for, decode_envelope, encode_envelope
from robot_gcs.security.sealer import Sealer

EXAMPLES = 150
SLOW_EXAMPLES = 20_000


class Mode(enum.IntEnum):
    IDLE = 0
    RUN = 1


@dataclass(frozen=True, slots=True)
class Pose:
    x: float
    y: float
    theta: float


@dataclass(frozen=True, slots=True)
class Scan:
    frame: str
    ranges: tuple[float, ...]
    poses: list[Pose]
    mode: Mode
    blob: bytes
    fixed: tuple[int, str]


SCAN = codec_for(Scan)
SEAL_RX = Sealer([b"k" * 32], 7, 1, 5, (1, 2, 3), boot=1)
SEAL_TX = Sealer([b"k" * 32], 7, 2, 5, (1, 2, 3), boot=2)

RING_PACKETS = [
    wire.encode(p, 7) for p in (
        wire.Mcast(2, 5, RingId(1, 256), 3, 1, Service.SAFE, b"payload"),
        wire.Token(2, 5, RingId(1, 256), 4, 9, 8, 1, 3, 0, True, (5, 6)),
        wire.Join(2, 5, 512, (1, 2, 3), (3,)),
        wire.Commit(2, 5, RingId(2, 768), 1, 1, (1, 2), (wire.CommitEntry(3, RingId(1, 256),
                                                                          8, 7, True, 1),) * 2),
        wire.Beacon(2, 5, RingId(1, 256), 2, 1),
        wire.Hurry(2, 5, RingId(1, 256)),
    )]
GROUP_MSGS = [
    group_wire.encode(m) for m in (
        group_wire.GJoin("group", 1, "client", 4),
        group_wire.GLeave("group", 1, "client", 5),
        group_wire.GKill(1, "client", 6),
        group_wire.GState(RingId(1, 256), 1, (("g", ("a", "b")), ("h", ("c",)))),
    )] + [group_wire.encode_data(group_wire.data_prefix(1, "client"), 1, False, 3, 9,
                                 (group_wire.name_field("g1"), group_wire.name_field("g2")),
                                 b"body")]
CLIENT_FRAMES = [cwire.encode(f) for f in (
    cwire.Hello("client"), cwire.Join("g"), cwire.Leave("g"),
    cwire.Multicast(("g", "h"), b"data", Service.SAFE, 3, True, True),
    cwire.Private("#a#d1", b"x", Service.AGREED, 1), cwire.Bye("done"))]
SERVER_FRAMES = [cwire.encode(f) for f in (
    cwire.Welcome("#client#d1"), cwire.Closed("bye", True), cwire.Error("no"),
    DataMessage("#a#d1", ("g",), Service.AGREED, b"payload", 2),
    GroupView("g", (1, 256, 3), ("#a#d1", "#b#d2"), Cause.JOIN, ("#b#d2",), False))]
SCAN_VALUE = Scan("laser", (1.0, 2.5), [Pose(1, 2, 3)], Mode.RUN, b"\x00\x01", (7, "s"))
TOPIC = [encode_envelope(Sample(SCAN.fingerprint, 1, 2, 3.0, None), SCAN.encode(SCAN_VALUE))]
SNAPSHOTS = [encode_snapshot(DaemonHealth(
    "cpu1", 1, 3, "OPERATIONAL", "1.256", ("cpu1", "cpu2"), 2.0, drops=(("x", 1),),
    sessions=(SessionHealth("#a#cpu1", 3, 1, 0.5),)))]
CONFIG = """ring:
  name: fuzz
  security: insecure
  transport: {mode: unicast}
  timeouts: {token_ms: 300}
daemons:
  - name: cpu1
    address: 127.0.0.1:47001
    socket: /tmp/fuzz1.sock
  - {name: cpu2, address: "127.0.0.1:47002", tcp: "127.0.0.1:47102"}
"""


def _frames(accept: frozenset[int]) -> Callable[[bytes], object]:
    def decode(data: bytes) -> object:
        dec = cwire.FrameDecoder(accept, max_frame=1 << 16)
        dec.feed(data)
        out = []
        while (f := dec.next_frame()) is not None:
            out.append(f)
        return out
    return decode


def _topic(data: bytes) -> object:
    sample, body = decode_envelope(data)
    return SCAN.decode(body)


def _config(data: bytes) -> object:
    return parse_config(data.decode("utf-8", "replace"), "fuzz.yaml")


# name -> (decoder, typed errors, genuine inputs)
DECODERS: dict[str, tuple[Callable[[bytes], object], tuple[type[BaseException], ...],
                          list[bytes]]] = {
    "ring packet": (lambda d: wire.decode(d, None, 7), (MalformedPacket,), RING_PACKETS),
    "ring packet, keyed MAC": (lambda d: wire.decode(d, b"m" * 16, 7), (MalformedPacket,),
                               [wire.encode(wire.decode(p), 7, b"m" * 16)
                                for p in RING_PACKETS]),
    "sealed datagram": (SEAL_RX.open, (MalformedPacket,),
                        [SEAL_TX.seal(p) for p in RING_PACKETS]),
    "group envelope": (group_wire.decode, (MalformedPacket,), GROUP_MSGS),
    "client frames (daemon side)": (_frames(cwire.CLIENT_FRAME_TYPES), (MalformedPacket,),
                                    CLIENT_FRAMES + [b"".join(CLIENT_FRAMES)]),
    "client frames (client side)": (_frames(cwire.SERVER_FRAME_TYPES), (MalformedPacket,),
                                    SERVER_FRAMES + [b"".join(SERVER_FRAMES)]),
    "topic envelope + typed body": (_topic, (MalformedPacket,), TOPIC),
    "health snapshot": (decode_snapshot, (ValueError,), SNAPSHOTS),
    "config YAML": (_config, (ConfigError,), [CONFIG.encode()]),
}


@st.composite
def hostile(draw: st.DrawFn, genuine: list[bytes]) -> bytes:
    base = draw(st.sampled_from(genuine))
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        return base[:draw(st.integers(0, len(base)))]
    buf = bytearray(base)
    if kind == 2:                                     # bit flips
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(buf) - 1))
            buf[i] ^= 1 << draw(st.integers(0, 7))
    elif kind == 3:                                   # overwrite a field with extremes
        i = draw(st.integers(0, max(0, len(buf) - 1)))
        val = draw(st.sampled_from([b"\xff" * 8, b"\x00" * 8, b"\x7f\xff\xff\xff",
                                    b"\x80\x00\x00\x00", b"\xff\xfe"]))
        buf[i:i + len(val)] = val
    elif kind == 4:                                   # splice two genuine inputs
        other = draw(st.sampled_from(genuine))
        j = draw(st.integers(0, len(other)))
        buf = buf[:draw(st.integers(0, len(buf)))] + bytearray(other[j:])
    else:                                             # insert junk
        i = draw(st.integers(0, len(buf)))
        buf[i:i] = draw(st.binary(min_size=1, max_size=16))
    return bytes(buf)


def _check(name: str, data: bytes) -> None:
    decode, errors, _genuine = DECODERS[name]
    try:
        decode(data)
    except errors:
        pass


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_genuine_inputs_decode(name: str) -> None:
    decode, _errors, genuine = DECODERS[name]
    for g in genuine:
        decode(g)


def _fuzz(name: str, examples: int) -> None:
    @settings(max_examples=examples, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(data=hostile(DECODERS[name][2]))
    def run(data: bytes) -> None:
        _check(name, data)
    run()


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_hostile_inputs_raise_only_the_typed_error(name: str) -> None:
    _fuzz(name, EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DECODERS))
def test_hostile_inputs_long_run(name: str) -> None:
    _fuzz(name, SLOW_EXAMPLES)


@pytest.mark.parametrize("name", ["client frames (daemon side)", "topic envelope + typed body",
                                  "group envelope", "ring packet", "health snapshot"])
def test_huge_claimed_lengths_allocate_nothing_big(name: str) -> None:
    """Every 4-byte window of every genuine input set to 0xFFFFFFFF (and 2-byte windows to
    0xFFFF): decoding allocates less than 1 MiB at its peak."""
    decode, errors, genuine = DECODERS[name]
    tracemalloc.start()
    try:
        worst = 0
        for g in genuine:
            for width, value in ((4, b"\xff\xff\xff\xff"), (2, b"\xff\xff")):
                for i in range(len(g) - width + 1):
                    data = g[:i] + value + g[i + width:]
                    tracemalloc.reset_peak()
                    base = tracemalloc.get_traced_memory()[0]
                    try:
                        decode(data)
                    except errors:
                        pass
                    worst = max(worst, tracemalloc.get_traced_memory()[1] - base)
    finally:
        tracemalloc.stop()
    assert worst < 1 << 20, worst


def test_yaml_bombs_and_deep_nesting_are_config_errors() -> None:
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]\n"
        for i in range(12))
    for text in ("a: &a [*a]", "x: " + "[" * 5000 + "]" * 5000, laughs,
                 "ring: &r\n  name: *r\n"):
        with pytest.raises(ConfigError):
            parse_config(text, "bomb.yaml")


def test_struct_sizes_used_above_are_real() -> None:
    assert struct.calcsize("!I") == 4 and dataclasses.is_dataclass(Scan)
