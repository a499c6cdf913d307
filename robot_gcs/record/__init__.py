"""Recordings of the agreed order (MCAP) and live views (Foxglove).

* ``record``: recorder.py (a tool Node's event stream to MCAP, each message with its
  agreed position, order.py), writer.py (files, chunks, splitting), schema.py (JSON
  schemas and converters of message types), record_command.py (the CLI).
* ``bag info`` / ``bag compare``: bag.py (reading, also files cut by a kill),
  bag_command.py.
* ``play``: player.py, play_command.py.
* ``foxglove``: live.py (the Foxglove WebSocket server), foxglove_command.py.

Heavy dependencies (``mcap``, ``foxglove-sdk``) are imported inside functions: the CLI
imports every command module to build its parser. Install them with the ``record`` extra.
"""
