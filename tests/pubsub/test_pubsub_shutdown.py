"""Ctrl-C stops a node program quietly (issue 16, item 6): ``Node.spin()`` returns on the
first Ctrl-C, and a second one while the program shuts down prints nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

PROGRAM = """
import sys, threading
sys.path.insert(0, {here!r})
from pubsub_fakebus import FakeBus
from robot_gcs.pubsub.node import Node
node = Node("n", FakeBus().connect("n"))
timer = node.create_timer(0.01, lambda: (print("spinning", flush=True), timer.cancel()))
node.spin()                      # "spinning" is printed from inside it
print("stopping", flush=True)
threading.Event().wait(2.0)      # a slow shutdown, like daemon.stop() leaving the ring
print("stopped", flush=True)
"""


def test_a_second_ctrl_c_during_shutdown_is_quiet() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    p = subprocess.Popen([sys.executable, "-c", PROGRAM.format(here=str(HERE))], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "spinning"
        p.send_signal(signal.SIGINT)
        assert p.stdout.readline().strip() == "stopping"      # spin() returned
        p.send_signal(signal.SIGINT)                           # during the shutdown
        assert p.stdout.readline().strip() == "stopped"
        assert p.wait(30) == 0
        assert p.stderr is not None and p.stderr.read() == ""
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


EXIT_PROGRAM = """
import atexit, signal, sys
sys.path.insert(0, {root!r})
from robot_gcs.pubsub.shutdown import quiet_interrupts
# registered first, so it runs last among the exit hooks: what a Ctrl-C would meet
# during the interpreter's final teardown
atexit.register(lambda: print("at exit:", signal.getsignal(signal.SIGINT) is signal.SIG_IGN))
quiet_interrupts()
quiet_interrupts()               # twice: one exit hook, not two
"""


def test_a_ctrl_c_in_the_last_moments_of_exit_is_ignored() -> None:
    # Python gives every signal with a Python handler its default action back at exit, so a
    # counting handler alone would let a late second Ctrl-C kill the program (status -2)
    out = subprocess.run([sys.executable, "-c", EXIT_PROGRAM.format(root=str(ROOT))],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout == "at exit: True\n", (out.stdout, out.stderr)
