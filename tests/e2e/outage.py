"""A database outage in the middle of a failing rollout, as `fyr all` lives it (tests and bench).

The services run in this process over the real stack (simulated cluster, real kubernetes client,
real slack_sdk against the Slack fake). A healthy rollout is recorded, then the database goes away
(SQLite: every session fails; MariaDB: a TCP proxy between Fyr and the server is cut, so connects
are refused and open connections drop), the rollout fails in the cluster meanwhile, and the
database comes back. Measured: seconds from the database's return to the Slack message.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from fyr.app import OneWriterDatabase, run_services
from fyr.db.engine import Database
from fyr.demo import free_port, wait_ready
from fyr.settings import Settings
from fyr.simcluster.controller import DeploymentSim
from fyr.simcluster.server import SimCluster
from tests.fakes.slack_api import SlackFake
from tests.fakes.tcp_proxy import TcpProxy


@dataclass(frozen=True)
class OutageResult:
    outage_s: float
    back_to_slack_s: float  # database answering again -> message stored at the Slack fake
    messages: int


async def failure_to_slack_after_outage(*, database_url: str, outage_s: float, work_dir: Path,
                                        name: str = "api", within: float = 60.0) -> OutageResult:
    """Run the scenario once; `database_url` must be migrated (SQLite file or MariaDB database)."""
    proxy: TcpProxy | None = None
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        proxy = await TcpProxy(url.host or "127.0.0.1", url.port or 3306).start()
        url = url.set(host="127.0.0.1", port=proxy.port)
    raw = url.render_as_string(hide_password=False)
    db = Database.from_url(raw, pool_size=5)
    if db.dialect == "sqlite":
        db = OneWriterDatabase(db.engine)
    slack = await SlackFake(token="xoxb-outage").start()
    try:
        async with SimCluster.running() as sim:
            settings = Settings(
                database_url=raw, kubeconfig=sim.kubeconfig_path, cluster_name="outage",
                slack_bot_token="xoxb-outage", slack_api_url=slack.url, default_slack_channel="#deployments",
                poll_interval_seconds=1.0, slack_channel_interval_seconds=0.0, llm="none",
            )
            port, stop = free_port(), asyncio.Event()
            services = asyncio.create_task(run_services(
                settings, {"watcher", "analyzer", "notifier"}, host="127.0.0.1", port=port, stop=stop, db=db,
                upgrade_db=False))
            try:
                await wait_ready(port, services)
                d = DeploymentSim(sim, namespace="shop", name=name, image=f"registry.example.com/{name}:1",
                                  replicas=2)
                d.rollout()
                d.become_ready()
                await asyncio.sleep(1.0)
                # The outage: the rollout fails while the database is away.
                if proxy is not None:
                    await proxy.cut()
                else:
                    db.simulate_outage(outage_s)
                await asyncio.sleep(0.2)
                d.rollout(image=f"registry.example.com/{name}:2")
                d.crash_loop(restarts=3, log="panic: boom\n", previous_log="panic: boom\n")
                await asyncio.sleep(max(0.0, outage_s - 0.2))
                if proxy is not None:
                    await proxy.restore()
                back = time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(slack.stored.wait(), within)
                if not slack.messages:
                    raise AssertionError(f"no Slack message {within:.0f} s after the database came back")
                return OutageResult(outage_s, slack.messages[0].received_at - back, len(slack.messages))
            finally:
                stop.set()
                await asyncio.wait_for(services, 30)
    finally:
        await slack.stop()
        if proxy is not None:
            await proxy.stop()
