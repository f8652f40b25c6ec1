"""The watcher service: keep the cluster index current and record every rollout transition.

Why it exists: it connects the three parts of the watcher — the list/watch streams (`k8s.py`), the
in-memory index and status decision (`cluster_index.py`, `fyr.core.status`) and the database — with the
guarantees docs/architecture.md 'Rollout state machine' asks for: a transition is written once, when the verdict of a
Deployment generation changes (not on every watch event); nothing is lost while the database is
down (pending writes are kept, in order, and retried); nothing is written twice after a restart
(the last persisted state is read back first, and the unique key does the rest).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice

import structlog
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fyr.core import rollout_state
from fyr.core.k8s_views import PodView
from fyr.core.kubeclient import make_api_client
from fyr.core.redaction import redact_text
from fyr.core.status import RolloutVerdict, StatusThresholds
from fyr.db import gitlab, rollouts
from fyr.db.base import utcnow
from fyr.db.engine import Database, retry_on_conflict
from fyr.errors import TransientError
from fyr.models.rollout import Rollout, RolloutStatus
from fyr.runtime import Backoff, DatabaseWatch, run_loop, service_backoff
from fyr.services.watcher.cluster_index import WORKLOAD_KINDS, ClusterIndex, EventType, Kind, WorkloadRef
from fyr.services.watcher.k8s import JsonObj, KindWatcher, WatchScope, WatchTimeouts, scopes
from fyr.services.watcher.metrics import watcher_metrics
from fyr.settings import Settings

CONFLICT_RETRIES = 5  # quick re-runs of a batch that lost a deadlock, before the loop backs off
BULK_MIN = 20  # first rows of this many workloads in one batch: one bulk insert instead of a row each
log = structlog.get_logger()

Persisted = tuple[str, int, RolloutStatus]  # (uid, generation, status) as the database has it
MAX_PENDING_PER_DEPLOYMENT = 16


@dataclass
class WatcherHealth:
    """Readiness facts for /readyz: every stream listed once; counters for logs and benchmarks."""

    expected_scopes: int = 0
    synced: set[str] = field(default_factory=set)
    lists: int = 0  # completed (re)lists over all streams
    events: int = 0  # objects delivered by lists and watches
    written: int = 0  # rollout rows inserted or moved
    skipped: int = 0  # writes the database refused even alone (logged with their key, then dropped)
    failing_since: float | None = None  # monotonic time writes started failing; None while they succeed
    write_failure_ready_seconds: float = 60.0

    def is_synced(self) -> bool:
        return self.expected_scopes > 0 and len(self.synced) >= self.expected_scopes

    def mark_synced(self, scope: WatchScope) -> None:
        self.synced.add(str(scope))
        self.lists += 1

    def writes_ok(self, now: float | None = None) -> bool:
        """Readiness: False once writes have been failing for longer than the threshold."""
        if self.failing_since is None:
            return True
        return (now if now is not None else time.monotonic()) - self.failing_since <= self.write_failure_ready_seconds

    def write_failed(self) -> None:
        if self.failing_since is None:
            self.failing_since = time.monotonic()

    def write_succeeded(self) -> None:
        self.failing_since = None


@dataclass(frozen=True)
class _Write:
    verdict: RolloutVerdict | None  # None: the workload was deleted (its open rollouts become DELETED)
    annotations: dict[str, str]
    seen_at: datetime
    seen_monotonic: float
    uid: str = ""


class RolloutRecorder:
    """Index → verdicts → transitions in the database, written only when a verdict changes."""

    def __init__(self, *, index: ClusterIndex, db: Database, cluster: str, thresholds: StatusThresholds,
                 wake: Callable[[], None] | None = None, batch_size: int = 200,
                 health: WatcherHealth | None = None,
                 on_failed: Callable[[WorkloadRef, RolloutVerdict, float], None] | None = None,
                 sync_grace_seconds: float = 120.0,
                 watched: Callable[[WorkloadRef], bool] | None = None) -> None:
        self.index = index
        self.db = db
        self.cluster = cluster
        self.thresholds = thresholds
        self.wake = wake
        self.batch_size = batch_size
        self.health = health or WatcherHealth()
        self.on_failed = on_failed  # benchmark hook: (ref, verdict, monotonic time the change was seen)
        self.wakeup = asyncio.Event()
        self.dirty: set[WorkloadRef] = set()
        self.queued: dict[WorkloadRef, Persisted] = {}  # last verdict put in `pending`
        self.pending: dict[WorkloadRef, list[_Write]] = {}
        self.persisted: dict[WorkloadRef, Persisted] = {}
        self.urgent: set[WorkloadRef] = set()  # a FAILED is pending: written before anything else
        self.primed = False
        self.started = time.monotonic()
        self.sync_grace_seconds = sync_grace_seconds
        self._grace_logged = False
        # Which workloads the streams cover (namespaces); None: no sweep of vanished ones (a label
        # selector narrows the streams in a way the database cannot tell).
        self.watched = watched
        self._swept = False

    # --- fed by the watch streams (synchronous, cheap) ----------------------------------------
    def on_change(self, kind: Kind, event_type: EventType, obj: JsonObj | PodView) -> None:
        self.health.events += 1
        if kind in WORKLOAD_KINDS and not isinstance(obj, PodView):
            ref = (kind, str(obj["metadata"].get("namespace", "")), str(obj["metadata"].get("name", "")))
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

    def _generation(self, ref: WorkloadRef) -> object:
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

    def _evaluate(self, ref: WorkloadRef, now: datetime, mono: float) -> int:
        verdict = self.index.evaluate(ref, thresholds=self.thresholds, now=now)
        if verdict is None:
            # Deleted: its open rollouts are closed as DELETED (after any write already pending).
            known = self.queued.get(ref) or self.persisted.get(ref)
            if known is None or known[2] == RolloutStatus.DELETED:
                return 0
            self.queued[ref] = (known[0], 0, RolloutStatus.DELETED)
            self.pending.setdefault(ref, []).append(_Write(None, {}, now, mono, uid=known[0]))
            return 1
        uid = self.index.uid(ref)
        state = (uid, verdict.generation, verdict.status)
        if self.queued.get(ref) == state:
            return 0
        self.queued[ref] = state
        writes = self.pending.setdefault(ref, [])
        writes.append(_Write(verdict, self.index.annotations(ref), now, mono, uid=uid))
        if verdict.status == RolloutStatus.FAILED:
            self.urgent.add(ref)
        if len(writes) > MAX_PENDING_PER_DEPLOYMENT:
            # A long database outage with a flapping rollout: keep the first and the newest.
            del writes[1:-MAX_PENDING_PER_DEPLOYMENT + 1]
        return 1

    # --- database side ------------------------------------------------------------------------
    async def prime(self) -> None:
        """Read what the database already has: per workload of this cluster, the newest generation of
        its most recently recorded uid."""
        newest = (
            select(Rollout.kind, Rollout.namespace, Rollout.deployment, Rollout.uid,
                   func.max(Rollout.generation).label("g"))
            .where(Rollout.cluster == self.cluster)
            .group_by(Rollout.kind, Rollout.namespace, Rollout.deployment, Rollout.uid)
            .subquery()
        )
        stmt = select(Rollout.kind, Rollout.namespace, Rollout.deployment, Rollout.uid, Rollout.generation,
                      Rollout.status, Rollout.id).join(
            newest,
            and_(Rollout.kind == newest.c.kind, Rollout.namespace == newest.c.namespace,
                 Rollout.deployment == newest.c.deployment, Rollout.uid == newest.c.uid,
                 Rollout.generation == newest.c.g),
        ).where(Rollout.cluster == self.cluster).order_by(Rollout.id)
        async with self.db.session() as s:
            rows = (await s.execute(stmt)).all()
        self.persisted = {(kind, ns, name): (uid, gen, RolloutStatus(status))
                          for kind, ns, name, uid, gen, status, _ in rows}
        self.primed = True
        log.info("watcher_primed", deployments=len(self.persisted))

    async def flush(self) -> int:
        """Write pending transitions in batches, in order; on a database error nothing is dropped.

        A batch the database refuses for a reason other than an outage or a lock conflict (a value
        it will not store, a constraint) is written again one transition at a time: the ones that
        still fail are logged with their key, counted and skipped, so one poison row never holds
        back the rollouts of the rest of the cluster.
        """
        written = 0
        try:
            while self.pending:
                # Failures first: on a first start thousands of healthy rollouts are recorded, and a crash
                # loop found meanwhile must not wait behind them.
                refs = [r for r in self.urgent if r in self.pending][: self.batch_size]
                refs += [r for r in islice(self.pending, self.batch_size) if r not in self.urgent][
                    : self.batch_size - len(refs)]
                self.urgent.difference_update(refs)
                batch = {ref: self.pending.pop(ref) for ref in refs}
                left: dict[WorkloadRef, list[_Write]] = batch
                try:
                    # A deadlock with a webhook transaction (MySQL picks a victim): the batch is run again
                    # at once; only a persistent conflict reaches the loop (the batch goes back below).
                    written += await retry_on_conflict(
                        functools.partial(self._write_batch, batch), attempts=CONFLICT_RETRIES + 1,
                        backoff=Backoff(initial=0.01, maximum=0.05))
                    left = {}
                except TransientError:
                    raise
                except Exception as exc:  # noqa: BLE001 - refused, not unavailable: find the poison row alone
                    log.warning("watcher_batch_refused", cluster=self.cluster, rollouts=len(batch),
                                error_type=type(exc).__name__, error=_short(exc))
                    written += await self._write_alone(batch, left)
                finally:
                    if left:
                        self._put_back(left)
        except BaseException:
            self.health.write_failed()
            raise
        self.health.write_succeeded()
        return written

    def _put_back(self, batch: dict[WorkloadRef, list[_Write]]) -> None:
        """Put writes back in front of anything queued meanwhile, order kept."""
        rest = self.pending
        self.pending = dict(batch)
        for ref, writes in rest.items():
            self.pending.setdefault(ref, []).extend(writes)
        self.urgent |= {r for r, ws in batch.items()
                        if any(w.verdict is not None and w.verdict.status == RolloutStatus.FAILED for w in ws)}

    async def _write_alone(self, batch: dict[WorkloadRef, list[_Write]],
                           left: dict[WorkloadRef, list[_Write]]) -> int:
        """Each transition of `batch` in its own transaction; `left` keeps what is not done yet, so a
        transient error (raised) leaves it to be put back. A transition refused alone is skipped."""
        written = 0
        for ref in list(batch):
            while left.get(ref):
                w = left[ref][0]
                try:
                    written += await self._write_batch({ref: [w]})
                except TransientError:
                    raise
                except Exception as exc:  # noqa: BLE001 - this transition is the poison: log its key, skip it
                    self.health.skipped += 1
                    watcher_metrics().rows_skipped.inc()
                    log.error("rollout_write_skipped", cluster=self.cluster, kind=ref[0], namespace=ref[1], name=ref[2],
                              generation=w.verdict.generation if w.verdict else None,
                              status=str(w.verdict.status) if w.verdict else "DELETED",
                              error_type=type(exc).__name__, error=_short(exc))
                left[ref].pop(0)
            left.pop(ref, None)
        return written

    async def _write_batch(self, batch: dict[WorkloadRef, list[_Write]]) -> int:
        staged: dict[WorkloadRef, Persisted] = {}
        failed: list[tuple[WorkloadRef, RolloutVerdict, float]] = []
        written = 0
        async with self.db.session() as s:
            written += await self._bulk_fresh(s, batch, staged, failed)
            for ref, writes in batch.items():
                if ref in staged:
                    continue
                for w in writes:
                    state = await self._write_one(s, ref, w, staged.get(ref, self.persisted.get(ref)))
                    if state is None:
                        continue
                    if w.verdict is not None and state[2] == RolloutStatus.FAILED \
                            and staged.get(ref, self.persisted.get(ref)) != state:
                        failed.append((ref, w.verdict, w.seen_monotonic))
                    staged[ref] = state
                    written += 1
        # Committed: only now does our picture of the database move.
        self.persisted.update(staged)
        self.health.written += written
        for ref, verdict, seen in failed:
            log.info("rollout_failed", cluster=self.cluster, kind=ref[0], namespace=ref[1], name=ref[2],
                     generation=verdict.generation, reason=verdict.reason, pod=verdict.decisive_pod)
            if self.on_failed is not None:
                self.on_failed(ref, verdict, seen)
        if failed and self.wake is not None:
            self.wake()
        return written

    def sweep_vanished(self) -> int:
        """After the first full list: open rollouts (as primed from the database) of workloads the
        cluster no longer has were deleted while no watcher ran; they are closed as DELETED."""
        if self.watched is None:
            return 0
        now, mono, n = utcnow(), time.monotonic(), 0
        for ref, (uid, _gen, status) in list(self.persisted.items()):
            if status in rollout_state.OPEN and ref not in self.index and self.watched(ref) and ref not in self.queued:
                self.queued[ref] = (uid, 0, RolloutStatus.DELETED)
                self.pending.setdefault(ref, []).append(_Write(None, {}, now, mono, uid=uid))
                n += 1
        if n:
            log.info("watcher_vanished_workloads", count=n)
        return n

    async def _bulk_fresh(self, s: AsyncSession, batch: dict[WorkloadRef, list[_Write]],
                          staged: dict[WorkloadRef, Persisted],
                          failed: list[tuple[WorkloadRef, RolloutVerdict, float]]) -> int:
        """A first sync records thousands of workloads the database has never seen: their rows go in
        with one insert per batch (each in its final status) when no row of theirs exists and no GitLab
        metadata is staged; anything else takes the row-by-row path."""
        fresh = {ref: ws[0] for ref, ws in batch.items()
                 if len(ws) == 1 and ws[0].verdict is not None and self.persisted.get(ref) is None}
        if len(fresh) < BULK_MIN or not await gitlab.nothing_staged(s):
            return 0
        for ref in await rollouts.workloads_with_rows(s, self.cluster, list(fresh)):
            del fresh[ref]
        rows = []
        for ref, w in fresh.items():
            v = w.verdict
            assert v is not None
            key = rollouts.RolloutKey(self.cluster, ref[1], ref[2], v.generation, kind=ref[0], uid=w.uid)
            rows.append(rollouts.new_rollout(key, status=v.status, at=w.seen_at, revision=v.revision, image=v.image,
                                         annotations=w.annotations, reason=v.reason, message=v.message))
            staged[ref] = (w.uid, v.generation, v.status)
            if v.status == RolloutStatus.FAILED:
                failed.append((ref, v, w.seen_monotonic))
        await rollouts.insert_rollouts(s, rows)
        return len(rows)

    async def _write_one(self, s: AsyncSession, ref: WorkloadRef, w: _Write,
                         known: Persisted | None) -> Persisted | None:
        kind, namespace, name = ref
        v = w.verdict
        if v is None:
            closed = await rollouts.close_deleted(s, self.cluster, kind, namespace, name, uids=[w.uid, ""],
                                                  at=w.seen_at)
            log.info("rollout_workload_deleted", cluster=self.cluster, kind=kind, namespace=namespace,
                     name=name, uid=w.uid, closed=len(closed))
            return (w.uid, 0, RolloutStatus.DELETED)
        predecessor = known is not None and known[0] not in (w.uid, "")  # "": a row from before uids
        if predecessor:
            known = None  # another workload of the same name: its history is not this one's
        if known is not None:
            if v.generation < known[1] or known == (w.uid, v.generation, v.status):
                return None
            if known[1] == v.generation and rollout_state.next_status(known[2], v.status) is None:
                # e.g. SUCCESS -> ROLLING_OUT when a pod dies later: the rollout itself is done.
                log.debug("rollout_transition_skipped", kind=kind, namespace=namespace, name=name,
                          generation=v.generation, status=known[2], verdict=v.status)
                return None
        key = rollouts.RolloutKey(self.cluster, namespace, name, v.generation, kind=kind, uid=w.uid)
        row, inserted = await rollouts.record_generation(s, key, status=RolloutStatus.PENDING, revision=v.revision,
                                                         image=v.image, started_at=w.seen_at,
                                                         annotations=w.annotations)
        if inserted:
            # A new rollout: GitLab metadata staged before it existed joins it, and the messages of the
            # older generations still failing say it superseded them.
            await gitlab.attach_staged(s, row)
            await rollouts.update_older_failures(s, row)
        if known is not None and known[1] != v.generation:
            # `known` None: the database holds no row of this workload (see prime), nothing to supersede.
            await rollouts.supersede_older(s, key, at=w.seen_at)
        if predecessor:
            # Deleted and re-created under the same name while we did not watch: close what it left open.
            await rollouts.close_deleted(s, self.cluster, kind, namespace, name, except_uids=[w.uid, ""],
                                         at=w.seen_at)
        current = RolloutStatus(row.status)
        move = rollout_state.next_status(current, v.status)
        if move is not None:
            # the message is stored and posted: kubelet/condition texts may carry credentials (pull URLs)
            message = redact_text(v.message) if v.message else v.message
            await rollouts.transition(s, row, move, reason=v.reason, message=message, at=w.seen_at)
            current = move
        return (w.uid, v.generation, current)

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
        first_sync = not self._swept and self.health.is_synced()
        if first_sync:
            self._swept = True
            self.sweep_vanished()
        self.evaluate_dirty()
        await self.flush()
        if first_sync:
            # The index now holds the cluster (150,000 pods: millions of objects that live as long as
            # the process); the lists froze it (k8s.collector_paused), and this freezes what the first
            # evaluation and writes kept. Out of the collector's generations, a full collection no
            # longer walks them while watch events are handled; they are freed by reference counting.
            gc.collect()
            gc.freeze()
        if self.thresholds.pending_fail_seconds is not None:
            # Time-based rules need a look even without events.
            self.dirty |= set(self.index.refs())
            return min(5.0, self.thresholds.pending_fail_seconds / 2)
        return 30.0


def _short(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).splitlines()[0][:200] if str(orig) else type(exc).__name__


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
    db_watch: DatabaseWatch | None = None,
) -> None:
    """Run until `stop`: one list/watch loop per kind (and namespace) plus the recorder loop.

    The API server or the database going away is retried with backoff inside the loops; only a
    configuration error (no usable kubeconfig) ends this coroutine.
    """
    health = recorder.health if recorder is not None else (health or WatcherHealth())
    health.write_failure_ready_seconds = settings.watcher_write_failure_ready_seconds
    recorder = recorder or RolloutRecorder(index=ClusterIndex(), db=db, cluster=settings.cluster_name,
                                           thresholds=thresholds_from(settings), wake=wake, health=health)
    if recorder.watched is None and not settings.watch_label_selector:
        namespaces = frozenset(settings.watch_namespaces)
        recorder.watched = (lambda ref: ref[1] in namespaces) if namespaces else (lambda ref: True)
    timeouts = WatchTimeouts(server_seconds=settings.watch_timeout_seconds,
                             inactivity_seconds=settings.watch_inactivity_seconds,
                             page_size=settings.watch_page_size)
    api = await make_api_client(kubeconfig=settings.kubeconfig, context=settings.kube_context)
    try:
        targets = scopes(settings.watch_namespaces, settings.watch_label_selector)
        health.expected_scopes = len(targets)
        watchers = [KindWatcher(api, scope, recorder.on_change, timeouts=timeouts, on_synced=recorder.on_synced,
                                pod_views=True)
                    for scope in targets]
        log.info("watcher_starting", cluster=settings.cluster_name, scopes=[str(t) for t in targets])
        async with asyncio.TaskGroup() as tg:
            streams = [tg.create_task(run_loop(f"watch_{w.scope.kind.lower()}", w.round, stop=stop,
                                               backoff=Backoff(initial=0.5, maximum=5.0)))
                       for w in watchers]
            if db_watch is not None:
                db_watch.on_back(recorder.wakeup.set)
            tg.create_task(run_loop("watcher_record", recorder.step, stop=stop, wakeup=recorder.wakeup,
                                    backoff=service_backoff(), db_watch=db_watch))
            tg.create_task(_end_streams_on_stop(stop, streams))
    finally:
        await api.close()


async def _end_streams_on_stop(stop: asyncio.Event, streams: list[asyncio.Task[None]]) -> None:
    """A watch blocks in a read until the server's timeout; on stop, cancel it (it holds nothing)."""
    await stop.wait()
    for task in streams:
        task.cancel()
