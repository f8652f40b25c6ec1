"""The watcher service end to end: simulated cluster → real client → index → SQLite rows."""

from __future__ import annotations

import asyncio
import time

import pytest

from fyr.db.base import utcnow
from fyr.models.rollout import AnalysisStatus, RolloutStatus
from fyr.simcluster.server import SimCluster

from .conftest import deployment, rows, wait_for_status

pytestmark = pytest.mark.timeout(60)
S = RolloutStatus


async def test_good_rollout_succeeds(sim, watcher, database):
    d = deployment(sim)
    d.rollout()
    await wait_for_status(database, "api", 1, S.ROLLING_OUT)
    d.become_ready()
    row, _ = await wait_for_status(database, "api", 1, S.SUCCESS)
    assert row.completed_at is not None and row.failed_at is None
    assert row.gitlab_app == "acme-api" and row.image == "registry.example.com/acme/api:1.0"
    assert row.revision == 1


async def test_crashloop_fails_rollout_within_a_second_of_the_third_restart(sim, watcher, database):
    d = deployment(sim)
    d.rollout()
    d.become_ready()
    await wait_for_status(database, "api", 1, S.SUCCESS)
    d.rollout(image="registry.example.com/acme/api:2.0")
    d.crash_loop(restarts=2, previous_log="panic: config missing\n")
    await wait_for_status(database, "api", 2, S.ROLLING_OUT)
    await asyncio.sleep(0.3)
    assert (await rows(database, "api"))[1].status == S.ROLLING_OUT  # two restarts are not decisive
    d.restart(previous_log="panic: config missing\n")  # the third restart's pod update
    row, latency = await wait_for_status(database, "api", 2, S.FAILED, within=3.0)
    print(f"crashloop detection latency: {latency * 1000:.0f} ms")
    assert row.failure_reason == "CrashLoopBackOff"
    assert row.analysis_status == AnalysisStatus.PENDING and row.failed_at is not None
    assert watcher.wakes, "a committed FAILED wakes the analyzer"
    first = (await rows(database, "api"))[0]
    assert first.status == S.SUCCESS  # a finished generation is never superseded


async def test_progress_deadline_fails_rollout(sim, watcher, database):
    d = deployment(sim)
    d.rollout()
    d.unschedulable()  # not decisive on its own: capacity may still arrive
    await wait_for_status(database, "api", 1, S.ROLLING_OUT)
    await asyncio.sleep(0.3)
    assert (await rows(database, "api"))[0].status == S.ROLLING_OUT
    d.progress_deadline_exceeded()
    row, _ = await wait_for_status(database, "api", 1, S.FAILED)
    assert row.failure_reason == "ProgressDeadlineExceeded"


async def test_newer_generation_supersedes_an_unfinished_one(sim, watcher, database):
    d = deployment(sim)
    d.rollout()
    await wait_for_status(database, "api", 1, S.ROLLING_OUT)
    d.rollout(image="registry.example.com/acme/api:1.1")
    d.become_ready()
    await wait_for_status(database, "api", 2, S.SUCCESS)
    await wait_for_status(database, "api", 1, S.SUPERSEDED)


async def test_status_churn_writes_nothing_once_the_verdict_is_recorded(sim, watcher, database):
    d = deployment(sim)
    d.rollout()
    d.become_ready()
    await wait_for_status(database, "api", 1, S.SUCCESS)
    written = watcher.health.written
    for _ in range(20):  # events and pod updates that change no verdict
        d.event(d.pod(), "Pulled", 'Container image "x" already present on machine')
        p = d.pod()
        p["status"]["podIP"] = f"10.0.0.{_}"
        sim.apply(p)
    await asyncio.sleep(0.3)
    assert watcher.health.written == written


async def test_dropped_streams_and_410_gone_miss_no_transition_and_duplicate_nothing(sim, watcher, database):
    names = [f"svc{i}" for i in range(6)]
    deps = {n: deployment(sim, n) for n in names}
    for d in deps.values():
        d.rollout()
        d.become_ready()
    stop_chaos = asyncio.Event()

    async def chaos() -> None:
        i = 0
        while not stop_chaos.is_set():  # a stream dropped every 0.4 s, cleanly or abruptly
            await asyncio.sleep(0.4)
            sim.cut_watches(abrupt=bool(i % 2))
            i += 1

    chaos_task = asyncio.create_task(chaos())
    expected: dict[tuple[str, int], RolloutStatus] = {}
    for step in range(4):  # four more generations each, failing or succeeding, while streams drop
        if step == 2:
            sim.cut_watches(abrupt=True)
            sim.compact()  # the streams come back with a version that is gone: 410, relist
        for i, (name, d) in enumerate(deps.items()):
            d.rollout(image=f"registry.example.com/acme/x:{step + 2}")
            outcome = (i + step) % 3
            if outcome == 0:
                d.crash_loop(restarts=3)
            elif outcome == 1:
                d.image_pull_error(kind="not_found")
            else:
                d.become_ready()
            expected[(name, step + 2)] = [S.FAILED, S.FAILED, S.SUCCESS][outcome]
        await asyncio.sleep(1.2)  # each outcome stands a while, as in a real cluster
    stop_chaos.set()
    await chaos_task
    for (name, generation), want in expected.items():
        await wait_for_status(database, name, generation, want, within=10)
    assert watcher.health.lists > 4, "the 410 must have forced relists"
    all_rows = await rows(database)
    keys = [(r.deployment, r.generation) for r in all_rows]
    assert len(keys) == len(set(keys)) == len(names) * 5
    failed = [r for r in all_rows if r.status == S.FAILED]
    assert all(r.failed_at and r.failure_reason in ("CrashLoopBackOff", "ImagePullBackOff") for r in failed)


async def test_restarted_watcher_rederives_state_and_creates_nothing_twice(sim, database, watcher_factory):
    d = deployment(sim)
    d.rollout()
    d.become_ready()
    d.rollout(image="registry.example.com/acme/api:2.0")
    first = await watcher_factory()
    await first.synced()
    await wait_for_status(database, "api", 2, S.ROLLING_OUT)
    await first.shutdown()
    before = {(r.generation, r.status, r.id) for r in await rows(database)}

    d.crash_loop(restarts=3)  # fails while nobody watches
    second = await watcher_factory()
    await second.synced()
    row, _ = await wait_for_status(database, "api", 2, S.FAILED)
    after = await rows(database)
    assert [(r.generation, r.id) for r in after] == sorted((g, i) for g, _, i in before)
    assert second.health.written == 1, "only the one new transition is written"
    assert row.failure_reason == "CrashLoopBackOff"


async def test_api_server_outage_is_survived_without_help(sim, watcher, database):
    d = deployment(sim)
    d.rollout()
    await wait_for_status(database, "api", 1, S.ROLLING_OUT)
    await sim.set_unavailable(2.0, refuse=True)  # the API server process is gone for a while
    d.crash_loop(restarts=3)  # the cluster goes on meanwhile
    await asyncio.sleep(1.0)
    assert (await rows(database, "api"))[0].status == S.ROLLING_OUT
    await wait_for_status(database, "api", 1, S.FAILED, within=15)
    await sim.set_unavailable(1.5)  # then a 503 phase (API server behind a load balancer)
    d.rollout(image="registry.example.com/acme/api:2.0")
    d.become_ready()
    await wait_for_status(database, "api", 2, S.SUCCESS, within=15)


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_api_server_gone_for_thirty_seconds_is_survived(sim, watcher, database):
    d = deployment(sim)
    d.rollout()
    await wait_for_status(database, "api", 1, S.ROLLING_OUT)
    await sim.set_unavailable(30.0, refuse=True)
    d.missing_secret("db")
    started = time.monotonic()
    await wait_for_status(database, "api", 1, S.FAILED, within=60)
    print(f"recovered {time.monotonic() - started - 30:.1f} s after the API server came back")


async def test_database_outage_loses_no_transition(sim, watcher, database):
    ok, bad = deployment(sim, "ok"), deployment(sim, "bad")
    ok.rollout()
    bad.rollout()
    await wait_for_status(database, "bad", 1, S.ROLLING_OUT)
    database.simulate_outage(2.0)
    outage_started = time.monotonic()
    failed_seen = utcnow()
    bad.crash_loop(restarts=3)
    ok.become_ready()
    await asyncio.sleep(0.3)
    bad.rollout(image="registry.example.com/acme/bad:1.1")  # and a new generation on top
    bad.image_pull_error(kind="denied")
    await wait_for_status(database, "bad", 2, S.FAILED, within=20)
    assert time.monotonic() - outage_started >= 2.0
    await wait_for_status(database, "ok", 1, S.SUCCESS, within=5)
    gen1 = (await rows(database, "bad"))[0]
    # gen 1 failed during the outage; its FAILED is recorded with the time it was seen, and stays
    # FAILED (a finished rollout is not superseded).
    assert gen1.status == S.FAILED and gen1.failure_reason == "CrashLoopBackOff"
    # seen time, not commit time: nothing could be committed before the 2 s outage ended
    assert gen1.failed_at is not None and (gen1.failed_at - failed_seen).total_seconds() < 2.0


async def test_watched_namespaces_and_label_selector(sim: SimCluster, database, watcher_factory):
    w = await watcher_factory(watch_namespaces=["shop", "pay"], watch_label_selector="team=core")
    await w.synced()
    deployment(sim, "a", "shop", labels={"team": "core"}).rollout()
    deployment(sim, "b", "pay", labels={"team": "core"}).rollout()
    deployment(sim, "c", "shop", labels={"team": "other"}).rollout()
    deployment(sim, "d", "elsewhere", labels={"team": "core"}).rollout()
    await wait_for_status(database, "a", 1, S.ROLLING_OUT)
    await wait_for_status(database, "b", 1, S.ROLLING_OUT)
    await asyncio.sleep(0.3)
    assert sorted(r.deployment for r in await rows(database)) == ["a", "b"]
