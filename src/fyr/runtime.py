"""What every long-running service shares: backoff, Retry-After, waiting for the first of several
things, the one place a loop catches, wake-ups, signals.

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
import email.utils
import math
import random
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import structlog

from fyr.errors import DatabaseUnavailable, PermanentError, TransientError

log = structlog.get_logger()


@dataclass
class Backoff:
    """The one backoff rule: attempt n waits `initial` * `factor`^(n-1), never more than `maximum`.

    Each delay is scaled by a random factor between `jitter[0]` and `jitter[1]` (±20 % unless told)
    so that replicas hit by the same outage do not come back in lockstep; the result stays within
    `maximum`. A server's Retry-After, when given, wins over the computed delay (capped, unjittered).
    `delay(n)` serves queued jobs that count their own attempts; `next_delay()` a loop that counts
    its failures here and `reset()`s after a success.
    """

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: tuple[float, float] = (0.8, 1.2)
    rand: Callable[[], float] = field(default=random.random, repr=False)
    failures: int = 0

    def delay(self, attempt: int, *, retry_after: float | None = None) -> float:
        """Seconds before attempt `attempt + 1`, after `attempt` failed ones (attempts count from 1)."""
        if retry_after is not None:
            return min(max(0.0, retry_after), self.maximum)
        raw = min(self.maximum, self.initial * self.factor ** min(max(0, attempt - 1), 64))
        low, high = self.jitter
        return float(min(self.maximum, raw * (low + (high - low) * self.rand())))

    def next_delay(self) -> float:
        self.failures += 1
        return self.delay(self.failures)

    def reset(self) -> None:
        self.failures = 0


def _delta_seconds(text: str) -> float | None:
    try:
        seconds = float(text)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def parse_retry_after(value: str | bytes | None, *, now: float | None = None) -> float | None:
    """Seconds a Retry-After value asks to wait (RFC 9110 10.2.3): delta-seconds or an HTTP-date.

    A date in the past is 0. None for an empty, negative, non-finite or unreadable value. Large
    values are returned as they are: each caller caps them with its own maximum.
    """
    if value is None:
        return None
    text = (value.decode("latin-1") if isinstance(value, bytes) else value).strip()
    if not text:
        return None
    seconds = _delta_seconds(text)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def retry_after_header(headers: Mapping[str, Any] | None) -> float | None:
    """The wait a response asks for: `retry-after-ms` (milliseconds, sent by OpenAI) or `Retry-After`.

    Header names in any case; a value given as a list counts by its first element.
    """
    if not headers:
        return None
    found = {str(k).lower(): v for k, v in headers.items()}

    def first(name: str) -> str | None:
        value = found.get(name)
        if isinstance(value, list | tuple):
            value = value[0] if value else None
        return None if value is None else str(value)

    millis = first("retry-after-ms")
    if millis is not None:
        ms = _delta_seconds(millis.strip())
        if ms is not None:
            return ms / 1000.0
    return parse_retry_after(first("retry-after"))


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


async def wait_first(
    stop: asyncio.Event,
    *events: asyncio.Event | None,
    wakeup: asyncio.Event | None = None,
    tasks: Iterable[asyncio.Task[Any]] = (),
    seconds: float | None = None,
) -> set[asyncio.Task[Any]]:
    """Wait until `stop`, `wakeup` or any of `events` is set, one of `tasks` finishes, or
    `seconds` pass (None: no limit); return the tasks that have finished.

    `wakeup` is cleared afterwards: it asks for one more round, and that round is about to run.
    """
    tasks = set(tasks)
    waiters = [asyncio.ensure_future(e.wait()) for e in (stop, wakeup, *events) if e is not None]
    try:
        await asyncio.wait([*tasks, *waiters], timeout=None if seconds is None else max(0.0, seconds),
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        await asyncio.wait(waiters)
        if wakeup is not None:
            wakeup.clear()
    return {t for t in tasks if t.done()}


async def run_loop(
    name: str,
    step: Callable[[], Awaitable[float]],
    *,
    stop: asyncio.Event,
    wakeup: asyncio.Event | None = None,
    backoff: Backoff | None = None,
    db_watch: DatabaseWatch | None = None,
    events: tuple[asyncio.Event, ...] = (),
) -> None:
    """Run `step` until `stop`; `step` returns how long to idle before the next round.

    The idle wait ends early on `wakeup` or any of `events`. After `DatabaseUnavailable` the loop
    also wakes as soon as `db_watch` sees the database back.
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
        await wait_first(stop, *events, *also, wakeup=wakeup, seconds=idle)


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
