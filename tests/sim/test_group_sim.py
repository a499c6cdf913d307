"""Process groups on the real token-ring engine, in the deterministic simulator.

Random seeds through the ``--clients`` plug-in (every ring and group invariant checked),
and scripted scenarios a client of the group layer relies on: join during a partition,
the same group joined on both sides then merged, a client disconnecting mid-stream, a
multi-group message across a view change.
"""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from robot_gcs.core.events import Cause, DataMessage, GroupView, private_name
from robot_gcs.core.groups import ToClient
from robot_gcs.core.types import Service
from robot_gcs.sim import command, runner
from robot_gcs.sim.config import SimConfig, fast_params
from robot_gcs.sim.faults import FaultEvent
from robot_gcs.sim.group_checker import GroupChecker
from robot_gcs.sim.group_plugin import GroupApp
from robot_gcs.sim.group_clients import ClientModel
from robot_gcs.sim.simulator import Simulator

PLUGIN = ("robot_gcs.sim.group_plugin",)


def sweep_args(extra: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    command.add_arguments(p)
    return p.parse_args(extra.split())


def run_seeds(argline: str, seeds: range) -> list[runner.SeedResult]:
    args = sweep_args(argline)
    options = tuple(sorted((k, v) for k, v in vars(args).items()
                           if isinstance(v, (int, float, str, bool, type(None)))))
    return [runner.run_spec(runner.RunSpec(command.config_for(args, s), PLUGIN, options))
            for s in seeds]


def failures(results: list[runner.SeedResult]) -> list[str]:
    return [f"seed {r.seed}: {f.invariant}: {f.message}" for r in results for f in r.failures]


RANDOM = ("--min-nodes 2 --max-nodes 5 --clients 5 --groups 8 --vary-clients --timeouts fast "
          "--duration 2 --loss 0.03 --dup 0.01 --reorder 0.01 --partitions --crashes --pauses")


@pytest.mark.parametrize("block", range(5))
def test_random_seeds_with_group_clients_keep_every_ring_and_group_invariant(block: int) -> None:
    results = run_seeds(RANDOM, range(block * 20, block * 20 + 20))
    assert failures(results) == []
    assert sum(r.delivered for r in results) > 1000


@pytest.mark.slow
def test_many_random_seeds_with_group_clients() -> None:
    results = run_seeds(RANDOM.replace("--max-nodes 5", "--max-nodes 8")
                        .replace("--clients 5", "--clients 20").replace("--groups 8", "--groups 50"),
                        range(1000, 1150))
    assert failures(results) == []


def test_clients_zero_is_ring_only_mode() -> None:
    from robot_gcs.sim.group_plugin import make
    assert make({"clients": 0}, SimConfig()) is None


# ---------------------------------------------------------------- scripted scenarios

class Scripted(GroupApp):
    """The group plug-in's engines with scripted instead of random clients."""

    def __init__(self, nodes: int, seed: int = 1) -> None:
        cfg = SimConfig(seed=seed, nodes=nodes, params=fast_params(), ring_clients=False)
        super().__init__(cfg, ClientModel(), 1.0)
        self.sim = Simulator(cfg, engine_factory=self.factory, app=self)
        self.log: list[tuple[float, int, str, Any]] = []
        self.counter = 0

    def on_start(self, sim: Any, node: int, now: float) -> None:
        self.clients.node_started(node, sim.nodes[node].inc)

    def on_actions(self, sim: Any, node: int, now: float, actions: list[Any]) -> None:
        super().on_actions(sim, node, now, actions)
        for a in actions:
            if isinstance(a, ToClient):
                self.log.append((now, node, a.client, a.event))

    def at(self, t: float, node: int, method: str, *args: Any) -> None:
        """``method`` of node's group engine at ``t``; membership requests are recorded
        in the checker first, as ``GroupClients`` does (it checks view causes)."""
        op = method.removeprefix("client_")

        def go() -> None:
            req = op in ("join", "leave", "disconnect")
            who, group = private_name(args[0], f"d{node}"), args[1] if len(args) > 1 else ""
            if req:
                self.checker.requested(who, op, group)
            if not self.sim.call_engine(node, method, *args) and req:
                self.checker.requested(who, op, group, undo=True)
        self.sim.call_at(t, go)

    def send_at(self, t: float, node: int, client: str, groups: tuple[str, ...],
                service: Service = Service.AGREED) -> None:
        def go() -> None:
            if client not in self.sim.nodes[node].engine.clients:
                return                                  # the scripted client is gone
            inc = self.sim.nodes[node].inc
            self.counter += 1
            mid = (node, inc, client, self.counter)
            self.checker.sent((node, inc, client), private_name(client, f"d{node}"), mid,
                              groups, service, False)
            payload = f"{node}:{inc}:{client}:{self.counter}|".encode()
            if not self.sim.call_engine(node, "client_multicast", client, groups, payload,
                                        service):
                self.checker.withdraw(mid)
        self.sim.call_at(t, go)

    def fault_at(self, t: float, kind: str, arg: Any = None, node: int = 0) -> None:
        self.sim.schedule_fault(FaultEvent(t, kind, node, arg))

    def run(self, until: float) -> GroupChecker:
        self.sim.run(until=until)
        assert not [r for r in self.sim.log.records if r.kind in ("error", "bound")]
        return self.checker

    def events(self, node: int, client: str, since: float = 0.0,
               until: float = 1e9) -> list[Any]:
        return [e for t, n, c, e in self.log if n == node and c == client and since <= t < until]


def regular_views(evs: list[Any], group: str = "g") -> list[GroupView]:
    return [e for e in evs if isinstance(e, GroupView) and e.group == group and not e.transitional
            and e.members]


def test_join_during_a_partition_and_the_same_group_on_both_sides_merge_into_one_network_view() -> None:
    s = Scripted(4)
    for n in (1, 2, 3, 4):
        s.at(0.5, n, "client_connect", "a")
    s.fault_at(1.5, "partition", ([(1, 2), (3, 4)], ()))
    for n in (1, 3, 4):
        s.at(4.0, n, "client_join", "a", "g")          # joined during the partition, both sides
    s.fault_at(5.0, "heal")
    checker = s.run(9.0)
    assert checker.check() == []
    side_views = {n: regular_views(s.events(n, "a", 4.0, 5.0)) for n in (1, 3, 4)}
    assert side_views[1][-1].members == ("#a#d1",)
    assert side_views[3][-1].members == side_views[4][-1].members == ("#a#d3", "#a#d4")
    after = {n: regular_views(s.events(n, "a", 5.0)) for n in (1, 3, 4)}
    for n, vs in after.items():
        assert len(vs) == 1, (n, vs)                    # one NETWORK view per member
        assert vs[0].cause is Cause.NETWORK
        assert vs[0].members == ("#a#d1", "#a#d3", "#a#d4")
    assert len({vs[0].view_id for vs in after.values()}) == 1
    signals = [e for e in s.events(1, "a", 5.0) if isinstance(e, GroupView) and e.transitional]
    assert signals, "the NETWORK view comes after a transitional signal"


def test_a_client_that_disconnects_mid_stream() -> None:
    s = Scripted(3)
    for n in (1, 2, 3):
        s.at(0.5, n, "client_connect", "a")
        s.at(0.6, n, "client_join", "a", "g")
    for i in range(40):
        s.send_at(1.5 + i * 0.01, 1, "a", ("g",), Service.FIFO)
    s.at(1.5 + 0.195, 1, "client_disconnect", "a")    # half way through its stream
    checker = s.run(4.0)
    assert checker.check() == []
    for n in (2, 3):
        evs = s.events(n, "a", 1.5)
        got = [e.payload for e in evs if isinstance(e, DataMessage)]
        assert 15 <= len(got) <= 25                     # everything it sent before leaving...
        kill = [i for i, e in enumerate(evs) if isinstance(e, GroupView)]
        assert len(kill) == 1 and evs[kill[0]].cause is Cause.DISCONNECT
        assert kill[0] == len(evs) - 1                  # ...then the DISCONNECT view, nothing after
        assert evs[kill[0]].members == ("#a#d2", "#a#d3")
    assert s.events(1, "a", 1.7) == []


def in_transitional_view(evs: list[Any], group: str) -> list[DataMessage]:
    """Data received between a transitional signal of ``group`` and its next view."""
    out, inside = [], False
    for e in evs:
        if isinstance(e, GroupView) and e.group == group:
            inside = e.transitional
        elif isinstance(e, DataMessage) and inside:
            out.append(e)
    return out


def test_a_multi_group_message_across_a_view_change_arrives_once_per_client() -> None:
    s = Scripted(3, seed=4)
    for n in (1, 2, 3):
        s.at(0.5, n, "client_connect", "a")
        s.at(0.6, n, "client_join", "a", "g1")
        s.at(0.6, n, "client_join", "a", "g2")
    for i in range(60):
        s.send_at(1.5 + i * 0.01, 1 + i % 3, "a", ("g1", "g2"), Service.SAFE)
    for i in range(40):               # a burst around the partition: SAFE messages in flight
        s.send_at(1.79 + i * 0.0005, 1 + i % 3, "a", ("g1", "g2"), Service.SAFE)
    s.fault_at(1.8, "partition", ([(1, 2), (3,)], ()))
    s.fault_at(3.5, "heal")
    checker = s.run(7.0)
    assert checker.check() == []                        # includes "once" and "same_view"
    for n in (1, 2, 3):
        got = [e for e in s.events(n, "a") if isinstance(e, DataMessage)]
        assert all(e.groups == ("g1", "g2") for e in got)
        assert len(got) == len({e.payload for e in got}) >= 20
    crossed = [[e.payload for e in in_transitional_view(s.events(n, "a"), "g1")]
               for n in (1, 2)]           # the messages that crossed the view change
    assert crossed[0] and crossed[0] == crossed[1]      # the same ones, once each
    assert len(crossed[0]) == len(set(crossed[0]))
    finals = {n: regular_views(s.events(n, "a"), "g1")[-1] for n in (1, 2, 3)}
    assert {v.members for v in finals.values()} == {("#a#d1", "#a#d2", "#a#d3")}


def test_robot_gcs_sim_with_clients_runs_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    from robot_gcs import cli
    rc = cli.main(["sim", "--nodes", "3", "--clients", "3", "--groups", "4", "--seeds", "1",
                   "--timeouts", "fast", "--duration", "1"])
    out = capsys.readouterr().out
    assert rc == 0 and "0 violations" in out
