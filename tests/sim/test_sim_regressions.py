"""Failing seeds of issue 12 kept as regression tests.

Before the fix a member of T that lost the token in RECOVERY dropped what it had
collected and never delivered SAFE messages the others delivered in T (seed 21 of
``robot-gcs sim --all-faults``; seeds 14 and 16 at ``--loss 0.2``, among 24 of 200).
Each seed runs the random run those sweeps made (the fault mix before the lossy tail
and the scenarios joined ``--all-faults``), with the fixed core, which must pass, and
with the old behaviour (mutation ``salvage_skipped``), which must still fail: proof
that the seed still drives a member out of a completed recovery.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import pytest

from robot_gcs.sim import command
from robot_gcs.sim import ring_invariants as ck
from robot_gcs.sim.runner import RunSpec, run_spec


def issue12_spec(seed: int, loss: float | None) -> RunSpec:
    p = argparse.ArgumentParser()
    command.add_arguments(p)
    args = p.parse_args(["--all-faults", "--nodes", "5"]
                        + (["--loss", str(loss)] if loss is not None else []))
    return RunSpec(replace(command.config_for(args, seed), lossy_tail=False))


@pytest.mark.parametrize("seed, loss", [(21, None), (14, 0.2), (16, 0.2)])
def test_a_member_that_drops_out_of_recovery_still_delivers_t(seed: int,
                                                               loss: float | None) -> None:
    spec = issue12_spec(seed, loss)
    res = run_spec(spec)
    assert res.ok, [f.message for f in res.failures]
    old = run_spec(replace(spec, mutant="salvage_skipped"))
    assert {f.invariant for f in old.failures} & {ck.SAFE_DELIVERY, ck.VIRTUAL_SYNCHRONY}
