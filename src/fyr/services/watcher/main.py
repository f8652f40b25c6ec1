"""The watcher service: keep the cluster index current and record every rollout transition.

Why it exists: it connects the three parts of the watcher — the list/watch streams (`k8s.py`), the
in-memory index and status decision (`logic.py`, `fyr.core.status`) and the database — with the
guarantees ARCHITECTURE §2 asks for: a transition is written once, when the verdict of a
Deployment generation changes (not on every watch event); nothing is lost while the database is
down (pending writes are kept, in order, and retried); nothing is written twice after a restart
(the last persisted state is read back first, and the unique key does the rest).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice

import structlog
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fyr.core.kubeclient import make_api_client
from fyr.core.redaction import redact_text
from fyr.core.status import RolloutVerdict, StatusThresholds
from fyr.db import repositories as repo
from fyr.db.base import utcnow
from fyr.db.engine import Database
from fyr.errors import DatabaseConflict
from fyr.models.rollout import Rollout, RolloutStatus
from fyr.runtime import Backoff, run_loop
from fyr.services.watcher.k8s import EventType, JsonObj, Kind, KindWatcher, WatchScope, WatchTimeouts, scopes
from fyr.services.watcher.logic import ClusterIndex, DeploymentRef
from fyr.settings import Settings

CONFLICT_RETRIES = 5  # immediate re-runs of a batch that lost a deadlock, before the loop backs off
log = structlog.get_logger()

Persisted = tuple[int, RolloutStatus]  # (generation, status) as the database has it
MAX_PENDING_PER_DEPLOYMENT = 16


@dataclass
class WatcherHealth:
    """Readiness facts for /readyz: every stream listed once; counters for logs and benchmarks."""

    expected_scopes: int = 0
    synced: set[str] = field(default_factory=set)
    lists: int = 0  # completed (re)lists over all streams
    events: int = 0  # objects delivered by lists and watches
    written: int = 0  # rollout rows inserted or moved

    def is_synced(self) -> bool:
        return self.expected_scopes > 0 and len(self.synced) >= self.expected_scopes

    def mark_synced(self, scope: WatchScope) -> None:
        self.synced.add(str(scope))
        self.lists += 1


@dataclass(frozen=True)
class _Write:
    verdict: RolloutVerdict
    annotations: dict[str, str]
    seen_at: datetime
    seen_monotonic: float


class RolloutRecorder:
    """Index → verdicts → transitions in the database, written only when a verdict changes."""

    def __init__(self, *, index: ClusterIndex, db: Database, cluster: str, thresholds: StatusThresholds,
                 wake: Callable[[], None] | None = None, batch_size: int = 200,
                 health: WatcherHealth | None = None,
                 on_failed: Callable[[DeploymentRef, RolloutVerdict, float], None] | None = None,
                 sync_grace_seconds: float = 120.0) -> None:
        self.index = index
        self.db = db
        self.cluster = cluster
        self.thresholds = thresholds
        self.wake = wake
        self.batch_size = batch_size
        self.health = health or WatcherHealth()
        self.on_failed = on_failed  # benchmark hook: (ref, verdict, monotonic time the change was seen)
        self.wakeup = asyncio.Event()
        self.dirty: set[DeploymentRef] = set()
        self.queued: dict[DeploymentRef, Persisted] = {}  # last verdict put in `pending`
        self.pending: dict[DeploymentRef, list[_Write]] = {}
        self.persisted: dict[DeploymentRef, Persisted] = {}
        self.urgent: set[DeploymentRef] = set()  # a FAILED is pending: written before anything else
        self.primed = False
        self.started = time.monotonic()
        self.sync_grace_seconds = sync_grace_seconds
        self._grace_logged = False

    # --- fed by the watch streams (synchronous, cheap) ----------------------------------------
    def on_change(self, kind: Kind, event_type: EventType, obj: JsonObj) -> None:
        self.health.events += 1
        if kind == "Deployment":
            ref = (str(obj["metadata"].get("namespace", "")), str(obj["metadata"].get("name", "")))
            if ref in self.dirty and self._generation(ref) != obj["metadata"].get("generation"):
                # Evaluation is coalesced, but the last state of a generation must be decided before
                # the next generation replaces it (a catch-up after a dropped stream brings both at once).
                self.dirty.discard(ref)
                self._evaluate(ref, utcnow(), time.monotonic())
        affected = self.index.apply(kind, event_type, obj)
        if affected:
            self.dirty |= affected
            self.wakeup.set()

    def on_synced(self, scope: WatchScope) -> None:
        self.health.mark_synced(scope)
        self.wakeup.set()

    def _generation(self, ref: DeploymentRef) -> object:
        compact = self.index.deployment(ref)
        return compact["metadata"].get("generation") if compact is not None else None

    def evaluate_dirty(self, now: datetime | None = None) -> int:
        """Re-decide the dirty Deployments; queue a write where the verdict changed. Returns how many."""
        if not self.dirty:
            return 0
        now = now or utcnow()
        mono = time.monotonic()
        dirty, self.dirty = self.dirty, set()
        return sum(self._evaluate(ref, now, mono) for ref in dirty)

    def _evaluate(self, ref: DeploymentRef, now: datetime, mono: float) -> int:
        verdict = self.index.evaluate(ref, thresholds=self.thresholds, now=now)
        if verdict is None:  # deleted: forget it (writes already pending still go out)
            self.queued.pop(ref, None)
            self.persisted.pop(ref, None)
            return 0
        state = (verdict.generation, verdict.status)
        if self.queued.get(ref) == state:
            return 0
        self.queued[ref] = state
        writes = self.pending.setdefault(ref, [])
        writes.append(_Write(verdict, self.index.annotations(ref), now, mono))
        if verdict.status == RolloutStatus.FAILED:
            self.urgent.add(ref)
        if len(writes) > MAX_PENDING_PER_DEPLOYMENT:
            # A long database outage with a flapping rollout: keep the first and the newest.
            del writes[1:-MAX_PENDING_PER_DEPLOYMENT + 1]
        return 1

    # --- database side ------------------------------------------------------------------------
    async def prime(self) -> None:
        """Read what the database already has (newest generation per Deployment of this cluster)."""
        newest = (
            select(Rollout.namespace, Rollout.deployment, func.max(Rollout.generation).label("g"))
            .where(Rollout.cluster == self.cluster)
            .group_by(Rollout.namespace, Rollout.deployment)
            .subquery()
        )
        stmt = select(Rollout.namespace, Rollout.deployment, Rollout.generation, Rollout.status).join(
            newest,
            and_(Rollout.namespace == newest.c.namespace, Rollout.deployment == newest.c.deployment,
                 Rollout.generation == newest.c.g),
        ).where(Rollout.cluster == self.cluster)
        async with self.db.session() as s:
            rows = (await s.execute(stmt)).all()
        self.persisted = {(ns, name): (gen, RolloutStatus(status)) for ns, name, gen, status in rows}
        self.primed = True
        log.info("watcher_primed", deployments=len(self.persisted))

    async def flush(self) -> int:
        """Write pending transitions in batches, in order; on a database error nothing is dropped."""
        written = conflicts = 0
        while self.pending:
            # Failures first: on a first start thousands of healthy rollouts are recorded, and a crash
            # loop found meanwhile must not wait behind them.
            refs = [r for r in self.urgent if r in self.pending][: self.batch_size]
            refs += [r for r in islice(self.pending, self.batch_size) if r not in self.urgent][
                : self.batch_size - len(refs)]
            self.urgent.difference_update(refs)
            batch = {ref: self.pending.pop(ref) for ref in refs}
            done = False
            try:
                written += await self._write_batch(batch)
                done = True
            except DatabaseConflict:
                # A deadlock with a webhook transaction (MySQL picks a victim): the batch goes back
                # below and is simply run again at once; only a persistent conflict reaches the loop.
                conflicts += 1
                if conflicts > CONFLICT_RETRIES:
                    raise
                await asyncio.sleep(random.uniform(0.005, 0.05))
            finally:
                if not done:
                    # Put the batch back in front of anything queued meanwhile, order kept.
                    rest = self.pending
                    self.pending = dict(batch)
                    for ref, writes in rest.items():
                        self.pending.setdefault(ref, []).extend(writes)
                    self.urgent |= {r for r, ws in batch.items()
                                    if any(w.verdict.status == RolloutStatus.FAILED for w in ws)}
        return written

    async def _write_batch(self, batch: dict[DeploymentRef, list[_Write]]) -> int:
        staged: dict[DeploymentRef, Persisted] = {}
        failed: list[tuple[DeploymentRef, _Write]] = []
        written = 0
        async with self.db.session() as s:
            for ref, writes in batch.items():
                for w in writes:
                    state = await self._write_one(s, ref, w, staged.get(ref, self.persisted.get(ref)))
                    if state is None:
                        continue
                    if state[1] == RolloutStatus.FAILED and staged.get(ref, self.persisted.get(ref)) != state:
                        failed.append((ref, w))
                    staged[ref] = state
                    written += 1
        # Committed: only now does our picture of the database move.
        self.persisted.update(staged)
        self.health.written += written
        for ref, w in failed:
            log.info("rollout_failed", cluster=self.cluster, namespace=ref[0], deployment=ref[1],
                     generation=w.verdict.generation, reason=w.verdict.reason, pod=w.verdict.decisive_pod)
            if self.on_failed is not None:
                self.on_failed(ref, w.verdict, w.seen_monotonic)
        if failed and self.wake is not None:
            self.wake()
        return written

    async def _write_one(self, s: AsyncSession, ref: DeploymentRef, w: _Write,
                         known: Persisted | None) -> Persisted | None:
        v = w.verdict
        if known is not None:
            if v.generation < known[0] or known == (v.generation, v.status):
                return None
            if known[0] == v.generation and not repo.can_transition(known[1], v.status):
                # e.g. SUCCESS -> ROLLING_OUT when a pod dies later: the rollout itself is done.
                log.debug("rollout_transition_skipped", namespace=ref[0], deployment=ref[1],
                          generation=v.generation, status=known[1], verdict=v.status)
                return None
        key = repo.RolloutKey(self.cluster, ref[0], ref[1], v.generation)
        row = await repo.record_generation(s, key, status=RolloutStatus.PENDING, revision=v.revision,
                                           image=v.image, started_at=w.seen_at, annotations=w.annotations)
        if known is not None and known[0] != v.generation:
            # `known` None: the database holds no row of this Deployment (see prime), nothing to supersede.
            await repo.supersede_older(s, key, at=w.seen_at)
        current = RolloutStatus(row.status)
        if current != v.status and repo.can_transition(current, v.status):
            # the message is stored and posted: kubelet/condition texts may carry credentials (pull URLs)
            message = redact_text(v.message) if v.message else v.message
            await repo.transition(s, row, v.status, reason=v.reason, message=message, at=w.seen_at)
            current = v.status
        return (v.generation, current)

    # --- the loop step ------------------------------------------------------------------------
    async def step(self) -> float:
        """Evaluate what changed and write it; the idle time until the next step is returned."""
        if not self.primed:
            await self.prime()
        if not self.health.is_synced():
            # Until every stream is listed a verdict would rest on half the objects (a Deployment
            # without its pods yet): wait, the last list wakes us. A stream that cannot list at all
            # (RBAC on events, say) must not silence the watcher: after a grace period, go on.
            waited = time.monotonic() - self.started
            if waited < self.sync_grace_seconds:
                return min(30.0, self.sync_grace_seconds - waited)
            if not self._grace_logged:
                self._grace_logged = True
                log.warning("watcher_deciding_before_full_sync", synced=sorted(self.health.synced),
                            expected=self.health.expected_scopes)
        self.evaluate_dirty()
        await self.flush()
        if self.thresholds.pending_fail_seconds is not None:
            # Time-based rules need a look even without events.
            self.dirty |= set(self.index.refs())
            return min(5.0, self.thresholds.pending_fail_seconds / 2)
        return 30.0


def thresholds_from(settings: Settings) -> StatusThresholds:
    return StatusThresholds.from_settings(settings)


async def run_watcher(
    *,
    settings: Settings,
    db: Database,
    stop: asyncio.Event,
    wake: Callable[[], None] | None = None,
    health: WatcherHealth | None = None,
    recorder: RolloutRecorder | None = None,
) -> None:
    """Run until `stop`: one list/watch loop per kind (and namespace) plus the recorder loop.

    The API server or the database going away is retried with backoff inside the loops; only a
    configuration error (no usable kubeconfig) ends this coroutine.
    """
    health = recorder.health if recorder is not None else (health or WatcherHealth())
    recorder = recorder or RolloutRecorder(index=ClusterIndex(), db=db, cluster=settings.cluster_name,
                                           thresholds=thresholds_from(settings), wake=wake, health=health)
    timeouts = WatchTimeouts(server_seconds=settings.watch_timeout_seconds,
                             inactivity_seconds=settings.watch_inactivity_seconds,
                             page_size=settings.watch_page_size)
    api = await make_api_client(kubeconfig=settings.kubeconfig)
    try:
        targets = scopes(settings.watch_namespaces, settings.watch_label_selector)
        health.expected_scopes = len(targets)
        watchers = [KindWatcher(api, scope, recorder.on_change, timeouts=timeouts, on_synced=recorder.on_synced)
                    for scope in targets]
        log.info("watcher_starting", cluster=settings.cluster_name, scopes=[str(t) for t in targets])
        async with asyncio.TaskGroup() as tg:
            streams = [tg.create_task(run_loop(f"watch_{w.scope.kind.lower()}", w.round, stop=stop,
                                               backoff=Backoff(initial=0.5, maximum=5.0)))
                       for w in watchers]
            tg.create_task(run_loop("watcher_record", recorder.step, stop=stop, wakeup=recorder.wakeup,
                                    backoff=Backoff(initial=0.5, maximum=5.0)))
            tg.create_task(_end_streams_on_stop(stop, streams))
    finally:
        await api.close()


async def _end_streams_on_stop(stop: asyncio.Event, streams: list[asyncio.Task[None]]) -> None:
    """A watch blocks in a read until the server's timeout; on stop, cancel it (it holds nothing)."""
    await stop.wait()
    for task in streams:
        task.cancel()
