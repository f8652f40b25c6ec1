"""Lanes act on the delivery's outcome: one job at a time per channel at its pace, a Retry stays at
the head, a Moved job goes on in the other lane, and a delivery that raises stops its lane and is
raised into the claim loop by `reap()`."""

from __future__ import annotations

import asyncio
import time

import pytest

from fyr.db.messages import MessageRows
from fyr.db.queue import Claim, Queue
from fyr.models.rollout import Rollout
from fyr.services.notifier.jobs import Job, Moved, Outcome, Retry, Sent
from fyr.services.notifier.lanes import ChannelNames, Lanes

pytestmark = pytest.mark.timeout(10)


def _job(rid: int) -> Job:
    return Job(Claim(Queue.NOTIFY, rid, f"t{rid}", 1), time.monotonic() + 30, MessageRows(Rollout(id=rid), None, None))


async def _settled(lanes: Lanes) -> None:
    while len(lanes):
        lanes.room.clear()
        if len(lanes):
            await lanes.room.wait()


async def test_outcomes_drive_the_lane() -> None:
    tried: list[tuple[int, str, float]] = []
    answers: dict[int, list[Outcome]] = {1: [Retry(0.1), Sent("C1", "1.0")], 2: [Moved("#default"), Sent("C9", "2.0")],
                                         3: [Sent("C1", "3.0")]}

    async def deliver(job: Job) -> Outcome:
        tried.append((job.claim.rollout_id, job.lane, time.monotonic()))
        return answers[job.claim.rollout_id].pop(0)

    lanes = Lanes(deliver, names=ChannelNames(), interval=0.05, concurrency=4)
    for rid in (1, 2, 3):
        lanes.add(_job(rid), "#team" if rid != 2 else "#gone")
    await asyncio.wait_for(_settled(lanes), 5)
    assert [(rid, lane) for rid, lane, _ in tried] == [
        (1, "#team"), (2, "#gone"), (2, "#default"), (1, "#team"), (3, "#team")]
    team = [at for rid, lane, at in tried if lane == "#team"]
    assert team[1] - team[0] >= 0.09  # the Retry's wait, with the job kept at the head
    assert team[2] - team[1] >= 0.045  # the channel's pace
    assert lanes.room.is_set()
    assert await lanes.close() == []


async def test_a_delivery_that_raises_stops_its_lane_and_is_raised_by_reap() -> None:
    async def deliver(job: Job) -> Outcome:
        if job.lane == "#broken":
            raise RuntimeError("writing the row failed")
        return Sent(job.lane, "1.0")

    lanes = Lanes(deliver, names=ChannelNames(), interval=0.0, concurrency=2)
    broken, queued, fine = _job(1), _job(2), _job(3)
    lanes.add(broken, "#broken")
    lanes.add(queued, "#broken")
    lanes.add(fine, "#ok")
    await asyncio.sleep(0.1)
    assert lanes.holding(fine.claim) is None  # the other lane went on
    with pytest.raises(RuntimeError, match="writing the row failed"):
        lanes.reap()
    # the stopped lane's jobs are dropped: their leases run out and the rows are claimed again
    assert lanes.holding(broken.claim) is None and lanes.holding(queued.claim) is None and len(lanes) == 0
    lanes.reap()  # raised once
    lanes.add(_job(4), "#ok")
    await asyncio.wait_for(_settled(lanes), 5)
    assert await lanes.close() == []
