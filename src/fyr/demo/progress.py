"""What `fyr demo` is doing, one line per step on stderr, when stderr is a terminal.

The demo takes ten to twenty seconds before its first message; on a terminal a person should see
the cluster starting, the webhooks going out and each scenario as it resolves. Off a terminal
(CI logs, pipes) nothing is added: stdout stays the messages and the table.
"""

from __future__ import annotations

import time
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO, *, enabled: bool | None = None) -> None:
        self._stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self._started = time.monotonic()

    def step(self, text: str) -> None:
        if not self.enabled:
            return
        self._stream.write(f"\x1b[2m[{time.monotonic() - self._started:5.1f} s]\x1b[0m {text}\n")
        self._stream.flush()
