"""The no-token sink: with no SLACK_BOT_TOKEN each message is printed instead of posted (a dry run).

It has the same shape as `SlackClient` (the `MessageSink` protocol) so the
notifier's loop does not care where a message goes. The message is the result of a dry run, so it
goes to stdout as readable text (never as an escaped JSON log field); a log line
`slack_message_console` on stderr records that it was printed. It cannot look messages up again,
so a message whose first attempt's outcome is unknown may be printed twice — harmless on a console.
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

    async def auth_test(self) -> dict[str, Any]:
        return {}  # a console takes every message

    async def post(self, channel: str, text: str, blocks: list[dict[str, Any]] | None,
                   metadata: dict[str, Any] | None, thread_ts: str | None = None) -> tuple[str, str]:
        self._last_ts = max(time.time(), self._last_ts + 0.000001)
        ts = f"{self._last_ts:.6f}"
        message = RenderedMessage(text=text, blocks=list(blocks or []), metadata=metadata or {})
        body = render_console(message, channel=channel, thread_ts=thread_ts)
        self.printed.append(body)
        stream = self._stream or sys.stdout
        stream.write(body + "\n\n")
        stream.flush()
        payload = (metadata or {}).get("event_payload", {})
        log.info("slack_message_console", channel=channel, thread_ts=thread_ts,
                 rollout_id=payload.get("rollout_id"), kind=payload.get("kind"))
        return channel, ts

    async def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None) -> None:
        body = render_console(RenderedMessage(text=text, blocks=list(blocks or [])), channel=channel)
        body = f"✏️  (message {ts} updated in place)\n{body}"
        self.printed.append(body)
        stream = self._stream or sys.stdout
        stream.write(body + "\n\n")
        stream.flush()
        log.info("slack_message_console_update", channel=channel, ts=ts)

    async def find_message(self, channel: str, rollout_id: int, oldest: float, *, kind: str = "failure",
                           thread_ts: str | None = None) -> tuple[str, str] | None:
        return None

    async def close(self) -> None:
        return None
