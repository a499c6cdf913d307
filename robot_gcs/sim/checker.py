"""Invariant checker: the EVS guarantees of PROTOCOL.md section 6.2, checked on a trace.

Owns ``RunRecord`` (what the checker reads), ``Violation``, the plug-in protocol
``InvariantSet``, ``Analysis`` (per-life indexes shared by invariant sets) and the names
of the ring invariants. The ring invariant set (items 1-9, 11, 12) is
``ring_invariants.RingInvariants``; it runs the checks of ``ring_invariants.py``
(1-5, 7, 8, 12), ``evs_invariants.py`` (6 virtual synchrony, 9 safe delivery) and
``progress_invariants.py`` (11 liveness, progress under steady loss). Item 10, group
views, is a separate set plugged in by the group layer. The checker reads only observations (``trace.Record``): submissions,
deliveries, configuration changes, node lives, persisted ring seqs, engine exceptions
and bound breaches. It never looks inside an engine, so synthetic traces exercise it
exactly like real runs.

Plug-in rule: an invariant set is any object with a ``name`` and
``check(run: RunRecord) -> list[Violation]``; ``check_run`` runs several.

Terms: a *life* is one (node, incarnation); a message is identified by
(sender, sender incarnation, payload bytes); the *segment* of a regular configuration R
in a life is what it delivers between R and the next transitional configuration T,
the T segment what it delivers between T and the next regular configuration.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

from ..core.params import ProtocolParams
from ..core.types import ConfigKind
from . import trace as tr
from .trace import Record

MsgKey = tuple[int, int, bytes]
LifeKey = tuple[int, int]

# names of the ring invariants (PROTOCOL.md section 6.2), used in Violation.invariant
INTEGRITY = "integrity"
NO_DUPLICATION = "no_duplication"
TOTAL_ORDER = "total_order"
FIFO = "fifo"
CONFIG_AGREEMENT = "configuration_agreement"
VIRTUAL_SYNCHRONY = "virtual_synchrony"
DELIVERED_WHERE_SENT = "delivered_where_sent"
SELF_DELIVERY = "self_delivery"
SAFE_DELIVERY = "safe_delivery"
LIVENESS = "liveness"
PROGRESS = "progress"
BOUNDEDNESS = "boundedness"

RING_INVARIANTS = (INTEGRITY, NO_DUPLICATION, TOTAL_ORDER, FIFO, CONFIG_AGREEMENT,
                   VIRTUAL_SYNCHRONY, DELIVERED_WHERE_SENT, SELF_DELIVERY, SAFE_DELIVERY,
                   LIVENESS, PROGRESS, BOUNDEDNESS)


@dataclass(frozen=True, slots=True)
class LivenessWindow:
    """From ``start`` components are fixed, loss-free (or ``loss``) and nobody crashes."""

    start: float
    settle: float         # by now each component shares one regular configuration
    submit_end: float     # clients stop submitting here
    end: float            # by now everything submitted is delivered throughout
    components: tuple[tuple[int, ...], ...]
    loss: float = 0.0


@dataclass(slots=True)
class RunRecord:
    seed: int
    nodes: tuple[int, ...]
    params: ProtocolParams
    records: list[Record]
    end_time: float
    windows: tuple[LivenessWindow, ...] = ()
    quiescent: bool = False          # the run ended in a stable, idle tail
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    message: str
    record: int | None = None        # index into RunRecord.records, for the excerpt
    node: int | None = None


class InvariantSet(Protocol):
    name: str

    def check(self, run: RunRecord) -> list[Violation]: ...


def check_run(run: RunRecord, sets: Iterable[InvariantSet], per_invariant: int = 5
              ) -> list[Violation]:
    """Run every set; keep at most ``per_invariant`` violations of each invariant."""
    out: list[Violation] = []
    seen: dict[str, int] = defaultdict(int)
    for s in sets:
        for v in s.check(run):
            seen[v.invariant] += 1
            if seen[v.invariant] <= per_invariant:
                out.append(v)
    return out


# ---------------------------------------------------------------------------------------
@dataclass(slots=True)
class Segment:
    """What one life delivered in regular configuration R and in the T that followed."""

    regular: Record | None              # the REGULAR config record (None: before the first)
    in_r: list[Record] = field(default_factory=list)
    trans: Record | None = None
    in_t: list[Record] = field(default_factory=list)
    next_regular: Record | None = None


@dataclass(slots=True)
class Life:
    key: LifeKey
    start: Record | None = None
    end: Record | None = None            # CRASH or LEAVE record, None when alive at the end
    events: list[Record] = field(default_factory=list)     # DELIVER and CONFIG in order
    submits: list[Record] = field(default_factory=list)
    persists: list[Record] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)

    @property
    def crashed(self) -> bool:
        return self.end is not None


def msg_key(d: Any) -> MsgKey:
    return (int(d.sender), int(d.incarnation), bytes(d.payload))


class Analysis:
    """Indexes built once and shared by the invariants."""

    def __init__(self, run: RunRecord) -> None:
        self.run = run
        lives: dict[LifeKey, Life] = {}
        self.submitted: dict[MsgKey, list[Record]] = defaultdict(list)
        self.problems: list[Record] = []
        for r in run.records:
            key = (r.node, r.inc)
            life = lives.get(key)
            if life is None:
                life = lives[key] = Life(key)
            k = r.kind
            if k == tr.DELIVER or k == tr.CONFIG:
                life.events.append(r)
            elif k == tr.SUBMIT:
                life.submits.append(r)
                self.submitted[(r.node, r.inc, bytes(r.data.payload))].append(r)
            elif k == tr.START:
                life.start = r
            elif k == tr.CRASH or k == tr.LEAVE:
                life.end = r
            elif k == tr.PERSIST:
                life.persists.append(r)
            elif k == tr.ERROR or k == tr.BOUND:
                self.problems.append(r)
        self.lives = lives
        for life in lives.values():
            life.segments = segments_of(life.events)
        # regular ring id -> lives that installed it
        self.installed: dict[Any, list[Life]] = defaultdict(list)
        for life in lives.values():
            for r in life.events:
                if r.kind == tr.CONFIG and r.data.kind is ConfigKind.REGULAR:
                    self.installed[r.data.ring_id].append(life)

    def segment_of(self, life: Life, ring_id: Any) -> Segment | None:
        for seg in life.segments:
            if seg.regular is not None and seg.regular.data.ring_id == ring_id:
                return seg
        return None


def segments_of(events: list[Record]) -> list[Segment]:
    segs: list[Segment] = [Segment(None)]
    for r in events:
        cur = segs[-1]
        if r.kind == tr.CONFIG:
            if r.data.kind is ConfigKind.TRANSITIONAL:
                if cur.trans is None:
                    cur.trans = r
                else:                       # malformed shape; start a fresh segment
                    segs.append(Segment(None, trans=r))
            else:
                cur.next_regular = r
                segs.append(Segment(r))
        elif cur.trans is None:
            cur.in_r.append(r)
        else:
            cur.in_t.append(r)
    return segs


# ---------------------------------------------------------------------------------------
def violation_at(name: str, r: Record, msg: str) -> Violation:
    return Violation(name, msg, r.index, r.node)


def sorted_lives(a: Analysis) -> list[Life]:
    return [a.lives[k] for k in sorted(a.lives)]


def keys_of(records: Iterable[Record]) -> set[MsgKey]:
    return {msg_key(r.data) for r in records}


def life_at(a: Analysis, node: int, t: float) -> Life | None:
    best = None
    for (n, _inc), life in sorted(a.lives.items()):
        if n != node or life.start is None or life.start.time > t:
            continue
        if life.end is not None and life.end.time <= t:
            continue
        best = life
    return best


def last_regular(life: Life, t: float) -> Record | None:
    last = None
    for r in life.events:
        if r.time > t:
            break
        if r.kind == tr.CONFIG and r.data.kind is ConfigKind.REGULAR:
            last = r
    return last
