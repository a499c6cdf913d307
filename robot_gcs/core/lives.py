"""Lives of the peers: which incarnation of each sender counts (PROTOCOL.md 7).

Theory of operation
-------------------
Every packet carries its sender's incarnation; a daemon draws a larger one at every
start (runtime/state.py: the stored one + 1, or the clock), so packets of an earlier
life -- still in flight or retransmitted -- are dropped as stale, and a larger one means
the peer restarted. A daemon that lost its state directory on a computer whose clock is
behind (a robot without a real-time clock) starts with a *smaller* incarnation than its
previous life; by that rule alone every peer would drop its packets for good.

The rule here: a smaller incarnation is a **new life** when it comes in a JOIN (what a
starting daemon sends first), the sender's current life has been silent for ``quiet``
seconds (no packet of it accepted) and the sender is not a member of this node's ring or
of the ring it is committing (``member`` says so; in GATHER a silent old life is handled
as for any restart: it leaves the consensus). A
previous life that is silent that long is gone: it is not in any ring here any more
(token loss and consensus, each far shorter than ``quiet``, removed it), and a datagram
delayed by more than ``quiet`` on a LAN does not exist. A packet of a still older life
that did arrive that late would look like one more new life -- a joiner that never
answers, which the membership protocol already removes by consensus timeout; it cannot
be delivered in a configuration, because its ring ids are those of rings long gone.
The simulator's scripted scenario ``rewound_restart`` checks the EVS invariants and the
rejoin.

``admit(now, sender, inc, member, joining)`` returns ``STALE`` (drop), ``SAME`` or ``NEW``
(a restart: the engine treats the sender as a new life) and remembers ``now`` for
accepted packets. A node can miss every JOIN of a rewound life (lost, or dropped because
another member's JOIN had already put that node id in the set it gathers with) and still
install a ring with it, on the word of the others; so when a ring is installed,
``adopt(now, member, inc)`` takes each member's incarnation from the commit token, where
the member wrote it itself (simulator seed 7184, ``--nodes 4 --clients 3 --groups 5 --loss
0.1 --all-faults``: without it one node dropped the rewound life's messages in every ring
it installed, and was excluded again and again). Owner: one ``Lives`` per engine, touched only by it.
"""

from __future__ import annotations

import enum

from .params import ProtocolParams

__all__ = ["Lives", "Verdict", "rewind_quiet", "REWIND_QUIET_CONSENSUS"]

#: a peer's smaller incarnation is a new life after this many consensus timeouts (plus
#: one merge interval) without a packet of its current life
REWIND_QUIET_CONSENSUS = 4


def rewind_quiet(p: ProtocolParams) -> float:
    """Seconds of silence after which a smaller incarnation is a new life."""
    return REWIND_QUIET_CONSENSUS * p.consensus_timeout + p.merge_interval


class Verdict(enum.Enum):
    STALE = "stale"      # an older life's packet: drop
    SAME = "same"        # the current life (or the first one heard)
    NEW = "new"          # a restart: a larger incarnation, or a smaller one after silence


class Lives:
    """Current incarnation and last accepted packet time of every peer."""

    def __init__(self, quiet: float) -> None:
        self.quiet = quiet
        self.incarnation: dict[int, int] = {}
        self.heard: dict[int, float] = {}
        self.rewinds = 0                # smaller incarnations taken as new lives
        self.adopted = 0                # lives learned from a commit token (``adopt``)

    def admit(self, now: float, sender: int, inc: int, member: bool,
              joining: bool = True) -> Verdict:
        seen = self.incarnation.get(sender)
        verdict = Verdict.SAME
        if seen is not None and inc != seen:
            if inc > seen:
                verdict = Verdict.NEW
            elif joining and not member and now - self.heard.get(sender, now) >= self.quiet:
                verdict = Verdict.NEW
                self.rewinds += 1
            else:
                return Verdict.STALE
        self.incarnation[sender] = inc
        self.heard[sender] = now
        return verdict

    def adopt(self, now: float, member: int, inc: int) -> bool:
        """``member`` wrote ``inc`` into the commit token of the ring this node is
        installing: that is its current life, whatever this node heard before (it may have
        dropped the JOINs of a rewound life while others took it in). True when that is
        a life this node did not know."""
        new = self.incarnation.get(member) != inc
        if new:
            self.adopted += 1
        self.incarnation[member] = inc
        self.heard[member] = now
        return new
