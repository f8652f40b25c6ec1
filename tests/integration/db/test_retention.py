"""Retention on SQLite and MariaDB: old deliveries, staging and history go, in batches; what the
services still need stays (the newest generation of each Deployment, anything queued)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select, text

from fyr.db import rollouts
from fyr.db.base import utcnow
from fyr.db.engine import Database
from fyr.db.retention import RetentionPolicy, prune_once
from fyr.models.analysis import Analysis, AnalysisMetric
from fyr.models.gitlab import GitlabMetadata, WebhookDelivery
from fyr.models.rollout import AnalysisStatus, NotifyStatus, Rollout, RolloutStatus
from tests.conftest import prepare_mysql, require_mysql_url

pytestmark = pytest.mark.timeout(60)
S = RolloutStatus


async def _count(db: Database, model: type) -> int:
    async with db.session() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


async def _seed(db: Database) -> None:
    now = utcnow()
    old, recent = now - timedelta(days=200), now - timedelta(days=1)
    async with db.session() as s:
        await s.execute(insert(WebhookDelivery), [
            {"dedupe_key": f"old-{i}", "event_kind": "pipeline", "received_at": old} for i in range(7)]
            + [{"dedupe_key": "new", "event_kind": "pipeline", "received_at": recent}])
        await s.execute(insert(GitlabMetadata), [
            {"project_path": f"acme/p{i}", "project_slug": f"p{i}", "environment": "prod", "commit_sha": f"{i:040x}",
             "created_at": stamp, "updated_at": stamp} for i, stamp in enumerate([old] * 5 + [recent])])
        # api: generations 1-4 old and finished, 5 is the newest (kept however old); 3 still queued.
        for gen in range(1, 6):
            r = Rollout(cluster="c", namespace="shop", deployment="api", generation=gen, status=S.FAILED,
                        analysis_attempts=0, notify_attempts=0, recovery_attempts=0, updated_at=old, started_at=old,
                        analysis_status=AnalysisStatus.DONE, notify_status=NotifyStatus.SENT)
            if gen == 3:
                r.notify_status = NotifyStatus.PENDING
            s.add(r)
            await s.flush()
            a = Analysis(rollout_id=r.id, model_name="rules", prompt_version="v", reduced_context={}, analysis={},
                         created_at=old)
            s.add(a)
            await s.flush()
            s.add(AnalysisMetric(analysis_id=a.id, rollout_id=r.id, model_name="rules", created_at=old))
        # web: an old generation whose successor is recent — old one goes; a deleted-long-ago Deployment
        # with a single row stays (it is its newest).
        for gen, stamp in ((1, old), (2, recent)):
            s.add(Rollout(cluster="c", namespace="shop", deployment="web", generation=gen, status=S.SUCCESS,
                          analysis_attempts=0, notify_attempts=0, recovery_attempts=0, updated_at=stamp))
        s.add(Rollout(cluster="c", namespace="shop", deployment="gone", generation=1, status=S.SUCCESS,
                      analysis_attempts=0, notify_attempts=0, recovery_attempts=0, updated_at=old))


async def test_old_rows_are_pruned_in_batches_and_what_the_services_need_stays(any_database: Database) -> None:
    db = any_database
    await _seed(db)
    pruned = await prune_once(db, RetentionPolicy(batch_size=2))
    assert (pruned.deliveries, pruned.staging, pruned.rollouts, pruned.analyses) == (7, 5, 4, 3)
    assert pruned.batches >= 4 + 3 + 2, "2 rows per transaction"
    assert await _count(db, WebhookDelivery) == 1 and await _count(db, GitlabMetadata) == 1
    async with db.session() as s:
        left = sorted((r.deployment, r.generation) for r in (await s.execute(select(Rollout))).scalars())
        metrics_left = {m.rollout_id for m in (await s.execute(select(AnalysisMetric))).scalars()}
    assert left == [("api", 3), ("api", 5), ("gone", 1), ("web", 2)]
    assert await _count(db, Analysis) == 2 and len(metrics_left) == 2
    again = await prune_once(db, RetentionPolicy(batch_size=2))
    assert again.total() == 0


async def test_zero_days_keeps_everything(any_database: Database) -> None:
    db = any_database
    await _seed(db)
    pruned = await prune_once(db, RetentionPolicy(history_days=0, deliveries_days=0, staging_days=0))
    assert pruned.total() == 0 and await _count(db, WebhookDelivery) == 8


async def test_a_rollout_recorded_again_is_not_pruned_as_old(any_database: Database) -> None:
    db = any_database
    await _seed(db)
    async with db.session() as s:
        row = await rollouts.get_by_key(s, rollouts.RolloutKey("c", "shop", "api", 2))
        assert row is not None
        row.updated_at = utcnow()
    pruned = await prune_once(db, RetentionPolicy())
    assert pruned.rollouts == 3


@pytest.mark.parametrize(("table", "column", "index"), [
    ("webhook_deliveries", "received_at", "idx_deliveries_received"),
    ("gitlab_metadata", "updated_at", "idx_gitlab_updated"),
    ("rollouts", "updated_at", "idx_rollouts_updated"),
])
async def test_each_pruning_batch_is_found_through_an_index_on_mariadb(table: str, column: str, index: str) -> None:
    url = require_mysql_url()
    prepare_mysql(url)
    db = Database.from_url(url)
    try:
        async with db.session() as s:
            plan = (await s.execute(text(
                f"EXPLAIN SELECT id FROM {table} WHERE {column} < NOW() ORDER BY {column} LIMIT 500"))).mappings().all()
    finally:
        await db.dispose()
    assert plan[0]["key"] == index, plan
