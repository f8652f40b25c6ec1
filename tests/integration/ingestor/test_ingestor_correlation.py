"""Every shared GitLab fixture posted to the real app, before and after the rollout row exists.

The fixtures tell one story (fixtures/gitlab/README.md): MR !87, MR pipeline 98230, branch pipeline
98231 whose deploy job failed once and passed on retry. Whichever side arrives first, the rollout
ends with the project, the full commit, the deploy pipeline and the MR.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from fyr.db import gitlab, rollouts
from fyr.db.base import utcnow
from fyr.db.engine import Database
from fyr.db.rollouts import RolloutKey
from fyr.models.gitlab import GitlabMetadata
from fyr.models.rollout import Origin, Rollout, RolloutStatus
from tests.integration.ingestor.ingestor_helpers import (
    DELIVERIES,
    GITLAB_ANNOTATIONS,
    IMAGE,
    MR_87,
    PIPELINE_98230,
    PIPELINE_98231,
    PROJECT,
    SHA,
    TIMELINE,
    counts,
    post,
)

pytestmark = pytest.mark.timeout(60)

KEY = RolloutKey("prod-eu", "shop", "shop-api", 7)

# What each fixture alone tells a rollout of image :8f2c4e1b in app acme-shop-api, env production.
ALONE = {
    "merge_request_open.json": {"pipeline_url": None, "mr_url": MR_87},
    "pipeline_failed_mr.json": {"pipeline_url": PIPELINE_98230, "mr_url": MR_87},
    "pipeline_running.json": {"pipeline_url": PIPELINE_98231, "mr_url": None},
    "pipeline_success.json": {"pipeline_url": PIPELINE_98231, "mr_url": None},
    "job_failed.json": {"pipeline_url": PIPELINE_98231, "mr_url": None},
    "deployment_failed.json": {"pipeline_url": None, "mr_url": None},
    "deployment_running.json": {"pipeline_url": None, "mr_url": None},
    "deployment_success.json": {"pipeline_url": None, "mr_url": None},
}


async def record_rollout(db: Database, key: RolloutKey = KEY, **kwargs: object) -> Rollout:
    kwargs.setdefault("image", IMAGE)
    kwargs.setdefault("annotations", GITLAB_ANNOTATIONS)
    async with db.session() as s:
        # The watcher's write path: a new rollout row, then the staged metadata that fits it.
        row, inserted = await rollouts.record_generation(s, key, status=RolloutStatus.ROLLING_OUT, revision=3,
                                                         **kwargs)  # type: ignore[arg-type]
        if inserted:
            await gitlab.attach_staged(s, row)
        return row


async def load_rollout(db: Database, key: RolloutKey = KEY) -> Rollout:
    async with db.session() as s:
        row = await rollouts.get_by_key(s, key)
    assert row is not None
    return row


def assert_story(row: Rollout, *, pipeline_url: str | None, mr_url: str | None) -> None:
    assert row.git_project == PROJECT
    assert row.git_commit == SHA
    assert row.pipeline_url == pipeline_url
    assert row.mr_url == mr_url
    assert row.origin == Origin.MIXED


@pytest.mark.parametrize("name", sorted(ALONE))
@pytest.mark.parametrize("order", ["webhook_first", "rollout_first"])
async def test_each_fixture_joins_its_rollout_in_either_order(
    any_database: Database, client: httpx.AsyncClient, name: str, order: str
) -> None:
    if order == "rollout_first":
        await record_rollout(any_database)
    response = await post(client, DELIVERIES[name])
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "accepted"}
    if order == "webhook_first":
        before = await load_rollout_or_none(any_database)
        assert before is None
        await record_rollout(any_database)
    assert_story(await load_rollout(any_database), **ALONE[name])


async def load_rollout_or_none(db: Database) -> Rollout | None:
    async with db.session() as s:
        return await rollouts.get_by_key(s, KEY)


@pytest.mark.parametrize("order", ["webhook_first", "rollout_first", "interleaved"])
async def test_whole_timeline_gives_deploy_pipeline_and_mr(
    any_database: Database, client: httpx.AsyncClient, order: str
) -> None:
    if order == "rollout_first":
        await record_rollout(any_database)
    for index, name in enumerate(TIMELINE):
        if order == "interleaved" and index == 4:  # the watcher sees it while the deploy job runs
            await record_rollout(any_database)
        response = await post(client, DELIVERIES[name])
        assert response.status_code == 200, (name, response.text)
    if order == "webhook_first":
        await record_rollout(any_database)
    # The branch pipeline that ran the deploy (98231), not the failed MR pipeline (98230).
    assert_story(await load_rollout(any_database), pipeline_url=PIPELINE_98231, mr_url=MR_87)

    async with any_database.session() as s:
        rows = {(r.project_path, r.environment): r for r in (await s.execute(select(GitlabMetadata))).scalars()}
    deploy = rows[(PROJECT, "production")]
    assert (deploy.commit_sha, deploy.pipeline_id, deploy.job_id) == (SHA, 98231, 3310457)
    assert deploy.deployment_status == "success"
    commit = rows[(PROJECT, "")]
    assert (commit.pipeline_id, commit.pipeline_url, commit.mr_url) == (98231, PIPELINE_98231, MR_87)
    assert {r.project_slug for r in rows.values()} == {"acme-shop-api"}
    assert (await counts(any_database))[0] == len(TIMELINE)


async def test_reverse_timeline_keeps_newest_pipeline_and_job(
    any_database: Database, client: httpx.AsyncClient
) -> None:
    for name in reversed(TIMELINE):
        assert (await post(client, DELIVERIES[name])).status_code == 200
    await record_rollout(any_database)
    assert_story(await load_rollout(any_database), pipeline_url=PIPELINE_98231, mr_url=MR_87)
    async with any_database.session() as s:
        deploy = (await s.execute(select(GitlabMetadata).where(
            GitlabMetadata.environment == "production"))).scalar_one()
    assert (deploy.pipeline_id, deploy.job_id) == (98231, 3310457)


async def test_annotations_are_never_overwritten_by_webhooks(
    any_database: Database, client: httpx.AsyncClient
) -> None:
    explicit = {**GITLAB_ANNOTATIONS, "fyr.dev/pipeline-url": "https://ci.example/p/1",
                "fyr.dev/mr-url": "https://mr.example/1", "fyr.dev/team": "checkout",
                "fyr.dev/slack-channel": "#checkout", "fyr.dev/git-commit": SHA[:12]}
    await record_rollout(any_database, annotations=explicit, image="registry.example.com/shop:latest")
    for name in TIMELINE:
        assert (await post(client, DELIVERIES[name])).status_code == 200
    row = await load_rollout(any_database)
    assert (row.pipeline_url, row.mr_url) == ("https://ci.example/p/1", "https://mr.example/1")
    assert (row.team, row.slack_channel) == ("checkout", "#checkout")
    assert row.git_commit == SHA  # the short annotation is completed, not contradicted
    assert row.git_project == PROJECT


async def test_rollout_of_another_environment_or_app_is_left_alone(
    any_database: Database, client: httpx.AsyncClient
) -> None:
    staging = RolloutKey("prod-eu", "shop", "shop-api-staging", 2)
    other = RolloutKey("prod-eu", "web", "web", 4)
    await record_rollout(any_database, staging, annotations={**GITLAB_ANNOTATIONS,
                                                             "app.gitlab.com/env": "staging"})
    await record_rollout(any_database, other, image="registry.example.com/web:1f2e3d4c5b",
                         annotations={"app.gitlab.com/app": "acme-web"})
    for name in ("pipeline_running.json", "deployment_failed.json", "job_failed.json"):
        assert (await post(client, DELIVERIES[name])).status_code == 200
    row = await load_rollout(any_database, staging)
    # Same commit, other environment: the commit and project join, the deploy pipeline does not
    # (it belongs to production); the commit row's pipeline is the commit's newest pipeline.
    assert row.git_commit == SHA
    assert row.pipeline_url == PIPELINE_98231
    untouched = await load_rollout(any_database, other)
    assert (untouched.git_project, untouched.git_commit, untouched.origin) == (None, None, Origin.K8S)


async def test_rollout_without_commit_joins_the_only_recent_deployment_of_its_env(
    any_database: Database, client: httpx.AsyncClient
) -> None:
    await record_rollout(any_database, image="registry.example.com/shop:latest",
                         started_at=utcnow() - timedelta(minutes=1))
    assert (await post(client, DELIVERIES["deployment_running.json"])).status_code == 200
    row = await load_rollout(any_database)
    assert (row.git_project, row.git_commit) == (PROJECT, SHA)


async def test_merge_commit_sha_of_a_merged_mr_links_the_mr(
    any_database: Database, client: httpx.AsyncClient
) -> None:
    merged_sha = "0123456789abcdef0123456789abcdef01234567"
    body = DELIVERIES["merge_request_open.json"].json
    body["object_attributes"].update(state="merged", action="merge", merge_commit_sha=merged_sha)
    await record_rollout(any_database, image=f"registry.example.com/shop:{merged_sha[:8]}")
    response = await client.post("/webhooks/gitlab", json=body, headers={
        "X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Token": DELIVERIES["merge_request_open.json"]
        .headers["X-Gitlab-Token"], "Idempotency-Key": "merged-1"})
    assert response.status_code == 200
    row = await load_rollout(any_database)
    assert (row.git_commit, row.mr_url) == (merged_sha, MR_87)


def test_in_repo_fixture_copy_matches_the_shared_fixtures() -> None:
    import os
    from pathlib import Path

    from tests.integration.ingestor.ingestor_helpers import REPO_ROOT, fixtures_dir

    shared = Path(os.environ.get("FYR_SHARED_DIR", REPO_ROOT.parent / "shared")) / "fixtures" / "gitlab"
    if not (shared / "headers.json").is_file():
        pytest.skip("the shared fixtures folder is not beside the repository")
    ours = fixtures_dir()
    assert ours == REPO_ROOT / "tests" / "fixtures" / "gitlab"
    names = sorted(p.name for p in shared.iterdir() if p.is_file())
    assert names == sorted(p.name for p in ours.iterdir() if p.is_file())
    for name in names:
        if name.endswith(".md"):  # the copy's README points at docs/ instead of the design notes beside it
            continue
        assert (ours / name).read_bytes() == (shared / name).read_bytes(), name
    assert set(DELIVERIES) == {n for n in names if n.endswith(".json") and n != "headers.json"}


async def test_concurrent_deliveries_share_a_transaction_with_the_same_result(any_database: Database) -> None:
    import asyncio

    from fyr.services.gitlab_ingestor.api import create_app
    from tests.integration.ingestor.ingestor_helpers import ROUTING, make_settings

    await record_rollout(any_database)
    app = create_app(settings=make_settings(), db=any_database, routing=ROUTING)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://i") as client:
        responses = await asyncio.gather(*(post(client, DELIVERIES[name]) for name in TIMELINE),
                                         *(post(client, DELIVERIES[name]) for name in TIMELINE))
    statuses = sorted(r.json()["status"] for r in responses)
    assert statuses == ["accepted"] * len(TIMELINE) + ["duplicate"] * len(TIMELINE)
    assert app.state.group_commit.batches < len(responses)  # they were grouped
    assert_story(await load_rollout(any_database), pipeline_url=PIPELINE_98231, mr_url=MR_87)
    assert (await counts(any_database))[0] == len(TIMELINE)


@pytest.mark.parametrize("first", ["deployment", "pipeline"])
async def test_environment_whose_slug_differs_from_its_name_joins_through_the_job_id(
    any_database: Database, client: httpx.AsyncClient, first: str
) -> None:
    # GitLab adds a random suffix to the slug of a name that is not slug-shaped: the Deployment
    # hook (slug) and the Pipeline hook (name only) meet through the deploy job's id.
    name, slug, job, pipeline = "Review/Feat X", "review-feat-x-q517sa", 3310999, 98777
    pipe = DELIVERIES["pipeline_running.json"].json
    pipe["object_attributes"].update(id=pipeline, url=f"https://gitlab.example.com/acme/shop-api/-/pipelines/{pipeline}")
    pipe["builds"][0].update(id=job, environment={"name": name, "action": "start"})
    deploy = DELIVERIES["deployment_running.json"].json
    deploy.update(environment=name, environment_slug=slug, deployable_id=job)
    bodies = {"pipeline": ("Pipeline Hook", pipe), "deployment": ("Deployment Hook", deploy)}
    await record_rollout(any_database, annotations={"app.gitlab.com/app": "acme-shop-api",
                                                    "app.gitlab.com/env": slug})
    order = [first, "pipeline" if first == "deployment" else "deployment"]
    for index, kind in enumerate(order):
        event, body = bodies[kind]
        response = await client.post("/webhooks/gitlab", json=body, headers={
            "X-Gitlab-Event": event, "X-Gitlab-Token": DELIVERIES[TIMELINE[0]].headers["X-Gitlab-Token"],
            "Idempotency-Key": f"slug-{index}"})
        assert response.json() == {"status": "accepted"}
    row = await load_rollout(any_database)
    assert row.pipeline_url == f"https://gitlab.example.com/acme/shop-api/-/pipelines/{pipeline}"
    async with any_database.session() as s:
        deploy_row = (await s.execute(select(GitlabMetadata).where(
            GitlabMetadata.environment == slug))).scalar_one()
    assert (deploy_row.pipeline_id, deploy_row.job_id) == (pipeline, job)


async def test_rollout_and_webhook_committing_concurrently_still_meet(mysql_database: Database) -> None:
    """The watcher records the rollout in a transaction that is still open when the webhook comes.

    Without the rollout side's locking read and the webhook side's READ COMMITTED, neither
    transaction sees the other's uncommitted row and the rollout never gets its pipeline.
    """
    import asyncio

    from tests.integration.ingestor.ingestor_helpers import client_for

    async with client_for(mysql_database) as client:
        async with mysql_database.session() as s:
            row, _ = await rollouts.record_generation(s, KEY, status=RolloutStatus.ROLLING_OUT, image=IMAGE,
                                                      annotations=GITLAB_ANNOTATIONS)
            await gitlab.attach_staged(s, row)
            hook = asyncio.create_task(post(client, DELIVERIES["pipeline_running.json"]))
            await asyncio.sleep(0.5)  # the webhook's upsert now waits for this transaction
            assert not hook.done()
        response = await asyncio.wait_for(hook, 10)
    assert response.json() == {"status": "accepted"}
    assert_story(await load_rollout(mysql_database), pipeline_url=PIPELINE_98231, mr_url=None)
