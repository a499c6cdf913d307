"""Ring-level client workload: what each simulated node submits, and when.

Owns the payload format and the submission process. Every payload starts with
``SIMP`` + ``!III`` (node, incarnation, counter) so it is unique per node life
(PROTOCOL.md section 6.1), followed by random filler of a random size: mostly small
(packing), some near a packet, some larger than ``max_packet`` (fragmentation).
Services alternate randomly between AGREED and SAFE. Submissions arrive as a Poisson
process per node; a node that is down or paused submits nothing. With ``lone`` set, that
node submits at ``rate`` and every other one at a twentieth of it: the one-dominant-
sender shape that lends it the quiet token (core/token_flow.py ``_lends``). With
``bursts``, that share of submissions opens a local burst (a Node's timers due together):
2-5 messages spread over up to a millisecond, then the burst's end.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

from ..core.types import Service

MAGIC = b"SIMP"
_HDR = struct.Struct("!4sIII")


@dataclass(frozen=True, slots=True)
class WorkloadModel:
    rate: float = 20.0            # submissions per simulated second per node
    safe_fraction: float = 0.5
    large_fraction: float = 0.05  # payloads larger than max_packet (fragmented)
    medium_fraction: float = 0.2
    small_max: int = 200
    large_max: int = 6000
    lone: int = 0                 # node id that sends at ``rate``, others at rate/20 (0: off)
    bursts: float = 0.0           # share of submissions that open a burst (Engine.local_burst)


def make_payload(node: int, inc: int, counter: int, size: int, rng: random.Random) -> bytes:
    head = _HDR.pack(MAGIC, node, inc, counter)
    return head + rng.randbytes(max(0, size - len(head)))


def parse_payload(payload: bytes) -> tuple[int, int, int] | None:
    """(node, incarnation, counter) of a workload payload, or None for foreign bytes."""
    if len(payload) < _HDR.size or payload[:4] != MAGIC:
        return None
    _, node, inc, counter = _HDR.unpack_from(payload)
    return node, inc, counter


def draw_size(model: WorkloadModel, max_packet: int, rng: random.Random) -> int:
    r = rng.random()
    if r < model.large_fraction:
        return rng.randint(max_packet + 1, max(max_packet + 2, model.large_max))
    if r < model.large_fraction + model.medium_fraction:
        return rng.randint(model.small_max, max_packet - 60)
    return rng.randint(_HDR.size, model.small_max)


def draw_service(model: WorkloadModel, rng: random.Random) -> Service:
    return Service.SAFE if rng.random() < model.safe_fraction else Service.AGREED


def next_gap(model: WorkloadModel, rng: random.Random, node: int) -> float:
    rate = model.rate if not model.lone or node == model.lone else model.rate / 20
    return rng.expovariate(rate) if rate > 0 else float("inf")
