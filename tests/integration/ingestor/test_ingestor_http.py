"""The ingestor's HTTP contract: token, limits, malformed bodies, duplicates, unknown events, health.

Every rejected request is checked to have written nothing (webhook_deliveries, gitlab_metadata,
rollouts). GitLab-facing rules: docs/wire-formats.md 'GitLab webhooks'.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from fyr.db.engine import Database
from fyr.errors import ConfigError
from fyr.services.gitlab_ingestor.api import create_app
from fyr.services.gitlab_ingestor.main import run_ingestor
from tests.integration.ingestor.ingestor_helpers import (
    DELIVERIES,
    ROUTING,
    SECRET,
    TIMELINE,
    client_for,
    counts,
    make_settings,
    post,
)

pytestmark = pytest.mark.timeout(60)
PIPELINE = DELIVERIES["pipeline_running.json"]


@pytest.mark.parametrize("token", [None, "", "wrong", SECRET.upper(), SECRET + " ", SECRET[:-1]])
async def test_bad_or_missing_token_is_401_and_writes_nothing(
    database: Database, token: str | None
) -> None:
    headers = {k: v for k, v in PIPELINE.headers.items() if k != "X-Gitlab-Token"}
    if token is not None:
        headers["X-Gitlab-Token"] = token
    async with client_for(database) as client:
        response = await client.post("/webhooks/gitlab", content=PIPELINE.body, headers=headers)
    assert response.status_code == 401
    assert await counts(database) == (0, 0, 0)


async def test_token_is_checked_before_the_body_is_read(database: Database) -> None:
    # An unauthenticated sender gets 401, not 413, however large its body claims to be.
    async with client_for(database, ingestor_max_body_bytes=2048) as client:
        response = await client.post("/webhooks/gitlab", content=b"x" * 5000,
                                     headers={"X-Gitlab-Event": "Pipeline Hook"})
    assert response.status_code == 401


async def test_body_over_limit_is_413_by_content_length(database: Database) -> None:
    async with client_for(database, ingestor_max_body_bytes=4096) as client:
        response = await post(client, PIPELINE)  # ~5.8 kB with Content-Length
    assert response.status_code == 413
    assert await counts(database) == (0, 0, 0)


async def test_body_over_limit_is_413_while_streaming_without_content_length(database: Database) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(PIPELINE.body), 1000):
            yield PIPELINE.body[start:start + 1000]

    async with client_for(database, ingestor_max_body_bytes=4096) as client:
        response = await client.post("/webhooks/gitlab", content=chunks(), headers=PIPELINE.headers)
    assert response.status_code == 413
    assert await counts(database) == (0, 0, 0)


async def test_streamed_body_under_limit_is_accepted(database: Database) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(PIPELINE.body), 700):
            yield PIPELINE.body[start:start + 700]

    async with client_for(database) as client:
        response = await client.post("/webhooks/gitlab", content=chunks(), headers=PIPELINE.headers)
    assert response.status_code == 200
    assert (await counts(database))[0] == 1


async def test_three_megabyte_pipeline_is_normal(database: Database) -> None:
    body = PIPELINE.json
    template = body["builds"][1]
    body["builds"] = body["builds"] + [
        {**copy.deepcopy(template), "id": 4_000_000 + i, "name": f"shard-{i}"} for i in range(4400)
    ]
    raw = json.dumps(body).encode()
    assert len(raw) > 3_000_000
    async with client_for(database) as client:
        response = await client.post("/webhooks/gitlab", content=raw, headers=PIPELINE.headers)
    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}


@pytest.mark.parametrize("body", [b"", b"{", b"not json", b"{} x", b"\xff{}"])
async def test_body_that_is_not_json_is_400_without_side_effect(database: Database, body: bytes) -> None:
    async with client_for(database) as client:
        response = await client.post("/webhooks/gitlab", content=body, headers=PIPELINE.headers)
    assert response.status_code == 400
    assert await counts(database) == (0, 0, 0)


@pytest.mark.parametrize(
    "body",
    [
        b'{"object_kind": "pipeline", "a": "\\ud800"}',
        b"[]",
        b"{}",
        b'{"object_kind": "pipeline"}',
        b'{"object_kind": "deployment", "status": "success"}',  # right shape, wrong header
    ],
)
async def test_json_fyr_cannot_use_is_200_ignored_without_side_effect(database: Database, body: bytes) -> None:
    # GitLab counts every 4xx toward disabling the whole hook: a shape Fyr cannot use is not an error.
    async with client_for(database) as client:
        response = await client.post("/webhooks/gitlab", content=body, headers=PIPELINE.headers)
        metrics = (await client.get("/metrics")).text
    assert response.status_code == 200
    assert response.json() == {"status": "ignored"}
    assert await counts(database) == (0, 0, 0)
    assert "fyr_ingestor_deliveries_ignored_total{reason=" in metrics


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("object_attributes", "sha"), "not-a-sha"),
        (("object_attributes", "id"), -1),
        (("object_attributes", "id"), 2**64),
        (("project", "path_with_namespace"), "x" * 300),
        (("project", "path_with_namespace"), "acme/\x00shop"),
        (("project",), None),
    ],
)
async def test_field_out_of_range_is_ignored_and_writes_nothing(
    database: Database, path: tuple[str, ...], value: object
) -> None:
    body = PIPELINE.json
    target = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    async with client_for(database) as client:
        response = await client.post("/webhooks/gitlab", json=body, headers=PIPELINE.headers)
    assert response.json() == {"status": "ignored"}
    assert await counts(database) == (0, 0, 0)


async def test_repeated_delivery_is_200_without_second_effect(database: Database) -> None:
    async with client_for(database) as client:
        for name in TIMELINE:
            assert (await post(client, DELIVERIES[name])).json() == {"status": "accepted"}
        before = await counts(database)
        for name in TIMELINE:  # GitLab "Resend Request": same body, same Idempotency-Key
            response = await post(client, DELIVERIES[name], **{"X-Gitlab-Webhook-UUID": "fresh"})
            assert response.status_code == 200
            assert response.json() == {"status": "duplicate"}
    assert await counts(database) == before


async def test_without_idempotency_key_event_uuid_kind_and_body_decide(database: Database) -> None:
    headers = {k: v for k, v in PIPELINE.headers.items() if k != "Idempotency-Key"}
    other_body = PIPELINE.json
    other_body["object_attributes"]["status"] = "success"
    async with client_for(database) as client:
        first = await client.post("/webhooks/gitlab", content=PIPELINE.body, headers=headers)
        again = await client.post("/webhooks/gitlab", content=PIPELINE.body, headers=headers)
        # Same Event-UUID, different body: a distinct (recursive) event, not a duplicate.
        distinct = await client.post("/webhooks/gitlab", json=other_body, headers=headers)
    assert [r.json()["status"] for r in (first, again, distinct)] == ["accepted", "duplicate", "accepted"]
    assert (await counts(database))[0] == 2


async def test_concurrent_duplicates_have_one_effect(any_database: Database) -> None:
    async with client_for(any_database) as client:
        responses = await asyncio.gather(*(post(client, PIPELINE) for _ in range(8)))
    statuses = sorted(r.json()["status"] for r in responses)
    assert statuses == ["accepted"] + ["duplicate"] * 7
    assert (await counts(any_database))[0] == 1


@pytest.mark.parametrize("event", ["Push Hook", "Tag Push Hook", "Note Hook", "Milestone Hook", "Brand New Hook"])
async def test_unknown_or_unused_event_is_200_ignored(database: Database, event: str) -> None:
    async with client_for(database) as client:
        response = await post(client, PIPELINE, **{"X-Gitlab-Event": event})
    assert response.status_code == 200
    assert response.json() == {"status": "ignored"}
    assert await counts(database) == (0, 0, 0)


async def test_missing_event_header_dispatches_on_object_kind(database: Database) -> None:
    headers = {k: v for k, v in PIPELINE.headers.items() if k != "X-Gitlab-Event"}
    async with client_for(database) as client:
        response = await client.post("/webhooks/gitlab", content=PIPELINE.body, headers=headers)
    assert response.json() == {"status": "accepted"}


async def test_system_hook_dispatches_on_object_kind(database: Database) -> None:
    async with client_for(database) as client:
        known = await post(client, PIPELINE, **{"X-Gitlab-Event": "System Hook"})
        unknown = await client.post("/webhooks/gitlab", json={"object_kind": "push"},
                                    headers={"X-Gitlab-Event": "System Hook", "X-Gitlab-Token": SECRET})
    assert known.json() == {"status": "accepted"}
    assert unknown.json() == {"status": "ignored"}


async def test_header_names_are_case_insensitive(database: Database) -> None:
    headers = {k.lower(): v for k, v in PIPELINE.headers.items()}
    async with client_for(database) as client:
        response = await client.post("/webhooks/gitlab", content=PIPELINE.body, headers=headers)
    assert response.json() == {"status": "accepted"}


async def test_database_outage_is_503_and_retry_succeeds(database: Database) -> None:
    async with client_for(database) as client:
        database.simulate_outage(30)
        failed = await post(client, PIPELINE)
        database.simulate_outage(0)  # over
        retried = await post(client, PIPELINE)
    assert failed.status_code == 503
    assert failed.headers["retry-after"] == "5"
    assert retried.json() == {"status": "accepted"}  # the failed attempt left no dedupe row


async def test_health_ready_metrics_and_docs(database: Database) -> None:
    async with client_for(database) as client:
        await post(client, PIPELINE)
        await post(client, PIPELINE)
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/readyz")).json() == {"ready": True, "checks": {"database": "ok"}}
        metrics = (await client.get("/metrics")).text
        assert 'fyr_ingestor_requests_total{endpoint="webhook",event="pipeline",outcome="accepted"} 1.0' in metrics
        assert 'outcome="duplicate"} 1.0' in metrics
        assert (await client.get("/docs")).status_code == 200
        spec = (await client.get("/openapi.json")).json()
    body = spec["paths"]["/webhooks/gitlab"]["post"]["requestBody"]["content"]["application/json"]
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in body["schema"]["oneOf"]} == {
        "PipelineHook", "JobHook", "DeploymentHook", "MergeRequestHook"}
    assert "PipelineAttributes" in spec["components"]["schemas"]
    assert "/api/v1/rollouts/annotate" in spec["paths"]


async def test_readyz_is_503_when_schema_is_behind(tmp_path: object) -> None:
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    try:
        async with client_for(db) as client:
            response = await client.get("/readyz")
        assert response.status_code == 503
        assert "fyr db upgrade" in response.json()["checks"]["database"]
    finally:
        await db.dispose()


async def test_refuses_to_start_without_token(database: Database) -> None:
    settings = make_settings(gitlab_ingestor_token=None)
    expected = "GITLAB_INGESTOR_TOKEN is not set; the ingestor refuses to accept unauthenticated webhooks"
    with pytest.raises(ConfigError, match=expected):
        create_app(settings=settings, db=database, routing=ROUTING)
    with pytest.raises(ConfigError, match=expected):
        await run_ingestor(settings=settings, db=database, host="127.0.0.1", port=0, stop=asyncio.Event())


async def test_real_uvicorn_server_takes_every_fixture_and_stops_gracefully(any_database: Database) -> None:
    stop = asyncio.Event()
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(run_ingestor(
        settings=make_settings(), db=any_database, host="127.0.0.1", port=0, stop=stop, routing=ROUTING,
        on_listening=lambda _host, port: bound.set_result(port)))
    try:
        port = await asyncio.wait_for(bound, 10)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for name in TIMELINE:
                response = await post(client, DELIVERIES[name])
                assert response.json() == {"status": "accepted"}, name
            assert (await client.get("/readyz")).status_code == 200
            too_big = await client.post("/webhooks/gitlab", content=b"{" + b" " * (26 * 1024 * 1024),
                                        headers=PIPELINE.headers)
            assert too_big.status_code == 413
    finally:
        stop.set()
        await asyncio.wait_for(server, 15)
    assert (await counts(any_database))[0] == len(TIMELINE)
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{port}/healthz")


async def test_concurrent_deliveries_during_outage_are_all_503_then_accepted(database: Database) -> None:
    names = list(TIMELINE)
    async with client_for(database) as client:
        database.simulate_outage(30)
        failed = await asyncio.gather(*(post(client, DELIVERIES[n]) for n in names))
        database.simulate_outage(0)
        retried = await asyncio.gather(*(post(client, DELIVERIES[n]) for n in names))
    assert {r.status_code for r in failed} == {503}
    assert [r.json()["status"] for r in retried] == ["accepted"] * len(names)
    assert (await counts(database))[0] == len(names)
