"""Hints for error messages: "did you mean ...?" for a misspelt name.

Owns one small rule used wherever a name the user wrote is looked up among known ones
(launch keys, classes, parameters, topics, node names on the command line): the closest
known names by ``difflib`` similarity, at most three, best first. No state.
"""

from __future__ import annotations

import difflib
from typing import Iterable

__all__ = ["close_matches", "did_you_mean"]


def close_matches(word: str, options: Iterable[str], n: int = 3) -> list[str]:
    """The known names closest to ``word`` (case-insensitive), best first."""
    opts = sorted({o for o in options if isinstance(o, str)})
    by_lower: dict[str, str] = {}
    for o in opts:
        by_lower.setdefault(o.lower(), o)
    found = difflib.get_close_matches(word.lower(), list(by_lower), n=n, cutoff=0.6)
    return [by_lower[f] for f in found]


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` (or ``'x' or 'y'``), or ``""`` when nothing is close."""
    found = close_matches(word, options)
    if not found:
        return ""
    return "; did you mean " + " or ".join(repr(f) for f in found) + "?"
