"""What every long-running service shares: backoff, the one place a loop catches, wake-ups, signals.

A service's loop is `while not stop.is_set(): await step()`; `run_loop` is the only place that
catches, logs (throttled: a repeated error is logged once per interval with a count) and backs off,
short for transient errors and growing for repeated ones (seed §20). The loop never crashes.
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

from fyr.errors import PermanentError, TransientError

log = structlog.get_logger()


@dataclass
class Backoff:
    """Exponential backoff with jitter: 0.5 s, 1 s, 2 s ... capped at `maximum` seconds."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    failures: int = 0

    def next_delay(self) -> float:
        delay = min(self.maximum, self.initial * (self.factor ** self.failures))
        self.failures += 1
        return delay * random.uniform(0.8, 1.2)

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


async def sleep_or_stop(stop: asyncio.Event, seconds: float, wakeup: asyncio.Event | None = None) -> None:
    """Sleep up to `seconds`; return early when `stop` (or `wakeup`) is set."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if wakeup is not None:
        waiters.append(asyncio.ensure_future(wakeup.wait()))
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
) -> None:
    """Run `step` until `stop`; `step` returns how long to idle before the next round."""
    backoff = backoff or Backoff()
    throttle = ErrorThrottle()
    while not stop.is_set():
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
        except Exception as exc:  # seed §20: never crash the main loop; logged with its traceback
            emit, count = throttle.should_log(f"unexpected:{type(exc).__name__}")
            if emit:
                log.exception(f"{name}_loop_unexpected_error", error=str(exc), count=count)
            idle = backoff.next_delay()
        await sleep_or_stop(stop, idle, wakeup)


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
