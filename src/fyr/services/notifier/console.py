"""The no-token sink: with no SLACK_BOT_TOKEN the message goes to the console/log (embedded default).

It has the same shape as `SlackClient` (`post`, `update`, `find_message`, `channel_id`, `close`) so the
notifier's loop does not care where a message goes. On a TTY (or when given a stream, as
`fyr demo` may) the message is printed as readable text; otherwise it is one structured log line
`slack_message_console` carrying the same text. It cannot look messages up again, so a message
whose first attempt's outcome is unknown may be printed twice — harmless on a console.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import structlog

from fyr.services.notifier.render import RenderedMessage, render_console

log = structlog.get_logger()


class ConsoleSink:
    timeout = 1.0
    paced = False  # Slack's one-message-per-second-per-channel does not apply to a console

    def __init__(self, *, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._last_ts = 0.0
        self.printed: list[str] = []

    def channel_id(self, channel: str) -> str:
        return channel

    async def post(self, channel: str, text: str, blocks: list[dict[str, Any]] | None,
                   metadata: dict[str, Any] | None, thread_ts: str | None = None) -> tuple[str, str]:
        self._last_ts = max(time.time(), self._last_ts + 0.000001)
        ts = f"{self._last_ts:.6f}"
        body = render_console(RenderedMessage(text=text, blocks=list(blocks or []), metadata=metadata or {}),
                              channel=channel, thread_ts=thread_ts)
        self.printed.append(body)
        stream = self._stream
        if stream is None and sys.stdout.isatty():
            stream = sys.stdout
        payload = (metadata or {}).get("event_payload", {})
        if stream is not None:
            stream.write(body + "\n\n")
            stream.flush()
        else:
            log.info("slack_message_console", channel=channel, thread_ts=thread_ts,
                     rollout_id=payload.get("rollout_id"), kind=payload.get("kind"), text=body)
        return channel, ts

    async def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None) -> None:
        body = render_console(RenderedMessage(text=text, blocks=list(blocks or [])), channel=channel)
        body = f"✏️  (message {ts} updated in place)\n{body}"
        self.printed.append(body)
        stream = self._stream
        if stream is None and sys.stdout.isatty():
            stream = sys.stdout
        if stream is not None:
            stream.write(body + "\n\n")
            stream.flush()
        else:
            log.info("slack_message_console_update", channel=channel, ts=ts, text=body)

    async def find_message(self, channel: str, rollout_id: int, oldest: float, *, kind: str = "failure",
                           thread_ts: str | None = None) -> tuple[str, str] | None:
        return None

    async def close(self) -> None:
        return None
