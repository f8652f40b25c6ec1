"""How long to wait before the next LLM attempt: the provider's Retry-After, else exponential backoff.

Pure (the jitter source is a parameter) so that the service's release-with-delay and the offline
CLI's in-process retries follow one rule.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def retry_delay(
    attempt: int,
    *,
    retry_after: float | None,
    base_s: float,
    cap_s: float,
    jitter: Callable[[], float] = random.random,
) -> float:
    """Seconds before attempt `attempt + 1` (attempts count from 1).

    Retry-After wins when the provider sent it (capped); otherwise base * 2^(attempt-1) with up to
    25% jitter so that replicas hit by the same 5xx burst do not come back in lockstep.
    """
    if retry_after is not None:
        return min(max(0.0, retry_after), cap_s)
    delay: float = min(base_s * 2.0 ** max(0, attempt - 1), cap_s)
    return delay * (1.0 + 0.25 * jitter())
