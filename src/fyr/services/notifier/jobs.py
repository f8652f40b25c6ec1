"""The notifier's working types: where messages go (`MessageSink`), a claimed row in hand (`Job`),
one channel's queue (`Lane`), what a job will send (`Plan`), and two small loop helpers.

Apart from `main.py` so that the service loop reads as the decisions it makes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from fyr.db.queue import Claim
from fyr.services.notifier.render import RenderedMessage
from fyr.services.notifier.slack_client import RateLimited

OnSent = Callable[[int, str, str], None]


class MessageSink(Protocol):
    """Where messages go: `SlackClient` (token set) or `ConsoleSink` (no token)."""

    @property
    def timeout(self) -> float: ...

    def channel_id(self, channel: str) -> str: ...

    async def post(self, channel: str, text: str, blocks: list[dict[str, Any]] | None,
                   metadata: dict[str, Any] | None, thread_ts: str | None = None) -> tuple[str, str]: ...

    async def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None) -> None: ...

    async def find_message(self, channel: str, rollout_id: int, oldest: float, *, kind: str = "failure",
                           thread_ts: str | None = None) -> tuple[str, str] | None: ...

    async def close(self) -> None: ...


@dataclass
class Job:
    claim: Claim
    deadline: float  # monotonic time the lease runs out
    lane: str = ""
    channel: str | None = None  # forced channel (fallback); None: decide from rows at send time
    fallback_note: str | None = None
    looked_up: bool = False
    text_only: bool = False


@dataclass
class Lane:
    jobs: deque[Job] = field(default_factory=deque)
    next_at: float = 0.0
    task: asyncio.Task[None] | None = None


@dataclass(frozen=True)
class Plan:
    """What to send for a job, decided from fresh rows just before sending."""

    channel: str
    thread_ts: str | None
    message: RenderedMessage
    kind: str
    oldest: float
    failed_at: datetime | None = None
    update_ts: str | None = None  # kind "update": the message to edit
    team: str | None = None  # the team the message names, recorded with it


class Done(Exception):
    """The job is finished (delivered, given up, released or no longer ours); leave its lane."""


def retry_delay(exc: RateLimited, interval: float) -> float:
    """Retry-After as Slack sent it (0 allowed), never sooner than the channel's pace."""
    return max(1.0 if exc.retry_after is None else exc.retry_after, interval)


async def wait_any(stop: asyncio.Event, wakeup: asyncio.Event | None, seconds: float,
                room: asyncio.Event | None = None) -> None:
    """Wait for `stop`, `wakeup` (cleared after), `room` or `seconds`, whichever comes first."""
    events = [e for e in (stop, wakeup, room) if e is not None]
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
    if wakeup is not None and wakeup.is_set():
        wakeup.clear()
