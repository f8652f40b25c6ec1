"""A first sync records its rows in bulk: same rows, same statuses as one by one, the legacy and
GitLab-correlated cases still row by row (real SQLite)."""

from __future__ import annotations

import pytest

from fyr.core.gitlab_events import Staging
from fyr.db import gitlab, rollouts
from fyr.models.rollout import AnalysisStatus, RolloutStatus

from .conftest import rows
from .test_recorder import feed_crashloop, feed_healthy, recorder

pytestmark = pytest.mark.timeout(30)
S = RolloutStatus


async def test_first_sync_inserts_fresh_rows_in_bulk_with_their_final_status(any_database):
    database = any_database
    async with database.session() as s:  # a row from before uids: adopted, not duplicated
        await rollouts.record_generation(s, rollouts.RolloutKey("c", "shop", "legacy", 2), status=S.ROLLING_OUT)
    rec = recorder(database)
    await rec.prime()
    for i in range(60):
        feed_healthy(rec, f"ok{i}")
    feed_healthy(rec, "legacy")
    feed_crashloop(rec, "bad", restarts=3)
    rec.evaluate_dirty()
    assert await rec.flush() == 62
    got = {r.deployment: r for r in await rows(database)}
    assert len(got) == 62
    assert all(got[f"ok{i}"].status == S.SUCCESS and got[f"ok{i}"].completed_at is not None for i in range(60))
    assert got["ok7"].uid and got["ok7"].kind == "Deployment"
    assert got["bad"].status == S.FAILED and got["bad"].analysis_status == AnalysisStatus.PENDING
    assert got["legacy"].status == S.SUCCESS and got["legacy"].uid  # the old row, now with its uid
    second = recorder(database)
    await second.prime()
    for i in range(60):
        feed_healthy(second, f"ok{i}")
    second.evaluate_dirty()
    assert await second.flush() == 0


async def test_staged_gitlab_metadata_sends_rows_the_correlating_way(any_database):
    database = any_database
    async with database.session() as s:
        await gitlab.stage(s, [Staging(project_path="acme/x", environment="production", commit_sha="a" * 40)])
    rec = recorder(database)
    await rec.prime()
    for i in range(30):
        feed_healthy(rec, f"ok{i}")
    rec.evaluate_dirty()
    assert await rec.flush() == 30
    assert {r.status for r in await rows(database)} == {S.SUCCESS}
