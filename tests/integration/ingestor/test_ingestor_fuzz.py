"""Property-based fuzzing of the ingestor over its ASGI interface (hypothesis).

Thousands of random and malformed bodies and headers — random bytes, random JSON, and the shared
fixtures with fields deleted or replaced by random values — must never produce a 5xx, and a
request that is not answered 200 must leave every table as it was. Runs in-process against a
SQLite database that already holds matching rollouts, so the correlation paths run too.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fyr.db import rollouts
from fyr.db.engine import Database
from fyr.db.rollouts import RolloutKey
from fyr.models.rollout import RolloutStatus
from tests.integration.ingestor.ingestor_helpers import (
    DELIVERIES,
    GITLAB_ANNOTATIONS,
    IMAGE,
    SECRET,
    SHA,
    client_for,
    counts,
)

pytestmark = pytest.mark.timeout(120)

WEBHOOK_EXAMPLES = 2500
ANNOTATE_EXAMPLES = 1000

EVENTS = ["Pipeline Hook", "Job Hook", "Deployment Hook", "Merge Request Hook", "System Hook",
          "Push Hook"]
header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40),
    st.sampled_from([SHA, SHA[:7], SHA.upper(), "production", "acme/shop-api", "", "\x00", "x" * 300,
                     "https://gitlab.example.com/acme/shop-api/-/commit/" + SHA, "💥" * 100]),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children,
                                                                      max_size=4),
    max_leaves=12,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value[:3]):
            yield (*prefix, index)
            yield from paths(child, (*prefix, index))


FIXTURE_PATHS = {name: list(paths(d.json)) for name, d in DELIVERIES.items()}


@st.composite
def mutated_fixture(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(DELIVERIES)))
    body = DELIVERIES[name].json
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.sampled_from(FIXTURE_PATHS[name]))
        parent: Any = body
        try:
            for part in path[:-1]:
                parent = parent[part]
            if draw(st.booleans()):
                del parent[path[-1]]
            else:
                parent[path[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this path
    return DELIVERIES[name].headers["X-Gitlab-Event"], json.dumps(body).encode()


@st.composite
def webhook_request(draw: st.DrawFn) -> tuple[dict[str, str], bytes]:
    kind = draw(st.sampled_from(["fixture", "mutated", "mutated", "mutated", "json", "bytes"]))
    if kind == "fixture":
        name = draw(st.sampled_from(sorted(DELIVERIES)))
        event, body = DELIVERIES[name].headers["X-Gitlab-Event"], DELIVERIES[name].body
    elif kind == "mutated":
        event, body = draw(mutated_fixture())
    elif kind == "json":
        event, body = draw(st.sampled_from(EVENTS)), json.dumps(draw(json_values)).encode()
    else:
        event, body = draw(st.sampled_from(EVENTS)), draw(st.binary(max_size=300))
    headers: dict[str, str] = {}
    event_choice = draw(st.sampled_from(["same", "same", "same", "other", "random", "none"]))
    if event_choice == "same":
        headers["X-Gitlab-Event"] = event
    elif event_choice == "other":
        headers["X-Gitlab-Event"] = draw(st.sampled_from(EVENTS))
    elif event_choice == "random":
        headers["X-Gitlab-Event"] = draw(header_text)
    token = draw(st.sampled_from(["ok", "ok", "ok", "ok", "random", "none"]))
    if token == "ok":
        headers["X-Gitlab-Token"] = SECRET
    elif token == "random":
        headers["X-Gitlab-Token"] = draw(header_text)
    for name in ("Idempotency-Key", "X-Gitlab-Event-UUID"):
        if draw(st.booleans()):  # small alphabet: repeated keys exercise the duplicate path
            headers[name] = draw(st.text(alphabet="ab", min_size=1, max_size=3) | header_text)
    return headers, body


annotate_body = st.one_of(
    st.binary(max_size=100),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"namespace": st.sampled_from(["shop", "x"]) | json_scalars,
         "deployment": st.sampled_from(["shop-api", "y"]) | json_scalars},
        optional={"commit": json_scalars, "project": json_scalars, "cluster": json_scalars,
                  "environment": json_scalars, "pipeline_url": json_scalars, "mr_url": json_scalars,
                  "team": json_scalars, "slack_channel": json_scalars, "extra": json_scalars},
    ).map(lambda v: json.dumps(v).encode()),
)


class Harness:
    """One event loop, one database, one app for all examples of a test."""

    def __init__(self, url: str) -> None:
        self.runner = asyncio.Runner()
        self.db = Database.from_url(url)
        self.client = client_for(self.db)
        self.runner.run(self._seed())
        self.rows = self.runner.run(counts(self.db))  # only our requests change them
        self.statuses: dict[int, int] = {}

    async def _seed(self) -> None:
        async with self.db.session() as s:
            for generation, (image, annotations) in enumerate([
                (IMAGE, GITLAB_ANNOTATIONS), ("registry.example.com/shop:latest", GITLAB_ANNOTATIONS),
                ("registry.example.com/shop:latest", {}),
            ], start=1):
                await rollouts.record_generation(s, RolloutKey("ci-cluster", "shop", "shop-api", generation),
                                                 status=RolloutStatus.FAILED, image=image, annotations=annotations)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> None:
        self.runner.run(self._post(path, body, headers))

    async def _post(self, path: str, body: bytes, headers: dict[str, str]) -> None:
        before = self.rows
        response = await self.client.post(path, content=body, headers=headers)
        after = self.rows = await counts(self.db)
        status = response.status_code
        self.statuses[status] = self.statuses.get(status, 0) + 1
        assert status < 500, (status, response.text, headers, body[:300])
        assert after[2] == before[2], "the ingestor never creates rollouts"
        if status != 200:
            assert after == before, (status, response.text)
        elif path.startswith("/webhooks"):
            outcome = response.json()["status"]
            grew = after[0] - before[0]
            assert grew == (1 if outcome == "accepted" else 0), (outcome, grew)
            if outcome != "accepted":
                assert after == before

    def close(self) -> None:
        self.runner.run(self.client.aclose())
        self.runner.run(self.db.dispose())
        self.runner.close()


@pytest.fixture
def harness(sqlite_url: str) -> Iterator[Harness]:
    h = Harness(sqlite_url)
    yield h
    h.close()


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large, HealthCheck.filter_too_much])


def test_fuzzed_webhooks_never_5xx_and_rejections_write_nothing(harness: Harness) -> None:
    @fuzz_settings(WEBHOOK_EXAMPLES)
    @given(request=webhook_request())
    def one(request: tuple[dict[str, str], bytes]) -> None:
        headers, body = request
        harness.post("/webhooks/gitlab", body, headers)

    one()
    # The fuzz must have reached every branch, not just the token check.
    assert {200, 400, 401} <= set(harness.statuses), harness.statuses


def test_fuzzed_annotations_never_5xx_and_rejections_write_nothing(harness: Harness) -> None:
    @fuzz_settings(ANNOTATE_EXAMPLES)
    @given(body=annotate_body, token=st.sampled_from([SECRET, SECRET, SECRET, "nope"]))
    def one(body: bytes, token: str) -> None:
        harness.post("/api/v1/rollouts/annotate", body, {"X-Gitlab-Token": token})

    one()
    assert {200, 400, 401} <= set(harness.statuses), harness.statuses
