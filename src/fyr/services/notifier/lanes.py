"""The notifier's lanes: one per Slack channel, each sending its messages one at a time.

A lane sends at most one message per `interval` (Slack: about one message per second per channel),
paced from the *end* of each call: the previous post has certainly arrived by then, so network
jitter can never squeeze two posts closer than the interval at Slack's end. Lanes run in parallel,
at most `concurrency` posts in flight. What a lane does next follows the delivery's outcome: a
`Retry` keeps the job at the head and waits, a `Moved` job goes on in another channel's lane, any
other outcome ends the job and makes room for the claim loop.

A lane whose delivery raised stops; `reap()` (called by the claim loop) drops its jobs, whose leases
then run out, and raises the error into the service loop, which logs it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

from fyr.db.queue import Claim, Queue
from fyr.services.notifier.jobs import Job, Lane, Moved, Outcome, Retry

log = structlog.get_logger()

Deliver = Callable[[Job], Awaitable[Outcome]]


class ChannelNames:
    """Slack answers a post to "#name" with the channel id; both name one lane (one pace)."""

    def __init__(self) -> None:
        self._alias: dict[str, str] = {}

    def lane_of(self, channel: str) -> str:
        return self._alias.get(channel, channel)

    def learn(self, answered: str, asked: str) -> None:
        if answered != asked:
            self._alias.setdefault(answered, self.lane_of(asked))


class Lanes:
    def __init__(self, deliver: Deliver, *, names: ChannelNames, interval: float, concurrency: int) -> None:
        self._deliver = deliver
        self.names = names
        self.interval = interval
        self._posts = asyncio.Semaphore(concurrency)
        self._lanes: dict[str, Lane] = {}
        self._held: dict[tuple[Queue, int], Job] = {}
        self.room = asyncio.Event()  # set when a job leaves its lane: the claim loop may claim more

    def __len__(self) -> int:
        return len(self._held)

    def holding(self, claim: Claim) -> Job | None:
        return self._held.get((claim.queue, claim.rollout_id))

    def add(self, job: Job, channel: str) -> None:
        """Queue `job` at the end of `channel`'s lane (started if it is idle)."""
        job.lane = self.names.lane_of(channel)
        self._held[(job.claim.queue, job.claim.rollout_id)] = job
        lane = self._lanes.setdefault(job.lane, Lane())
        lane.jobs.append(job)
        if lane.task is None or lane.task.done():
            lane.task = asyncio.create_task(self._run(job.lane, lane), name=f"notify-lane-{job.lane}")

    async def _run(self, name: str, lane: Lane) -> None:
        while lane.jobs:
            job = lane.jobs[0]
            delay = lane.next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if lane.jobs and lane.jobs[0] is not job:
                continue
            try:
                async with self._posts:
                    outcome = await self._deliver(job)
            finally:
                lane.next_at = max(lane.next_at, time.monotonic() + self.interval)
            match outcome:
                case Retry(delay=wait):
                    lane.next_at = time.monotonic() + wait
                    continue  # the job stays at the head of its lane
                case Moved(channel=channel):
                    lane.jobs.popleft()
                    self.add(job, channel)
                case _:
                    lane.jobs.popleft()
                    key = (job.claim.queue, job.claim.rollout_id)
                    if self._held.get(key) is job:
                        del self._held[key]
            self.room.set()
        lane.task = None

    def reap(self) -> None:
        """Raise the error of a lane that stopped on one, after dropping its jobs (their leases run out)."""
        for lane in self._lanes.values():
            task = lane.task
            if task is None or not task.done() or task.cancelled() or task.exception() is None:
                continue
            for job in lane.jobs:
                key = (job.claim.queue, job.claim.rollout_id)
                if self._held.get(key) is job:
                    del self._held[key]
            lane.jobs.clear()
            lane.task = None
            error = task.exception()
            assert error is not None
            raise error

    async def close(self) -> list[Job]:
        """Stop every lane; return the jobs still held."""
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                log.error("notify_lane_failed", error=str(task.exception()), exc_info=task.exception())
        held = list(self._held.values())
        self._held.clear()
        return held
