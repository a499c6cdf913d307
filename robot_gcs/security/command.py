"""``robot-gcs keygen PATH``: write a fresh ring key file (mode 0600, never overwrites).

Prints the key's fingerprint, and what to do next: copy the file to every computer of
the ring (same path or not) and name it as ``key_file`` under ``ring:`` in the config.
Exit status 0 when written, 1 when the file exists or cannot be made.
"""

from __future__ import annotations

import argparse
import sys

from .keys import KeyFileError, write_key_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="where to write the new key (must not exist)")


def run(args: argparse.Namespace) -> int:
    try:
        fpr = write_key_file(args.path)
    except KeyFileError as exc:
        print(f"robot-gcs keygen: {exc}", file=sys.stderr)
        return 1
    print(f"wrote a new ring key to {args.path} (fingerprint {fpr}, mode 0600).\n"
          "Copy it to every computer of the ring (keep it private: anyone with it can join "
          "the ring) and set it in the ring config:\n"
          f"  ring:\n    key_file: {args.path}")
    return 0
