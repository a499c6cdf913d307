"""Per-topic records for the health model, from the topic layer's endpoint statistics.

Owns one function, ``topic_records``: it folds the endpoint statistics of every Node on a
daemon (``pubsub`` ``TopicStats``: topic, role "pub"/"sub", count, dropped,
deadline_misses, last_age, rate_hz; optional ``bytes``/``deadline``) into one record per
topic, the shape ``StatsSampler`` reads. Rules: a topic's subscribers speak for it (what
arrives is what matters); when a daemon only publishes a topic, its publishers do.
Rates take the highest endpoint's (every subscriber sees the same stream), age the
freshest, misses and drops add up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable


@dataclass(frozen=True, slots=True)
class TopicRecord:
    topic: str
    rate_hz: float
    msgs: int
    bytes: float | None
    age_s: float | None
    deadline: float | None
    deadline_misses: int
    drops: int
    bandwidth_bps: float | None = None


def topic_records(stats: Iterable[Any]) -> list[TopicRecord]:
    """Fold endpoint statistics into one record per topic (sorted by topic)."""
    by_topic: dict[str, list[Any]] = {}
    for s in stats:
        by_topic.setdefault(str(getattr(s, "topic", "?")), []).append(s)
    out = []
    for topic in sorted(by_topic):
        eps = by_topic[topic]
        subs = [e for e in eps if getattr(e, "role", "sub") == "sub"]
        use = subs or eps
        ages = [e.last_age for e in use if getattr(e, "last_age", None) is not None]
        deadlines = [d for d in (getattr(e, "deadline", None) for e in use) if d]
        nbytes = [b for b in (getattr(e, "bytes", None) for e in use) if b is not None]
        bws = [b for b in (getattr(e, "bandwidth_bps", None) for e in use) if b is not None]
        out.append(TopicRecord(
            topic=topic,
            rate_hz=max(float(getattr(e, "rate_hz", 0.0) or 0.0) for e in use),
            msgs=max(int(getattr(e, "count", 0) or 0) for e in use),
            bytes=max(nbytes) if nbytes else None,
            age_s=min(ages) if ages else None,
            deadline=min(deadlines) if deadlines else None,
            deadline_misses=sum(int(getattr(e, "deadline_misses", 0) or 0) for e in use),
            drops=sum(int(getattr(e, "dropped", 0) or 0) for e in use),
            bandwidth_bps=max(bws) if bws else None))
    return out
