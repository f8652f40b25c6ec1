"""One claimed row → one `Outcome`: what the notifier sends for it, where, and what came of it.

`admit` reads a claim's rows once and routes it to a channel (`route` is the one place a channel is
decided); `deliver` makes one try and returns `Sent`, `Released`, `GaveUp`, `Retry`, `Moved` or
`Lost`, having written the row first (sent / released with backoff / given up), so that the lane
only has to act on the value:
- a 429 is `Retry(Retry-After)`: nothing was posted, no attempt is spent, the job stays at the head
  of its lane (never sooner than the channel's pace);
- 5xx/timeouts release the row with backoff (the post may have landed); after
  `notify_max_attempts` the row is given up (FAILED, error kept);
- an unusable channel moves a failure message once to the default channel, saying so (`Moved`);
  in the default channel, or for a recovery or update, it is given up;
- a refused token pauses claiming (`AuthPause`) and hands the row back without spending an attempt
  beyond this one;
- exactly once: a claim whose attempt is > 1 follows an attempt whose outcome is unknown, so the
  message is first looked up by its metadata (`fyr_rollout`, rollout id); if it is there, it is only
  recorded. A lease is extended before each post and a post is never started on a lease that could
  run out during it, so a second notifier can only take a row after the first can no longer post.
- a repeat failure (same deployment + failure signature as a SENT message within
  `notify_thread_window_seconds`) goes as a reply in that message's thread; a recovery as well.

Every log line of a delivery carries the rollout id and queue, bound once per job.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from structlog.contextvars import bound_contextvars

from fyr.core.redaction import SecretLeak, check_clean
from fyr.core.routing import Routing
from fyr.db import actions as actions_db
from fyr.db import messages as nq
from fyr.db import queue as work_queue
from fyr.db.base import utcnow
from fyr.db.engine import Database
from fyr.db.messages import ThreadParent
from fyr.db.queue import Claim, Queue
from fyr.errors import LeaseLost, PermanentError, TransientError
from fyr.models.rollout import NotifyStatus
from fyr.runtime import Backoff
from fyr.services.notifier.jobs import (
    GaveUp,
    Job,
    Lost,
    MessageSink,
    Moved,
    OnSent,
    Outcome,
    Plan,
    Released,
    Retry,
    Sent,
)
from fyr.services.notifier.lanes import ChannelNames
from fyr.services.notifier.metrics import NotifierMetrics
from fyr.services.notifier.render import (
    IncidentView,
    render_failure,
    render_recovery,
    render_repeat,
    view_from_rows,
    with_fallback_note,
)
from fyr.services.notifier.slack_client import AuthError, ChannelError, PayloadRejected, RateLimited
from fyr.settings import Settings

log = structlog.get_logger()

LEASE_MARGIN_SECONDS = 5.0


class AuthPause:
    """While Slack refuses the token nothing is claimed (no attempt is spent); after each pause,
    growing from `notify_auth_retry_seconds` up to 10 minutes, `auth.test` probes the token."""

    def __init__(self, sink: MessageSink, retry_seconds: float) -> None:
        self.sink = sink
        self.backoff = Backoff(initial=retry_seconds, maximum=600.0)
        self.until = 0.0

    async def ok(self) -> bool:
        if not self.until:
            return True
        if time.monotonic() < self.until:
            return False
        try:
            await self.sink.auth_test()
        except AuthError as exc:
            self._pause(str(exc))
            return False
        log.info("slack_auth_ok_again", after_failures=self.backoff.failures)
        self.until = 0.0
        self.backoff.reset()
        return True

    def refused(self, error: str) -> None:
        """A post met a refused token: pause, unless already paused."""
        if not self.until:
            self._pause(error)

    def _pause(self, error: str) -> None:
        pause = self.backoff.next_delay()
        self.until = time.monotonic() + pause
        log.error("slack_auth_failed", error=error, paused_seconds=round(pause, 2), failures=self.backoff.failures)


def _rate_limited_wait(exc: RateLimited, interval: float) -> float:
    """Retry-After as Slack sent it (0 allowed), never sooner than the channel's pace."""
    return max(1.0 if exc.retry_after is None else exc.retry_after, interval)


@dataclass(kw_only=True)
class Delivery:
    """Admits claims and makes one try at a job at a time; shared by all lanes of a notifier."""

    settings: Settings
    db: Database
    sink: MessageSink
    routing: Routing
    names: ChannelNames
    auth: AuthPause
    metrics: NotifierMetrics
    on_sent: OnSent | None
    interval: float  # the channel's pace: no Retry comes sooner
    link_hosts: frozenset[str]
    # A release waits 2 s, 4 s, 8 s ... (jittered) before the next attempt, at most 5 minutes.
    release_backoff: Backoff = field(default_factory=lambda: Backoff(initial=2.0, maximum=300.0))

    # --- admission: the rows, read once, and the channel ------------------------------------------

    async def admit(self, claim: Claim, deadline: float) -> tuple[Job, str] | None:
        """The job for a fresh claim and the channel whose lane it joins; None when there is nothing
        to send (the row is gone or no longer pending; its lease runs out)."""
        async with self.db.session() as s:
            rows = await nq.load_message_rows(s, claim.rollout_id)
            if rows is None:
                return None
            r = rows.rollout
            status = {Queue.NOTIFY: r.notify_status, Queue.RECOVERY: r.recovery_status,
                      Queue.UPDATE: r.update_status}[claim.queue]
            if status != NotifyStatus.PENDING:
                return None
            parent = (await nq.find_thread_parent(s, r, window_seconds=self.settings.notify_thread_window_seconds)
                      if claim.queue is Queue.NOTIFY else None)
        job = Job(claim, deadline, rows)
        return job, self.route(job, parent)

    def route(self, job: Job, parent: ThreadParent | None) -> str:
        """The one place a message's channel is decided: the thread it replies in, the fallback it
        was moved to, the channel the failure went to (recovery, update), the rollout's annotation,
        the routing file, the default channel."""
        if parent is not None:
            return parent.channel
        if job.channel is not None:
            return job.channel
        rollout = job.rows.rollout
        if job.claim.queue in (Queue.RECOVERY, Queue.UPDATE) and rollout.slack_channel_sent:
            return rollout.slack_channel_sent
        if rollout.slack_channel:
            return rollout.slack_channel
        route = self.routing.route_for(rollout.git_project or rollout.gitlab_app, rollout.team)
        if route is not None and route.slack_channel:
            return route.slack_channel
        return self.settings.default_slack_channel

    # --- one try ---------------------------------------------------------------------------------

    async def deliver(self, job: Job) -> Outcome:
        """One try at a job. The row is written (sent, released, given up) before the outcome is
        returned; an error while writing it propagates (the lease then runs out)."""
        with bound_contextvars(rollout_id=job.claim.rollout_id, queue=job.claim.queue.value):
            try:
                return await self._attempt(job)
            except Exception as exc:  # the database or a bug, outside the mapped Slack calls: never stops the lane
                log.error("notify_job_crashed", error=str(exc), error_type=type(exc).__name__, exc_info=True)
                return await self._release(job, f"{type(exc).__name__}: {exc}", ambiguous=True)

    async def _attempt(self, job: Job) -> Outcome:
        if not await self._ensure_lease(job):
            return Lost("lease lost")
        plan = await self._plan(job)
        if not isinstance(plan, Plan):
            return plan
        if job.claim.attempt > 1 and not job.looked_up and plan.update_ts is None:
            try:
                found = await self._look_up(job, plan)
            except RateLimited as exc:
                return Retry(_rate_limited_wait(exc, self.interval))
            except TransientError as exc:
                return await self._release(job, f"lookup: {exc}", ambiguous=False)
            job.looked_up = True
            if found is not None:
                log.info("notify_found_existing", channel=found[0], ts=found[1])
                return await self._record(job, found[0], found[1], plan.thread_ts, outcome="found_existing",
                                          team=plan.team)
        blocks = None if job.text_only else plan.message.blocks
        try:
            # the last check before the message leaves: fail closed, never mask and post
            check_clean({"text": plan.message.text, "blocks": blocks}, where="slack_message")
        except SecretLeak as exc:
            return await self._give_up(job, str(exc))
        try:
            if plan.update_ts is not None:
                await self.sink.update(plan.channel, plan.update_ts, plan.message.text, blocks)
                channel, ts = plan.channel, plan.update_ts
            else:
                channel, ts = await self.sink.post(plan.channel, plan.message.text, blocks,
                                                   plan.message.metadata, plan.thread_ts)
        except RateLimited as exc:
            self.metrics.rate_limited.inc()
            log.info("slack_rate_limited", channel=plan.channel, retry_after=exc.retry_after)
            return Retry(_rate_limited_wait(exc, self.interval))
        except ChannelError as exc:
            return await self._channel_failed(job, plan, exc)
        except PayloadRejected as exc:
            if not job.text_only:
                log.warning("slack_payload_rejected", error=str(exc))
                job.text_only = True
                return Retry(self.interval)
            return await self._give_up(job, str(exc))
        except AuthError as exc:
            # A token problem stops every message: keep them queued and pause claiming (docs/wire-formats.md 'Errors').
            self.auth.refused(str(exc))
            return await self._release(job, str(exc), ambiguous=False, retry_in=0.0)
        except TransientError as exc:
            log.warning("slack_post_failed", channel=plan.channel, error=str(exc), attempt=job.claim.attempt)
            return await self._release(job, str(exc), ambiguous=True)
        except PermanentError as exc:
            return await self._give_up(job, str(exc))
        log.info("slack_message_sent", channel=channel, ts=ts, kind=plan.kind, thread_ts=plan.thread_ts,
                 attempt=job.claim.attempt)
        self.names.learn(channel, plan.channel)
        return await self._record(job, channel, ts, plan.thread_ts, failed_at=plan.failed_at, team=plan.team)

    async def _plan(self, job: Job) -> Plan | Outcome:
        """What to send: the job's rows, with the thread and incident state read fresh (a parent
        message or a mute may have appeared while the job waited in its lane)."""
        r = job.rows.rollout
        notify = job.claim.queue is Queue.NOTIFY
        async with self.db.session() as s:
            parent = None
            if notify and job.channel is None:
                parent = await nq.find_thread_parent(s, r, window_seconds=self.settings.notify_thread_window_seconds)
            state = await actions_db.incident_state(s, r)
            if parent is None and state.muted_until is not None and notify:
                parent = await nq.find_workload_thread(s, r)  # muted: quietly into the first message's thread
        view = view_from_rows(r, job.rows.analysis, job.rows.metric)
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
        if job.claim.queue is Queue.RECOVERY:
            if not r.slack_channel_sent or not r.slack_ts:
                return await self._give_up(job, "recovery without a sent failure message")
            return Plan(self.route(job, None), r.slack_thread_ts or r.slack_ts, render_recovery(view), "recovery", 0.0)
        if job.claim.queue is Queue.UPDATE:
            if not r.slack_channel_sent or not r.slack_ts:
                return await self._give_up(job, "update without a sent failure message")
            return Plan(self.route(job, None), None, render_failure(view), "update", 0.0, update_ts=r.slack_ts)
        if parent is not None:
            return Plan(self.route(job, parent), parent.thread_ts, render_repeat(view), "repeat", 0.0,
                        team=view.team)
        oldest = (r.failed_at.timestamp() if r.failed_at else time.time() - 86400) - 300
        return Plan(self.route(job, None), None, render_failure(view), "failure", oldest, r.failed_at,
                    team=view.team)

    async def _look_up(self, job: Job, plan: Plan) -> tuple[str, str] | None:
        """Did an earlier attempt already post this? Its channel, then the default channel."""
        rid = job.claim.rollout_id
        try:
            found = await self.sink.find_message(plan.channel, rid, plan.oldest, kind=plan.kind,
                                                 thread_ts=plan.thread_ts)
        except ChannelError as exc:
            # Not readable (unknown channel, or a name we could not resolve): it cannot be verified.
            log.warning("slack_lookup_unverifiable", channel=plan.channel, error=exc.code)
            found = None
        default = self.settings.default_slack_channel
        if found is None and plan.kind == "failure" and plan.channel != default:
            try:
                found = await self.sink.find_message(default, rid, plan.oldest, kind=plan.kind)
            except ChannelError:
                found = None
        return found

    async def _channel_failed(self, job: Job, plan: Plan, exc: ChannelError) -> Outcome:
        default = self.settings.default_slack_channel
        same = self.names.lane_of(plan.channel) == self.names.lane_of(default)
        if plan.kind in ("recovery", "update") or job.fallback_note or same:
            return await self._give_up(job, f"slack {exc.code} in {plan.channel}")
        hint = " — invite the Fyr app to that channel" if exc.code == "not_in_channel" else ""
        job.fallback_note = f"Sent to {default} because {plan.channel} answered {exc.code}{hint}."
        job.channel = default
        self._count(job, "fallback")
        log.warning("slack_channel_fallback", channel=plan.channel, error=exc.code, fallback=default)
        # On in the default channel's lane, so that lane's pace applies.
        return Moved(default)

    # --- the row's outcome -------------------------------------------------------------------------

    async def _ensure_lease(self, job: Job) -> bool:
        """A post may only start when the lease outlives it (slack timeout + margin)."""
        need = float(self.sink.timeout) + min(LEASE_MARGIN_SECONDS, self.settings.notify_lease_seconds / 4)
        if job.deadline - time.monotonic() >= need:
            return True
        started = time.monotonic()  # the new expiry is stamped after this instant: count from here
        try:
            async with self.db.session() as s:
                await work_queue.extend_lease(s, job.claim, lease_seconds=self.settings.notify_lease_seconds)
        except LeaseLost:
            log.info("notify_lease_lost")
            return False
        job.deadline = started + self.settings.notify_lease_seconds
        return True

    async def _record(self, job: Job, channel: str, ts: str, thread_ts: str | None, *, outcome: str = "sent",
                      failed_at: datetime | None = None, team: str | None = None) -> Outcome:
        try:
            async with self.db.session() as s:
                await work_queue.complete_notify(s, job.claim, channel=channel, ts=ts, thread_ts=thread_ts, team=team)
        except LeaseLost:
            # Another notifier holds the row; being at attempt > 1 it looks the message up first.
            log.warning("notify_lease_lost_after_send", ts=ts)
            return Lost("lease lost after sending")
        except TransientError as exc:
            # Sent but not recorded: the lease runs out, the next attempt finds the message by metadata.
            log.warning("notify_record_failed", ts=ts, error=str(exc))
            return Sent(channel, ts, recorded=False)
        self._count(job, outcome)
        if failed_at is not None:
            self.metrics.failure_to_message.observe(max(0.0, (utcnow() - failed_at).total_seconds()))
        if self.on_sent is not None:
            self.on_sent(job.claim.rollout_id, channel, ts)
        return Sent(channel, ts)

    def _count(self, job: Job, outcome: str) -> None:
        self.metrics.messages.labels(kind=job.claim.queue.value, outcome=outcome).inc()

    async def _release(self, job: Job, error: str, *, ambiguous: bool, retry_in: float | None = None) -> Outcome:
        """Release for a later attempt with backoff, or give up after the last attempt."""
        if job.claim.attempt >= self.settings.notify_max_attempts:
            return await self._give_up(job, error)
        delay = retry_in if retry_in is not None else self.release_backoff.delay(job.claim.attempt)
        try:
            async with self.db.session() as s:
                await work_queue.release(s, job.claim.queue, job.claim, error=error, retry_in=delay)
        except (LeaseLost, TransientError) as exc:
            # The lease runs out by itself and the row returns to the pool.
            log.warning("notify_release_failed", error=str(exc))
        self._count(job, "released")
        log.info("notify_released", retry_in=round(delay, 2), ambiguous=ambiguous)
        return Released(error, delay)

    async def _give_up(self, job: Job, error: str) -> Outcome:
        try:
            async with self.db.session() as s:
                await work_queue.give_up(s, job.claim.queue, job.claim, error=error)
        except (LeaseLost, TransientError) as exc:
            # The lease runs out by itself; the next holder gives up again or delivers.
            log.warning("notify_give_up_failed", error=str(exc))
        self._count(job, "given_up")
        log.error("notify_failed", error=error)
        return GaveUp(error)
