"""Reply window: hold an arriving token briefly so a local client's reply can ride on it.

Theory of operation
-------------------
In a token ring a message waits for the token. In a request/reply exchange between
two daemons the request and the token usually arrive together; the daemon hands the
request to its client and, having nothing to send yet, forwards the token at once --
so the reply, submitted a few tens of microseconds later, waits a whole rotation.
Like TCP's delayed ACK (which waits to piggyback a response), the daemon may keep the
token datagram for a short window (``runtime.reply_window_us``, default 300 us) when
local clients were just handed data: a client command in the window releases it at
once (the reply goes out on this visit), otherwise the window's end does.

Holding a datagram is the same as the network delivering it a little later, which the
protocol tolerates by design (token retransmission waits ``token_retransmit``, tens of
milliseconds): the engine is not involved and ordering/EVS cannot change. The cost is
the window's delay to the rest of the ring when no reply comes, so the policy learns:
after ``MISSES`` windows in a row that ended without a local command, it stops holding
for the next ``BACKOFF`` tokens (one-way traffic, e.g. publish/subscribe, then pays a
held token about once per hundred).

A window also ends early, as a miss, when the one session that was handed the data
comes back to wait for more without having sent anything (it is a subscriber, not a
server): ``held_for`` names that session's sink, and the waiting reader
(runtime/waiting_reader.py) releases the token as it starts to wait.

This class is the policy only (no I/O, no clock); runtime/engine_driver.py holds the
datagram, arms the loop timer and feeds the engine.
"""

from __future__ import annotations

__all__ = ["ReplyWindow"]

MISSES = 3        # windows in a row without a local command before backing off
BACKOFF = 100     # tokens passed on at once after that


class ReplyWindow:
    """When to hold an arriving token (see the module docstring)."""

    def __init__(self, window: float) -> None:
        self.window = window              # seconds; 0 disables holding
        self.fed_sinks = False            # local clients got data since the last token
        self.fed_only: object | None = None   # ... and the one sink they went to (None: several)
        self.held_for: object | None = None   # fed_only of the token being held
        self.holds = 0                    # tokens held
        self.hits = 0                     # ... released early by a local command
        self.waiter_releases = 0          # ... released early: its session waits again
        self._misses = 0                  # consecutive windows that ran out
        self._skip = 0                    # tokens still to pass on before holding again

    def fed(self, sink: object) -> None:
        """An event was pushed to ``sink``."""
        if not self.fed_sinks:
            self.fed_sinks = True
            self.fed_only = sink
        elif self.fed_only is not sink:
            self.fed_only = None

    def should_hold(self) -> bool:
        """A token arrived: hold it? (also consumes the 'sinks were fed' mark)."""
        fed, self.fed_sinks = self.fed_sinks, False
        self.held_for = self.fed_only if fed else None
        if not self.window or not fed:
            return False
        if self._skip:
            self._skip -= 1
            return False
        self.holds += 1
        return True

    def released_by_command(self) -> None:
        self.hits += 1
        self._misses = 0

    def waiter_returned(self) -> None:
        """The session the token was held for waits again without a reply: a miss."""
        self.waiter_releases += 1
        self.expired()

    def expired(self) -> None:
        self._misses += 1
        if self._misses >= MISSES:
            self._misses = 0
            self._skip = BACKOFF
