"""Sans-IO protocol core: wire format, token-ring ordering, EVS membership, groups.

Nothing in this package reads a clock, opens a socket, starts a thread or uses global
randomness: every entry point takes ``now`` and returns a list of actions for a driver
(the runtime or the simulator) to carry out. ``tests/test_core_purity.py`` enforces it.
"""
