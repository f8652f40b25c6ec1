"""After a database outage, a rollout that failed meanwhile reaches Slack right after the return.

Every service backs off at most 5 s, and the first to see the database answer again wakes the
others (the in-process wake-ups and their back-off waits). Before, the analyzer and the notifier
backed off to 30 s and ignored the wake-ups: 9 s from the return to Slack after a 20 s outage.
Figures for longer outages: bench/recovery.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fyr.db.migrate import upgrade
from tests.conftest import prepare_mysql, require_mysql_url
from tests.e2e.outage import failure_to_slack_after_outage

pytestmark = pytest.mark.timeout(120)
# The goal is 2 s; the bound leaves room for two shared, loaded cores. Without the wake-ups the
# analyzer alone sleeps 4-8 s after a 12 s outage.
BOUND_S = 3.0


async def test_failure_reaches_slack_within_seconds_of_sqlite_coming_back(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fyr.db'}"
    upgrade(url)
    result = await failure_to_slack_after_outage(database_url=url, outage_s=12.0, work_dir=tmp_path)
    print(f"sqlite: 12 s outage -> Slack {result.back_to_slack_s:.2f} s after the return")
    assert result.messages == 1
    assert result.back_to_slack_s < BOUND_S


async def test_failure_reaches_slack_within_seconds_of_mariadb_coming_back(tmp_path: Path) -> None:
    url = require_mysql_url()
    prepare_mysql(url)
    result = await failure_to_slack_after_outage(database_url=url, outage_s=12.0, work_dir=tmp_path)
    print(f"mariadb: 12 s outage -> Slack {result.back_to_slack_s:.2f} s after the return")
    assert result.messages == 1
    assert result.back_to_slack_s < BOUND_S
