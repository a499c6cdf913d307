"""Sealer: encrypts and authenticates every ring datagram (ChaCha20-Poly1305).

Theory of operation
-------------------
The runtime's UDP transport (runtime/transport.py) passes every ring packet the engine
sends through ``seal`` and every datagram it receives through ``open``; the core sees
plain packets and never learns about keys. A sealed datagram is::

    magic u16 | version u8 | key id u8 | sender u32 | destination u32 |
    incarnation u32 | boot u64 | counter u64 | ciphertext | 16-byte Poly1305 tag

The 32-byte clear header is the AEAD's associated data, so none of it can be changed.

* **Cipher.** ChaCha20-Poly1305 from ``cryptography`` (OpenSSL): fast in software on the
  ARM and Atom boards robots carry, which often lack AES instructions (AES-GCM without
  them is slow or leaks timing), and constant-time everywhere.
* **Keys and nonces.** The ring key is derived from the key file's material. Each
  transmitter seals with a subkey: keyed BLAKE2b(ring key; cluster id, sender,
  incarnation, boot id) -- BLAKE2b keyed with a uniform key is a PRF, which is all a
  subkey derivation needs, and it is a hashlib call (HKDF would cost more per peer for
  nothing). The boot id is 64 random bits drawn at every start, so two lives of a
  daemon never share a subkey even when its state directory was lost or its clock went
  back; the nonce is a counter per subkey, so no (subkey, nonce) pair ever repeats. A
  counter at its limit draws a new boot id.
* **Replays.** Per sender, only its newest authenticated incarnation counts: a packet of
  an older one is ``seal_stale``. Per (sender, boot) a sliding window (security/replay.py)
  refuses counters already seen (``seal_replay``). A window moves only after the tag
  verified, so forged datagrams cannot push genuine ones out.
* **Whom for.** A unicast packet (a token, a commit token) is sealed for its one
  destination node; a broadcast for destination 0 (every member). A receiver drops what
  was sealed for another node (``seal_wrong_dest``), so a captured token cannot be
  redirected to a member whose turn it is not.
* **Who sent it.** The seal names its transmitter. Every packet type except MCAST must
  claim that same sender and incarnation in its ring header (``seal_sender_mismatch``);
  MCASTs may be retransmitted by any member, as the protocol wants.
* **Rollover.** ``keys[0]`` seals; every key in ``keys`` opens (the key id byte picks
  the candidates). ``set_keys`` swaps them in a running daemon.
* Every failure is ``MalformedPacket(reason)``; reasons start with ``seal_`` except
  ``unsealed`` (a plain ring packet: a daemon without a key, or an attacker).

The runtime imports this module only when it builds a sealer (``cryptography`` loads
then, not when the command line starts).

Owner: the Sealer is owned by the transport and touched only by the runtime's loop-lock
holder (runtime/README.md), like the transport itself; it takes no lock of its own.
"""

from __future__ import annotations

import hashlib
import secrets
import struct
from typing import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from ..errors import MalformedPacket
from .replay import ReplayWindow

__all__ = ["Sealer", "SEAL_OVERHEAD", "SEAL_HEADER", "ring_key", "key_id"]

SEAL_HEADER = struct.Struct("!HBBIIIQQ")    # 32 bytes
TAG_LEN = 16
SEAL_OVERHEAD = SEAL_HEADER.size + TAG_LEN  # 48 bytes per datagram
SEAL_MAGIC = 0x5253                         # "RS"
SEAL_VERSION = 1
_RING_MAGIC = b"\x47\x43"                   # core/wire.py MAGIC: a plain ring packet
_U64_MAX = 0xFFFFFFFFFFFFFFFF
_MCAST = 1                                  # core/wire.py PacketType.MCAST
_RING_IDS = struct.Struct("!II")            # core/wire.py HEADER: sender, incarnation at 12
_RING_IDS_AT = 12
_BOOTS_KEPT = 4                             # boots of one incarnation remembered per sender
_SUBKEY = struct.Struct("!IIIQ")


def ring_key(material: bytes) -> bytes:
    """The 32-byte ring key of a key file's material."""
    return hashlib.blake2b(material, digest_size=32, person=b"rgcs-ring-key").digest()


def key_id(rkey: bytes) -> int:
    """A public one-byte hint naming a ring key (picks the candidates on receipt)."""
    return hashlib.blake2b(rkey, digest_size=1, person=b"rgcs-key-id").digest()[0]


def _aead(rkey: bytes, cluster_id: int, sender: int, inc: int,
          boot: int) -> ChaCha20Poly1305:
    sub = hashlib.blake2b(_SUBKEY.pack(cluster_id, sender, inc, boot), key=rkey,
                          digest_size=32, person=b"rgcs-seal-v1").digest()
    return ChaCha20Poly1305(sub)


class _Peer:
    """What one sender's authenticated packets taught us."""

    __slots__ = ("inc", "windows", "ciphers")

    def __init__(self, inc: int) -> None:
        self.inc = inc
        self.windows: dict[int, ReplayWindow] = {}                   # boot -> window
        self.ciphers: dict[tuple[int, int], ChaCha20Poly1305] = {}  # (boot, key) -> aead


class Sealer:
    """Seals this daemon's ring packets and opens its peers' (module docstring)."""

    def __init__(self, keys: Iterable[bytes], cluster_id: int, me: int, incarnation: int,
                 peers: Iterable[int], boot: int | None = None) -> None:
        self.cluster_id = cluster_id
        self.me = me
        self.incarnation = incarnation
        self.peers = frozenset(peers)
        self.boot = secrets.randbits(64) if boot is None else boot
        self.counter = 0
        self.sealed = 0
        self.opened = 0
        self._peers: dict[int, _Peer] = {}
        self._keys: list[bytes] = []
        self._by_id: dict[int, list[int]] = {}
        self._kid = 0
        self._seal: ChaCha20Poly1305 | None = None
        self.set_keys(keys)

    def set_keys(self, keys: Iterable[bytes]) -> None:
        """Key material: the first seals, all open (a rollover lists old and new)."""
        rkeys = [ring_key(k) for k in keys]
        if not rkeys:
            raise ValueError("a sealer needs at least one key")
        self._keys = rkeys
        self._by_id = {}
        for i, k in enumerate(rkeys):
            self._by_id.setdefault(key_id(k), []).append(i)
        self._kid = key_id(rkeys[0])
        self._seal = _aead(rkeys[0], self.cluster_id, self.me, self.incarnation, self.boot)
        for p in self._peers.values():
            p.ciphers.clear()

    # ------------------------------------------------------------ sending

    def seal(self, packet: bytes, dest: int = 0) -> bytes:
        """The datagram carrying ``packet`` to node ``dest`` (0: to every member)."""
        if self.counter >= _U64_MAX:         # never in practice; still, never reuse a nonce
            self.boot = secrets.randbits(64)
            self.counter = 0
            self._seal = _aead(self._keys[0], self.cluster_id, self.me, self.incarnation,
                               self.boot)
        self.counter += 1
        n = self.counter
        head = SEAL_HEADER.pack(SEAL_MAGIC, SEAL_VERSION, self._kid, self.me, dest,
                                self.incarnation, self.boot, n)
        assert self._seal is not None
        self.sealed += 1
        return head + self._seal.encrypt(n.to_bytes(12, "big"), packet, head)

    # ------------------------------------------------------------ receiving

    def open(self, data: bytes) -> bytes | None:
        """The ring packet in ``data``; None for my own (multicast loopback).

        Raises ``MalformedPacket(reason)`` for anything not sealed by a peer with a ring
        key, replayed, or stale; nothing else."""
        if len(data) < SEAL_OVERHEAD:
            raise MalformedPacket("unsealed" if data[:2] == _RING_MAGIC else "seal_truncated")
        magic, version, kid, sender, dest, inc, boot, n = SEAL_HEADER.unpack_from(data)
        if magic != SEAL_MAGIC:
            raise MalformedPacket("unsealed" if data[:2] == _RING_MAGIC else "seal_bad_magic")
        if version != SEAL_VERSION:
            raise MalformedPacket("seal_bad_version", str(version))
        if sender == self.me:                # multicast loopback, or someone posing as me
            self._own(data, kid, inc, boot, n)
            return None
        if sender not in self.peers:
            raise MalformedPacket("seal_unknown_sender", str(sender))
        if dest != 0 and dest != self.me:
            raise MalformedPacket("seal_wrong_dest", f"sealed for node {dest}")
        peer = self._peers.get(sender)
        if peer is not None:
            if inc < peer.inc:
                raise MalformedPacket("seal_stale", f"incarnation {inc} < {peer.inc}")
            if inc == peer.inc:
                w = peer.windows.get(boot)
                if w is not None and not w.fresh(n):
                    raise MalformedPacket("seal_replay")
        if n == 0:
            raise MalformedPacket("seal_replay", "counter 0")
        candidates = self._by_id.get(kid)
        if not candidates:
            raise MalformedPacket("seal_unknown_key", f"key id {kid}")
        head = data[:SEAL_HEADER.size]
        nonce = n.to_bytes(12, "big")
        packet = None
        cipher = None
        for idx in candidates:
            cipher = peer.ciphers.get((boot, idx)) if peer is not None and inc == peer.inc \
                else None
            if cipher is None:
                cipher = _aead(self._keys[idx], self.cluster_id, sender, inc, boot)
            packet = _decrypt(cipher, nonce, data, head)
            if packet is not None:
                break
        if packet is None or cipher is None:
            raise MalformedPacket("seal_bad_tag")
        # authenticated: only now may this datagram change what we remember
        if peer is None or inc > peer.inc:
            peer = self._peers[sender] = _Peer(inc)
        w = peer.windows.get(boot)
        if w is None:
            if len(peer.windows) >= _BOOTS_KEPT:
                oldest = next(iter(peer.windows))
                del peer.windows[oldest]
                for key in [k for k in peer.ciphers if k[0] == oldest]:
                    del peer.ciphers[key]
            w = peer.windows[boot] = ReplayWindow()
        elif not w.fresh(n):
            raise MalformedPacket("seal_replay")
        w.accept(n)
        peer.ciphers[(boot, idx)] = cipher
        if len(packet) >= _RING_IDS_AT + _RING_IDS.size and packet[3] != _MCAST:
            claimed, cinc = _RING_IDS.unpack_from(packet, _RING_IDS_AT)
            if claimed != sender or cinc != inc:
                raise MalformedPacket("seal_sender_mismatch",
                                      f"sealed by {sender}, claims {claimed}")
        self.opened += 1
        return packet

    def _own(self, data: bytes, kid: int, inc: int, boot: int, n: int) -> None:
        """My own datagram heard back: None once it authenticates (never delivered)."""
        if (inc, boot, kid) != (self.incarnation, self.boot, self._kid) or n > self.counter:
            raise MalformedPacket("seal_not_mine", "claims my node id")
        assert self._seal is not None
        if _decrypt(self._seal, n.to_bytes(12, "big"), data, data[:SEAL_HEADER.size]) is None:
            raise MalformedPacket("seal_bad_tag")
        return None


def _decrypt(cipher: ChaCha20Poly1305, nonce: bytes, data: bytes,
             head: bytes) -> bytes | None:
    try:
        return cipher.decrypt(nonce, data[SEAL_HEADER.size:], head)
    except InvalidTag:
        return None
