"""What every long-running service shares: backoff, the one place a loop catches, wake-ups, signals.

A service's loop is `while not stop.is_set(): await step()`; `run_loop` is the only place that
catches, logs (throttled: a repeated error is logged once per interval with a count) and backs off,
short for transient errors and growing for repeated ones. The loop never crashes.

A database outage is the one failure every service meets at once, and its end should wake them at
once too: a loop that sees `DatabaseUnavailable` reports it to the process's `DatabaseWatch`, which
pings the database every quarter second until it answers and then wakes every waiting loop (and
runs the in-process wake-ups). Without it each loop found the database back only when its own
backoff ran out — a failure reached Slack 9 s after a 20 s outage and 28 s after a 60 s one.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from fyr.errors import DatabaseUnavailable, PermanentError, TransientError

log = structlog.get_logger()


@dataclass
class Backoff:
    """Exponential backoff with ±20 % jitter: 0.5 s, 1 s, 2 s ... never more than `maximum` seconds."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    failures: int = 0

    def next_delay(self) -> float:
        delay = self.initial * (self.factor ** min(self.failures, 64))
        self.failures += 1
        return min(self.maximum, delay * random.uniform(0.8, 1.2))

    def reset(self) -> None:
        self.failures = 0


def retry_delay(
    attempt: int, *, initial: float = 2.0, maximum: float = 300.0, retry_after: float | None = None
) -> float:
    """Delay before attempt `attempt + 1` of a queued job; Retry-After wins when the server gave one."""
    if retry_after is not None and retry_after > 0:
        return min(maximum, retry_after)
    return float(min(maximum, initial * (2 ** max(0, attempt - 1))))


@dataclass
class ErrorThrottle:
    """Log a repeated error once per `interval` seconds, with how often it happened meanwhile."""

    interval: float = 30.0
    _last: dict[str, float] = field(default_factory=dict)
    _count: dict[str, int] = field(default_factory=dict)

    def should_log(self, key: str) -> tuple[bool, int]:
        now = time.monotonic()
        self._count[key] = self._count.get(key, 0) + 1
        if now - self._last.get(key, -1e9) >= self.interval:
            self._last[key] = now
            n, self._count[key] = self._count[key], 0
            return True, n
        return False, self._count[key]


def service_backoff() -> Backoff:
    """The backoff of a service loop after an error: 0.25 s doubling, jittered, at most 5 s."""
    return Backoff(initial=0.25, maximum=5.0)


async def sleep_or_stop(stop: asyncio.Event, seconds: float, wakeup: asyncio.Event | None = None,
                        *also: asyncio.Event) -> None:
    """Sleep up to `seconds`; return early when `stop`, `wakeup` (cleared then) or any of `also` is set."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if wakeup is not None:
        waiters.append(asyncio.ensure_future(wakeup.wait()))
    waiters.extend(asyncio.ensure_future(e.wait()) for e in also)
    try:
        await asyncio.wait(waiters, timeout=max(0.0, seconds), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        if wakeup is not None:
            wakeup.clear()


async def run_loop(
    name: str,
    step: Callable[[], Awaitable[float]],
    *,
    stop: asyncio.Event,
    wakeup: asyncio.Event | None = None,
    backoff: Backoff | None = None,
    db_watch: DatabaseWatch | None = None,
) -> None:
    """Run `step` until `stop`; `step` returns how long to idle before the next round.

    After `DatabaseUnavailable` the loop also wakes as soon as `db_watch` sees the database back.
    """
    backoff = backoff or service_backoff()
    throttle = ErrorThrottle()
    while not stop.is_set():
        also: tuple[asyncio.Event, ...] = ()
        try:
            idle = await step()
            backoff.reset()
        except (TransientError, PermanentError, OSError) as exc:
            # The one place a service loop catches: log (throttled) and back off.
            key = f"{type(exc).__name__}:{str(exc)[:80]}"
            emit, count = throttle.should_log(key)
            if emit:
                log.warning(f"{name}_loop_error", error=str(exc), error_type=type(exc).__name__, count=count)
            idle = backoff.next_delay()
            if isinstance(exc, DatabaseUnavailable) and db_watch is not None:
                also = (db_watch.report_down(),)
        except Exception as exc:  # never crash the main loop; logged with its traceback
            emit, count = throttle.should_log(f"unexpected:{type(exc).__name__}")
            if emit:
                log.exception(f"{name}_loop_unexpected_error", error=str(exc), count=count)
            idle = backoff.next_delay()
        await sleep_or_stop(stop, idle, wakeup, *also)


class DatabaseWatch:
    """Knows whether the database is down; while it is, pings it and wakes everyone when it answers.

    `report_down()` returns the event that is set when the database answers again: a loop that just
    failed waits on it besides its backoff. `on_back` callbacks (the in-process wake-ups) run then
    too. One per process, shared by the services of `fyr all`.
    """

    def __init__(self, ping: Callable[[], Awaitable[bool]], *, probe_interval: float = 0.25,
                 probe_timeout: float = 2.0) -> None:
        self._ping = ping
        self.probe_interval = probe_interval
        self.probe_timeout = probe_timeout
        self.recovered = asyncio.Event()
        self.down_since: float | None = None
        self.outages = 0
        self._callbacks: list[Callable[[], None]] = []
        self._probe: asyncio.Task[None] | None = None

    def on_back(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def report_down(self) -> asyncio.Event:
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.outages += 1
            self.recovered.clear()
            log.warning("database_down_probing", interval_s=self.probe_interval)
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._probe_until_back(), name="database-probe")
        return self.recovered

    async def _probe_until_back(self) -> None:
        while True:
            try:
                ok = await asyncio.wait_for(self._ping(), self.probe_timeout)
            except (TimeoutError, TransientError, OSError):
                ok = False
            if ok:
                break
            await asyncio.sleep(self.probe_interval)
        down = time.monotonic() - (self.down_since or time.monotonic())
        self.down_since = None
        self.recovered.set()
        log.info("database_back", down_seconds=round(down, 2))
        for callback in self._callbacks:
            callback()

    async def close(self) -> None:
        if self._probe is not None and not self._probe.done():
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe


def install_signal_handlers(stop: asyncio.Event) -> None:
    """SIGINT/SIGTERM set `stop`; services finish or release what they hold, then return."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


@dataclass
class Wakeups:
    """In-process wake-ups for `fyr all`: a FAILED row wakes the analyzer, an analysis the notifier."""

    analysis: asyncio.Event = field(default_factory=asyncio.Event)
    notify: asyncio.Event = field(default_factory=asyncio.Event)

    def wake_analysis(self) -> None:
        self.analysis.set()

    def wake_notify(self) -> None:
        self.notify.set()
