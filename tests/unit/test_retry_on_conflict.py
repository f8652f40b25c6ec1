"""One conflict retry for every transaction: a deadlock or lock wait is run again, anything else is not."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from fyr.db.engine import retry_on_conflict
from fyr.errors import DatabaseConflict
from fyr.runtime import Backoff


class Flaky:
    """A transaction that raises the given errors, one per run, then succeeds."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.runs = 0

    async def __call__(self) -> str:
        self.runs += 1
        if self.errors:
            raise self.errors.pop(0)
        return "committed"


def _pauses() -> Backoff:
    return Backoff(initial=0.001, maximum=0.002)


async def test_conflicts_are_run_again_and_counted() -> None:
    deadlock = OperationalError("UPDATE rollouts", {}, Exception(1213, "Deadlock found"))
    work, retried = Flaky(DatabaseConflict("lock wait"), deadlock), []
    assert await retry_on_conflict(work, attempts=3, backoff=_pauses(), on_retry=lambda: retried.append(1)) \
        == "committed"
    assert work.runs == 3 and len(retried) == 2


async def test_the_last_conflict_is_raised_after_the_attempts() -> None:
    work = Flaky(*(DatabaseConflict(f"deadlock {i}") for i in range(5)))
    with pytest.raises(DatabaseConflict, match="deadlock 2"):
        await retry_on_conflict(work, attempts=3, backoff=_pauses())
    assert work.runs == 3


async def test_other_errors_are_raised_at_once() -> None:
    duplicate = IntegrityError("INSERT", {}, Exception(1062, "Duplicate entry"))
    work = Flaky(duplicate)
    with pytest.raises(IntegrityError):
        await retry_on_conflict(work, attempts=5, backoff=_pauses())
    assert work.runs == 1
