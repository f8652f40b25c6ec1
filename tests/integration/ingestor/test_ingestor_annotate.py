"""POST /api/v1/rollouts/annotate: a deploy job names its Deployment and attaches metadata itself."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fyr.db import gitlab, rollouts
from fyr.db.base import utcnow
from fyr.db.engine import Database
from fyr.db.rollouts import RolloutKey
from fyr.models.rollout import Origin, Rollout, RolloutStatus
from tests.integration.ingestor.ingestor_helpers import (
    DELIVERIES,
    MR_87,
    PIPELINE_98231,
    PROJECT,
    SECRET,
    SHA,
    client_for,
    counts,
    post,
)

pytestmark = pytest.mark.timeout(60)

KEY = RolloutKey("prod-eu", "shop", "shop-api", 12)
AUTH = {"X-Gitlab-Token": SECRET}
NOTE = {
    "namespace": "shop", "deployment": "shop-api", "commit": SHA, "project": PROJECT,
    "environment": "production", "pipeline_url": PIPELINE_98231, "mr_url": MR_87,
    "team": "checkout", "slack_channel": "#checkout-deploys",
}


async def record(db: Database, key: RolloutKey = KEY, **kwargs: object) -> Rollout:
    kwargs.setdefault("image", "registry.example.com/shop:latest")
    async with db.session() as s:
        # The watcher's write path: a new rollout row, then the staged metadata that fits it.
        row, inserted = await rollouts.record_generation(s, key, status=RolloutStatus.ROLLING_OUT,
                                                         **kwargs)  # type: ignore[arg-type]
        if inserted:
            await gitlab.attach_staged(s, row)
        return row


async def load(db: Database, key: RolloutKey = KEY) -> Rollout:
    async with db.session() as s:
        row = await rollouts.get_by_key(s, key)
    assert row is not None
    return row


def assert_annotated(row: Rollout) -> None:
    assert (row.git_project, row.git_commit) == (PROJECT, SHA)
    assert (row.pipeline_url, row.mr_url) == (PIPELINE_98231, MR_87)
    assert (row.team, row.slack_channel) == ("checkout", "#checkout-deploys")
    assert row.origin == Origin.MIXED


async def test_annotate_after_rollout_attaches_now(any_database: Database) -> None:
    rollout = await record(any_database)
    async with client_for(any_database) as client:
        response = await client.post("/api/v1/rollouts/annotate", json=NOTE, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "attached", "rollout_ids": [rollout.id], "team": "checkout",
                               "slack_channel": "#checkout-deploys"}
    assert_annotated(await load(any_database))


async def test_annotate_before_rollout_is_staged_and_joins_it(any_database: Database) -> None:
    async with client_for(any_database) as client:
        response = await client.post("/api/v1/rollouts/annotate", json=NOTE,
                                     headers={"Authorization": f"Bearer {SECRET}"})
    assert response.json()["status"] == "staged"
    await record(any_database)
    assert_annotated(await load(any_database))


async def test_annotate_without_commit_reaches_newest_generation_only(any_database: Database) -> None:
    older = RolloutKey("prod-eu", "shop", "shop-api", 11)
    await record(any_database, older, started_at=utcnow() - timedelta(hours=2))
    await record(any_database)
    note = {"namespace": "shop", "deployment": "shop-api", "team": "checkout"}
    async with client_for(any_database) as client:
        response = await client.post("/api/v1/rollouts/annotate", json=note, headers=AUTH)
    assert response.json()["status"] == "attached"
    assert (await load(any_database)).team == "checkout"
    assert (await load(any_database, older)).team is None


async def test_annotate_with_commit_skips_rollouts_of_other_commits(any_database: Database) -> None:
    await record(any_database, image="registry.example.com/shop:0123456789")
    async with client_for(any_database) as client:
        response = await client.post("/api/v1/rollouts/annotate", json=NOTE, headers=AUTH)
    assert response.json()["status"] == "staged"
    assert (await load(any_database)).team is None


async def test_annotate_answer_applies_routing_then_default_channel(any_database: Database) -> None:
    async with client_for(any_database) as client:
        routed = await client.post("/api/v1/rollouts/annotate", headers=AUTH, json={
            "namespace": "shop", "deployment": "shop-api", "commit": SHA, "project": PROJECT})
        default = await client.post("/api/v1/rollouts/annotate", headers=AUTH, json={
            "namespace": "x", "deployment": "y", "project": "other/thing"})
    assert (routed.json()["team"], routed.json()["slack_channel"]) == ("payments", "#payments-alerts")
    assert (default.json()["team"], default.json()["slack_channel"]) == (None, "#deployments")


async def test_annotate_and_webhooks_together(any_database: Database) -> None:
    await record(any_database, annotations={"app.gitlab.com/app": "acme-shop-api",
                                            "app.gitlab.com/env": "production"})
    async with client_for(any_database) as client:
        await client.post("/api/v1/rollouts/annotate", headers=AUTH, json={
            "namespace": "shop", "deployment": "shop-api", "commit": SHA, "team": "checkout"})
        for name in ("pipeline_running.json", "merge_request_open.json"):
            assert (await post(client, DELIVERIES[name])).status_code == 200
    row = await load(any_database)
    assert (row.git_commit, row.team, row.pipeline_url, row.mr_url) == (SHA, "checkout", PIPELINE_98231, MR_87)


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (NOTE, {}, 401),
        (NOTE, {"X-Gitlab-Token": "nope"}, 401),
        (NOTE, {"Authorization": "Basic abc"}, 401),
        (b"{", AUTH, 400),
        ({"namespace": "shop"}, AUTH, 422),
        ({**NOTE, "commit": "xyz"}, AUTH, 422),
        ({**NOTE, "unknown": 1}, AUTH, 422),
        ({**NOTE, "team": "t" * 300}, AUTH, 422),
        ({**NOTE, "team": "x" * 70_000}, AUTH, 413),
    ],
)
async def test_annotate_rejections_write_nothing(
    database: Database, body: object, headers: dict[str, str], status: int
) -> None:
    async with client_for(database) as client:
        if isinstance(body, bytes):
            response = await client.post("/api/v1/rollouts/annotate", content=body, headers=headers)
        else:
            response = await client.post("/api/v1/rollouts/annotate", json=body, headers=headers)
    assert response.status_code == status
    assert await counts(database) == (0, 0, 0)
