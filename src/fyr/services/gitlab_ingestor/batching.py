"""Group commit for webhook deliveries: concurrent requests share one database transaction.

Each delivery costs a handful of statements and a commit; with aiomysql each statement costs the
process a few tenths of a millisecond of CPU and the commit an fsync. When deliveries arrive
together (a pipeline finishing sends a burst of Job and Pipeline hooks), the ones waiting are
written in one transaction — one dedupe read, one multi-row insert, one upsert, one candidate query,
one commit — and every request is answered only after that commit, so nothing is acknowledged
that is not durable. An idle ingestor runs no background task: the first request of a burst starts
a drain task that ends when the queue is empty.

If a batch fails (a concurrent duplicate from another replica, a value one row cannot take), its
deliveries are retried one transaction each, so one delivery never fails another; when the
database itself is unavailable, every waiting request gets the error at once (503) instead of
waiting for one doomed transaction after another.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import structlog

log = structlog.get_logger()

I = TypeVar("I")  # noqa: E741 - item (short type variable names, as usual)
R = TypeVar("R")  # result


@dataclass
class _Entry(Generic[I, R]):
    item: I
    future: asyncio.Future[R] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupCommit(Generic[I, R]):
    """Queue items; drain tasks (at most `max_inflight`) run them in batches of up to `max_batch`."""

    def __init__(
        self,
        *,
        run_batch: Callable[[Sequence[I]], Awaitable[Sequence[R]]],
        run_one: Callable[[I], Awaitable[R]],
        max_batch: int = 64,
        max_inflight: int = 2,
        observe: Callable[[int, float], None] | None = None,
        isolate: Callable[[Exception], bool] = lambda exc: True,
        max_queue: int | None = None,
    ) -> None:
        self._max_queue = max_queue  # past it submit raises asyncio.QueueFull at once
        self._isolate = isolate  # False: the error is not the items' fault (database down): fail all
        self._observe = observe  # (batch size, seconds) for metrics
        self._run_batch = run_batch
        self._run_one = run_one
        self._max_batch = max_batch
        self._queue: list[_Entry[I, R]] = []
        self._max_inflight = max_inflight
        self._drains: set[asyncio.Task[None]] = set()
        self.batches = 0
        self.fallbacks = 0

    async def submit(self, item: I) -> R:
        if self._max_queue is not None and len(self._queue) >= self._max_queue:
            # A database that does not answer: the queue would grow by every request until it does.
            raise asyncio.QueueFull(f"{len(self._queue)} deliveries already waiting for the database")
        entry: _Entry[I, R] = _Entry(item)
        self._queue.append(entry)
        # Up to `max_inflight` transactions at once: while one waits for its commit (an fsync),
        # the next batch is already being written. A finished task may still be in the set (its
        # done-callback runs later): count only live ones, or this entry could wait for a drain
        # that is already over.
        self._drains = {task for task in self._drains if not task.done()}
        if len(self._drains) < self._max_inflight:
            task = asyncio.create_task(self._drain_queue(), name="ingestor-group-commit")
            self._drains.add(task)
            task.add_done_callback(self._drains.discard)
        # Shielded: a request cancelled while waiting must not cancel the batch others wait on.
        return await asyncio.shield(entry.future)

    async def _drain_queue(self) -> None:
        batch: list[_Entry[I, R]] = []
        try:
            await asyncio.sleep(0)  # let requests that are already parsed join the first batch
            while self._queue:
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch:]
                started = time.perf_counter()
                await self._run(batch)
                if self._observe is not None:
                    self._observe(len(batch), time.perf_counter() - started)
        finally:  # cancelled (shutdown): nobody may wait forever
            for entry in [*batch, *self._queue]:
                if not entry.future.done():
                    entry.future.cancel()

    async def _run(self, batch: list[_Entry[I, R]]) -> None:
        self.batches += 1
        if len(batch) > 1:
            try:
                results = await self._run_batch([e.item for e in batch])
            except Exception as exc:  # noqa: BLE001 - any batch failure: isolate it, then retry singly
                if not self._isolate(exc):
                    for entry in batch:
                        if not entry.future.done():
                            entry.future.set_exception(exc)
                    return
                self.fallbacks += 1
                log.info("ingestor_batch_retried_singly", size=len(batch), error=type(exc).__name__)
            else:
                for entry, result in zip(batch, results, strict=True):
                    if not entry.future.done():
                        entry.future.set_result(result)
                return
        for entry in batch:
            try:
                result = await self._run_one(entry.item)
            except Exception as exc:  # noqa: BLE001 - not swallowed: handed to the waiting request, raised there
                if not entry.future.done():
                    entry.future.set_exception(exc)
            else:
                if not entry.future.done():
                    entry.future.set_result(result)
