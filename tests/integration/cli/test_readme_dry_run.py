"""The README's dry-run section, run verbatim by bash against a simulated cluster: a failing rollout
ends as a readable message on the console, nothing is posted, and the disabled ingestor is not listed
among the running services. Also: the Slack app manifest the README installs asks for exactly the
scopes the notifier uses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from fyr.demo.scenarios import play, scenarios
from fyr.simcluster.server import SimCluster

ROOT = Path(__file__).resolve().parents[3]


def readme_dry_run() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"<!-- dry-run:begin.*?-->\s*```sh\n(.*?)```\s*<!-- dry-run:end -->", readme, re.S)
    assert section, "README.md lost its dry-run block (<!-- dry-run:begin --> ... <!-- dry-run:end -->)"
    return section.group(1)


@contextlib.asynccontextmanager
async def cluster_for_the_readme(home: Path) -> AsyncIterator[SimCluster]:
    """The cluster the dry run watches, its kubeconfig at ~/.kube/config as on a user's machine.

    This is the demo's simulated cluster, in-process. To use `fyr simcluster` instead, start it here
    as a subprocess and copy the kubeconfig it writes; the test below only needs `play(cluster, ...)`.
    """
    async with SimCluster.running() as sim:
        (home / ".kube").mkdir()
        shutil.copy(sim.kubeconfig_path, home / ".kube" / "config")
        yield sim


async def _collect(stream: asyncio.StreamReader, into: list[str]) -> None:
    while line := await stream.readline():
        into.append(line.decode(errors="replace"))


@pytest.mark.timeout(180)
async def test_the_readme_dry_run_prints_a_failure_message_on_the_console(tmp_path: Path) -> None:
    script = readme_dry_run()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FYR_", "SLACK_", "OPENAI_", "GITLAB_", "KUBE"))
           and k not in ("DATABASE_URL", "MYSQL_URL", "LOG_LEVEL")}
    env.update(HOME=str(tmp_path), PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    out: list[str] = []
    err: list[str] = []
    async with cluster_for_the_readme(tmp_path) as sim:
        proc = await asyncio.create_subprocess_exec(
            "bash", "-euc", script, cwd=tmp_path, env=env, start_new_session=True,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        readers = [asyncio.create_task(_collect(proc.stdout, out)), asyncio.create_task(_collect(proc.stderr, err))]
        try:
            for _ in range(600):
                if proc.returncode is not None or any("services_starting" in line for line in err):
                    break
                await asyncio.sleep(0.1)
            assert proc.returncode is None, "".join(err)[-3000:]
            checkout = next(sc for sc in scenarios() if sc.key == "checkout")
            await play(sim, checkout)
            for _ in range(900):
                if "Rollout failed: shop/checkout" in "".join(out) or proc.returncode is not None:
                    break
                await asyncio.sleep(0.1)
        finally:
            if proc.returncode is None:
                os.killpg(proc.pid, signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)
            await asyncio.gather(*readers)
    console = "".join(out)
    assert "── Slack message to #deployments ──" in console, "".join(err)[-3000:]
    assert "🔴 Rollout failed: shop/checkout" in console and "KeyError: 'PAYMENT_API_URL'" in console
    assert "\\ud83d" not in console and '{"' not in console  # text for a person, not JSON log fields
    starting = next(json.loads(line) for line in err if "services_starting" in line)
    assert starting["services"] == ["analyzer", "notifier", "watcher"]  # the ingestor is off, and not listed
    assert (tmp_path / "fyr-dry-run.db").is_file()


def test_the_slack_app_manifest_asks_for_the_scopes_the_notifier_uses() -> None:
    manifest = yaml.safe_load((ROOT / "deploy" / "slack-app-manifest.yaml").read_text(encoding="utf-8"))
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    # chat.postMessage; conversations.history/replies (public, private); conversations.list (public, private)
    assert scopes == {"chat:write", "channels:history", "groups:history", "channels:read", "groups:read"}
    client = (ROOT / "src" / "fyr" / "services" / "notifier" / "slack_client.py").read_text(encoding="utf-8")
    used = set(re.findall(r"\.(chat_postMessage|conversations_\w+|auth_test)\(", client))
    assert used == {"chat_postMessage", "conversations_list", "conversations_replies", "conversations_history",
                    "auth_test"}
    assert manifest["features"]["bot_user"]["display_name"] == "Fyr"
    assert manifest["settings"]["interactivity"]["request_url"].endswith("/slack/interactions")
