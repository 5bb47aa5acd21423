"""How the command line writes: results on stdout, everything else on stderr, colour only for a
person at a terminal.

Colour (ANSI bold) is used only when the stream it goes to is a terminal and ``NO_COLOR`` is
not set (https://no-color.org): a pipe, a file or CI gets plain text.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

BOLD, RESET = "\033[1m", "\033[0m"


def colour_enabled(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default: stdout as it is now) may carry ANSI colour."""
    stream = sys.stdout if stream is None else stream
    if os.environ.get("NO_COLOR", ""):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def bold(text: str, stream: TextIO | None = None) -> str:
    """``text`` in bold on a terminal, unchanged anywhere else."""
    return f"{BOLD}{text}{RESET}" if colour_enabled(stream) else text
