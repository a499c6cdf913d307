"""One processor's main program: the embedded daemon plus its components.

What it owns: the Daemon of this processor and one thread per component. Each thread
creates a Node on the daemon (in-process session named after the component, restricted
to the launch file's topics and groups, with the topics' QoS and message types as
defaults), declares the component's parameters on it (the launch file's values, with
the types the class declares: launch/params.py), constructs the component with the
node's live parameter mapping and spins the node -- so every component has its own
control-loop timers and its own queue, a slow component cannot delay another's
callbacks, and ``robot-gcs param set`` reaches the component's ``self.config``. The
node enters the daemon's topic health by itself (pubsub/local.py).

Restart policy per component (``restart:`` in the launch file):

* ``never``: an exception out of a callback is logged; the component stays down.
* ``on-failure``: it is rebuilt on a fresh Node after a back-off (0.2 s doubling to 5 s),
  at most ``max_restarts`` times.
* ``always``: also rebuilt when it stops by itself (calls ``node.stop()``).

A component that is down for good after failing (state ``failed``) marks the processor
FAILED: ``ProcessorRuntime.failed`` names it, and ``robot-gcs launch --processor`` exits
with status 3 saying which component and why (command.py), so ``--all`` and any other
supervisor see the processor fail instead of a program that still reports "running".

``stop()`` stops every node, closes the components, destroys the nodes and stops the
daemon (which leaves the ring at once, so the others see it immediately).

``cpus:`` of the processor pins the whole program (every thread it has, and through
inheritance every thread it starts: daemon, components) to those CPUs before the daemon
starts. With the GIL, threads of one program hand work to each other all the time;
on one CPU such a hand-off is a context switch, across CPUs it is a wake-up of another
CPU, which costs far more on virtual machines (README, "Latency and the knobs").
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import ConfigError
from ..pubsub import Node, TopicStats
from ..pubsub.logs import LEVEL_PARAM
from .model import ComponentSpec, LaunchFile, Restart
from .params import param_type

log = logging.getLogger(__name__)

BACKOFF_START = 0.2
BACKOFF_MAX = 5.0


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    name: str
    state: str            # starting | running | restarting | failed | stopped
    restarts: int
    last_error: str


class ComponentRunner:
    """Runs one component on its own thread with its restart policy."""

    def __init__(self, spec: ComponentSpec, daemon: Any, launch: LaunchFile,
                 on_exit: Callable[["ComponentRunner"], None] | None = None) -> None:
        self.spec = spec
        self.daemon = daemon
        self.launch = launch
        self.state = "starting"
        self.restarts = 0
        self.last_error = ""
        self.node: Node | None = None
        self.component: Any = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._on_exit = on_exit
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._main, name=f"component-{spec.name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def wait_ready(self, timeout: float) -> bool:
        """True once the component was constructed the first time (or gave up)."""
        return self._ready.wait(timeout)

    def status(self) -> ComponentStatus:
        return ComponentStatus(self.spec.name, self.state, self.restarts, self.last_error)

    def _build(self) -> None:
        node = Node(self.spec.name, self.daemon, allowed_topics=[t.name for t in self.launch.topics],
                    allowed_groups=self.launch.groups, default_qos=self.launch.topic_qos,
                    topic_types=self.launch.topic_types)
        with self._lock:
            self.node = node
        if self._stop.is_set():
            node.stop()
        for key, value in self.spec.params.items():
            if key == LEVEL_PARAM:
                node.set_parameters({key: value})
            else:
                node.declare_parameter(key, value, type=param_type(self.spec.cls, key, value))
        build = getattr(self.spec.cls, "build_with_daemon", None)     # bridges (bridges.py)
        self.component = (build(node, node.parameters, self.daemon) if build is not None
                          else self.spec.cls(node, node.parameters))

    def _teardown(self) -> None:
        comp, self.component = self.component, None
        with self._lock:
            node, self.node = self.node, None
        if comp is not None and hasattr(comp, "close"):
            try:
                comp.close()
            except Exception:
                log.exception("component %s: close() failed", self.spec.name)
        if node is not None:
            try:
                node.destroy()
            except Exception:
                log.debug("component %s: node destroy failed", self.spec.name, exc_info=True)

    def _main(self) -> None:
        backoff = BACKOFF_START
        try:
            while not self._stop.is_set():
                failed = False
                try:
                    self._build()
                    self.state = "running"
                    self._ready.set()
                    assert self.node is not None
                    self.node.spin()
                except Exception as exc:
                    if self._stop.is_set():
                        break
                    failed = True
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.error("component %s failed: %s", self.spec.name, self.last_error, exc_info=True)
                finally:
                    self._teardown()
                if self._stop.is_set():
                    break
                policy = self.spec.restart
                again = policy is Restart.ALWAYS or (failed and policy is Restart.ON_FAILURE)
                if not again or self.restarts >= self.spec.max_restarts:
                    self.state = "failed" if failed else "stopped"
                    if failed:
                        log.error("component %s is down (restart=%s, restarts=%d)",
                                  self.spec.name, policy.value, self.restarts)
                    break
                self.state = "restarting"
                self.restarts += 1
                log.warning("restarting component %s in %.1f s (restart %d of %d)",
                            self.spec.name, backoff, self.restarts, self.spec.max_restarts)
                if self._stop.wait(backoff):
                    break
                backoff = min(BACKOFF_MAX, backoff * 2)
        finally:
            if self.state in ("running", "starting", "restarting"):
                self.state = "stopped"
            self._ready.set()
            if self._on_exit is not None:
                self._on_exit(self)

    def stop(self) -> None:
        """Ask the component to stop (thread-safe); join() to wait for it."""
        self._stop.set()
        with self._lock:
            node = self.node
        if node is not None:
            node.stop()

    def join(self, timeout: float | None = None) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()


def pin_process(cpus: tuple[int, ...]) -> None:
    """Set the CPU affinity of every thread of this process (Linux: one task per thread)."""
    cpu_set = set(cpus)
    os.sched_setaffinity(0, cpu_set)          # this thread first: raises for a bad set
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:                            # no /proc: this thread is what we can do
        return
    for tid in tids:
        try:
            os.sched_setaffinity(tid, cpu_set)
        except ProcessLookupError:             # the thread ended meanwhile
            pass


class ProcessorRuntime:
    """The main program of processor ``name``: ``start()``, then ``stop()``."""

    def __init__(self, launch: LaunchFile, name: str, daemon_factory: Callable[..., Any] | None = None) -> None:
        self.launch = launch
        self.spec = launch.processor(name)
        self.name = name
        self._factory = daemon_factory
        self.daemon: Any = None
        self.runners: list[ComponentRunner] = []
        self._failed = threading.Event()

    def start(self, ready_timeout: float = 10.0) -> None:
        if self.spec.cpus is not None:
            try:
                pin_process(self.spec.cpus)
            except OSError as exc:
                raise ConfigError(f"cannot pin processor {self.name} to CPUs "
                                  f"{list(self.spec.cpus)}: {exc.strerror} (this machine "
                                  f"allows {sorted(os.sched_getaffinity(0))})",
                                  self.launch.path, self.spec.line,
                                  f"processors.{self.name}.cpus") from None
        if self._factory is not None:
            self.daemon = self._factory()
        else:
            from ..runtime.daemon import Daemon
            self.daemon = Daemon.from_file(self.launch.config_path, name=self.name)
        self.daemon.start()
        for c in self.spec.components:
            r = ComponentRunner(c, self.daemon, self.launch, on_exit=self._on_component_exit)
            self.runners.append(r)
            r.start()
        for r in self.runners:
            r.wait_ready(ready_timeout)

    def status(self) -> tuple[ComponentStatus, ...]:
        return tuple(r.status() for r in self.runners)

    def _on_component_exit(self, runner: ComponentRunner) -> None:
        if runner.state == "failed":
            self._failed.set()

    def wait_failed(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for a component to fail for good; True if one did."""
        return self._failed.wait(timeout)

    @property
    def failed(self) -> tuple[ComponentStatus, ...]:
        """Components down for good after failing (the processor is FAILED if any)."""
        return tuple(st for st in self.status() if st.state == "failed")

    def topic_statistics(self) -> list[TopicStats]:
        """Every component node's TopicStats (the diagnostics topic source)."""
        out: list[TopicStats] = []
        for r in self.runners:
            node = r.node
            if node is not None:
                out.extend(node.statistics())
        return out

    def stop(self, timeout: float = 10.0) -> None:
        for r in self.runners:
            r.stop()
        for r in self.runners:
            if not r.join(timeout):
                log.warning("component %s did not stop within %.1f s", r.spec.name, timeout)
        if self.daemon is not None:
            self.daemon.stop()
