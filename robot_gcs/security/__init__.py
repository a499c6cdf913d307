"""Security of a ring: key files, sealed ring packets, authenticated client sessions.

* ``keys``     key files: ``robot-gcs keygen``, reading, single-machine auto-creation
* ``config``   the ``ring:`` keys about security (``key_file``, ``security`` ...)
* ``replay``   the sliding replay window of one sender's boot
* ``sealer``   ChaCha20-Poly1305 sealing of every ring datagram (imports ``cryptography``)
* ``session_auth``  challenge-response for TCP client sessions
* ``command``  ``robot-gcs keygen``

Nothing is imported here, so that loading the command line does not load ``cryptography``.
"""
