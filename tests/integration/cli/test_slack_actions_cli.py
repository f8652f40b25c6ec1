"""`fyr ingestor` with SLACK_SIGNING_SECRET on the database `fyr demo --keep DIR` leaves: a signed
click is recorded and shown by `fyr rollouts show --format json`; bad signatures change nothing."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from fyr.services.gitlab_ingestor.slack_actions import sign
from tests.integration.cli.test_demo_and_all import FYR, _env
from tests.integration.slack_actions.test_interactions import click_body
from tests.ui.test_ui_cli import _free_port, _wait_up

SECRET = "0123456789abcdef0123456789abcdef"


def _show(db_url: str, rollout_id: int, cwd: Path) -> dict[str, Any]:
    out = subprocess.run([*FYR, "rollouts", "show", str(rollout_id), "--format", "json"], capture_output=True,
                         text=True, env=_env(DATABASE_URL=db_url), cwd=cwd, check=True).stdout
    return dict(json.loads(out))


def _failed_id(db_url: str, cwd: Path) -> int:
    out = subprocess.run([*FYR, "rollouts", "list", "--status", "FAILED", "--format", "json"], capture_output=True,
                         text=True, env=_env(DATABASE_URL=db_url), cwd=cwd, check=True).stdout
    return int(json.loads(out)[0]["id"])


@pytest.mark.timeout(180)
async def test_signed_reanalyse_click_on_the_demo_database_is_audited(demo_history: Path, tmp_path: Path) -> None:
    copy = tmp_path / "fyr.db"
    shutil.copy(demo_history, copy)
    db_url = f"sqlite:///{copy}"
    rid = await asyncio.to_thread(_failed_id, db_url, tmp_path)
    port = _free_port()
    env = _env(DATABASE_URL=db_url, SLACK_SIGNING_SECRET=SECRET, GITLAB_INGESTOR_TOKEN="t0ken", LOG_LEVEL="WARNING")
    proc = await asyncio.create_subprocess_exec(*FYR, "ingestor", "--host", "127.0.0.1", "--port", str(port),
                                                env=env, cwd=tmp_path, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        await _wait_up(f"{base}/healthz", proc)
        async with httpx.AsyncClient(base_url=base, timeout=10) as c:
            def post(body: bytes, headers: dict[str, str]) -> Any:
                return c.post("/slack/interactions", content=body,
                              headers={"Content-Type": "application/x-www-form-urlencoded", **headers})

            bad_bodies = []
            for n, make in enumerate((
                lambda b, ts: {},  # unsigned
                lambda b, ts: {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sign("wrong", ts, b)},
                lambda b, ts: {"X-Slack-Request-Timestamp": str(int(ts) - 600),
                               "X-Slack-Signature": sign(SECRET, str(int(ts) - 600), b)},  # 10 minutes old
            )):
                body = click_body("fyr_reanalyse", str(rid), user="U0EVE", action_ts=f"1733300000.00{n}")
                bad_bodies.append((await post(body, make(body, str(int(time.time()))))).status_code)
            assert bad_bodies == [401, 401, 401]
            assert (await asyncio.to_thread(_show, db_url, rid, tmp_path))["actions"] == []
            body = click_body("fyr_reanalyse", str(rid), user="U0ONCALL")
            ts = str(int(time.time()))
            good = await post(body, {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sign(SECRET, ts, body)})
            assert good.status_code == 200
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)
    shown = await asyncio.to_thread(_show, db_url, rid, tmp_path)
    assert [(a["action"], a["slack_user_id"]) for a in shown["actions"]] == [("reanalyse", "U0ONCALL")]
    assert shown["analysis_status"] == "PENDING"
