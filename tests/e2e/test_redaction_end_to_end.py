"""End to end, as an attacker would test it: `fyr all`'s four services, the simulated cluster, the LLM
and Slack fakes driven by the real clients. The crashing pod's logs carry colour-coded secrets, the
pod spec's env values (raw and base64) and vendor tokens, one of them inside the decisive line. None
of them may reach the Slack request, any database row, the LLM request or Fyr's own log lines.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from fyr.app import run_services
from fyr.db import rollouts
from fyr.db.base import Base
from fyr.db.engine import Database
from fyr.demo import free_port, wait_ready
from fyr.logging import configure_logging
from fyr.models.rollout import NotifyStatus
from fyr.settings import Settings
from fyr.simcluster.controller import DeploymentSim
from fyr.simcluster.server import SimCluster
from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.slack_api import SlackFake

pytestmark = pytest.mark.timeout(120)

MYSQL_PWD = "Tr0ub4dor&3x"
DB_PW = "s3cr3tDbPw"
STRIPE = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
GITLAB = "glpat-x9Yz8Wv7Ut6Sr5Qp4On3"
SENDGRID = "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"
COLOURED = "C0lour3dPw77"
SECRETS = [MYSQL_PWD, "Tr0ub4dor", DB_PW, STRIPE, "4eC39HqLyjWDarjtT1zdp7dc", GITLAB, "x9Yz8Wv7Ut6Sr5Qp4On3",
           SENDGRID, COLOURED, base64.b64encode(DB_PW.encode()).decode().rstrip("=")]

LOG = f"""\
2026-11-27T10:00:01Z INFO  Starting checkout service v2.14.0
2026-11-27T10:00:01Z \x1b[36mDEBUG\x1b[0m db config \x1b[1mpassword\x1b[0m={COLOURED} host=db
2026-11-27T10:00:01Z DEBUG using mysql password {MYSQL_PWD} and b64 {base64.b64encode(DB_PW.encode()).decode()}
2026-11-27T10:00:01Z DEBUG payment client sk={STRIPE} mail={SENDGRID}
2026-11-27T10:00:02Z INFO  pushing build info with {GITLAB}
Traceback (most recent call last):
  File "/app/checkout/main.py", line 42, in <module>
    app = create_app()
  File "/app/checkout/db.py", line 17, in connect
    raise PermissionError(f"auth failed for token {{token}}")
PermissionError: auth failed for token {GITLAB} and password {DB_PW}
"""


@pytest.fixture
async def slack() -> AsyncIterator[SlackFake]:
    fake = await SlackFake(token="xoxb-e2e").start()
    yield fake
    await fake.stop()


async def _rows(db: Database) -> str:
    dumped = []
    async with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            result = await conn.execute(text(f"SELECT * FROM {table.name}"))
            dumped += [repr(tuple(row)) for row in result.all()]
    return "\n".join(dumped)


def _leaked(haystack: str) -> list[str]:
    forms = set()
    for s in SECRETS:
        forms |= {s, s.replace("&", "&amp;"), json.dumps(s)[1:-1]}
    return sorted(f for f in forms if f in haystack)


async def test_no_secret_reaches_slack_the_database_the_model_or_fyr_logs(tmp_path: Path, slack: SlackFake) -> None:
    logs = io.StringIO()
    configure_logging(service="all", level="DEBUG", fmt="json", stream=logs)
    async with SimCluster.running() as sim, FakeOpenAI() as llm:
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'fyr.db'}", kubeconfig=sim.kubeconfig_path,
            cluster_name="e2e", gitlab_ingestor_token="e2e-webhook-token", slack_bot_token="xoxb-e2e",
            slack_api_url=slack.url, default_slack_channel="#deployments", poll_interval_seconds=0.5,
            slack_channel_interval_seconds=0.0, llm="openai", openai_api_key="not-a-real-key",
            openai_base_url=llm.base_url, analysis_reuse_window_seconds=0,
        )
        port, stop = free_port(), asyncio.Event()
        services = asyncio.create_task(run_services(
            settings, {"watcher", "ingestor", "analyzer", "notifier"}, host="127.0.0.1", port=port, stop=stop))
        db = Database.from_url(settings.database_url)
        try:
            await wait_ready(port, services)
            env = [{"name": "MYSQL_PWD", "value": MYSQL_PWD}, {"name": "DB_PW", "value": DB_PW},
                   {"name": "STRIPE_KEY", "value": STRIPE}, {"name": "PAYMENT_API_URL", "value": "http://pay:8080"}]
            d = DeploymentSim(sim, namespace="shop", name="checkout", image="registry.acme.example/checkout:v1",
                              replicas=1)
            d.rollout()
            d.become_ready()
            d.rollout(image="registry.acme.example/checkout:v2", env=env)
            await asyncio.sleep(0.3)
            d.crash_loop(restarts=3, log=LOG, previous_log=LOG)

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                async with db.session() as s:
                    rows = await rollouts.list_rollouts(s, cluster="e2e")
                if any(r.notify_status == NotifyStatus.SENT for r in rows):
                    break
                await asyncio.sleep(0.2)
            else:
                raise AssertionError("no Slack message in time")
        finally:
            stop.set()
            await services
            stored = await _rows(db)
            await db.dispose()

    assert llm.requests, "the model was asked"
    posted = [m for m in slack.messages]
    assert posted
    slack_body = json.dumps([c.args for c in slack.calls]) + json.dumps([m.raw for m in posted])
    assert "PermissionError" in slack_body or "auth failed" in slack_body  # the evidence made it
    assert _leaked(slack_body) == []
    assert _leaked(stored) == []
    assert "analyses" in {t.name for t in Base.metadata.sorted_tables} and "crash_loop" in stored
    assert _leaked(json.dumps(llm.requests)) == []
    assert _leaked(logs.getvalue()) == []
