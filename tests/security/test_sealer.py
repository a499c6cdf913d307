"""Sealer and replay window (security/sealer.py, security/replay.py) without sockets."""

from __future__ import annotations

import pytest

from robot_gcs.core import wire
from robot_gcs.core.types import RingId, Service
from robot_gcs.errors import MalformedPacket
from robot_gcs.security.replay import ReplayWindow
from robot_gcs.security.sealer import SEAL_HEADER, SEAL_OVERHEAD, Sealer

KEY = b"k" * 32
NEW = b"n" * 32
PEERS = (1, 2, 3)
CID = 77


def sealer(me: int, inc: int = 10, keys: tuple[bytes, ...] = (KEY,), boot: int | None = None
           ) -> Sealer:
    return Sealer(keys, CID, me, inc, PEERS, boot=boot)


def hurry(sender: int, inc: int) -> bytes:
    return wire.encode(wire.Hurry(sender, inc, RingId(1, 4)), CID)


def mcast(sender: int, inc: int) -> bytes:
    return wire.encode(wire.Mcast(sender, inc, RingId(1, 4), 1, 1, Service.AGREED,
                                  b"secret payload"), CID)


def reason(fn: object, *args: object) -> str:
    with pytest.raises(MalformedPacket) as info:
        fn(*args)  # type: ignore[operator]
    return info.value.reason


def test_a_sealed_packet_opens_once_and_hides_its_payload() -> None:
    a, b = sealer(2), sealer(1)
    pkt = mcast(2, 10)
    data = a.seal(pkt)
    assert len(data) == len(pkt) + SEAL_OVERHEAD and b"secret" not in data
    assert b.open(data) == pkt
    assert reason(b.open, data) == "seal_replay"


def test_destination_wrong_key_and_plain_packets_are_refused() -> None:
    a, b = sealer(2), sealer(1)
    assert reason(b.open, a.seal(hurry(2, 10), dest=3)) == "seal_wrong_dest"
    assert b.open(a.seal(hurry(2, 10), dest=1)) is not None
    other = sealer(2, keys=(b"w" * 32,))
    assert reason(b.open, other.seal(hurry(2, 10))) in ("seal_unknown_key", "seal_bad_tag")
    assert reason(b.open, hurry(2, 10)) == "unsealed"
    assert reason(b.open, b"") == "seal_truncated"
    assert reason(b.open, b"\x00" * 80) == "seal_bad_magic"


def test_any_change_to_header_or_body_fails_the_tag() -> None:
    a, b = sealer(2), sealer(1)
    data = a.seal(hurry(2, 10))
    for i in range(len(data)):
        if i in (0, 1, 2, 3) or 4 <= i < 8 or 8 <= i < 12:
            continue        # magic, version, key id, sender, dest: refused before the tag
        bad = bytearray(data)
        bad[i] ^= 0x80
        assert reason(b.open, bytes(bad)) == "seal_bad_tag", i
    assert b.open(data) is not None       # the genuine one still opens: nothing moved


def test_the_seal_must_name_the_sender_except_for_retransmitted_mcasts() -> None:
    a, b = sealer(2), sealer(1)
    assert reason(b.open, a.seal(hurry(3, 10))) == "seal_sender_mismatch"
    assert reason(b.open, a.seal(hurry(2, 11))) == "seal_sender_mismatch"
    assert b.open(a.seal(mcast(3, 99))) is not None       # 2 retransmits 3's message


def test_a_newer_incarnation_retires_the_old_one_but_forgeries_retire_nothing() -> None:
    old, b = sealer(2, inc=10), sealer(1)
    first = old.seal(hurry(2, 10))
    assert b.open(first) is not None
    kept = old.seal(hurry(2, 10))
    forged = bytearray(old.seal(hurry(2, 10)))
    forged[16:20] = (0xFFFFFFFF).to_bytes(4, "big")          # incarnation field
    assert reason(b.open, bytes(forged)) == "seal_bad_tag"
    assert b.open(kept) is not None                          # still the current life
    new = sealer(2, inc=11)
    assert b.open(new.seal(hurry(2, 11))) is not None
    assert reason(b.open, old.seal(hurry(2, 10))) == "seal_stale"


def test_two_boots_never_share_a_key_stream() -> None:
    a1, a2 = sealer(2, boot=1), sealer(2, boot=2)
    p = hurry(2, 10)
    assert a1.seal(p)[SEAL_HEADER.size:] != a2.seal(p)[SEAL_HEADER.size:]
    b = sealer(1)
    assert b.open(a1.seal(p)) and b.open(a2.seal(p))       # same counter, other boot


def test_rollover_accepts_both_keys_and_seals_with_the_first() -> None:
    old_sender, new_sender = sealer(2, keys=(KEY,)), sealer(3, keys=(NEW, KEY))
    b = sealer(1, keys=(KEY, NEW))
    assert b.open(old_sender.seal(hurry(2, 10))) is not None
    assert b.open(new_sender.seal(hurry(3, 10))) is not None
    only_old = sealer(1, keys=(KEY,))
    assert reason(only_old.open, new_sender.seal(hurry(3, 10))) in (
        "seal_unknown_key", "seal_bad_tag")
    only_old.set_keys((KEY, NEW))
    assert only_old.open(new_sender.seal(hurry(3, 10))) is not None


def test_my_own_datagrams_heard_back_are_skipped_and_posers_refused() -> None:
    a = sealer(1)
    assert a.open(a.seal(hurry(1, 10))) is None
    poser = sealer(1, boot=a.boot + 1)
    assert reason(a.open, poser.seal(hurry(1, 10))) == "seal_not_mine"


def test_replay_window_takes_reordered_counters_once() -> None:
    w = ReplayWindow(64)
    for n in (5, 3, 4, 1, 70):
        assert w.fresh(n)
        w.accept(n)
        assert not w.fresh(n)
    assert w.fresh(69) and w.fresh(7)
    assert not w.fresh(6)          # 70 - 6 == 64: below the window, too old to tell
    assert not w.fresh(0)
    w.accept(1000)
    assert w.fresh(999) and not w.fresh(70) and not w.fresh(1000)
