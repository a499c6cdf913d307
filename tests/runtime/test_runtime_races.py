"""The runtime's races, each pinned by a test that failed before its fix (issue 11).

What an embedding program relies on: a session closed and reopened under the same name
works; an engine refusal reaches the client that made the command; ``statistics()`` is
safe while sessions come and go; nothing a client sent is left in limbo at stop; and a
Ctrl-C in the main thread never lands half-way through engine code.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import pytest
from rt_fakes import FakeFactory, QuietEngine, write_config
from rt_pair import WAIT, next_from, wait_view

import robot_gcs
from robot_gcs import DataMessage, GroupView, LocalProtocolError, SessionClosed
from robot_gcs.core.groups import ClientGone
from robot_gcs.runtime.client_table import ClientNameBusy
from robot_gcs.runtime.daemon import Daemon
from robot_gcs.runtime.interrupts import SHIELD


def _joined(d: Daemon, name: str, group: str = "g", members: int = 1) -> Any:
    s = d.connect(name)
    s.join(group)
    wait_view(s, members)
    return s


# ------------------------------------------------------------ reconnect under one name

@pytest.mark.parametrize("daemons", [1, 2])
def test_a_session_reopened_under_the_same_name_works(tmp_path: Path, daemons: int) -> None:
    # on d2 of two the old session's disconnect waits for the token (d1, the rep, may
    # hold it): before the fix the reopened session looked open and dropped everything
    _, cfg = write_config(tmp_path, daemons)
    ds = [Daemon(cfg, f"d{i + 1}", health=False).start() for i in range(daemons)]
    home = ds[-1]
    me = f"#a#{home.name}"
    try:
        assert all(d.wait_members(daemons, WAIT) for d in ds)
        peer = _joined(ds[0], "peer", members=1)
        for round_ in range(5):
            s = _joined(home, "a", members=2)
            s.multicast("g", b"old%d" % round_)
            assert next_from(peer, me).payload == b"old%d" % round_
            s.close()
            s = home.connect("a")                    # at once, same name
            s.join("g")
            view = s.receive(timeout=WAIT)
            assert isinstance(view, GroupView) and me in view.members, view
            s.multicast("g", b"new%d" % round_)
            assert next_from(peer, me).payload == b"new%d" % round_
            assert next_from(s, me).payload == b"new%d" % round_   # no old events first
            s.close()
    finally:
        for d in ds:
            d.stop()


def test_a_socket_client_reconnecting_under_its_name_gets_in(tmp_path: Path) -> None:
    sock = tmp_path / "d1.sock"
    _, cfg = write_config(tmp_path, 1)
    with Daemon(cfg, "d1", client_address=f"unix:{sock}", health=False) as d:
        local = _joined(d, "local")
        for i in range(5):
            with robot_gcs.connect(f"unix:{sock}", "logger") as s:
                s.join("g")
                assert isinstance(s.receive(timeout=WAIT), GroupView)
                s.multicast("g", b"m%d" % i)
                assert next_from(local, "#logger#d1").payload == b"m%d" % i


def test_a_name_still_leaving_is_a_typed_error_when_the_wait_runs_out(tmp_path: Path) -> None:
    class SlowKill(QuietEngine):                  # the disconnect is never ordered
        def client_disconnect(self, now: float, client: str) -> list[Any]:
            return []

    _, cfg = write_config(tmp_path, 2)
    with Daemon(cfg, "d1", engine_factory=lambda *a: SlowKill(), health=False) as d:
        d.connect("a").close()
        with pytest.raises(ClientNameBusy, match="not ordered yet"):
            d.connect("a", name_wait=0.05)
        assert isinstance(ClientNameBusy("x"), LocalProtocolError)


def test_the_name_is_free_once_the_engine_orders_the_disconnect(tmp_path: Path) -> None:
    release = threading.Event()

    class LateKill(QuietEngine):
        def __init__(self) -> None:
            self.gone: list[str] = []

        def client_disconnect(self, now: float, client: str) -> list[Any]:
            self.gone.append(client)
            return []

        def handle_timer(self, now: float, tid: Any) -> list[Any]:
            return []

    eng = LateKill()
    _, cfg = write_config(tmp_path, 2)
    with Daemon(cfg, "d1", engine_factory=lambda *a: eng, health=False) as d:
        d.connect("a").close()
        got: list[Any] = []
        t = threading.Thread(target=lambda: got.append(d.connect("a", name_wait=WAIT)))
        t.start()
        assert not release.wait(0.05) and t.is_alive()     # still waiting for the name
        d.loop.call_soon_threadsafe(lambda: d._host.carry_out([ClientGone("a")]))  # type: ignore[union-attr]
        t.join(WAIT)
        assert got and got[0].private_name == "#a#d1"


# ------------------------------------------------------------ refusals reach the client

class Picky(QuietEngine):
    """Refuses joins of 'forbidden'."""

    def client_join(self, now: float, client: str, group: str) -> list[Any]:
        if group == "forbidden":
            raise LocalProtocolError(f"group {group!r} is not allowed here")
        return []


def test_an_inline_command_refused_by_the_engine_raises_in_the_caller(tmp_path: Path) -> None:
    _, cfg = write_config(tmp_path, 2)
    with Daemon(cfg, "d1", engine_factory=lambda *a: Picky(), health=False) as d:
        s = d.connect("a")
        with pytest.raises(LocalProtocolError, match="not allowed"):
            s.join("forbidden")
        s.join("fine")                                # the session goes on


def test_a_queued_command_refused_by_the_engine_ends_the_session_with_the_reason(
        tmp_path: Path) -> None:
    _, cfg = write_config(tmp_path, 2, extra_ring="  runtime:\n    inline_commands: false")
    with Daemon(cfg, "d1", engine_factory=lambda *a: Picky(), health=False) as d:
        s = d.connect("a")
        s.join("forbidden")                           # queued: the caller cannot be told now
        with pytest.raises(SessionClosed, match="refused join: group 'forbidden'"):
            s.receive(timeout=WAIT)
        with pytest.raises(SessionClosed):
            s.multicast("fine", b"x")
        d.connect("a").close()                        # the name was given back


def test_an_oversized_message_is_refused_never_dropped_silently(tmp_path: Path) -> None:
    _, cfg = write_config(tmp_path, 1)
    with Daemon(cfg, "d1", health=False) as d:
        s = _joined(d, "a")
        big = bytes(cfg.ring.params.max_message_size + 1)
        with pytest.raises(LocalProtocolError, match="max_message_size"):
            s.multicast("g", big)                     # refused in the caller, naming the limit
        s.multicast("g", b"after")                    # the session goes on
        assert s.receive(timeout=WAIT).payload == b"after"


# ------------------------------------------------------------ statistics while clients churn

def test_statistics_is_safe_while_sessions_come_and_go(tmp_path: Path) -> None:
    _, cfg = write_config(tmp_path, 2)
    with Daemon(cfg, "d1", engine_factory=FakeFactory(), health=False) as d:
        stop = threading.Event()
        errors: list[BaseException] = []

        def churn(k: int) -> None:
            try:
                while not stop.is_set():
                    s = d.connect(f"c{k}", name_wait=WAIT)
                    s.join("g")
                    s.close()
            except BaseException as exc:            # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=churn, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        try:
            for _ in range(300):
                st = d.statistics(timeout=WAIT)
                names = [x.name for x in st.sessions]
                assert len(names) == len(set(names))
        finally:
            stop.set()
            for t in threads:
                t.join(WAIT)
        assert not errors, errors
        st = d.statistics()
        assert st.callback_errors == 0 and st.engine_errors == 0


# ------------------------------------------------------------ stop

def test_no_command_is_left_in_limbo_at_stop(tmp_path: Path) -> None:
    _, cfg = write_config(tmp_path, 2, extra_ring="  runtime:\n    inline_commands: false")
    d = Daemon(cfg, "d1", engine_factory=FakeFactory(), health=False).start()
    sessions = [d.connect(f"s{k}") for k in range(4)]
    ended: list[BaseException] = []

    def flood(s: Any) -> None:
        try:
            while True:
                s.multicast("g", b"x", timeout=WAIT)
        except SessionClosed as exc:
            ended.append(exc)

    threads = [threading.Thread(target=flood, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    d.stop()
    for t in threads:
        t.join(WAIT)
    assert not any(t.is_alive() for t in threads)
    assert len(ended) == len(sessions)
    for s in sessions:
        assert s._handle.pending == 0          # every queued command was fed or released
        with pytest.raises(SessionClosed, match="daemon stopped"):
            s.multicast("g", b"late")


# ------------------------------------------------------------ Ctrl-C in the main thread

class Interrupting:
    """A sink whose push raises SIGINT in the middle of the engine's action list."""

    kind = "test"
    local_objects = True
    high_water = 0
    dropped = 0

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.armed = False

    def push(self, event: Any) -> bool:
        self.events.append(event)
        if self.armed:
            self.armed = False
            signal.raise_signal(signal.SIGINT)    # the handler runs at the next bytecode
        return True

    def closed(self, reason: str) -> None:
        pass

    def queue_depth(self) -> int:
        return 0


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals reach the main thread only")
def test_ctrl_c_inside_engine_code_is_raised_after_it_not_in_it(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGINT)
    _, cfg = write_config(tmp_path, 1)
    with Daemon(cfg, "d1", health=False) as d:
        sink = Interrupting()
        other = _joined(d, "other")
        h = d.attach_client("victim", sink)
        h.join("g")
        assert d.wait_members(1, WAIT)
        tx = _joined(d, "tx", members=3)
        for i in range(20):
            sink.armed = True
            with pytest.raises(KeyboardInterrupt):
                tx.multicast("g", b"m%d" % i)     # inline: delivered before it returns
            # the whole action list was carried out: 'other' got the message too
            assert next_from(other, tx.private_name).payload == b"m%d" % i
        tx.multicast("g", b"after")               # timers and token still fine
        assert next_from(other, tx.private_name).payload == b"after"
        assert d.statistics().engine_errors == 0
    assert [e.payload for e in sink.events if isinstance(e, DataMessage)][-1] == b"after"
    assert SHIELD.depth == 0 and not SHIELD.pending
    assert signal.getsignal(signal.SIGINT) == before      # restored (or still shared)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals reach the main thread only")
def test_a_handler_the_program_installed_is_left_alone(tmp_path: Path) -> None:
    mine = lambda signum, frame: None             # noqa: E731
    old = signal.signal(signal.SIGINT, mine)
    try:
        _, cfg = write_config(tmp_path, 1)
        with Daemon(cfg, "d1", health=False):
            assert signal.getsignal(signal.SIGINT) is mine
        assert signal.getsignal(signal.SIGINT) is mine
    finally:
        signal.signal(signal.SIGINT, old)
