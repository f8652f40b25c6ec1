"""Pure parts of the ingestor: what each hook stages (docs/wire-formats.md 'Where each Fyr field comes from'), dedupe
keys, group commit."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from fyr.core.gitlab_match import apply_gitlab_rows, image_commit_prefix, ordered_rows, project_slug, slug_is_name
from fyr.models.gitlab import GitlabMetadata
from fyr.models.rollout import Rollout
from fyr.services.gitlab_ingestor.batching import GroupCommit
from fyr.services.gitlab_ingestor.logic import dedupe_key, events_for
from fyr.services.gitlab_ingestor.webhooks import EVENT_MODELS, Hook

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "gitlab"
SHA = "8f2c4e1b9a7d3f6e0c5b2a8d4e6f1a3c9b7d5e2f"
HEADERS = json.loads((FIXTURES / "headers.json").read_text())["files"]


def parse(name: str) -> Hook:
    _, model = EVENT_MODELS[HEADERS[name]["X-Gitlab-Event"]]
    return model.model_validate_json((FIXTURES / name).read_bytes())


def test_deployment_hook_takes_full_sha_from_commit_url_and_keys_by_env_slug() -> None:
    (event,) = events_for(parse("deployment_failed.json"))
    (staging,) = event.stagings
    assert (staging.commit_sha, staging.environment, staging.job_id) == (SHA, "production", 3310449)
    assert staging.deployment_status == "failed"
    assert staging.pipeline_url is None  # the Deployment hook has no pipeline
    assert event.deployable_id == 3310449


def test_job_hook_uses_sha_not_commit_id_and_builds_pipeline_url() -> None:
    (event,) = events_for(parse("job_failed.json"))
    assert event.commit_sha == SHA  # commit.id is the pipeline id (98231): a trap
    deploy = next(s for s in event.stagings if s.environment == "production")
    assert deploy.pipeline_url == "https://gitlab.example.com/acme/shop-api/-/pipelines/98231"
    assert deploy.job_id == 3310449


def test_pipeline_hook_stages_commit_row_and_one_row_per_deploy_environment() -> None:
    (event,) = events_for(parse("pipeline_success.json"))
    assert {(s.environment, s.job_id) for s in event.stagings} == {("", None), ("production", 3310457)}
    (mr_event,) = events_for(parse("pipeline_failed_mr.json"))
    assert {s.mr_url for s in mr_event.stagings} == {
        "https://gitlab.example.com/acme/shop-api/-/merge_requests/87"}


def test_merge_request_hook_stages_head_commit() -> None:
    (event,) = events_for(parse("merge_request_open.json"))
    assert event.commit_sha == SHA
    assert event.stagings[0].environment == ""


def test_dedupe_key_prefers_idempotency_key_and_hashes_everything() -> None:
    a = dedupe_key(idempotency_key="k", event_uuid="u1", kind="pipeline", body_sha256="1")
    assert a == dedupe_key(idempotency_key="k", event_uuid="u2", kind="build", body_sha256="2")
    b = dedupe_key(idempotency_key=None, event_uuid="u", kind="pipeline", body_sha256="1")
    assert b != dedupe_key(idempotency_key=None, event_uuid="u", kind="pipeline", body_sha256="2")
    assert b != dedupe_key(idempotency_key=None, event_uuid="u", kind="build", body_sha256="1")
    assert len(dedupe_key(idempotency_key="x" * 10_000, event_uuid=None, kind="k", body_sha256="")) == 64


@pytest.mark.parametrize(
    ("path", "slug"),
    [("acme/shop-api", "acme-shop-api"), ("Acme/Shop_API", "acme-shop-api"), ("-a/b-", "a-b"),
     ("g/" + "x" * 80, ("g-" + "x" * 80)[:63])],
)
def test_project_slug_follows_ci_project_path_slug(path: str, slug: str) -> None:
    assert project_slug(path) == slug


@pytest.mark.parametrize(
    ("image", "prefix"),
    [("registry/acme/shop:8f2c4e1b", "8f2c4e1b"), ("shop:8F2C4E1", "8f2c4e1"), ("shop:v1.2", None),
     ("shop:abc", None), ("registry:5000/shop", None), ("shop@sha256:" + "a" * 64, None), (None, None)],
)
def test_image_tag_names_a_commit_only_when_hex_of_seven_or_more(image: str | None, prefix: str | None) -> None:
    assert image_commit_prefix(image) == prefix


def test_environment_slug_equals_name_only_for_slug_shaped_names() -> None:
    assert slug_is_name("production") and slug_is_name("staging-1234567890123456")
    assert not any(slug_is_name(n) for n in ("Production", "review/feat-x", "1abc", "x-", "a--b"))


async def test_group_commit_batches_concurrent_items_and_isolates_a_failing_one() -> None:
    batches: list[list[int]] = []

    async def run_batch(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        if 13 in items:
            raise ValueError("bad item in batch")
        return [i * 10 for i in items]

    async def run_one(item: int) -> int:
        if item == 13:
            raise ValueError("bad item")
        return item * 10

    group: GroupCommit[int, int] = GroupCommit(run_batch=run_batch, run_one=run_one, max_batch=4,
                                              max_inflight=1)
    results = await asyncio.gather(*(group.submit(i) for i in range(6)))
    assert results == [0, 10, 20, 30, 40, 50]
    assert batches == [[0, 1, 2, 3], [4, 5]]

    outcomes = await asyncio.gather(*(group.submit(i) for i in (12, 13, 14)), return_exceptions=True)
    assert outcomes[0] == 120 and outcomes[2] == 140
    assert isinstance(outcomes[1], ValueError)
    assert group.fallbacks == 1


def _row(env: str, **values: object) -> GitlabMetadata:
    from datetime import UTC, datetime

    row = GitlabMetadata(project_path="acme/shop-api", project_slug="acme-shop-api", environment=env,
                         commit_sha=SHA, updated_at=datetime(2025, 3, 10, tzinfo=UTC))
    for key, value in values.items():
        setattr(row, key, value)
    return row


PIPE = "https://gitlab.example.com/acme/shop-api/-/pipelines/"


def test_webhook_rows_fill_gaps_and_upgrade_their_own_values_but_never_annotations() -> None:
    rollout = Rollout(git_commit=SHA[:8], pipeline_url=PIPE + "98230", mr_url="https://mr.example/explicit",
                      gitlab_env="production")
    rows = [_row("production", pipeline_url=PIPE + "98231"), _row("", pipeline_url=PIPE + "98231",
                                                                   mr_url="https://gl/mr/87")]
    assert apply_gitlab_rows(rollout, rows)
    assert rollout.git_commit == SHA  # the short commit is completed
    assert rollout.git_project == "acme/shop-api"
    assert rollout.pipeline_url == PIPE + "98231"  # an older pipeline of the project is replaced
    assert rollout.mr_url == "https://mr.example/explicit"  # an annotation's value stays


def test_rollout_without_environment_does_not_guess_between_environments() -> None:
    rows = [_row("production", pipeline_url=PIPE + "1"), _row("staging", pipeline_url=PIPE + "2"),
            _row("", pipeline_url=PIPE + "3")]
    assert [r.environment for r in ordered_rows(rows, None)] == [""]
    assert [r.environment for r in ordered_rows(rows, "staging")] == ["staging", ""]


async def test_group_commit_fails_all_at_once_when_the_error_is_not_the_items_fault() -> None:
    singles: list[int] = []

    async def run_batch(items: Sequence[int]) -> list[int]:
        raise ConnectionError("database gone")

    async def run_one(item: int) -> int:
        singles.append(item)
        return item

    group: GroupCommit[int, int] = GroupCommit(
        run_batch=run_batch, run_one=run_one, max_inflight=1,
        isolate=lambda exc: not isinstance(exc, ConnectionError))
    outcomes = await asyncio.gather(*(group.submit(i) for i in range(5)), return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    assert singles == []  # no doomed one-by-one retries


async def test_group_commit_refuses_at_once_past_its_queue_bound() -> None:
    # A database that never answers: without a bound every request would queue until it does.
    release = asyncio.Event()

    async def run(items: Sequence[int] | int) -> Any:
        await release.wait()
        return list(items) if isinstance(items, Sequence) else items

    group: GroupCommit[int, int] = GroupCommit(run_batch=run, run_one=run, max_batch=2, max_inflight=1,
                                               max_queue=3)
    waiting = [asyncio.create_task(group.submit(0))]
    await asyncio.sleep(0.05)  # the drain has taken 0 and waits for the database
    waiting += [asyncio.create_task(group.submit(i)) for i in (1, 2, 3)]
    await asyncio.sleep(0.05)
    with pytest.raises(asyncio.QueueFull):
        await group.submit(99)
    release.set()
    assert sorted(await asyncio.gather(*waiting)) == [0, 1, 2, 3]
