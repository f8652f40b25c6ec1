"""`fyr demo`: the whole system in one process on a simulated cluster, end to end.

It starts the simulated cluster, runs `fyr all` against it (SQLite in a temporary folder, or where
`--keep` says: see `fyr.demo.place`), plays the scenario scripts, posts the matching GitLab webhooks
to the ingestor, shows every Slack message as it would look (`--preview DIR`: also as HTML pages
with Slack's look), and ends with a table: rollout, status, category, seconds from failure to
message. On a terminal, progress lines on stderr say what it is doing. Ctrl-C stops it cleanly at
any moment: "interrupted", exit 130.
With SLACK_BOT_TOKEN + SLACK_API_URL and OPENAI_API_KEY + OPENAI_BASE_URL set, the same demo posts to
a real workspace with a real model.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import socket
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import structlog
from pydantic import SecretStr
from rich import box
from rich.console import Console
from rich.table import Table

from fyr import exits
from fyr.app import run_services
from fyr.db import analyses, rollouts
from fyr.db.engine import Database
from fyr.demo.gitlab import GITLAB as DEMO_GITLAB
from fyr.demo.gitlab import post_hooks
from fyr.demo.place import DemoPlace, demo_place
from fyr.demo.preview import PreviewSink
from fyr.demo.progress import Progress
from fyr.demo.scenarios import Scenario, play, scenarios
from fyr.logging import configure_logging
from fyr.models.rollout import NotifyStatus, Rollout, RolloutStatus
from fyr.services.notifier.console import ConsoleSink
from fyr.services.notifier.jobs import MessageSink
from fyr.services.notifier.main import default_sink
from fyr.settings import Settings, secret_value
from fyr.simcluster.server import SimCluster

log = structlog.get_logger()

DEADLINE_S = 50.0
DEMO_CLUSTER = "demo"


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


def demo_settings(settings: Settings, *, folder: Path, kubeconfig: Path, database: Path | None = None) -> Settings:
    fields = settings.model_fields_set
    routing = settings.routing_file
    if routing is None:
        routing = folder / "routing.yaml"
        routing.write_text(ROUTING)
    return settings.model_copy(update={
        "routing_file": routing,
        "database_url": f"sqlite+aiosqlite:///{database or folder / 'fyr.db'}",
        "kubeconfig": kubeconfig,
        "gitlab_ingestor_token": SecretStr(secrets.token_hex(16)),  # model_copy does not validate
        "cluster_name": settings.cluster_name if "cluster_name" in fields else DEMO_CLUSTER,
        "poll_interval_seconds": 0.5,
        "slack_channel_interval_seconds": settings.slack_channel_interval_seconds if settings.slack_bot_token else 0,
        # The demo's GitLab webhooks carry links to this host: let the messages link to it.
        "gitlab_hosts": [*settings.gitlab_hosts, urlsplit(DEMO_GITLAB).hostname or ""],
    })


def _done(sc: Scenario, r: Rollout | None) -> bool:
    if r is None:
        return False
    if sc.expect_status == "SUCCESS":
        return r.status == RolloutStatus.SUCCESS
    if sc.expect_status == "RECOVERED":
        # the reply in the thread is posted and the failure message itself edited to say "Recovered"
        return (r.status == RolloutStatus.SUCCESS and r.recovery_status in (NotifyStatus.SENT, NotifyStatus.FAILED)
                and r.update_status in (NotifyStatus.SENT, NotifyStatus.FAILED))
    return r.notify_status in (NotifyStatus.SENT, NotifyStatus.FAILED)


async def _latest(db: Database, cluster: str, sc: Scenario) -> tuple[Rollout | None, str | None]:
    async with db.session() as s:
        rows = await rollouts.list_rollouts(s, cluster=cluster, limit=500)
        mine = [r for r in rows if (r.kind, r.namespace, r.deployment) == (sc.kind, sc.namespace, sc.name)]
        if not mine:
            return None, None
        r = max(mine, key=lambda x: x.generation)
        category = None
        if r.analysis_id:
            a = await analyses.get_analysis(s, r.analysis_id)
            category = a.analysis.get("category") if a else None
        return r, category


async def run_demo(settings: Settings, *, keep: Path | None = None, preview: Path | None = None) -> int:
    """The demo; 0 when every scenario reached its outcome, 1 when not, 130 when interrupted."""
    configure_logging(service="demo", level="WARNING" if settings.log_level == "INFO" else settings.log_level,
                      fmt=settings.log_format)
    cluster = settings.cluster_name if "cluster_name" in settings.model_fields_set else "demo"
    place = demo_place(keep, cluster=cluster)  # a ConfigError before anything starts
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    ctrl_c = _CtrlC(main)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, ctrl_c.on_signal)
    try:
        return await _run(settings, place, preview=preview, ctrl_c=ctrl_c)
    except asyncio.CancelledError:
        if not ctrl_c.interrupted:
            raise
        return 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        place.cleanup()


class _CtrlC:
    """Ctrl-C cancels the demo while it runs; once it is stopping its services and closing the database
    (a cancellation there cuts a connection's close short) it only marks the run interrupted. A second
    Ctrl-C leaves at once."""

    def __init__(self, main: asyncio.Task[int]) -> None:
        self._main = main
        self.interrupted = False
        self.stopping = False

    def on_signal(self) -> None:
        if self.interrupted:
            exits.interrupted()
        self.interrupted = True
        if not self.stopping:
            self._main.cancel()


async def _run(settings: Settings, place: DemoPlace, *, preview: Path | None, ctrl_c: _CtrlC) -> int:
    console = Console(highlight=False)
    progress = Progress(sys.stderr)
    sent_at: dict[int, float] = {}
    plays = scenarios()
    started = time.monotonic()
    progress.step("starting the simulated cluster")
    async with SimCluster.running() as sim:
        s = demo_settings(settings, folder=place.folder, kubeconfig=sim.kubeconfig_path,
                          database=place.database)
        port = free_port()
        stop = asyncio.Event()
        console.print(f"[bold]Fyr demo[/bold]: simulated cluster at {sim.url}, database {place.database}"
                      f"{' (kept)' if place.kept else ''}, ingestor on 127.0.0.1:{port}, "
                      f"LLM {'on' if s.llm_enabled else 'off (rules)'}, "
                      f"Slack {'on' if s.slack_bot_token else 'off (console)'}", soft_wrap=True)
        if place.replaced:
            console.print(f"Replaced the demo database of an earlier run at {place.database}.", soft_wrap=True)
        console.print()

        def on_sent(rollout_id: int, channel: str, ts: str) -> None:
            sent_at.setdefault(rollout_id, time.monotonic())

        sink: MessageSink = default_sink(s) if s.slack_bot_token else ConsoleSink(stream=sys.stdout)
        if preview is not None:
            sink = PreviewSink(sink, preview)
        progress.step("starting Fyr: watcher, ingestor, analyzer, notifier")
        services = asyncio.create_task(run_services(
            s, {"watcher", "ingestor", "analyzer", "notifier"}, host="127.0.0.1", port=port,
            upgrade_db=True, stop=stop, signals=False, extra={"notifier": {"on_sent": on_sent, "sink": sink}}))
        db = Database.from_url(s.database_url)
        try:
            await wait_ready(port, services)
            hook_url = f"http://127.0.0.1:{port}/webhooks/gitlab"
            async with httpx.AsyncClient(timeout=10) as client:
                # Half the hooks arrive before the cluster changes, half after: both joins are shown.
                early, late = plays[::2], plays[1::2]
                progress.step(f"sending GitLab webhooks for {len(early)} deploys")
                await asyncio.gather(*(post_hooks(client, hook_url, secret_value(s.gitlab_ingestor_token), sc)
                                       for sc in early))
                progress.step(f"playing {len(plays)} rollouts on the cluster")
                runs = [asyncio.create_task(play(sim, sc)) for sc in plays]
                await asyncio.sleep(1.0)
                progress.step(f"sending GitLab webhooks for {len(late)} more deploys")
                await asyncio.gather(*(post_hooks(client, hook_url, secret_value(s.gitlab_ingestor_token), sc)
                                       for sc in late))
                await asyncio.gather(*runs)
            results = await _wait_outcomes(db, s.cluster_name, plays, services, progress)
        finally:
            ctrl_c.stopping = True
            stop.set()
            await db.dispose()
            await services
            await sink.close()
    if ctrl_c.interrupted:
        return 130  # no table of a run the user stopped
    if preview is not None and isinstance(sink, PreviewSink):
        index = sink.write_index()
        console.print(f"Message previews: {index}", soft_wrap=True)
    return _report(console, plays, results, sent_at, time.monotonic() - started)


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


async def _wait_outcomes(db: Database, cluster: str, plays: list[Scenario], services: asyncio.Task[int],
                         progress: Progress) -> dict[str, tuple[Rollout | None, str | None]]:
    deadline = time.monotonic() + DEADLINE_S
    results: dict[str, tuple[Rollout | None, str | None]] = {}
    told: set[str] = set()
    while time.monotonic() < deadline and not services.done():
        results = {sc.key: await _latest(db, cluster, sc) for sc in plays}
        for sc in plays:
            r, category = results[sc.key]
            if sc.key not in told and _done(sc, r) and r is not None:
                told.add(sc.key)
                where = f" → {r.slack_channel_sent}" if r.slack_channel_sent else ""
                progress.step(f"{sc.namespace}/{sc.name}: {r.status.value}"
                              f"{' ' + category if category else ''}{where} ({len(told)}/{len(plays)})")
        if len(told) == len(plays):
            break
        await asyncio.sleep(0.2)
    return results


def _report(console: Console, plays: list[Scenario], results: dict[str, tuple[Rollout | None, str | None]],
            sent_at: dict[int, float], total_s: float) -> int:
    """The closing table, readable at 80 columns."""
    table = Table(title="Fyr demo: rollouts (→ msg: seconds from the failure to its message)",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("rollout", no_wrap=True)
    for col in ("status", "category"):
        table.add_column(col, overflow="fold")
    table.add_column("→ msg", justify="right", no_wrap=True)
    table.add_column("channel", overflow="fold")
    table.add_column("ok", overflow="fold")
    all_ok = True
    for sc in plays:
        r, category = results.get(sc.key, (None, None))
        status = "—" if r is None else ("RECOVERED" if r.failed_at and r.completed_at else r.status.value)
        seconds = ""
        if r is not None and r.id in sent_at and sc.decisive is not None and sc.expect_status != "SUCCESS":
            seconds = f"{max(0.0, sent_at[r.id] - sc.decisive):.1f} s"
        ok = _done(sc, r) and (sc.expect_category is None or category == sc.expect_category)
        all_ok &= ok
        table.add_row(
            sc.label, status, category or "—",
            seconds, (r.slack_channel_sent or "—") if r else "—",
            "yes" if ok else f"NO (expected {sc.expect_status})",
        )
    console.print(table)
    console.print(f"{sum(1 for sc in plays if _done(sc, results.get(sc.key, (None, None))[0]))}/{len(plays)} "
                  f"scenarios reached their outcome in {total_s:.1f} s")
    if not all_ok:
        print("fyr: demo: some scenarios did not reach the expected outcome (see the table)", file=sys.stderr)
        return 1
    return 0
