"""Configuration of one simulation run (a frozen, picklable value).

Owns ``SimConfig`` and the run's timeline. A random run has three phases
(PROTOCOL.md section 6.1 and 6.2 item 11):

1. faults, ``[0, T0)`` with ``T0 = fault_duration``: lossy links, partitions, crashes,
   pauses, slow receivers, as enabled;
2. a stable tail ``[T0, T0 + 2X)``: fixed components, no loss, nobody crashes; clients
   submit until ``T0 + X``. By ``T0 + X`` every component must share one regular
   configuration, by ``T0 + 2X`` everything submitted must be delivered;
3. optionally a lossy tail ``[T0 + 2X, T0 + 4X)`` with 1 % loss and the same checks.

``X = merge_interval + 2 consensus + 2 token + liveness_slack``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.params import ProtocolParams
from .network import LinkModel
from .workload import WorkloadModel


def fast_params(**overrides: float) -> ProtocolParams:
    """Shorter timeouts for quick sweeps (token and consensus in the defaults' ratio; the
    idle hold below the retransmit interval: ``--timeouts default`` runs the long hold)."""
    kw: dict[str, float] = dict(token_timeout=0.2, consensus_timeout=0.3, merge_interval=0.1,
                                join_timeout=0.02, token_hold=0.02)
    kw.update(overrides)
    return ProtocolParams(**kw)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class FaultRates:
    """Expected number of each fault per simulated second during the fault phase."""

    partitions: float = 0.0
    one_way: float = 0.3          # probability that a partition change also blocks one-way links
    crashes: float = 0.0
    leave_fraction: float = 0.2   # share of crashes that are graceful leaves
    pauses: float = 0.0
    pause_max: float = 1.5        # longest pause as a multiple of token_timeout
    slow_receivers: bool = False
    drift: float = 0.0            # max relative clock-rate error per node (e.g. 1e-4)
    final_partition: float = 0.2  # chance the stable tail keeps a (symmetric) partition


@dataclass(frozen=True, slots=True)
class SimConfig:
    seed: int = 0
    nodes: int = 5
    fault_duration: float = 5.0
    params: ProtocolParams = field(default_factory=ProtocolParams)
    link: LinkModel = field(default_factory=LinkModel)
    faults: FaultRates = field(default_factory=FaultRates)
    workload: WorkloadModel = field(default_factory=WorkloadModel)
    ring_clients: bool = True       # the built-in ring workload (off when an app layer drives)
    multicast: bool = False         # BROADCAST_RING reaches every peer (IP multicast semantics)
    lossy_tail: bool = False
    tail_loss: float = 0.01
    liveness_slack: float = 1.0
    start_spread: float = 0.05      # nodes start at random times in [0, start_spread)
    cluster_id: int = 0x5151
    # Shared secret for packet MACs. Random byte flips are only detectable with it: the
    # wire format has no checksum of its own (real UDP has one), so corruption runs set it.
    key: bytes | None = None

    @property
    def node_ids(self) -> tuple[int, ...]:
        return tuple(range(1, self.nodes + 1))

    @property
    def liveness_bound(self) -> float:
        p = self.params
        return (p.merge_interval + 2 * p.consensus_timeout + 2 * p.token_timeout
                + self.liveness_slack)

    @property
    def end_time(self) -> float:
        x = self.liveness_bound
        return self.fault_duration + (4 * x if self.lossy_tail else 2 * x)
