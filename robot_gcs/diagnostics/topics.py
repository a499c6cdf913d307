"""Per-topic records for the health model, from the topic layer's endpoint statistics.

Owns one function, ``topic_records``: it folds the endpoint statistics of every Node on a
daemon (``pubsub`` ``TopicStats``: topic, role "pub"/"sub", count, bytes, dropped,
deadline, deadline_misses, type_errors, last_age, rate_hz) into one record per topic, the shape
``StatsSampler`` reads. Rules: a topic's subscribers speak for it (what arrives is what
matters); when a daemon only publishes a topic, its publishers do. Rates take the highest
endpoint's (every subscriber sees the same stream), byte counts the highest, age the
freshest, misses and drops add up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..pubsub import TopicStats


@dataclass(frozen=True, slots=True)
class TopicRecord:
    topic: str
    rate_hz: float
    msgs: int
    bytes: int                # message body bytes (the sampler turns them into a rate)
    age_s: float | None
    deadline: float | None
    deadline_misses: int
    drops: int
    type_errors: int = 0


def topic_records(stats: Iterable[TopicStats]) -> list[TopicRecord]:
    """Fold endpoint statistics into one record per topic (sorted by topic)."""
    by_topic: dict[str, list[TopicStats]] = {}
    for s in stats:
        by_topic.setdefault(s.topic, []).append(s)
    out = []
    for topic in sorted(by_topic):
        eps = by_topic[topic]
        use = [e for e in eps if e.role == "sub"] or eps
        ages = [e.last_age for e in use if e.last_age is not None]
        deadlines = [e.deadline for e in use if e.deadline]
        out.append(TopicRecord(
            topic=topic,
            rate_hz=max(e.rate_hz for e in use),
            msgs=max(e.count for e in use),
            bytes=max(e.bytes for e in use),
            age_s=min(ages) if ages else None,
            deadline=min(deadlines) if deadlines else None,
            deadline_misses=sum(e.deadline_misses for e in use),
            drops=sum(e.dropped for e in use),
            type_errors=sum(e.type_errors for e in use)))
    return out
