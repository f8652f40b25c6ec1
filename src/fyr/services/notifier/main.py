"""The notifier service: claims NOTIFY and RECOVERY rows and delivers each message exactly once.

Shape of the loop (docs/architecture.md 'The database is the queue', 'Notification'; docs/wire-formats.md 'Rate
limits', 'slack_sdk retries'):
- a *claim loop* leases rows (`repo.claim`, FOR UPDATE SKIP LOCKED) while fewer than `_max_held`
  are in hand, works out each row's channel and puts it in that channel's *lane*;
- one *lane* per Slack channel sends its messages one at a time, at most one per
  `slack_channel_interval_seconds` (Slack: about one message per second per channel); lanes run in
  parallel, at most `notify_concurrency` posts in flight;
- a 429 keeps the message at the head of its lane and waits `Retry-After` (nothing was posted, no
  attempt is spent); 5xx/timeouts release the row with backoff (the post may have landed);
  after `notify_max_attempts` the row is given up (FAILED, error kept);
- exactly once: a claim whose attempt is > 1 follows an attempt whose outcome is unknown, so the
  message is first looked up by its metadata (`fyr_rollout`, rollout id); if it is there, it is only
  recorded. A lease is extended before each post and a post is never started on a lease that could
  run out during it, so a second notifier can only take a row after the first can no longer post.
- a repeat failure (same deployment + failure signature as a SENT message within
  `notify_thread_window_seconds`) goes as a reply in that message's thread; a recovery as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import time
from datetime import datetime
from urllib.parse import urlsplit

import structlog
from prometheus_client import CollectorRegistry

from fyr.core.redaction import SecretLeak, check_clean
from fyr.core.routing import Routing, load_routing
from fyr.db import actions as actions_db
from fyr.db import notify_queries as nq
from fyr.db import repositories as repo
from fyr.db.base import utcnow
from fyr.db.engine import Database
from fyr.db.repositories import Queue
from fyr.errors import DatabaseUnavailable, LeaseLost, PermanentError, TransientError
from fyr.models.rollout import NotifyStatus, Rollout
from fyr.runtime import DatabaseWatch, service_backoff
from fyr.services.notifier.console import ConsoleSink
from fyr.services.notifier.jobs import Done, Job, Lane, MessageSink, OnSent, Plan, retry_delay, wait_any
from fyr.services.notifier.metrics import NotifierMetrics, notifier_metrics
from fyr.services.notifier.render import (
    IncidentView,
    render_failure,
    render_recovery,
    render_repeat,
    view_from_rows,
    with_fallback_note,
)
from fyr.services.notifier.slack_client import (
    AuthError,
    ChannelError,
    PayloadRejected,
    RateLimited,
    SlackClient,
)
from fyr.settings import Settings

log = structlog.get_logger()

LEASE_MARGIN_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 300.0


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
    def __init__(self, *, settings: Settings, db: Database, sink: MessageSink, routing: Routing,
                 on_sent: OnSent | None, owner: str, metrics: NotifierMetrics | None = None) -> None:
        self.settings = settings
        self.db = db
        self.sink = sink
        self.routing = routing
        self.on_sent = on_sent
        self.owner = owner
        self.log = log.bind(owner=owner)
        self.metrics = metrics or notifier_metrics()
        self.held: dict[tuple[Queue, int], Job] = {}
        # Links only to the GitLab hosts the operator named, and to Fyr's own history pages.
        public = urlsplit(settings.public_url).hostname if settings.public_url else None
        self.link_hosts = frozenset([*settings.gitlab_hosts, *([public] if public else [])])
        self.lanes: dict[str, Lane] = {}
        # Slack answers a post to "#name" with the channel id; both must share one lane (one pace).
        self.alias: dict[str, str] = {}
        self.posts = asyncio.Semaphore(settings.notify_concurrency)
        self.room = asyncio.Event()
        self.auth_paused_until = 0.0
        self.auth_failures = 0
        # Slack's pace applies to Slack; the console sink (paced = False) prints at once.
        self.interval = settings.slack_channel_interval_seconds if getattr(sink, "paced", True) else 0.0
        interval = max(self.interval, 0.001)
        # Never hold more than can be posted to one channel within half a lease, so that even when
        # all claims land in the same channel no lease runs out while it waits its turn.
        self.max_held = max(1, min(settings.notify_concurrency * 4,
                                   int(settings.notify_lease_seconds / 2 / interval)))

    # --- the claim loop (the one place errors of the loop itself are caught) ---------------------

    async def run(self, stop: asyncio.Event, wakeup: asyncio.Event | None,
                  db_watch: DatabaseWatch | None = None) -> None:
        backoff = service_backoff()
        try:
            while not stop.is_set():
                try:
                    await self._claim_round()
                    backoff.reset()
                except Exception as exc:  # the loop's one catch: log, back off, go on
                    delay = backoff.next_delay()
                    self.log.warning("notifier_round_failed", error=str(exc), error_type=type(exc).__name__,
                                     failures=backoff.failures, retry_in=round(delay, 2),
                                     exc_info=not isinstance(exc, TransientError))
                    # At most 5 s; a wake-up (an analysis stored) or the database answering again
                    # ends the wait at once.
                    back = (db_watch.report_down() if db_watch is not None
                            and isinstance(exc, DatabaseUnavailable) else None)
                    await wait_any(stop, wakeup, delay, back)
                    continue
                await wait_any(stop, wakeup, self.settings.poll_interval_seconds, self.room)
        finally:
            await self._shutdown()

    async def _claim_round(self) -> None:
        self.room.clear()
        if not await self._auth_ok():
            return
        for queue in (Queue.NOTIFY, Queue.RECOVERY, Queue.UPDATE):
            room = self.max_held - len(self.held)
            if room <= 0:
                return
            async with self.db.session() as s:
                claims = await repo.claim(s, queue, owner=self.owner, limit=room,
                                          lease_seconds=self.settings.notify_lease_seconds,
                                          max_attempts=self.settings.notify_max_attempts)
            now = time.monotonic()
            for c in claims:
                await self._admit(Job(c, now + self.settings.notify_lease_seconds))

    async def _auth_ok(self) -> bool:
        """While Slack rejects the token, claim nothing (no attempt is spent); probe with auth.test."""
        if not self.auth_paused_until:
            return True
        if time.monotonic() < self.auth_paused_until:
            return False
        probe = getattr(self.sink, "auth_test", None)
        if probe is not None:
            try:
                await probe()
            except AuthError as exc:
                self._pause_for_auth(str(exc))
                return False
        self.log.info("slack_auth_ok_again", after_failures=self.auth_failures)
        self.auth_paused_until, self.auth_failures = 0.0, 0
        return True

    def _pause_for_auth(self, error: str) -> None:
        self.auth_failures += 1
        pause = min(600.0, self.settings.notify_auth_retry_seconds * 2 ** (self.auth_failures - 1))
        self.auth_paused_until = time.monotonic() + pause
        self.log.error("slack_auth_failed", error=error, paused_seconds=pause, failures=self.auth_failures)

    async def _admit(self, job: Job) -> None:
        key = (job.claim.queue, job.claim.rollout_id)
        old = self.held.get(key)
        if old is not None:
            # Our own earlier lease ran out and we claimed the row again: keep one job, new lease.
            old.claim, old.deadline = job.claim, job.deadline
            return
        async with self.db.session() as s:
            rows = await nq.load_message_rows(s, job.claim.rollout_id)
            if rows is None:
                return
            parent = (await nq.find_thread_parent(s, rows.rollout,
                                                  window_seconds=self.settings.notify_thread_window_seconds)
                      if job.claim.queue is Queue.NOTIFY else None)
        channel = parent.channel if parent else self._channel_for(rows.rollout, job.claim.queue)
        self._enqueue(job, channel)

    def _enqueue(self, job: Job, channel: str) -> None:
        job.lane = self.alias.get(channel, channel)
        self.held[(job.claim.queue, job.claim.rollout_id)] = job
        lane = self.lanes.setdefault(job.lane, Lane())
        lane.jobs.append(job)
        if lane.task is None or lane.task.done():
            lane.task = asyncio.create_task(self._run_lane(job.lane, lane), name=f"notify-lane-{job.lane}")

    def _channel_for(self, rollout: Rollout, queue: Queue) -> str:
        if queue in (Queue.RECOVERY, Queue.UPDATE) and rollout.slack_channel_sent:
            return rollout.slack_channel_sent
        if rollout.slack_channel:
            return rollout.slack_channel
        route = self.routing.route_for(rollout.git_project or rollout.gitlab_app, rollout.team)
        if route is not None and route.slack_channel:
            return route.slack_channel
        return self.settings.default_slack_channel

    # --- lanes -----------------------------------------------------------------------------------

    async def _run_lane(self, name: str, lane: Lane) -> None:
        interval = self.interval
        while lane.jobs:
            job = lane.jobs[0]
            delay = lane.next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if lane.jobs and lane.jobs[0] is not job:
                continue
            retry_after: float | None = None
            try:
                async with self.posts:
                    retry_after = await self._deliver(job, lane, interval)
            except Done:
                pass
            except Exception as exc:  # one catch per lane: a bad job never kills it
                self.log.error("notify_job_crashed", rollout_id=job.claim.rollout_id, error=str(exc),
                               error_type=type(exc).__name__, exc_info=True)
                with contextlib.suppress(Exception):  # releasing is best effort; the lease expires anyway
                    await self._settle(job, f"{type(exc).__name__}: {exc}", ambiguous=True)
            if retry_after is not None:
                lane.next_at = time.monotonic() + retry_after
                continue  # the job stays at the head of its lane
            if lane.jobs and lane.jobs[0] is job:
                lane.jobs.popleft()
            if self.held.get((job.claim.queue, job.claim.rollout_id)) is job and job.lane == name:
                del self.held[(job.claim.queue, job.claim.rollout_id)]
            self.room.set()
        lane.task = None

    async def _deliver(self, job: Job, lane: Lane, interval: float) -> float | None:
        """One try at a job: returns a delay when Slack said 429, raises Done when finished."""
        try:
            return await self._attempt(job, lane, interval)
        finally:
            # Pace from the *end* of the call: the previous post has certainly arrived by then, so
            # network jitter can never squeeze two posts closer than the interval at Slack's end.
            lane.next_at = max(lane.next_at, time.monotonic() + interval)

    async def _attempt(self, job: Job, lane: Lane, interval: float) -> float | None:
        await self._ensure_lease(job)
        plan = await self._plan(job)
        if job.claim.attempt > 1 and not job.looked_up and plan.update_ts is None:
            try:
                found = await self._look_up(job, plan)
            except RateLimited as exc:
                return retry_delay(exc, interval)
            except TransientError as exc:
                await self._settle(job, f"lookup: {exc}", ambiguous=False)
            job.looked_up = True
            if found is not None:
                self.log.info("notify_found_existing", rollout_id=job.claim.rollout_id, channel=found[0], ts=found[1])
                await self._record(job, found[0], found[1], plan.thread_ts, outcome="found_existing",
                                   team=plan.team)
        blocks = None if job.text_only else plan.message.blocks
        try:
            # the last check before the message leaves: fail closed, never mask and post
            check_clean({"text": plan.message.text, "blocks": blocks}, where="slack_message")
        except SecretLeak as exc:
            await self._give_up(job, str(exc))
        try:
            if plan.update_ts is not None:
                await self.sink.update(plan.channel, plan.update_ts, plan.message.text, blocks)
                channel, ts = plan.channel, plan.update_ts
            else:
                channel, ts = await self.sink.post(plan.channel, plan.message.text, blocks,
                                                   plan.message.metadata, plan.thread_ts)
        except RateLimited as exc:
            self.metrics.rate_limited.inc()
            self.log.info("slack_rate_limited", rollout_id=job.claim.rollout_id, channel=plan.channel,
                          retry_after=exc.retry_after)
            return retry_delay(exc, interval)
        except ChannelError as exc:
            await self._channel_failed(job, plan, exc)
        except PayloadRejected as exc:
            if not job.text_only:
                self.log.warning("slack_payload_rejected", rollout_id=job.claim.rollout_id, error=str(exc))
                job.text_only = True
                return interval
            await self._give_up(job, str(exc))
        except AuthError as exc:
            # A token problem stops every message: keep them queued and pause claiming (docs/wire-formats.md 'Errors').
            if not self.auth_paused_until:
                self._pause_for_auth(str(exc))
            await self._settle(job, str(exc), ambiguous=False, retry_in=0.0)
        except TransientError as exc:
            self.log.warning("slack_post_failed", rollout_id=job.claim.rollout_id, channel=plan.channel,
                             error=str(exc), attempt=job.claim.attempt)
            await self._settle(job, str(exc), ambiguous=True)
        except PermanentError as exc:
            await self._give_up(job, str(exc))
        else:
            self.log.info("slack_message_sent", rollout_id=job.claim.rollout_id, channel=channel, ts=ts,
                          kind=plan.kind, thread_ts=plan.thread_ts, attempt=job.claim.attempt)
            if channel != plan.channel:
                self.alias.setdefault(channel, self.alias.get(plan.channel, plan.channel))
            await self._record(job, channel, ts, plan.thread_ts, failed_at=plan.failed_at, team=plan.team)
        raise Done

    async def _plan(self, job: Job) -> Plan:
        async with self.db.session() as s:
            rows = await nq.load_message_rows(s, job.claim.rollout_id)
            if rows is None:
                raise Done
            r = rows.rollout
            status = {Queue.NOTIFY: r.notify_status, Queue.RECOVERY: r.recovery_status,
                      Queue.UPDATE: r.update_status}[job.claim.queue]
            if status != NotifyStatus.PENDING:
                raise Done
            parent = None
            if job.claim.queue is Queue.NOTIFY and job.channel is None:
                parent = await nq.find_thread_parent(s, r, window_seconds=self.settings.notify_thread_window_seconds)
            state = await actions_db.incident_state(s, r)
            if parent is None and state.muted_until is not None and job.claim.queue is Queue.NOTIFY:
                parent = await nq.find_workload_thread(s, r)  # muted: quietly into the first message's thread
        view = view_from_rows(r, rows.analysis, rows.metric)
        view = dataclasses.replace(view, incident=IncidentView(**dataclasses.asdict(state)),
                                   buttons=self.settings.slack_signing_secret is not None,
                                   link_hosts=self.link_hosts)
        if view.team is None:
            route = self.routing.route_for(r.git_project or r.gitlab_app, None)
            if route is not None and route.team:
                view = dataclasses.replace(view, team=route.team)
        if job.fallback_note:
            view = with_fallback_note(view, job.fallback_note)
        if self.settings.public_url:
            view = dataclasses.replace(view, history_url=f"{self.settings.public_url}/ui/rollouts/{r.id}")
        oldest = (r.failed_at.timestamp() if r.failed_at else time.time() - 86400) - 300
        if job.claim.queue is Queue.RECOVERY:
            if not r.slack_channel_sent or not r.slack_ts:
                await self._give_up(job, "recovery without a sent failure message")
            thread = r.slack_thread_ts or r.slack_ts
            return Plan(str(r.slack_channel_sent), thread, render_recovery(view), "recovery", 0.0)
        if job.claim.queue is Queue.UPDATE:
            if not r.slack_channel_sent or not r.slack_ts:
                await self._give_up(job, "update without a sent failure message")
            return Plan(str(r.slack_channel_sent), None, render_failure(view), "update", 0.0,
                        update_ts=r.slack_ts)
        if parent is not None:
            return Plan(parent.channel, parent.thread_ts, render_repeat(view), "repeat", 0.0, team=view.team)
        channel = job.channel or self._channel_for(r, Queue.NOTIFY)
        return Plan(channel, None, render_failure(view), "failure", oldest, r.failed_at, team=view.team)

    async def _look_up(self, job: Job, plan: Plan) -> tuple[str, str] | None:
        """Did an earlier attempt already post this? Its channel, then the default channel."""
        rid = job.claim.rollout_id
        try:
            found = await self.sink.find_message(plan.channel, rid, plan.oldest, kind=plan.kind,
                                                 thread_ts=plan.thread_ts)
        except ChannelError as exc:
            # Not readable (unknown channel, or a name we could not resolve): it cannot be verified.
            self.log.warning("slack_lookup_unverifiable", rollout_id=rid, channel=plan.channel, error=exc.code)
            found = None
        default = self.settings.default_slack_channel
        if found is None and plan.kind == "failure" and plan.channel != default:
            try:
                found = await self.sink.find_message(default, rid, plan.oldest, kind=plan.kind)
            except ChannelError:
                found = None
        return found

    async def _channel_failed(self, job: Job, plan: Plan, exc: ChannelError) -> None:
        default = self.settings.default_slack_channel
        same = self.alias.get(plan.channel, plan.channel) == self.alias.get(default, default)
        if plan.kind in ("recovery", "update") or job.fallback_note or same:
            await self._give_up(job, f"slack {exc.code} in {plan.channel}")
            return
        hint = " — invite the Fyr app to that channel" if exc.code == "not_in_channel" else ""
        job.fallback_note = (f"Sent to {default} because {plan.channel} answered {exc.code}{hint}.")
        job.channel = default
        self._count(job, "fallback")
        self.log.warning("slack_channel_fallback", rollout_id=job.claim.rollout_id, channel=plan.channel,
                         error=exc.code, fallback=default)
        # Move the job to the default channel's lane (so that lane's pace applies) and leave this one.
        lane = self.lanes.get(job.lane)
        if lane is not None and lane.jobs and lane.jobs[0] is job:
            lane.jobs.popleft()
        self._enqueue(job, default)
        raise Done

    # --- lease and outcomes -------------------------------------------------------------------

    async def _ensure_lease(self, job: Job) -> None:
        """A post may only start when the lease outlives it (slack timeout + margin)."""
        need = float(self.sink.timeout) + min(LEASE_MARGIN_SECONDS, self.settings.notify_lease_seconds / 4)
        if job.deadline - time.monotonic() >= need:
            return
        started = time.monotonic()  # the new expiry is stamped after this instant: count from here
        try:
            async with self.db.session() as s:
                await repo.extend_lease(s, job.claim, lease_seconds=self.settings.notify_lease_seconds)
        except LeaseLost:
            self.log.info("notify_lease_lost", rollout_id=job.claim.rollout_id)
            raise Done from None
        job.deadline = started + self.settings.notify_lease_seconds

    async def _record(self, job: Job, channel: str, ts: str, thread_ts: str | None, *, outcome: str = "sent",
                      failed_at: datetime | None = None, team: str | None = None) -> None:
        try:
            async with self.db.session() as s:
                await repo.complete_notify(s, job.claim, channel=channel, ts=ts, thread_ts=thread_ts, team=team)
        except LeaseLost:
            # Another notifier holds the row; being at attempt > 1 it looks the message up first.
            self.log.warning("notify_lease_lost_after_send", rollout_id=job.claim.rollout_id, ts=ts)
            raise Done from None
        except TransientError as exc:
            # Sent but not recorded: the lease runs out, the next attempt finds the message by metadata.
            self.log.warning("notify_record_failed", rollout_id=job.claim.rollout_id, ts=ts, error=str(exc))
            raise Done from None
        self._count(job, outcome)
        if failed_at is not None:
            self.metrics.failure_to_message.observe(max(0.0, (utcnow() - failed_at).total_seconds()))
        if self.on_sent is not None:
            self.on_sent(job.claim.rollout_id, channel, ts)
        raise Done

    def _count(self, job: Job, outcome: str) -> None:
        self.metrics.messages.labels(kind=job.claim.queue.value, outcome=outcome).inc()

    async def _settle(self, job: Job, error: str, *, ambiguous: bool, retry_in: float | None = None) -> None:
        """Release for a later attempt with backoff, or give up after the last attempt."""
        if job.claim.attempt >= self.settings.notify_max_attempts:
            await self._give_up(job, error)
            return
        delay = retry_in if retry_in is not None else min(MAX_BACKOFF_SECONDS, 2.0 ** job.claim.attempt)
        try:
            async with self.db.session() as s:
                await repo.release(s, job.claim.queue, job.claim, error=error, retry_in=delay)
        except (LeaseLost, TransientError) as exc:
            self.log.warning("notify_release_failed", rollout_id=job.claim.rollout_id, error=str(exc))
        self._count(job, "released")
        self.log.info("notify_released", rollout_id=job.claim.rollout_id, retry_in=delay, ambiguous=ambiguous)
        raise Done

    async def _give_up(self, job: Job, error: str) -> None:
        try:
            async with self.db.session() as s:
                await repo.give_up(s, job.claim.queue, job.claim, error=error)
        except (LeaseLost, TransientError) as exc:
            self.log.warning("notify_give_up_failed", rollout_id=job.claim.rollout_id, error=str(exc))
        self._count(job, "given_up")
        self.log.error("notify_failed", rollout_id=job.claim.rollout_id, queue=job.claim.queue.value, error=error)
        raise Done

    async def _shutdown(self) -> None:
        tasks = [lane.task for lane in self.lanes.values() if lane.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # Hand what we still hold back to the pool now rather than when the leases run out.
        # (attempt stays counted, so the next holder looks the message up before posting.)
        for job in list(self.held.values()):
            with contextlib.suppress(LeaseLost, TransientError):
                async with self.db.session() as s:
                    await repo.release(s, job.claim.queue, job.claim, error="notifier stopped", retry_in=0.0)
        self.held.clear()
