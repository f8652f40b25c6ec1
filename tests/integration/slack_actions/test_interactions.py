"""POST /slack/interactions on the ingestor: Slack's signed button clicks, each refusal, one effect per click."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from fyr.db import actions as actions_db
from fyr.db import rollouts
from fyr.db.base import utcnow
from fyr.db.engine import Database
from fyr.db.rollouts import RolloutKey
from fyr.models.actions import RolloutAction, WorkloadMute
from fyr.models.rollout import AnalysisStatus, RolloutStatus
from fyr.services.gitlab_ingestor.slack_actions import sign
from tests.fakes.slack_api import SlackFake
from tests.integration.ingestor.ingestor_helpers import client_for

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
pytestmark = pytest.mark.timeout(60)


def click_body(action_id: str, value: str, *, user: str = "U0ONCALL", action_ts: str = "1733300000.000100",
               response_url: str = "https://hooks.slack.com/actions/T0/1/abc") -> bytes:
    payload = {"type": "block_actions", "user": {"id": user, "username": "oncall", "team_id": "T0"},
               "trigger_id": "1.2.3", "response_url": response_url, "container": {"type": "message"},
               "actions": [{"type": "button", "action_id": action_id, "value": value, "action_ts": action_ts,
                            "block_id": f"fyr_actions_{value}"}]}
    return urlencode({"payload": json.dumps(payload)}).encode()


def signed(body: bytes, *, secret: str = SECRET, age: float = 0.0) -> dict[str, str]:
    ts = str(int(time.time() - age))
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sign(secret, ts, body),
            "Content-Type": "application/x-www-form-urlencoded"}


async def failed_rollout(db: Database, deployment: str = "api", generation: int = 2, revision: int = 2) -> int:
    async with db.session() as s:
        for gen in range(1, generation):
            ok, _ = await rollouts.record_generation(s, RolloutKey("c1", "shop", deployment, gen),
                                                     status=RolloutStatus.ROLLING_OUT, revision=gen)
            ok.pipeline_url = f"https://gitlab.example.com/acme/{deployment}/-/pipelines/{900 + gen}"
            await rollouts.transition(s, ok, RolloutStatus.SUCCESS, at=utcnow())
        r, _ = await rollouts.record_generation(s, RolloutKey("c1", "shop", deployment, generation),
                                                status=RolloutStatus.ROLLING_OUT, revision=revision)
        await rollouts.transition(s, r, RolloutStatus.FAILED, reason="CrashLoopBackOff", at=utcnow())
        r.analysis_status = AnalysisStatus.DONE
        return r.id


async def actions(db: Database) -> list[RolloutAction]:
    async with db.session() as s:
        return list((await s.execute(select(RolloutAction))).scalars())


@pytest.mark.parametrize("headers", [
    {},  # unsigned
    {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "0" * 64},
    "wrong-secret", "ten-minutes-old",
])
async def test_bad_missing_or_stale_signatures_are_401_and_nothing_is_recorded(
        any_database: Database, headers: Any) -> None:
    rid = await failed_rollout(any_database)
    body = click_body("fyr_reanalyse", str(rid))
    if headers == "wrong-secret":
        headers = signed(body, secret="not-the-secret")
    elif headers == "ten-minutes-old":
        headers = signed(body, age=600)
    async with client_for(any_database, slack_signing_secret=SECRET) as c:
        resp = await c.post("/slack/interactions", content=body, headers=headers)
    assert resp.status_code == 401
    assert await actions(any_database) == []
    async with any_database.session() as s:
        row = await rollouts.get_rollout(s, rid)
        assert row is not None and row.analysis_status == AnalysisStatus.DONE


async def test_a_tampered_body_fails_the_signature(database: Database) -> None:
    rid = await failed_rollout(database)
    headers = signed(click_body("fyr_reanalyse", str(rid)))
    async with client_for(database, slack_signing_secret=SECRET) as c:
        resp = await c.post("/slack/interactions", content=click_body("fyr_mute", str(rid)), headers=headers)
    assert resp.status_code == 401 and await actions(database) == []


async def test_malformed_payload_is_400_and_unknown_action_or_rollout_is_200_with_nothing_done(
        database: Database) -> None:
    rid = await failed_rollout(database)
    async with client_for(database, slack_signing_secret=SECRET) as c:
        for body in (b"payload=%7Bnot-json", b"nothing-here", urlencode({"payload": "[1, 2]"}).encode()):
            assert (await c.post("/slack/interactions", content=body, headers=signed(body))).status_code == 400
        for body in (click_body("fyr_launch_missiles", str(rid)), click_body("fyr_reanalyse", "99999"),
                     click_body("fyr_reanalyse", "abc"),
                     urlencode({"payload": json.dumps({"type": "view_submission"})}).encode()):
            assert (await c.post("/slack/interactions", content=body, headers=signed(body))).status_code == 200
    assert await actions(database) == []


async def test_endpoint_is_not_served_without_the_signing_secret(database: Database) -> None:
    body = click_body("fyr_reanalyse", "1")
    async with client_for(database) as c:
        assert (await c.post("/slack/interactions", content=body, headers=signed(body))).status_code == 404


async def test_reanalyse_queues_a_fresh_analysis_and_is_audited_once(any_database: Database) -> None:
    rid = await failed_rollout(any_database)
    body = click_body("fyr_reanalyse", str(rid))
    async with client_for(any_database, slack_signing_secret=SECRET) as a, \
            client_for(any_database, slack_signing_secret=SECRET) as b:
        # Slack's retry of the same click, and a second ingestor receiving it: one effect.
        answers = await asyncio.gather(*(c.post("/slack/interactions", content=body, headers=signed(body))
                                         for c in (a, b, a, b)))
    assert [r.status_code for r in answers] == [200] * 4
    [act] = await actions(any_database)
    assert (act.action, act.slack_user_id, act.rollout_id) == ("reanalyse", "U0ONCALL", rid)
    async with any_database.session() as s:
        row = await rollouts.get_rollout(s, rid)
        assert row is not None
        assert row.analysis_status == AnalysisStatus.PENDING and row.analysis_fresh is True


async def test_mute_respects_the_allow_list_and_unmute_undoes_it(database: Database) -> None:
    rid = await failed_rollout(database)
    async with SlackFake() as fake, client_for(database, slack_signing_secret=SECRET,
                                               slack_action_users="U0LEAD,U0ONCALL", slack_api_url=fake.url,
                                               mute_hours=2) as c:
        body = click_body("fyr_mute", str(rid), user="U0INTERN", response_url=fake.response_url("intern"))
        assert (await c.post("/slack/interactions", content=body, headers=signed(body))).status_code == 200
        for _ in range(100):
            if fake.responses:
                break
            await asyncio.sleep(0.02)
        assert fake.responses and "FYR_SLACK_ACTION_USERS" in fake.responses[0][1]["text"]
        assert fake.responses[0][1]["response_type"] == "ephemeral"
        async with database.session() as s:
            assert (await s.execute(select(func.count()).select_from(WorkloadMute))).scalar_one() == 0
        body = click_body("fyr_mute", str(rid), user="U0LEAD", action_ts="1733300001.000200")
        assert (await c.post("/slack/interactions", content=body, headers=signed(body))).status_code == 200
        async with database.session() as s:
            r = await rollouts.get_rollout(s, rid)
            assert r is not None
            mute = await actions_db.active_mute(s, r)
            assert mute is not None and mute.muted_by == "U0LEAD"
            assert 1.9 * 3600 < (mute.muted_until - utcnow()).total_seconds() <= 2 * 3600
        body = click_body("fyr_unmute", str(rid), user="U0ONCALL", action_ts="1733300002.000300")
        assert (await c.post("/slack/interactions", content=body, headers=signed(body))).status_code == 200
        async with database.session() as s:
            r = await rollouts.get_rollout(s, rid)
            assert r is not None and await actions_db.active_mute(s, r) is None
    assert [a.action for a in await actions(database)] == ["mute", "unmute"]


async def test_rollback_answers_only_the_clicking_user_with_the_exact_command(database: Database) -> None:
    rid = await failed_rollout(database, generation=3, revision=3)
    async with SlackFake() as fake, client_for(database, slack_signing_secret=SECRET,
                                               slack_api_url=fake.url) as c:
        body = click_body("fyr_rollback", str(rid), response_url=fake.response_url("rb"))
        assert (await c.post("/slack/interactions", content=body, headers=signed(body))).status_code == 200
        for _ in range(100):
            if fake.responses:
                break
            await asyncio.sleep(0.02)
        evil = click_body("fyr_rollback", str(rid), action_ts="1733300009.1", response_url="https://evil.example/x")
        assert (await c.post("/slack/interactions", content=evil, headers=signed(evil))).status_code == 200
        await asyncio.sleep(0.2)
    [(token, answer)] = fake.responses  # nothing was sent to a response_url that is not Slack's
    assert token == "rb" and answer["response_type"] == "ephemeral"
    assert "kubectl rollout undo deployment/api -n shop --to-revision=2" in answer["text"]
    assert "https://gitlab.example.com/acme/api/-/pipelines/902" in answer["text"]
    assert [a.action for a in await actions(database)] == ["rollback", "rollback"]
    assert fake.calls == [] or all(c.method != "chat.postMessage" for c in fake.calls)
