"""The notifier's working types: where messages go (`MessageSink`), a claimed row in hand (`Job`),
one channel's queue (`Lane`), what a job will send (`Plan`), and what one delivery came to
(`Outcome`: `Sent`, `Released`, `GaveUp`, `Retry`, `Moved` or `Lost`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from fyr.db.messages import MessageRows
from fyr.db.queue import Claim
from fyr.services.notifier.render import RenderedMessage

OnSent = Callable[[int, str, str], None]


class MessageSink(Protocol):
    """Where messages go: `SlackClient` (token set), `ConsoleSink` (no token), or the demo's preview."""

    @property
    def timeout(self) -> float: ...

    @property
    def paced(self) -> bool:
        """Whether Slack's pace (one message per channel per interval) applies."""
        ...

    async def auth_test(self) -> dict[str, Any]:
        """Raises `AuthError` while the token is refused."""
        ...

    def channel_id(self, channel: str) -> str: ...

    async def post(self, channel: str, text: str, blocks: list[dict[str, Any]] | None,
                   metadata: dict[str, Any] | None, thread_ts: str | None = None) -> tuple[str, str]: ...

    async def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None) -> None: ...

    async def find_message(self, channel: str, rollout_id: int, oldest: float, *, kind: str = "failure",
                           thread_ts: str | None = None) -> tuple[str, str] | None: ...

    async def close(self) -> None: ...


@dataclass
class Job:
    """A claimed row in hand, with what was read for it once at admission."""

    claim: Claim
    deadline: float  # monotonic time the lease runs out
    rows: MessageRows
    lane: str = ""
    channel: str | None = None  # forced channel (fallback); None: route from the rows
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
    """What to send for a job, decided just before sending."""

    channel: str
    thread_ts: str | None
    message: RenderedMessage
    kind: str
    oldest: float
    failed_at: datetime | None = None
    update_ts: str | None = None  # kind "update": the message to edit
    team: str | None = None  # the team the message names, recorded with it


# --- what one delivery came to: the lane and the claim loop act on it with `match` --------------


@dataclass(frozen=True)
class Sent:
    """Posted (or found already posted by an earlier attempt) and recorded; `recorded` is False when
    the row could not be written: the lease runs out and the next attempt finds the message."""

    channel: str
    ts: str
    recorded: bool = True


@dataclass(frozen=True)
class Released:
    """Back to the pool, to be tried again in `retry_in` seconds (this attempt is spent)."""

    error: str
    retry_in: float


@dataclass(frozen=True)
class GaveUp:
    """Marked FAILED with the error kept; nothing more will be tried."""

    error: str


@dataclass(frozen=True)
class Retry:
    """Nothing was posted and no attempt is spent: try again from the head of the lane in `delay` s."""

    delay: float


@dataclass(frozen=True)
class Moved:
    """The channel would not take the message: it goes on in `channel`'s lane (the fallback)."""

    channel: str


@dataclass(frozen=True)
class Lost:
    """No longer ours (the lease ran out, the row is gone): another attempt will take it up."""

    reason: str


Outcome = Sent | Released | GaveUp | Retry | Moved | Lost
