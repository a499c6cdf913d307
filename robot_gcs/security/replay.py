"""Replay window: which packet counters of one sender's boot were already accepted.

Theory of operation
-------------------
The sliding-bitmap window of IPsec (RFC 4303 section 3.4.3): ``top`` is the highest
counter accepted so far, bit ``i`` of ``bits`` says whether ``top - i`` was accepted. A
counter above ``top`` is new (the window slides up), one inside the window is new when
its bit is clear, one below the window is refused (too old to tell). Counters start at 1.

``fresh`` only looks; ``accept`` records. The sealer calls ``fresh`` before the costly
decryption and ``accept`` only after the packet authenticated, so a forged packet never
moves the window. The window belongs to the Sealer that made it (security/sealer.py),
which is touched only by the runtime's loop-lock holder.
"""

from __future__ import annotations

__all__ = ["ReplayWindow", "WINDOW_BITS"]

WINDOW_BITS = 4096       # counters a datagram may arrive late by (reordering, batching)


class ReplayWindow:
    """Accepted counters of one (sender, boot); see the module docstring."""

    __slots__ = ("top", "bits", "size", "_mask")

    def __init__(self, size: int = WINDOW_BITS) -> None:
        self.top = 0
        self.bits = 0
        self.size = size
        self._mask = (1 << size) - 1

    def fresh(self, n: int) -> bool:
        """``n`` was never accepted and is not too old to tell."""
        if n > self.top:
            return True
        back = self.top - n
        return back < self.size and not (self.bits >> back) & 1 and n > 0

    def accept(self, n: int) -> None:
        """Record ``n`` (call only after ``fresh(n)`` and authentication)."""
        if n > self.top:
            shift = n - self.top
            self.bits = ((self.bits << shift) | 1) & self._mask if shift < self.size else 1
            self.top = n
        else:
            self.bits |= 1 << (self.top - n)
