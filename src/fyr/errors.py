"""Fyr's small error hierarchy.

Service loops catch in exactly one place: a `TransientError` means retry with backoff, a
`PermanentError` means mark the work failed and move on. Client errors (SQLAlchemy, aiohttp,
slack_sdk, openai) are wrapped at the edge with the cause chained.
"""

from __future__ import annotations


class FyrError(Exception):
    """Base of every error Fyr raises on purpose."""


class ConfigError(FyrError):
    """A setting or input file is wrong; the message names it in one line."""


class TransientError(FyrError):
    """Worth retrying after a backoff (network, 429, 5xx, database gone away)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(FyrError):
    """Retrying will not help; mark the work failed and keep the error."""


class DatabaseUnavailable(TransientError):
    """The database did not answer; the same calls work again once it is back."""


class DatabaseConflict(TransientError):
    """A deadlock or lock wait timeout; the transaction was rolled back and may simply be run again."""


class SchemaOutdated(ConfigError):
    """The database schema is behind the code: run `fyr db upgrade`."""


class LeaseLost(FyrError):
    """Another worker holds the row now; our result must not be written."""


class IllegalTransition(PermanentError):
    """A status change the rollout state machine does not allow."""


class BadBundle(ConfigError):
    """A rollout bundle that does not validate; the message names the problem."""
