"""Single-point mutations of the core, applied in memory: the checker's own test.

Owns the mutation table and ``applied(name)``, a context manager that replaces one
function of ``robot_gcs.core`` by a copy whose source differs in one place, and puts
the original back on exit. ``robot-gcs sim --mutant NAME`` runs a sweep against the
mutant (worker processes inherit it); ``tests/sim/test_sim_core_mutations.py`` asserts
the simulator catches every mutation within a bounded number of seeds, so a checker
that goes blind fails CI.

Rules:
* A mutation names ``module:Qualified.function``, an exact source fragment that must
  occur exactly once in that function, and its replacement. When the core changes and
  the fragment is gone, ``applied`` raises instead of silently testing nothing.
* ``group`` mutations need the group layer (``--clients N``) to show.
* ``expect`` lists the invariants that should report the mutant (any one suffices).
* The mutated copy is compiled in the original module's namespace; a module function
  is also replaced where another ``robot_gcs`` module imported it by name. Functions
  that use ``super()`` or a ``__class__`` cell cannot be mutated this way.
"""

from __future__ import annotations

import __future__
import contextlib
import importlib
import inspect
import sys
import textwrap
from dataclasses import dataclass
from typing import Any, Iterator


@dataclass(frozen=True, slots=True)
class Mutation:
    name: str
    target: str                  # "robot_gcs.core.ring:RingState.visit"
    old: str
    new: str
    doc: str
    expect: frozenset[str]
    group: bool = False
    origin: str = "issue 12"     # where the mutation comes from


def _m(name: str, target: str, old: str, new: str, doc: str, expect: str,
       group: bool = False, origin: str = "issue 12") -> Mutation:
    return Mutation(name, target, old, new, doc, frozenset(expect.split()), group, origin)


_RING = "robot_gcs.core.ring:RingState.visit"
_SAFE_POINT = "self.safe_point = aru if aru < self.aru_prev else self.aru_prev"

MUTATIONS: dict[str, Mutation] = {m.name: m for m in (
    # --- issue 12: caught before this issue ---------------------------------------------
    _m("safe_point_off_by_one", _RING, _SAFE_POINT,
       "self.safe_point = (aru if aru < self.aru_prev else self.aru_prev) + 1",
       "the safe point is one seq too high", "safe_delivery virtual_synchrony"),
    _m("safe_point_one_visit", _RING, _SAFE_POINT, "self.safe_point = aru",
       "SAFE after one visit's aru, a rotation early", "safe_delivery virtual_synchrony"),
    _m("no_resend_when_arus_differ", "robot_gcs.core.recovery:Recovery.begin",
       "need = any(not entries[p].received_flg for p in tr) or len(set(arus)) > 1",
       "need = any(not entries[p].received_flg for p in tr)",
       "recovery re-sends only on a received flag of 0",
       "virtual_synchrony safe_delivery self_delivery fifo"),
    _m("install_ignores_high_delivered", "robot_gcs.core.recovery:Recovery.install",
       "if p.service is Service.SAFE and nxt > self.high_delivered:",
       "if p.service is Service.SAFE:",
       "install step 1 stops at every SAFE packet", "virtual_synchrony safe_delivery"),
    _m("packet_order_reversed", "robot_gcs.core.recovery:packet_delivers",
       "for msg_id, idx, cnt, data in chunks:", "for msg_id, idx, cnt, data in chunks[::-1]:",
       "messages packed in one packet delivered in reverse", "total_order fifo"),
    _m("group_exchange_skipped_after_merge", "robot_gcs.core.group_views:GroupTable.regular",
       "if set(regular) == trans and not self._need_exchange:",
       "if not self._need_exchange:", "no group state exchange when daemons join",
       "group_view_agreement group_table_agreement group_same_view group_data_to_member "
       "group_view_to_member group_total_order group_view_changed", group=True),
    # --- issue 12: the three that survived ----------------------------------------------
    _m("rtr_skips_lowest", _RING, "for s in range(my_aru + 1, seq + 1):",
       "for s in range(my_aru + 2, seq + 1):",
       "the lowest missing seq is never requested", "progress liveness"),
    _m("install_without_aru", "robot_gcs.core.recovery:Recovery.token_flags",
       "if self.clear_count >= 3 and tok.aru >= self.install_seq and self.holds_all:",
       "if self.clear_count >= 3 and self.holds_all:",
       "install without waiting for token.aru >= install_seq",
       "safe_delivery virtual_synchrony"),
    _m("changed_joiners_only", "robot_gcs.core.group_views:GroupTable._install_views",
       "self._names(new ^ old_members)", "self._names(new - old_members)",
       "a NETWORK view's changed lists joiners only", "group_view_changed", group=True),
    # --- our own --------------------------------------------------------------------------
    _m("salvage_skipped", "robot_gcs.core.gather_flow:GatherFlow._gather",
       "self.recovery.salvage()", "pass",
       "a failed recovery drops what it collected (PROTOCOL.md 1.4.4 as written)",
       "safe_delivery virtual_synchrony", origin="PROTOCOL_NOTES 1"),
    _m("rescued_senders_ignored", "robot_gcs.core.recovery:Recovery.begin",
       "allowed |= old.unmask(entries[p].rescued)", "allowed |= frozenset()",
       "after a gap only senders of this T, not those a failed recovery rescued",
       "safe_delivery virtual_synchrony", origin="PROTOCOL_NOTES 1"),
    _m("post_gap_any_sender", "robot_gcs.core.recovery:Recovery.install",
       "if gap and p.sender not in self.allowed:", "if False:",
       "after a gap, deliver departed senders' packets too", "fifo", origin="PROTOCOL.md 3.2"),
    _m("aru_never_lowered", _RING, "if my_aru < aru or aru_id == self.me or aru_id == NONE_NODE:",
       "if aru_id == self.me or aru_id == NONE_NODE:",
       "a node never lowers the token's aru (the rep may also keep the token while a "
       "member still misses a packet: a stall)", "safe_delivery virtual_synchrony progress",
       origin="PROTOCOL.md 1.3 step 6"),
    _m("fail_to_receive_hair_trigger", _RING,
       "if self.ftr_count >= params.fail_to_recv_const and aru_id != self.me:",
       "if self.ftr_count >= 3 and aru_id != self.me:",
       "fail-to-receive after 3 visits instead of fail_to_recv_const", "progress",
       origin="PROTOCOL.md 1.3 step 7"),
    _m("kill_reported_as_leave", "robot_gcs.core.group_views:GroupTable.kill",
       "self._gop_view(g, Cause.DISCONNECT, member)", "self._gop_view(g, Cause.LEAVE, member)",
       "a disconnect gives a LEAVE view", "group_view_cause", group=True,
       origin="PROTOCOL.md 1.5"),
)}


def _resolve(target: str) -> tuple[Any, str, Any]:
    """(owner, attribute name, raw attribute) of ``module:Qual.name``."""
    modname, qual = target.split(":")
    owner: Any = importlib.import_module(modname)
    parts = qual.split(".")
    for p in parts[:-1]:
        owner = getattr(owner, p)
    raw = owner.__dict__[parts[-1]] if isinstance(owner, type) else getattr(owner, parts[-1])
    return owner, parts[-1], raw


def mutated(m: Mutation) -> Any:
    """The mutated replacement of ``m.target`` (same kind: function or classmethod)."""
    owner, attr, raw = _resolve(m.target)
    func = raw.__func__ if isinstance(raw, (classmethod, staticmethod)) else raw
    src = textwrap.dedent(inspect.getsource(func))
    count = src.count(m.old)
    if count != 1:
        raise LookupError(f"mutation {m.name}: fragment found {count} times in {m.target} "
                          f"(the core changed; update sim/mutations.py): {m.old!r}")
    module = importlib.import_module(func.__module__)
    ns: dict[str, Any] = {}
    code = compile(src.replace(m.old, m.new), f"<mutant {m.name}>", "exec",
                   flags=__future__.annotations.compiler_flag, dont_inherit=True)
    exec(code, module.__dict__, ns)      # noqa: S102 - our own source, one fragment changed
    new = ns[func.__name__]              # decorators (classmethod) came with the source
    getattr(new, "__func__", new).__qualname__ = func.__qualname__
    if type(new) is not type(raw):
        raise TypeError(f"mutation {m.name}: {m.target} is a {type(raw).__name__}, its "
                        f"mutated source makes a {type(new).__name__}")
    return new


@contextlib.contextmanager
def applied(name: str | None) -> Iterator[Mutation | None]:
    """Run the body with mutation ``name`` in place (``None``: unchanged core)."""
    if name is None:
        yield None
        return
    m = MUTATIONS[name]
    owner, attr, raw = _resolve(m.target)
    owners = [owner]
    if not isinstance(owner, type):      # a module function: patch its imports too
        owners += [mod for key, mod in sorted(sys.modules.items())
                   if key.startswith("robot_gcs.") and mod is not owner
                   and getattr(mod, attr, None) is raw]
    new = mutated(m)
    for o in owners:
        setattr(o, attr, new)
    try:
        yield m
    finally:
        for o in owners:
            setattr(o, attr, raw)
