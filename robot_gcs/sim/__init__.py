"""Deterministic simulation of robot_gcs rings, with an EVS invariant checker.

A run is a pure function of its seed: one ``random.Random(seed)`` drives the network
(loss, bursts, duplication, reordering, delay, partitions, corruption), the node faults
(crash/restart, leave, pause, slow receiver, clock drift) and the client workload; a
virtual clock orders events by (time, insertion counter). The real sans-IO ``Engine``
runs unchanged inside. The checker then verifies PROTOCOL.md section 6.2 on the
recorded trace. Modules:

* ``scheduler``  virtual clock and event heap
* ``network``    link fault model, partitions, targeted drops
* ``faults``     random fault plans;  ``scenarios``  scripted ones
* ``workload``   unique payloads of random size, AGREED and SAFE
* ``simulator``  carries out engine actions; plug-in points for an app layer
* ``trace``      observations for the checker, trace hash, excerpts
* ``checker``    the checker's records and plug-in sets; ``ring_invariants`` (1-5, 7, 8,
  12), ``evs_invariants`` (6, 9), ``progress_invariants`` (11, progress under loss)
* ``runspec``    what a run is made of (spec, plug-ins, phases, windows)
* ``runner``     one seed -> checked result; sweeps over processes; idle packet rate
* ``mutations``  single-point mutations of the core, to test the checker
* ``command``    ``robot-gcs sim``

Test tooling in the trio spirit: ``Simulator`` accepts any engine factory and an
application layer, so higher layers (groups) are tested on the same fake network.
"""

from .checker import InvariantSet, LivenessWindow, RunRecord, Violation, check_run
from .ring_invariants import RingInvariants
from .config import FaultRates, SimConfig, fast_params
from .faults import FaultEvent
from .network import DropRule, LinkModel, PacketContext
from .runner import PluginParts, RunSpec, SeedResult, measure_idle_rate, run_spec, sweep
from .simulator import AppLayer, Simulator, core_of

__all__ = [
    "AppLayer", "DropRule", "FaultEvent", "FaultRates", "InvariantSet", "LinkModel",
    "LivenessWindow", "PacketContext", "PluginParts", "RingInvariants", "RunRecord", "RunSpec",
    "SeedResult", "SimConfig", "Simulator", "Violation", "check_run", "core_of", "fast_params",
    "measure_idle_rate", "run_spec", "sweep",
]
