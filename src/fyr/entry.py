"""The `fyr` executable's first frame: Ctrl-C at any moment, even while Python imports, ends cleanly.

The console script imports its target before calling it; an interrupt while `fyr.cli` and its
dependencies load would otherwise print a traceback.
"""

from __future__ import annotations

from fyr.exits import interrupted


def main() -> None:
    try:
        from fyr.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:
        interrupted()
