"""The shared backoff stays under its cap with jitter; the database watch wakes everyone on return."""

from __future__ import annotations

import asyncio
import time

import pytest

from fyr.errors import DatabaseUnavailable
from fyr.runtime import Backoff, DatabaseWatch, run_loop, service_backoff

pytestmark = pytest.mark.timeout(20)


def test_service_backoff_is_jittered_and_never_above_five_seconds() -> None:
    b = service_backoff()
    delays = [b.next_delay() for _ in range(200)]
    assert max(delays) <= 5.0 and delays[0] <= 0.3
    assert len({round(d, 3) for d in delays[:8]}) > 1
    b.reset()
    assert b.next_delay() <= 0.3
    assert max(Backoff(initial=1, maximum=2).next_delay() for _ in range(100)) <= 2.0


async def test_database_watch_probes_until_the_database_answers_then_wakes_every_waiter() -> None:
    up_at = time.monotonic() + 0.6

    async def ping() -> bool:
        return time.monotonic() >= up_at

    watch = DatabaseWatch(ping, probe_interval=0.05)
    woken: list[float] = []
    watch.on_back(lambda: woken.append(time.monotonic()))
    events = [watch.report_down(), watch.report_down()]
    assert events[0] is events[1] and watch.outages == 1
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 5)
    assert woken and woken[0] - up_at < 0.2
    assert watch.down_since is None
    await watch.close()


async def test_a_loop_waiting_out_its_backoff_wakes_when_the_database_is_back() -> None:
    stop = asyncio.Event()
    up = asyncio.Event()
    calls: list[float] = []

    async def step() -> float:
        calls.append(time.monotonic())
        if not up.is_set():
            raise DatabaseUnavailable("down")
        stop.set()
        return 0.0

    async def ping() -> bool:
        return up.is_set()

    watch = DatabaseWatch(ping, probe_interval=0.05)
    loop = asyncio.create_task(run_loop("t", step, stop=stop, backoff=Backoff(initial=30, maximum=30),
                                        db_watch=watch))
    await asyncio.sleep(0.2)
    up.set()
    back = time.monotonic()
    await asyncio.wait_for(loop, 5)
    assert calls[-1] - back < 0.5, "the 30 s backoff was cut short by the database's return"
    await watch.close()
