"""How the `fyr` process ends on Ctrl-C, shared by the entry point, the CLI and the demo.

It imports nothing of Fyr's, so the entry point can use it before anything else is loaded.
"""

from __future__ import annotations

import contextlib
import os
import sys

INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def interrupted() -> None:
    """One word on stderr, exit 130, at once: a second Ctrl-C cannot add a traceback now."""
    try:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        sys.stderr.write("fyr: interrupted\n")
        sys.stderr.flush()
    finally:
        os._exit(INTERRUPTED)
