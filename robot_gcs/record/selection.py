"""Which topics and groups a recorder, player or live server takes.

What it owns: ``Selection``, a frozen value parsed from the command line: exact topic
names (``/odom``), exact group names (``ctl``: a plain process group, recorded as raw
messages), shell patterns over topic names (``'/cam/*'``, fnmatch rules) and ``--all``.
``groups_for(topics)`` turns the topics the registry announces into the groups to join;
``takes(topic)`` answers for one topic (replay filtering). Patterns and ``--all`` only
match topics somebody announces, so a recorder re-asks as the registry grows.

Misuse (nothing selected, a name that is neither a topic nor a group) is a
``LocalProtocolError`` naming the bad entry.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Iterable

from ..errors import LocalProtocolError
from ..pubsub.qos import check_topic, topic_group

_PATTERN_CHARS = set("*?[")


@dataclass(frozen=True, slots=True)
class Selection:
    topics: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    everything: bool = False

    @classmethod
    def parse(cls, names: Iterable[str], everything: bool = False,
              allow_empty: bool = False) -> "Selection":
        topics, groups, patterns = [], [], []
        for name in names:
            if _PATTERN_CHARS & set(name):
                patterns.append(name)
            elif name.startswith("/"):
                topics.append(check_topic(name))
            elif name.startswith("t:/"):
                topics.append(check_topic(name[2:]))
            elif name and not name.startswith("#"):
                groups.append(name)
            else:
                raise LocalProtocolError(
                    f"{name!r} is neither a topic (/name), a group name nor a pattern")
        if not (topics or groups or patterns or everything or allow_empty):
            raise LocalProtocolError("name topics or groups to take, a pattern, or --all")
        return cls(tuple(topics), tuple(groups), tuple(patterns), everything)

    def takes(self, topic: str) -> bool:
        if self.everything or topic in self.topics:
            return True
        if not (self.topics or self.patterns or self.groups):
            return True                       # nothing named: everything (replay, live)
        return any(fnmatch.fnmatchcase(topic, p) for p in self.patterns)

    def groups_for(self, announced: Iterable[str]) -> set[str]:
        """The groups to be in: named topics and groups, plus announced topics that match."""
        out = {topic_group(t) for t in self.topics} | set(self.groups)
        if self.everything or self.patterns:
            out |= {topic_group(t) for t in announced if self.takes(t)}
        return out
