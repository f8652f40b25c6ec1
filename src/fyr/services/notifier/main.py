"""The notifier service: claims NOTIFY, RECOVERY and UPDATE rows and delivers each message exactly once.

Three parts (docs/architecture.md 'The database is the queue', 'Notification'; docs/wire-formats.md
'Rate limits', 'slack_sdk retries'):
- the *claim loop* (here) leases rows (`work_queue.claim`, FOR UPDATE SKIP LOCKED) while fewer than
  `max_held` are in hand, has each admitted (its rows read once, its channel routed) and puts it in
  that channel's lane; it runs under `runtime.run_loop`, the one place the loop's errors are caught;
- *lanes* (`lanes.py`), one per Slack channel, send one message at a time at Slack's pace, at most
  `notify_concurrency` posts in flight;
- *delivery* (`delivery.py`) makes one try at one job and returns its outcome (`Sent`, `Released`,
  `GaveUp`, `Retry`, `Moved`, `Lost`), which the lane acts on.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from urllib.parse import urlsplit

import structlog
from prometheus_client import CollectorRegistry
from structlog.contextvars import bound_contextvars

from fyr.core.routing import Routing, load_routing
from fyr.db import queue as work_queue
from fyr.db.engine import Database
from fyr.db.queue import Queue
from fyr.errors import LeaseLost, TransientError
from fyr.runtime import DatabaseWatch, run_loop
from fyr.services.notifier.console import ConsoleSink
from fyr.services.notifier.delivery import AuthPause, Delivery
from fyr.services.notifier.jobs import MessageSink, OnSent
from fyr.services.notifier.lanes import ChannelNames, Lanes
from fyr.services.notifier.metrics import NotifierMetrics, notifier_metrics
from fyr.services.notifier.slack_client import SlackClient
from fyr.settings import Settings

log = structlog.get_logger()


def default_sink(settings: Settings) -> MessageSink:
    """Slack when SLACK_BOT_TOKEN is set, else the console (the embedded default)."""
    if settings.slack_bot_token:
        return SlackClient(token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url,
                           timeout=min(10.0, settings.notify_lease_seconds / 4))
    return ConsoleSink()


async def run_notifier(
    *,
    settings: Settings,
    db: Database,
    stop: asyncio.Event,
    wakeup: asyncio.Event | None = None,
    sink: MessageSink | None = None,
    on_sent: OnSent | None = None,
    routing: Routing | None = None,
    owner: str | None = None,
    registry: CollectorRegistry | None = None,
    db_watch: DatabaseWatch | None = None,
) -> None:
    """Run until `stop` is set. With no `sink`: Slack when SLACK_BOT_TOKEN is set, else the console."""
    own_sink = sink is None
    if sink is None:
        sink = default_sink(settings)
    if routing is None:
        routing = load_routing(settings.routing_file)
    notifier = Notifier(settings=settings, db=db, sink=sink, routing=routing, on_sent=on_sent,
                        owner=owner or f"notifier-{socket.gethostname()[:24]}-{os.getpid()}",
                        metrics=notifier_metrics(registry))
    log.info("notifier_started", owner=notifier.owner, sink=type(sink).__name__,
             default_channel=settings.default_slack_channel)
    try:
        await notifier.run(stop, wakeup, db_watch=db_watch)
    finally:
        if own_sink:
            await sink.close()
        log.info("notifier_stopped", owner=notifier.owner)


class Notifier:
    """One notifier replica: the claim loop over its lanes and its delivery."""

    def __init__(self, *, settings: Settings, db: Database, sink: MessageSink, routing: Routing,
                 on_sent: OnSent | None, owner: str, metrics: NotifierMetrics | None = None) -> None:
        self.settings = settings
        self.db = db
        self.owner = owner
        # Links only to the GitLab hosts the operator named, and to Fyr's own history pages.
        public = urlsplit(settings.public_url).hostname if settings.public_url else None
        link_hosts = frozenset([*settings.gitlab_hosts, *([public] if public else [])])
        # Slack's pace applies to Slack; the console sink (paced = False) prints at once.
        interval = settings.slack_channel_interval_seconds if sink.paced else 0.0
        names = ChannelNames()
        self.auth = AuthPause(sink, settings.notify_auth_retry_seconds)
        self.delivery = Delivery(settings=settings, db=db, sink=sink, routing=routing, names=names,
                                 auth=self.auth, metrics=metrics or notifier_metrics(), on_sent=on_sent,
                                 interval=interval, link_hosts=link_hosts)
        self.lanes = Lanes(self.delivery.deliver, names=names, interval=interval,
                           concurrency=settings.notify_concurrency)
        # Never hold more than can be posted to one channel within half a lease, so that even when
        # all claims land in the same channel no lease runs out while it waits its turn.
        self.max_held = max(1, min(settings.notify_concurrency * 4,
                                   int(settings.notify_lease_seconds / 2 / max(interval, 0.001))))

    async def run(self, stop: asyncio.Event, wakeup: asyncio.Event | None,
                  db_watch: DatabaseWatch | None = None) -> None:
        """Claim rounds until `stop`: after each, wait the poll interval, or less when a wake-up (an
        analysis stored), room in the lanes or the database answering again comes first."""
        with bound_contextvars(owner=self.owner):  # on every line of the loop, its lanes and deliveries
            try:
                await run_loop("notifier", self._claim_round, stop=stop, wakeup=wakeup, db_watch=db_watch,
                               events=(self.lanes.room,))
            finally:
                await self._shutdown()

    async def _claim_round(self) -> float:
        self.lanes.room.clear()
        self.lanes.reap()
        if not await self.auth.ok():
            return self.settings.poll_interval_seconds
        for queue in (Queue.NOTIFY, Queue.RECOVERY, Queue.UPDATE):
            room = self.max_held - len(self.lanes)
            if room <= 0:
                break
            async with self.db.session() as s:
                claims = await work_queue.claim(s, queue, owner=self.owner, limit=room,
                                          lease_seconds=self.settings.notify_lease_seconds,
                                          max_attempts=self.settings.notify_max_attempts)
            deadline = time.monotonic() + self.settings.notify_lease_seconds
            for claim in claims:
                old = self.lanes.holding(claim)
                if old is not None:
                    # Our own earlier lease ran out and we claimed the row again: keep one job, new lease.
                    old.claim, old.deadline = claim, deadline
                    continue
                admitted = await self.delivery.admit(claim, deadline)
                if admitted is not None:
                    self.lanes.add(*admitted)
        return self.settings.poll_interval_seconds

    async def _shutdown(self) -> None:
        # Hand what we still hold back to the pool now rather than when the leases run out.
        # (attempt stays counted, so the next holder looks the message up before posting.)
        for job in await self.lanes.close():
            try:
                async with self.db.session() as s:
                    await work_queue.release(s, job.claim.queue, job.claim, error="notifier stopped", retry_in=0.0)
            except (LeaseLost, TransientError) as exc:
                # The lease runs out by itself and the row returns to the pool.
                log.info("notify_release_on_stop_failed", rollout_id=job.claim.rollout_id, error=str(exc))
