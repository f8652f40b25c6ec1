"""`fyr demo` end to end as `make demo` runs it, the history commands on what it recorded, and
`fyr all` stopping cleanly on SIGTERM — all as subprocesses, the way a user runs them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from fyr.simcluster.server import SimCluster

FYR = [sys.executable, "-m", "fyr"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FYR_", "SLACK_", "OPENAI_", "GITLAB_")) and k not in ("DATABASE_URL", "MYSQL_URL")}
    env.update(extra)
    return env


@pytest.mark.timeout(150)
def test_demo_shows_messages_and_table_then_history_reads_what_it_recorded(tmp_path: Path) -> None:
    keep = tmp_path / "demo"
    res = subprocess.run([*FYR, "demo", "--keep", str(keep)], capture_output=True, text=True, env=_env(),
                         cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout
    assert "Slack message to #team-payments" in out and "KeyError: 'PAYMENT_API_URL'" in out
    assert "9/9 scenarios reached their outcome" in out
    table = out[out.index("Fyr demo: rollouts"):]
    assert " data/ledger-db " in table and " (StatefulSet) " in table and " logging/log-shipper " in table
    assert max(len(line) for line in table.splitlines()) <= 80
    assert "Rollout failed: StatefulSet data/ledger-db" in out
    assert "Rollout failed: DaemonSet logging/log-shipper" in out
    assert "StatefulSet data/ledger-db (stuck at ordinal 2)" in out and '"shared_buffers"' in out
    # the recovering scenario's failure message is edited in place, not posted again
    assert "updated in place" in out and "✅ Recovered: shop/orders-api" in out
    for category in ("crash_loop", "image_pull", "oom_killed", "config_error", "scheduling"):
        assert category in out

    env = _env(DATABASE_URL=f"sqlite:///{keep / 'fyr.db'}")
    listed = subprocess.run([*FYR, "rollouts", "list", "--status", "FAILED", "--format", "json"],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert listed.returncode == 0, listed.stderr
    failed = json.loads(listed.stdout)
    assert {r["deployment"] for r in failed} == {"checkout", "catalog", "invoicer", "cart", "nightly-etl",
                                                 "ledger-db", "log-shipper"}
    assert {r["deployment"]: r["kind"] for r in failed if r["kind"] != "Deployment"} == {
        "ledger-db": "StatefulSet", "log-shipper": "DaemonSet"}
    checkout = next(r for r in failed if r["deployment"] == "checkout")
    shown = subprocess.run([*FYR, "rollouts", "show", str(checkout["id"]), "--format", "json"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["analysis"]["category"] == "crash_loop"
    assert doc["git"]["pipeline_url"] and doc["git"]["mr_url"] and doc["git"]["commit"]
    assert doc["reduced_context"] and doc["metrics"]["model_name"] == "rules"
    assert doc["slack"]["channel"] == "#team-payments"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.timeout(90)
async def test_fyr_all_serves_health_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    async with SimCluster.running() as sim:
        port = _free_port()
        env = _env(DATABASE_URL=f"sqlite:///{tmp_path / 'fyr.db'}", KUBECONFIG=str(sim.kubeconfig_path),
                   GITLAB_INGESTOR_TOKEN="t0ken", LOG_LEVEL="WARNING")
        proc = await asyncio.create_subprocess_exec(
            *FYR, "all", "--host", "127.0.0.1", "--port", str(port), env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        try:
            body: dict[str, object] = {}
            async with httpx.AsyncClient(timeout=2) as client:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and proc.returncode is None and not body:
                    try:
                        r = await client.get(f"http://127.0.0.1:{port}/readyz")
                        body = r.json() if r.status_code == 200 else {}
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.2)
                assert body, "fyr all did not become ready in 60 s"
                assert body["checks"] == {"database": "ok", "watcher_synced": "ok", "watcher_writes": "ok"}
                metrics = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
                assert "fyr_ingestor" in metrics and "fyr_analyses" in metrics
                assert (await client.get(f"http://127.0.0.1:{port}/ui/")).status_code == 200  # history pages
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 30) == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


@pytest.mark.timeout(150)
async def test_demo_posts_to_slack_and_asks_the_model_when_their_settings_are_given(tmp_path: Path) -> None:
    from tests.fakes.openai_api import FakeOpenAI
    from tests.fakes.slack_api import SlackFake

    slack = await SlackFake(token="xoxb-demo").start()
    try:
        async with FakeOpenAI() as llm:
            env = _env(SLACK_BOT_TOKEN="xoxb-demo", SLACK_API_URL=slack.url, OPENAI_API_KEY="sk-demo-not-real",
                       OPENAI_BASE_URL=llm.base_url, DEFAULT_SLACK_CHANNEL="#deploys")
            proc = await asyncio.create_subprocess_exec(*FYR, "demo", env=env, cwd=tmp_path,
                                                        stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), 120)
            assert proc.returncode == 0, err.decode()[-2000:]
            assert "LLM on" in out.decode() and "Slack on" in out.decode()
            assert len(llm.requests) >= 5  # one model call per failed rollout (the recovery reuses nothing)
    finally:
        await slack.stop()
    top = slack.top_level()
    # seven failures (a StatefulSet and a DaemonSet among them) and the one that later recovers
    assert len(top) == 8
    assert len([m for m in slack.messages if m.thread_ts]) == 1  # the recovery reply in its thread
    recovered = next(m for m in top if "orders-api" in m.text)
    assert recovered.blocks and recovered.blocks[0]["text"]["text"].startswith("✅ Recovered")  # edited in place
    assert slack.channels.keys() >= {"#team-payments", "#team-storefront", "#team-billing", "#team-data"}
