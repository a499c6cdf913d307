"""Help texts shaped like ``ros2``'s: every option explained, every default shown.

What it owns: ``HelpfulParser``, the parser class of ``robot-gcs`` and (through
``add_subparsers``, which builds sub-parsers of the parent's class) of every subcommand
and tool below it, and its formatter. The formatter appends ``(default: X)`` to an
option's help when the default says something (not None, False, an empty list or a
suppressed default) and the help does not mention it already.
"""

from __future__ import annotations

import argparse
from typing import Any


class DefaultsFormatter(argparse.HelpFormatter):
    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        d = action.default
        if "%(default)" in text or "default" in text.lower() or d is argparse.SUPPRESS \
                or d is None or d is False or d == [] or action.option_strings == []:
            return text
        return f"{text} (default: %(default)s)"


class HelpfulParser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kw: Any) -> None:
        kw.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kw)
