"""Ring seqs and incarnations at their field's limit are refused and counted, even when
the packet is well formed (and would have authenticated): core/limits.py."""

from __future__ import annotations

from netsim import Net

from robot_gcs.core import wire
from robot_gcs.core.commit import initial_ring_seq_seen
from robot_gcs.core.limits import INCARNATION_MAX, RING_SEQ_MAX, out_of_range
from robot_gcs.core.types import MemberState, RingId

U64 = 2 ** 64 - 1


def _forged(cid: int) -> list[tuple[bytes, str]]:
    return [
        (wire.encode(wire.Beacon(2, 5, RingId(2, U64 - 5), 1, 0), cid), "ring_seq_limit"),
        (wire.encode(wire.Hurry(2, 0xFFFFFFFF, RingId(1, 8)), cid), "incarnation_limit"),
        (wire.encode(wire.Join(3, 9, U64, (1, 2, 3), ()), cid), "ring_seq_limit"),
        (wire.encode(wire.Join(3, 0xFFFFFFFF, 4, (1, 2, 3), ()), cid), "incarnation_limit"),
        (wire.encode(wire.Commit(2, 9, RingId(2, U64 - 255), 1, 1, (1, 2, 3),
                                 (wire.CommitEntry(),) * 3), cid), "ring_seq_limit"),
        (wire.encode(wire.Commit(2, 9, RingId(2, 512), 1, 1, (1, 2, 3),
                                 (wire.CommitEntry(0xFFFFFFFF),) * 3), cid),
         "incarnation_limit"),
    ]


def test_out_of_range_names_the_field() -> None:
    for data, why in _forged(7):
        assert out_of_range(wire.decode(data)) == why
    assert out_of_range(wire.Beacon(2, INCARNATION_MAX, RingId(2, RING_SEQ_MAX), 1, 0)) is None


def test_a_running_ring_ignores_packets_at_the_limits() -> None:
    net = Net([1, 2, 3])
    net.start_all()
    assert net.run_until_stable()
    ring = net.engines[1].ring_id
    configs = len(net.configs(1))
    for data, _why in _forged(net.cfg.cluster_id):
        net._push(net.now, "pkt", (2, 1, data))
    net.run_until(net.now + 5.0)
    e = net.engines[1]
    drops = dict(e.statistics().drops)
    assert drops.get("ring_seq_limit") == 3 and drops.get("incarnation_limit") == 3, drops
    assert e.state is MemberState.OPERATIONAL and e.ring_id == ring
    assert len(net.configs(1)) == configs
    assert max(net.persisted.values()) < RING_SEQ_MAX
    net.submit(2, b"after")
    net.run_until(net.now + 2.0)
    assert net.delivered(1)[-1] == b"after"


def test_a_poisoned_state_file_counts_as_lost() -> None:
    assert initial_ring_seq_seen(U64 - 5, 3) == 3 << 32
    assert initial_ring_seq_seen(1000, 3) == 1001
