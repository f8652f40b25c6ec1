"""GitLab's payloads across versions (tests/fixtures/gitlab/versions, recorded by public client
libraries, sources in its README): every delivery is answered 200, replays included, and the project,
commit and merge request URL are extracted from wherever that version puts them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from fyr.db.engine import Database
from fyr.models.gitlab import GitlabMetadata
from tests.integration.ingestor.ingestor_helpers import DELIVERIES, SECRET, client_for, counts

pytestmark = pytest.mark.timeout(60)
VERSIONS = Path(__file__).resolve().parents[2] / "fixtures" / "gitlab" / "versions"
MANIFEST: dict[str, dict[str, Any]] = json.loads((VERSIONS / "manifest.json").read_text())


@pytest.mark.parametrize("name", sorted(MANIFEST))
async def test_every_version_is_200_and_its_fields_are_extracted(database: Database, name: str) -> None:
    expected = MANIFEST[name]
    body = (VERSIONS / name).read_bytes()
    headers = {"X-Gitlab-Event": expected["event"], "X-Gitlab-Token": SECRET, "Content-Type": "application/json"}
    async with client_for(database) as client:
        first = await client.post("/webhooks/gitlab", content=body, headers=headers)
        replay = await client.post("/webhooks/gitlab", content=body, headers=headers)
    assert first.status_code == 200 and replay.status_code == 200
    assert first.json() == {"status": expected["status"]}
    if expected["status"] == "ignored":
        assert replay.json() == {"status": "ignored"}
        assert await counts(database) == (0, 0, 0)
        return
    assert replay.json() == {"status": "duplicate"}
    async with database.session() as s:
        rows = (await s.execute(select(GitlabMetadata))).scalars().all()
    assert {(r.project_path, r.commit_sha) for r in rows} == {(expected["project"], sha) for sha in expected["shas"]}
    if expected["mr_url"]:
        assert {r.mr_url for r in rows} == {expected["mr_url"]}


async def test_old_job_hook_without_project_is_no_longer_422(database: Database) -> None:
    # GitLab before ~16.3: `project_id`, `project_name`, `repository` and no `project` object.
    body = json.loads((VERSIONS / "go-gitlab_build_b3c6835.json").read_text())
    assert "project" not in body
    async with client_for(database) as client:
        response = await client.post("/webhooks/gitlab", json=body,
                                     headers={"X-Gitlab-Event": "Job Hook", "X-Gitlab-Token": SECRET})
    assert response.json() == {"status": "accepted"}


async def test_an_odd_optional_value_costs_that_value_not_the_delivery(database: Database) -> None:
    pipeline = DELIVERIES["pipeline_running.json"]
    body = pipeline.json
    body["merge_request"] = {"iid": -5, "url": "x" * 5000}  # optional, out of range
    body["builds"].append({"id": -1, "environment": {"name": "production"}})  # one bad build
    job = DELIVERIES["job_failed.json"]
    job_body = job.json
    job_body["environment"] = "production"  # a name where newer versions send an object
    async with client_for(database) as client:
        first = await client.post("/webhooks/gitlab", json=body, headers=pipeline.headers)
        second = await client.post("/webhooks/gitlab", json=job_body, headers=job.headers)
    assert first.json() == {"status": "accepted"} and second.json() == {"status": "accepted"}
    async with database.session() as s:
        rows = (await s.execute(select(GitlabMetadata))).scalars().all()
    assert {r.environment for r in rows} >= {"", "production"}
    assert all(r.mr_url is None for r in rows)
