"""`fyr demo`: the whole system in one process on a simulated cluster, end to end.

It starts the simulated cluster, runs `fyr all` against it (SQLite in a temporary folder), plays the
scenario scripts, posts the matching GitLab webhooks to the ingestor, shows every Slack message as it
would look, and ends with a table: rollout, status, category, seconds from failure to message.
With SLACK_BOT_TOKEN + SLACK_API_URL and OPENAI_API_KEY + OPENAI_BASE_URL set, the same demo posts to
a real workspace with a real model.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx
import structlog
from rich.console import Console
from rich.table import Table

from fyr.app import run_services
from fyr.db import repositories as repo
from fyr.db.engine import Database
from fyr.demo.gitlab import post_hooks
from fyr.demo.scenarios import Scenario, play, scenarios
from fyr.logging import configure_logging
from fyr.models.rollout import NotifyStatus, Rollout, RolloutStatus
from fyr.services.notifier.console import ConsoleSink
from fyr.settings import Settings
from fyr.simcluster.server import SimCluster

log = structlog.get_logger()

DEADLINE_S = 50.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


ROUTING = """\
# The demo's routing file: GitLab project glob -> owning team and Slack channel.
- project: "acme/checkout"
  team: payments
  slack_channel: "#team-payments"
- project: "acme/orders-*"
  team: payments
  slack_channel: "#team-payments"
- project: "acme/invoicer"
  team: billing
  slack_channel: "#team-billing"
- project: "acme/*"
  team: storefront
  slack_channel: "#team-storefront"
"""


def demo_settings(settings: Settings, *, folder: Path, kubeconfig: Path) -> Settings:
    fields = settings.model_fields_set
    routing = settings.routing_file
    if routing is None:
        routing = folder / "routing.yaml"
        routing.write_text(ROUTING)
    return settings.model_copy(update={
        "routing_file": routing,
        "database_url": f"sqlite+aiosqlite:///{folder / 'fyr.db'}",
        "kubeconfig": kubeconfig,
        "gitlab_ingestor_token": secrets.token_hex(16),
        "cluster_name": settings.cluster_name if "cluster_name" in fields else "demo",
        "poll_interval_seconds": 0.5,
        "slack_channel_interval_seconds": settings.slack_channel_interval_seconds if settings.slack_bot_token else 0,
    })


def _done(sc: Scenario, r: Rollout | None) -> bool:
    if r is None:
        return False
    if sc.expect_status == "SUCCESS":
        return r.status == RolloutStatus.SUCCESS
    if sc.expect_status == "RECOVERED":
        return r.status == RolloutStatus.SUCCESS and r.recovery_status in (NotifyStatus.SENT, NotifyStatus.FAILED)
    return r.notify_status in (NotifyStatus.SENT, NotifyStatus.FAILED)


async def _latest(db: Database, cluster: str, sc: Scenario) -> tuple[Rollout | None, str | None]:
    async with db.session() as s:
        rows = await repo.list_rollouts(s, cluster=cluster, limit=500)
        mine = [r for r in rows if (r.kind, r.namespace, r.deployment) == (sc.kind, sc.namespace, sc.name)]
        if not mine:
            return None, None
        r = max(mine, key=lambda x: x.generation)
        category = None
        if r.analysis_id:
            a = await repo.get_analysis(s, r.analysis_id)
            category = a.analysis.get("category") if a else None
        return r, category


async def run_demo(settings: Settings, *, keep: Path | None = None) -> int:
    console = Console(width=max(120, Console().width))
    configure_logging(service="demo", level="WARNING" if settings.log_level == "INFO" else settings.log_level,
                      fmt=settings.log_format)
    folder = keep or Path(tempfile.mkdtemp(prefix="fyr-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    sent_at: dict[int, float] = {}
    plays = scenarios()
    started = time.monotonic()
    try:
        async with SimCluster.running() as sim:
            s = demo_settings(settings, folder=folder, kubeconfig=sim.kubeconfig_path)
            port = free_port()
            stop = asyncio.Event()
            console.print(f"[bold]Fyr demo[/bold]: simulated cluster at {sim.url}, database {folder / 'fyr.db'}, "
                          f"ingestor on 127.0.0.1:{port}, LLM {'on' if s.llm_enabled else 'off (rules)'}, "
                          f"Slack {'on' if s.slack_bot_token else 'off (console)'}\n", highlight=False)

            def on_sent(rollout_id: int, channel: str, ts: str) -> None:
                sent_at.setdefault(rollout_id, time.monotonic())

            notifier: dict[str, object] = {"on_sent": on_sent}
            if not s.slack_bot_token:
                notifier["sink"] = ConsoleSink(stream=sys.stdout)  # show each message as it would look
            services = asyncio.create_task(run_services(
                s, {"watcher", "ingestor", "analyzer", "notifier"}, host="127.0.0.1", port=port,
                upgrade_db=True, stop=stop, extra={"notifier": notifier}))
            db = Database.from_url(s.database_url)
            try:
                await wait_ready(port, services)
                hook_url = f"http://127.0.0.1:{port}/webhooks/gitlab"
                async with httpx.AsyncClient(timeout=10) as client:
                    # Half the hooks arrive before the cluster changes, half after: both joins are shown.
                    early, late = plays[::2], plays[1::2]
                    await asyncio.gather(*(post_hooks(client, hook_url, str(s.gitlab_ingestor_token), sc)
                                           for sc in early))
                    runs = [asyncio.create_task(play(sim, sc)) for sc in plays]
                    await asyncio.sleep(1.0)
                    await asyncio.gather(*(post_hooks(client, hook_url, str(s.gitlab_ingestor_token), sc)
                                           for sc in late))
                    await asyncio.gather(*runs)
                results = await _wait_outcomes(db, s.cluster_name, plays, services)
            finally:
                stop.set()
                await db.dispose()
                await services
        return _report(console, plays, results, sent_at, time.monotonic() - started)
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)


async def wait_ready(port: int, services: asyncio.Task[int]) -> None:
    """Until /readyz answers 200; raises the services' own error if they stop while starting."""
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(200):
            if services.done():
                await services  # it failed at start: raise its error
                raise RuntimeError("services stopped during start")
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("services did not become ready in 20 s")


async def _wait_outcomes(db: Database, cluster: str, plays: list[Scenario],
                         services: asyncio.Task[int]) -> dict[str, tuple[Rollout | None, str | None]]:
    deadline = time.monotonic() + DEADLINE_S
    results: dict[str, tuple[Rollout | None, str | None]] = {}
    while time.monotonic() < deadline and not services.done():
        results = {sc.key: await _latest(db, cluster, sc) for sc in plays}
        if all(_done(sc, results[sc.key][0]) for sc in plays):
            break
        await asyncio.sleep(0.2)
    return results


def _report(console: Console, plays: list[Scenario], results: dict[str, tuple[Rollout | None, str | None]],
            sent_at: dict[int, float], total_s: float) -> int:
    table = Table(title="Fyr demo: rollouts", title_justify="left")
    for col in ("rollout", "expected", "status", "category", "failure → message", "channel", "commit",
                "ok"):
        table.add_column(col)
    all_ok = True
    for sc in plays:
        r, category = results.get(sc.key, (None, None))
        status = "—" if r is None else r.status.value + (" (recovered)" if r.failed_at and r.completed_at else "")
        seconds = ""
        if r is not None and r.id in sent_at and sc.decisive is not None and sc.expect_status != "SUCCESS":
            seconds = f"{max(0.0, sent_at[r.id] - sc.decisive):.2f} s"
        ok = _done(sc, r) and (sc.expect_category is None or category == sc.expect_category)
        all_ok &= ok
        table.add_row(
            sc.label + (f" gen {r.generation}" if r else ""), sc.expect_status, status,
            category or "—", seconds, (r.slack_channel_sent or "—") if r else "—",
            (r.git_commit or "")[:8] if r else "", "yes" if ok else "NO",
        )
    console.print(table)
    console.print(f"{sum(1 for sc in plays if _done(sc, results.get(sc.key, (None, None))[0]))}/{len(plays)} "
                  f"scenarios reached their outcome in {total_s:.1f} s", highlight=False)
    if not all_ok:
        print("fyr: demo: some scenarios did not reach the expected outcome (see the table)", file=sys.stderr)
        return 1
    return 0
