"""The shared toolkit: one backoff rule, one Retry-After parser, one wait for the first of several things."""

from __future__ import annotations

import asyncio
import email.utils
import time

import pytest

from fyr.runtime import Backoff, parse_retry_after, retry_after_header, wait_first

pytestmark = pytest.mark.timeout(10)

NOW = 1_800_000_000.0


def test_retry_after_in_delta_seconds() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after(b"3") == 3.0


def test_retry_after_as_an_http_date() -> None:
    future = email.utils.formatdate(NOW + 90, usegmt=True)
    assert parse_retry_after(future, now=NOW) == pytest.approx(90.0)
    past = email.utils.formatdate(NOW - 3600, usegmt=True)
    assert parse_retry_after(past, now=NOW) == 0.0  # already due: retry now
    # the obsolete RFC 850 and asctime forms are HTTP-dates too
    assert parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now=784111777.0) == pytest.approx(0.0)
    assert parse_retry_after("Sun Nov  6 08:49:37 1994", now=784111777.0 - 10) == pytest.approx(10.0)


@pytest.mark.parametrize("garbage", [None, "", "  ", "soon", "-5", "nan", "inf", "12 seconds", "Sun, 99 Foo"])
def test_garbage_or_negative_retry_after_is_none(garbage: str | None) -> None:
    assert parse_retry_after(garbage) is None


def test_huge_retry_after_is_returned_whole_and_capped_by_the_caller() -> None:
    assert parse_retry_after("31536000") == 31536000.0
    assert Backoff(initial=2, maximum=300).delay(1, retry_after=parse_retry_after("31536000")) == 300
    far = email.utils.formatdate(NOW + 10 * 86400, usegmt=True)
    assert parse_retry_after(far, now=NOW) == pytest.approx(864000.0)


def test_retry_after_header_in_any_case_as_list_or_in_milliseconds() -> None:
    assert retry_after_header({"Retry-After": "4"}) == 4.0
    assert retry_after_header({"retry-after": ["3"]}) == 3.0
    assert retry_after_header({"retry-after-ms": "250", "Retry-After": "9"}) == 0.25
    assert retry_after_header({"retry-after-ms": "later", "Retry-After": "9"}) == 9.0
    assert retry_after_header({"content-type": "text/plain"}) is None
    assert retry_after_header(None) is None


def test_backoff_doubles_per_attempt_within_its_cap_and_jitter() -> None:
    exact = Backoff(initial=2, maximum=300, jitter=(1.0, 1.0))
    assert [exact.delay(n) for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert exact.delay(100) == 300
    jittered = Backoff(initial=1, maximum=10)
    delays = [jittered.delay(3) for _ in range(200)]
    assert min(delays) >= 3.2 and max(delays) <= 4.8 and len(set(delays)) > 1
    assert all(jittered.delay(50) <= 10 for _ in range(100))
    assert Backoff(initial=1, maximum=10).delay(1, retry_after=0.0) == 0.0


def test_next_delay_counts_failures_until_reset() -> None:
    b = Backoff(initial=1, maximum=100, jitter=(1.0, 1.0))
    assert [b.next_delay() for _ in range(4)] == [1, 2, 4, 8]
    b.reset()
    assert b.next_delay() == 1


async def test_wait_first_returns_at_the_first_event_and_clears_the_wakeup() -> None:
    stop, wakeup, other = asyncio.Event(), asyncio.Event(), asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, wakeup.set)
    started = time.monotonic()
    assert await wait_first(stop, other, wakeup=wakeup, seconds=5) == set()
    assert time.monotonic() - started < 1 and not wakeup.is_set()
    asyncio.get_running_loop().call_later(0.05, other.set)
    await wait_first(stop, other, None, seconds=5)
    assert other.is_set() and time.monotonic() - started < 2


async def test_wait_first_times_out_and_returns_finished_tasks() -> None:
    stop = asyncio.Event()
    started = time.monotonic()
    await wait_first(stop, seconds=0.05)
    assert 0.04 <= time.monotonic() - started < 1
    quick = asyncio.create_task(asyncio.sleep(0.02))
    slow = asyncio.create_task(asyncio.sleep(5))
    assert await wait_first(stop, tasks={quick, slow}) == {quick}
    stop.set()
    assert await wait_first(stop, tasks={slow}, seconds=5) == set()
    slow.cancel()
