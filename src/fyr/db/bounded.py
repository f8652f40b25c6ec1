"""Column types that bound every string to what its column holds, so no value can poison a write.

MariaDB in strict mode refuses a value longer than its column ("Data too long for column"), and
that refusal fails the whole transaction: one Deployment with a 1,100-character image name used to
stop the watcher's batch for every rollout of the cluster. SQLite stores anything, so the same row
worked in development and failed in production. Bounding in the column type covers every write
path at once — ORM rows, Core inserts/upserts of the ingestor, `update().values(...)` of the
queues — because SQLAlchemy runs the type's bind processing for each of them.

A value that does not fit is cut with a visible marker (`TRUNCATION_MARKER`) inside the limit; the
full value is kept nowhere else (it did not fit, and logs are no place for it either). VARCHAR(n)
counts characters on MariaDB (utf8mb4); TEXT counts bytes (65,535), so `BoundedText` cuts on a
UTF-8 boundary. Comparisons bind through the same type, so a lookup by a bounded key finds the row
written with it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

TRUNCATION_MARKER = "…[truncated]"
TEXT_MAX_BYTES = 65_535  # MySQL/MariaDB TEXT
_UTF8_MAX = 4  # bytes per character in utf8mb4


def bound_chars(value: str, limit: int, marker: str = TRUNCATION_MARKER) -> str:
    """`value` cut to at most `limit` characters, ending in `marker` when it was cut."""
    if len(value) <= limit:
        return value
    if limit <= len(marker):
        return value[:limit]
    return value[: limit - len(marker)] + marker


def bound_bytes(value: str, limit: int, marker: str = TRUNCATION_MARKER) -> str:
    """`value` cut to at most `limit` UTF-8 bytes (never inside a character), with `marker`."""
    if len(value) * _UTF8_MAX <= limit:
        return value
    raw = value.encode("utf-8")
    if len(raw) <= limit:
        return value
    room = limit - len(marker.encode("utf-8"))
    return raw[: max(0, room)].decode("utf-8", errors="ignore") + marker


class BoundedString(TypeDecorator[str]):
    """VARCHAR(length) whose values are cut to `length` characters before they are written."""

    impl = String
    cache_ok = True

    def __init__(self, length: int, **kwargs: Any) -> None:
        super().__init__(length, **kwargs)
        self.limit = length

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or not isinstance(value, str):
            return value
        return bound_chars(value, self.limit)


class BoundedText(TypeDecorator[str]):
    """TEXT whose values are cut to 65,535 UTF-8 bytes (MySQL's TEXT) before they are written."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or not isinstance(value, str):
            return value
        return bound_bytes(value, TEXT_MAX_BYTES)


__all__ = ["TEXT_MAX_BYTES", "TRUNCATION_MARKER", "BoundedString", "BoundedText", "bound_bytes", "bound_chars"]
