"""The simulated network: what happens to one datagram between two nodes.

Owns link behaviour and connectivity (PROTOCOL.md section 6.1):

* per directed link loss probability, plus Gilbert two-state burst loss (a link flips to
  a BAD state with ``burst_enter`` per packet, leaves it with ``burst_leave``, and drops
  with ``burst_loss`` while BAD);
* duplication, reordering (an extra delay that lets later packets overtake), delay as
  base + uniform jitter, corruption (flip or truncate bytes: the engine must count and
  drop them, never raise);
* partitions as components (node -> component id) that change over time, plus a set of
  blocked directed links for one-way connectivity;
* targeted drops (``DropRule``): the simulator asks them before transmitting, giving the
  packet type (peeked from the common header) and the sender's membership state, so
  scripted scenarios can lose "the commit token in rotation 2" exactly.

Every random draw comes from the ``random.Random`` handed in, so the fate of each
packet is a function of the seed. Connectivity is evaluated at send time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Callable

# Packet types of the common header (PROTOCOL.md section 2), peeked at byte 3.
PACKET_TYPES = {1: "MCAST", 2: "TOKEN", 3: "JOIN", 4: "COMMIT", 5: "BEACON", 6: "HURRY"}
HEADER_MAGIC = b"\x47\x43"


def peek_type(data: bytes) -> str:
    """Packet type name from the common header, or "?" for anything unrecognisable."""
    if len(data) < 4 or data[:2] != HEADER_MAGIC:
        return "?"
    return PACKET_TYPES.get(data[3], "?")


@dataclass(frozen=True, slots=True)
class LinkModel:
    """How every link behaves in one phase of a run. Probabilities are per packet."""

    loss: float = 0.0
    burst_enter: float = 0.0       # Gilbert: GOOD -> BAD
    burst_leave: float = 0.3       # Gilbert: BAD -> GOOD
    burst_loss: float = 0.8        # loss probability while BAD
    dup: float = 0.0
    reorder: float = 0.0
    reorder_delay: float = 0.004   # extra delay of a reordered packet (uniform 0..this)
    delay: float = 0.0002          # base one-way delay, seconds
    jitter: float = 0.0003         # uniform extra delay 0..jitter
    corrupt: float = 0.0

    def calm(self) -> "LinkModel":
        """The same delays with no loss, duplication, reordering or corruption."""
        return replace(self, loss=0.0, burst_enter=0.0, dup=0.0, reorder=0.0, corrupt=0.0)


@dataclass(frozen=True, slots=True)
class PacketContext:
    """What a drop rule may look at."""

    time: float
    src: int
    dst: int
    ptype: str
    sender_state: str          # MemberState name of the sender after the call that sent it
    data: bytes
    key: bytes | None = None

    def packet(self) -> object | None:
        """The packet decoded with ``core.wire`` (None if it does not decode)."""
        from ..core import wire
        from ..errors import MalformedPacket
        try:
            return wire.decode(self.data, self.key)
        except MalformedPacket:
            return None


@dataclass(slots=True)
class DropRule:
    """Drop packets matching ``match`` -- at most ``limit`` of them -- in [start, end)."""

    name: str
    match: Callable[[PacketContext], bool]
    limit: int = 1
    start: float = 0.0
    end: float = float("inf")
    fired: int = 0
    fired_at: list[float] = field(default_factory=list)

    def take(self, ctx: PacketContext) -> bool:
        if self.fired >= self.limit or not (self.start <= ctx.time < self.end):
            return False
        if not self.match(ctx):
            return False
        self.fired += 1
        self.fired_at.append(ctx.time)
        return True


@dataclass(slots=True)
class NetStats:
    sent: int = 0
    delivered: int = 0
    lost: int = 0
    burst_lost: int = 0
    partitioned: int = 0
    duplicated: int = 0
    reordered: int = 0
    corrupted: int = 0
    targeted: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


class Network:
    """Connectivity plus per-link fate of datagrams."""

    def __init__(self, nodes: tuple[int, ...], model: LinkModel, rng: random.Random,
                 link_loss: dict[tuple[int, int], float] | None = None) -> None:
        self.nodes = nodes
        self.model = model
        self.rng = rng
        self.link_loss: dict[tuple[int, int], float] = dict(link_loss or {})
        self.component: dict[int, int] = {n: 0 for n in nodes}
        self.blocked: set[tuple[int, int]] = set()
        self._bad: set[tuple[int, int]] = set()
        self.rules: list[DropRule] = []
        self.stats = NetStats()

    # -- connectivity ---------------------------------------------------------------
    def set_components(self, groups: list[list[int]] | list[tuple[int, ...]]) -> None:
        """Partition into the given node groups; nodes not listed are isolated."""
        comp = {n: -1 - i for i, n in enumerate(self.nodes)}
        for cid, group in enumerate(groups):
            for n in group:
                comp[n] = cid
        self.component = comp

    def heal(self) -> None:
        self.component = {n: 0 for n in self.nodes}
        self.blocked = set()

    def reachable(self, src: int, dst: int) -> bool:
        return self.component[src] == self.component[dst] and (src, dst) not in self.blocked

    def components(self) -> list[tuple[int, ...]]:
        """Current symmetric components (one-way blocks ignored), sorted."""
        by: dict[int, list[int]] = {}
        for n in sorted(self.nodes):
            by.setdefault(self.component[n], []).append(n)
        return sorted(tuple(g) for g in by.values())

    # -- per packet -------------------------------------------------------------------
    def transmit(self, now: float, src: int, dst: int, data: bytes,
                 ptype: str) -> list[tuple[float, bytes, str]]:
        """Fate of one datagram: a list of (arrival time, bytes, note); empty if lost."""
        st = self.stats
        st.sent += 1
        st.by_type[ptype] = st.by_type.get(ptype, 0) + 1
        if not self.reachable(src, dst):
            st.partitioned += 1
            return []
        m = self.model
        rng = self.rng
        link = (src, dst)
        if m.burst_enter > 0.0:
            if link in self._bad:
                if rng.random() < m.burst_leave:
                    self._bad.discard(link)
            elif rng.random() < m.burst_enter:
                self._bad.add(link)
            if link in self._bad and rng.random() < m.burst_loss:
                st.burst_lost += 1
                return []
        loss = self.link_loss.get(link, m.loss) if m.loss > 0.0 else 0.0
        if loss > 0.0 and rng.random() < loss:
            st.lost += 1
            return []
        copies = 1
        if m.dup > 0.0 and rng.random() < m.dup:
            copies = 2
            st.duplicated += 1
        out: list[tuple[float, bytes, str]] = []
        for _ in range(copies):
            t = now + m.delay + (rng.random() * m.jitter if m.jitter > 0.0 else 0.0)
            note = ""
            if m.reorder > 0.0 and rng.random() < m.reorder:
                t += rng.random() * m.reorder_delay
                st.reordered += 1
                note = "reordered"
            payload = data
            if m.corrupt > 0.0 and rng.random() < m.corrupt:
                payload = corrupt(data, rng)
                st.corrupted += 1
                note = "corrupted"
            out.append((t, payload, note))
        st.delivered += len(out)
        return out


def corrupt(data: bytes, rng: random.Random) -> bytes:
    """Flip 1-4 random bytes, or truncate, or append junk (one of the three)."""
    if not data:
        return bytes([rng.randrange(256)])
    choice = rng.random()
    if choice < 0.7:
        buf = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(buf))
            buf[i] ^= rng.randint(1, 255)
        return bytes(buf)
    if choice < 0.9:
        return data[:rng.randrange(len(data))]
    return data + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
