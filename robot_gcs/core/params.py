"""Protocol parameters (timeouts, windows, limits) and the engine's static configuration.

Defaults follow PROTOCOL.md section 4 (tuned for 2-16 Python daemons on one LAN) except
the failure-detection timers: token 350 ms / consensus 420 ms (PROTOCOL.md: 1000/1200)
report a dead daemon in under 1 s (777-828 ms measured on loopback); the daemon loop's
worst lag next to a CPU-bound host thread measured 12-15 ms (rule: token >= 10 x worst
stall). The idle hold is 130 ms (PROTOCOL.md: 30 ms): an idle 3-daemon ring rotates
about 7 times a second (1.0 % of a core per daemon measured, 1.6 % with 60 ms). The rep's
predecessor, handing over a token the rep will likely keep, delays its retransmission by
the hold (token_flow.py), so the hold may exceed the retransmit interval; a kept token
and one retransmission must still come before the members' token timeout. All
times are seconds (floats), because the core takes ``now`` as float seconds. Validation
rejects the contradictions that broke other systems (consensus <= token: Red Hat bug
544479; token_hold + token_retransmit >= token_timeout: an idle ring would time out),
and 2 x token_hold + token_retransmit / 4 >= token_timeout: a token lost on its way from
one quiet hold towards the next (core/token_flow.py ``_forward``) would come round to the
member after the loss only after its token timeout.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import LocalProtocolError
from .reply_window import REPLY_SLACK
from .types import NodeId

MAX_RING_NODES = 32
MIN_PACKET = 512


@dataclass(frozen=True, slots=True)
class ProtocolParams:
    token_timeout: float = 0.35
    token_retransmits: int = 4
    token_hold: float = 0.130
    join_timeout: float = 0.050
    consensus_timeout: float = 0.42
    merge_interval: float = 0.300
    fail_to_recv_const: int = 200
    miss_count: int = 3
    seqno_unchanged_const: int = 1      # quiet rotations before the holder keeps the token
    window_size: int = 60
    max_messages: int = 10            # packets one visit may send (new + retransmitted)
    max_seq_gap: int = 1600
    rtr_max: int = 64
    max_recovery_rounds: int = 500
    seq_wrap_limit: int = 2 ** 30
    max_packet: int = 1400
    buf_capacity: int = 4096          # packets held per ring (receive/retransmit buffer)
    send_queue_capacity: int = 10000  # application messages waiting for the token
    send_queue_bytes: int = 256 * 1024    # NORMAL-lane bytes waiting (one message always fits)
    send_queue_delay: float = 0.005   # refuse new messages while the oldest waited longer
    max_message_size: int = 4 * 1024 * 1024
    reply_window: float = 0.0003      # hold a token this long for a local reply (0: never)

    @property
    def token_retransmit(self) -> float:
        """token_timeout / (retransmits + 0.2), as corosync computes it: the longest wait
        before a forwarded token is sent again (one that nobody ahead will keep, or that
        someone HURRYs for, waits a few rotation times: core/token_flow.py)."""
        return self.token_timeout / (self.token_retransmits + 0.2)

    @property
    def tick_interval(self) -> float:
        return self.token_timeout / 5

    @property
    def pause_threshold(self) -> float:
        return self.token_timeout / 2

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise LocalProtocolError("invalid protocol parameters: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """Every contradiction in these parameters, as human-readable sentences."""
        out: list[str] = []
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "reply_window":
                if not 0 <= v < 0.1:        # also rejects NaN
                    out.append(f"reply_window must be in [0, 0.1) seconds (got {v})")
            elif isinstance(v, (int, float)) and not 0 < v < float("inf"):   # and not NaN
                out.append(f"{f.name} must be positive and finite (got {v})")
        if out:
            return out
        if self.consensus_timeout <= self.token_timeout:
            out.append(f"consensus_timeout ({self.consensus_timeout}s) must exceed "
                       f"token_timeout ({self.token_timeout}s)")
        if self.token_hold + self.token_retransmit >= self.token_timeout:
            out.append(f"token_hold ({self.token_hold}s) plus the token retransmit interval "
                       f"({self.token_retransmit:.3f}s) must be below token_timeout "
                       f"({self.token_timeout}s)")
        if 2 * self.token_hold + self.token_retransmit / 4 >= self.token_timeout:
            out.append(f"twice token_hold ({self.token_hold}s) plus a quarter of the token "
                       f"retransmit interval ({self.token_retransmit / 4:.3f}s) must be below "
                       f"token_timeout ({self.token_timeout}s): a token lost after a hold is "
                       f"sent again a hold later, to a member that has waited since before "
                       f"the first one")
        if self.reply_window + REPLY_SLACK >= self.token_retransmit:
            out.append(f"reply_window ({self.reply_window}s) plus its slack ({REPLY_SLACK}s) "
                       f"must be below the token retransmit interval "
                       f"({self.token_retransmit:.3f}s)")
        if self.join_timeout >= self.consensus_timeout:
            out.append("join_timeout must be well below consensus_timeout")
        if self.max_messages > self.window_size:
            out.append("max_messages must not exceed window_size")
        if self.max_seq_gap > self.buf_capacity:
            out.append("max_seq_gap must not exceed buf_capacity")
        if self.max_packet < MIN_PACKET:
            out.append(f"max_packet must be at least {MIN_PACKET}")
        if self.rtr_max > 255:
            out.append("rtr_max must fit in one byte (<= 255)")
        return out

    @classmethod
    def from_ms(cls, **kw: float) -> "ProtocolParams":
        """Build from millisecond keys as written in config files (``token_ms`` ...)."""
        conv: dict[str, Any] = {}
        for k, v in kw.items():
            if k.endswith("_ms"):
                name = k[:-3]
                name = {"token": "token_timeout", "consensus": "consensus_timeout",
                        "join": "join_timeout", "merge": "merge_interval"}.get(name, name)
                conv[name] = v / 1000.0
            else:
                conv[k] = v
        return cls(**conv)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Static configuration of one engine.

    ``peers`` lists every configured node id (including this node); membership traffic
    (JOIN, BEACON) goes to all of them. ``cluster_id`` is stamped on every packet; packets
    of other clusters are dropped. ``key`` (when set) authenticates every packet.
    """

    peers: tuple[NodeId, ...]
    cluster_id: int = 0
    key: bytes | None = None
    params: ProtocolParams = field(default_factory=ProtocolParams)
    auto_open_lane: bool = True
