"""The two ways a webhook body is read (whole with orjson when small, streamed through yajl when
large) keep the same fields, for every fixture and for hostile shapes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fyr.services.gitlab_ingestor.extract import NotJson, TooLarge, extract

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "gitlab"
BODIES = sorted(p for p in [*FIXTURES.glob("*.json"), *FIXTURES.glob("versions/*.json")]
                if p.name not in ("headers.json", "manifest.json"))
HOSTILE = [
    b'{"project": [1, {"path_with_namespace": "x/y"}], "object_kind": {"a": 1}}',
    b'{"builds": [null, 1, {"id": 5, "environment": {"name": {"x": 1}}}, {"environment": {"name": "p"}}]}',
    b'{"object_attributes": {"last_commit": {"id": "abc1234"}, "target": {"web_url": "https://g/x"}}}',
    b'[{"object_kind": "pipeline"}]',
    b'{"deep": ' + b"[" * 5000 + b"]" * 5000 + b', "object_kind": "build"}',
]


async def _chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i:i + size]


@pytest.mark.parametrize("body", [p.read_bytes() for p in BODIES] + HOSTILE,
                         ids=[p.name for p in BODIES] + [f"hostile{i}" for i in range(len(HOSTILE))])
async def test_whole_and_streamed_reading_keep_the_same_fields(body: bytes) -> None:
    whole = await extract(_chunks(body, 65536), 10**8)
    streamed = await extract(_chunks(body, 7), 10**8, small_body=0)
    assert whole.fields == streamed.fields
    assert whole.body_sha256 == streamed.body_sha256 == hashlib.sha256(body).hexdigest()
    assert whole.size == len(body)


async def test_only_the_fields_used_are_kept() -> None:
    body = json.loads((FIXTURES / "pipeline_running.json").read_bytes())
    fields = (await extract(_chunks(json.dumps(body).encode(), 100), 10**8, small_body=0)).fields
    assert set(fields) <= {"object_kind", "object_attributes", "project", "builds", "merge_request", "commit"}
    assert "user" not in fields and "description" not in fields["project"]


@pytest.mark.parametrize("small_body", [0, 10**6])
async def test_not_json_and_too_large(small_body: int) -> None:
    for bad in (b"", b"{", b"{} x", b"\xff{}"):
        with pytest.raises(NotJson):
            await extract(_chunks(bad, 3), 10**6, small_body=small_body)
    with pytest.raises(TooLarge):
        await extract(_chunks(b"[" + b"0," * 1000 + b"0]", 100), 1000, small_body=small_body)
