"""Reply window: a token may wait briefly so that a local client's reply rides on it.

Theory of operation
-------------------
In a token ring a message waits for the token. In a request/reply exchange between two
daemons the request and the token usually arrive together; the engine hands the request
to its client and, having nothing to send yet, would forward the token at once -- so the
reply, submitted tens of microseconds later, waits a whole rotation. Like TCP's delayed
ACK, the engine may instead keep an arriving token for a short window
(``ProtocolParams.reply_window``, default 300 us) when local clients were just handed
data (``Engine.reply_expected``): a local submit in the window releases it at once (the
reply goes out on this visit), otherwise the window's end (``TimerId.REPLY_WINDOW``) does.

Holding a token is the same as the network delivering it later, which the protocol
tolerates by design (the token retransmit interval is tens of milliseconds): ordering and
EVS cannot change, and the simulator runs the same code. Any other packet arriving
releases the held token first, so the engine still processes packets in arrival order.
The window's end may run up to ``REPLY_SLACK`` late (``SetTimer.slack``): a driver may
fold it into a wake-up it makes anyway.

The cost is the window's delay to the rest of the ring when no reply comes, so the policy
learns: after ``MISSES`` windows in a row that ended without a local submit it stops
holding for the next ``BACKOFF`` tokens (one-way traffic then pays a held token about
once per hundred). A window also ends early, as a miss, when the one client that was
handed the data waits for more without having sent anything (``Engine.reply_not_coming``):
it is a subscriber, not a server.

A token the quiet ring's holder keeps (``RingState.holder``) is not held for a reply on
top: the reply rides the kept token anyway (``token_kept``). In a ring of two the member
that receives a request is that holder, so the window matters in larger rings.

This class is the policy only: no tokens, no timers; core/token_flow.py holds the token.
"""

from __future__ import annotations

__all__ = ["ReplyWindow", "MISSES", "BACKOFF", "REPLY_SLACK"]

MISSES = 3         # windows in a row without a local submit before backing off
BACKOFF = 100      # tokens passed on at once after that
REPLY_SLACK = 0.010   # the window's end may come this much late (seconds)


class ReplyWindow:
    """When to hold an arriving token (see the module docstring). Owned by one engine."""

    __slots__ = ("window", "fed_sinks", "fed_only", "held_for", "holds", "hits",
                 "waiter_releases", "_misses", "_skip")

    def __init__(self, window: float) -> None:
        self.window = window              # seconds; 0 disables holding
        self.fed_sinks = False            # local clients got data since the last token
        self.fed_only: str | None = None     # ... and the one client they went to (None: several)
        self.held_for: str | None = None     # fed_only of the token being held
        self.holds = 0                    # tokens held
        self.hits = 0                     # ... released early by a local submit
        self.waiter_releases = 0          # ... released early: its client waits again
        self._misses = 0                  # consecutive windows that ran out
        self._skip = 0                    # tokens still to pass on before holding again

    def fed(self, client: str | None) -> None:
        """Data went to ``client`` (None: to several clients)."""
        if not self.fed_sinks:
            self.fed_sinks = True
            self.fed_only = client
        elif self.fed_only != client:
            self.fed_only = None

    def should_hold(self, busy: bool) -> bool:
        """A token arrived: hold it? Never while ``busy`` (there is something to send).
        Also consumes the 'clients were fed' mark."""
        fed, self.fed_sinks = self.fed_sinks, False
        self.held_for = self.fed_only if fed else None
        if busy or not self.window or not fed:
            return False
        if self._skip:
            self._skip -= 1
            return False
        self.holds += 1
        return True

    def token_kept(self) -> None:
        """An arriving token is kept anyway (the quiet ring's holder, core/token_flow.py):
        a local reply will ride it, no window is needed; consumes the 'fed' mark."""
        self.fed_sinks = False
        self.held_for = None

    def submitted(self, holding: bool) -> None:
        """A local submit: it releases a held token (a hit); with none held, the clients
        have reacted to what they were handed, so the next token is not held."""
        if holding:
            self.hits += 1
            self._misses = 0
        else:
            self.fed_sinks = False

    def waiter_returned(self) -> None:
        """The client the token was held for waits again without a reply: a miss."""
        self.waiter_releases += 1
        self.expired()

    def expired(self) -> None:
        self._misses += 1
        if self._misses >= MISSES:
            self._misses = 0
            self._skip = BACKOFF
