"""The ingestor's database writes: a webhook delivery (alone, or with the others that arrived
together: batching.GroupCommit) and an annotate call, each one transaction.

A transaction that loses a deadlock or a lock wait to another writer (MySQL) is run again after a
short jittered pause (fyr.db.engine.retry_on_conflict); every write here is safe to repeat: a
delivery is recognised by its dedupe row, written in the same transaction as its effect, and an
annotation is an upsert.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from fyr.core.gitlab_events import Annotation, GitlabEvent
from fyr.db import gitlab
from fyr.db.engine import Database, retry_on_conflict
from fyr.models.rollout import Rollout
from fyr.runtime import Backoff

ATTEMPTS = 5  # runs of one transaction that keeps losing lock conflicts, before the request fails
T = TypeVar("T")


@dataclass(frozen=True)
class Delivery:
    """One authenticated, parsed webhook waiting for its transaction."""

    key: str
    kind: str
    events: list[GitlabEvent]


Outcome = tuple[bool, list[int]]  # (the delivery is new, ids of the rollouts it attached to)


class DeliveryStore:
    """Writes deliveries and annotations; `on_retry` is told of each transaction run again."""

    def __init__(self, db: Database, *, answer_seconds: float, on_retry: Callable[[], None]) -> None:
        self.db = db
        self.answer_seconds = answer_seconds
        self.on_retry = on_retry

    async def one(self, d: Delivery) -> Outcome:
        async def work() -> Outcome:
            async with self.db.session(max_seconds=self.answer_seconds) as session:
                await read_committed(session)
                if not await gitlab.record_delivery(session, d.key, d.kind):
                    return False, []
                done = await gitlab.apply_gitlab_events(session, d.events)
            return True, [rollout_id for rollout_id, _ in done]

        return await self._retrying(work)

    async def many(self, batch: Sequence[Delivery]) -> list[Outcome]:
        async def work() -> list[Outcome]:
            async with self.db.session(max_seconds=self.answer_seconds) as session:
                await read_committed(session)
                fresh = await gitlab.record_deliveries(session, [(d.key, d.kind) for d in batch])
                events = [e for d, new in zip(batch, fresh, strict=True) if new for e in d.events]
                done = await gitlab.apply_gitlab_events(session, events) if events else []
            return [(new, _attached_to(d, done) if new else []) for d, new in zip(batch, fresh, strict=True)]

        return await self._retrying(work)

    async def annotate(self, note: Annotation) -> list[Rollout]:
        """Stage the annotation and attach it; the rollouts it reached, newest generation first."""
        async def work() -> list[Rollout]:
            async with self.db.session(max_seconds=self.answer_seconds) as session:
                await read_committed(session)
                return await gitlab.annotate(session, note)

        return await self._retrying(work)

    async def _retrying(self, work: Callable[[], Awaitable[T]]) -> T:
        return await retry_on_conflict(work, attempts=ATTEMPTS, backoff=Backoff(initial=0.005, maximum=0.1),
                                       on_retry=self.on_retry)


def _attached_to(delivery: Delivery, done: Sequence[tuple[int, str | None]]) -> list[int]:
    shas = {event.commit_sha for event in delivery.events}
    return [rollout_id for rollout_id, commit in done if commit in shas]


async def read_committed(session: AsyncSession) -> None:
    """READ COMMITTED for this transaction (MySQL), issued before its first statement.

    Each statement then reads what is committed when it runs, so the rollout query that follows
    our upsert sees a rollout whose transaction we waited for (fyr.db.gitlab.attach_staged
    explains the race this closes); and there are no gap locks to deadlock on. `SET TRANSACTION`
    applies to the next transaction only: no reset when the connection goes back to the pool.
    """
    if session.bind is not None and session.bind.dialect.name in ("mysql", "mariadb"):
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"))
