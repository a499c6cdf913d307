"""Two daemons in this process, session ``a`` on d1 and ``b`` on d2, both in group g
(``daemons=3``: a third daemon d3 in the ring, with no session).

Shared by the reply-window and waiting-reader tests: request/reply between two daemons
(``ping_pong`` from one thread, or ``ponger`` answering from its own thread as a second
program would).
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Iterator

from rt_fakes import write_config

from robot_gcs import DataMessage, GroupView
from robot_gcs.runtime.daemon import Daemon

WAIT = 20.0


def wait_view(s: Any, members: int) -> None:
    while True:
        ev = s.receive(timeout=WAIT)
        assert ev is not None, f"{s.private_name}: no view with {members} members"
        if isinstance(ev, GroupView) and len(ev.members) == members:
            return


def _wait_ring(ds: list[Daemon]) -> None:
    """Until every daemon's last regular configuration has all of them."""
    deadline = time.monotonic() + WAIT
    while not all(h and len(h[-1].members) == len(ds)
                  for h in (d.membership_history() for d in ds)):
        assert time.monotonic() < deadline, "the ring did not form with every daemon"
        time.sleep(0.01)


@contextmanager
def daemon_pair(tmp_path: Path, runtime: dict[str, Any] | None = None, health: bool = False,
                token_ms: int | None = None,
                daemons: int = 2) -> Iterator[tuple[Daemon, Daemon, Any, Any]]:
    """``runtime``: ring.runtime keys of the config; stopped afterwards."""
    lines = "".join(f"\n    {k}: {str(v).lower() if isinstance(v, bool) else v}"
                    for k, v in (runtime or {}).items())
    _, cfg = write_config(tmp_path, daemons, token_ms=token_ms,
                          extra_ring=f"  runtime:{lines}" if lines else "")
    with ExitStack() as stack:
        ds = [stack.enter_context(Daemon(cfg, f"d{i + 1}", health=health))
              for i in range(daemons)]
        _wait_ring(ds)
        d1, d2 = ds[0], ds[1]
        a, b = d1.connect("a"), d2.connect("b")
        a.join("g")
        b.join("g")
        wait_view(a, 2)
        wait_view(b, 2)
        yield d1, d2, a, b


def next_from(s: Any, sender: str) -> DataMessage:
    while True:
        ev = s.receive(timeout=WAIT)
        assert ev is not None, f"{s.private_name}: nothing from {sender}"
        if isinstance(ev, DataMessage) and ev.sender == sender:
            return ev


def ping_pong(a: Any, b: Any, rounds: int) -> None:
    for i in range(rounds):
        a.multicast("g", b"ping%d" % i, self_discard=True)
        assert next_from(b, a.private_name).payload == b"ping%d" % i
        b.multicast("g", b"pong%d" % i, self_discard=True)
        assert next_from(a, b.private_name).payload == b"pong%d" % i


def ponger(b: Any, pinger: str, rounds: int) -> threading.Thread:
    """b answers every ping from its own thread (as a second program would)."""
    def run() -> None:
        for _ in range(rounds):
            ping = next_from(b, pinger)
            b.multicast("g", b"re:" + ping.payload, self_discard=True)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t
