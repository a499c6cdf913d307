"""Liveness and progress: PROTOCOL.md section 6.2 item 11, and progress under steady loss.

Owns two checks run by ``ring_invariants.RingInvariants``; both read the liveness
windows of ``RunRecord.windows`` (``runner.windows_for``) and observations only:

* **Liveness** (every window): from ``start`` components are fixed and nobody crashes or
  pauses. By ``settle`` each member's regular configuration is its component, by ``end``
  still; the component shares one ring at ``settle``; every message a member submitted
  in that ring before ``submit_end`` is delivered by every member by ``end``.
* **Progress under steady loss** (windows with ``0 < loss <= PROGRESS_LOSS``: the
  lossy tail). Loss alone must neither stall the ring nor break it:
  - every message a member submits in the window is delivered by every member of its
    component within ``progress_bound`` (4 token timeouts) of its submission;
  - no node enters GATHER because of fail-to-receive. Retransmission requests recover
    any lost packet within a few rotations; the aru stays stuck for
    ``fail_to_recv_const`` visits only when a member stops receiving, or when a
    missing packet is never requested.
  Measured (``--all-faults --loss 0.2``, 10 seeds): the worst submit-to-delivery time
  is 0.25 s at 1 % tail loss and 0.58 s at 5 %, where 3 of 300 seeds passed 2 token
  timeouts (0.70 s; a token lost twice in a row costs two retransmit intervals).
"""

from __future__ import annotations

from ..core.params import ProtocolParams
from . import trace as tr
from .checker import (LIVENESS, PROGRESS, Analysis, LivenessWindow, MsgKey, Violation,
                      last_regular, life_at, msg_key, violation_at)
from .trace import Record

_v = violation_at

#: per-link loss rate up to which a lossy window is checked for progress
PROGRESS_LOSS = 0.05
#: a message submitted in such a window reaches every member within this many token
#: timeouts (retransmission needs ``miss_count`` visits, SAFE two more rotations, and a
#: lost token costs a retransmit interval each time)
PROGRESS_TOKENS = 4.0


def progress_bound(params: ProtocolParams) -> float:
    return PROGRESS_TOKENS * params.token_timeout


def _delivery_times(a: Analysis, members: tuple[int, ...], t: float
                    ) -> dict[int, dict[MsgKey, float]]:
    """For each member's life at ``t``: message -> time of its first delivery."""
    when: dict[int, dict[MsgKey, float]] = {}
    for q in members:
        qlife = life_at(a, q, t)
        dq = when[q] = {}
        if qlife is None:
            continue
        for r in qlife.events:
            if r.kind == tr.DELIVER:
                dq.setdefault(msg_key(r.data), r.time)
    return when


def liveness(a: Analysis) -> list[Violation]:
    out: list[Violation] = []
    for w in a.run.windows:
        for comp in w.components:
            out.extend(_component_liveness(a, w, tuple(sorted(comp))))
    return out


def _component_liveness(a: Analysis, w: LivenessWindow, members: tuple[int, ...]
                        ) -> list[Violation]:
    out: list[Violation] = []
    final: dict[int, Record] = {}
    for n in members:
        life = life_at(a, n, w.settle)
        if life is None:
            out.append(Violation(LIVENESS, f"n{n} not running at {w.settle:.3f} although "
                                 "nobody crashes after the stable point", None, n))
            continue
        for t_check in (w.settle, w.end):
            reg = last_regular(life, t_check)
            if reg is None or tuple(reg.data.members) != members:
                got = list(reg.data.members) if reg is not None else None
                out.append(Violation(LIVENESS, f"at {t_check:.3f} n{n}'s regular "
                                     f"configuration is {got}, expected its component "
                                     f"{list(members)} (stable since {w.start:.3f})",
                                     reg.index if reg is not None else None, n))
                break
        else:
            reg = last_regular(life, w.settle)
            assert reg is not None
            final[n] = reg
    if len(final) != len(members):
        return out
    rings = {r.data.ring_id for r in final.values()}
    if len(rings) != 1:
        out.append(Violation(LIVENESS, f"component {list(members)} is in rings "
                             f"{sorted(map(str, rings))} at {w.settle:.3f}", None, None))
        return out
    # messages submitted in the final ring before submit_end reach everyone by end
    when = _delivery_times(a, members, w.settle)
    for n in members:
        life = life_at(a, n, w.settle)
        assert life is not None
        since = final[n].time
        for s in life.submits:
            if not (since <= s.time < w.submit_end):
                continue
            k = (s.node, s.inc, bytes(s.data.payload))
            late = next((q for q in members if when[q].get(k, float("inf")) > w.end), None)
            if late is not None:
                out.append(_v(LIVENESS, s, f"message #{s.data.counter} of n{n} submitted at "
                              f"{s.time:.3f} not delivered by n{late} by {w.end:.3f}"))
    return out


def progress(a: Analysis) -> list[Violation]:
    out: list[Violation] = []
    bound = progress_bound(a.run.params)
    for w in a.run.windows:
        if not 0 < w.loss <= PROGRESS_LOSS:
            continue
        for r in a.run.records:
            if r.kind == tr.STATE and w.start <= r.time < w.end \
                    and "(fail_to_receive" in str(r.data):
                out.append(_v(PROGRESS, r, f"n{r.node} failed a member for not receiving "
                              f"({r.data}) at {w.loss:.1%} loss, with no crash, partition "
                              f"or pause since {w.start:.3f}"))
        for comp in w.components:
            members = tuple(sorted(comp))
            when = _delivery_times(a, members, w.start)
            for n in members:
                life = life_at(a, n, w.start)
                if life is None:
                    continue        # liveness reports it
                for s in life.submits:
                    if not (w.start <= s.time < w.submit_end):
                        continue
                    k = (s.node, s.inc, bytes(s.data.payload))
                    due = s.time + bound
                    late = next((q for q in members if when[q].get(k, float("inf")) > due), None)
                    if late is not None:
                        got = when[late].get(k)
                        how = f"only at {got:.3f}" if got is not None else "never"
                        out.append(_v(PROGRESS, s, f"message #{s.data.counter} of n{n} submitted "
                                      f"at {s.time:.3f} under {w.loss:.1%} loss reached n{late} "
                                      f"{how}, not within {bound:.2f}s"))
    return out
