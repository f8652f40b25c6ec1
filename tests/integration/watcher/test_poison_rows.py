"""No poison row: a value the database will not store never stops the watcher for the cluster.

Through the simulated cluster and the real watcher, on SQLite and on MariaDB (strict mode, where a
too-long value or an out-of-range number fails the whole transaction).
"""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from fyr.db.bounded import TRUNCATION_MARKER
from fyr.errors import DatabaseUnavailable
from fyr.models.rollout import RolloutStatus
from fyr.services.watcher.main import WatcherHealth

from .conftest import deployment, rows, start_watcher, wait_for_status, watcher_settings

pytestmark = pytest.mark.timeout(60)
S = RolloutStatus
LONG_IMAGE = "registry.example.com/acme/" + "x" * 1_060 + ":1.0"  # 1,090 characters; the column holds 1,024


def _skipped_metric() -> float:
    return REGISTRY.get_sample_value("fyr_watcher_rows_skipped_total") or 0.0


async def test_an_image_longer_than_its_column_is_recorded_truncated_and_nobody_is_held_up(sim, any_database):
    db = any_database
    other = deployment(sim, name="web")
    other.rollout()
    poison = deployment(sim, name="api", image=LONG_IMAGE)
    poison.rollout()
    w = await start_watcher(watcher_settings(sim.kubeconfig_path), db)
    try:
        await w.synced()
        row, _ = await wait_for_status(db, "api", 1, S.ROLLING_OUT, within=10)
        assert row.image is not None and len(row.image) == 1_024 and row.image.endswith(TRUNCATION_MARKER)
        assert row.image.startswith("registry.example.com/acme/xxx")
        other.crash_loop(restarts=3)
        await wait_for_status(db, "web", 1, S.FAILED, within=10)
        poison.crash_loop(restarts=3)
        failed, _ = await wait_for_status(db, "api", 1, S.FAILED, within=10)
        assert failed.image == row.image  # the lookup by key and the update go through the same bound
        assert w.health.skipped == 0 and w.health.writes_ok()
    finally:
        await w.shutdown()


async def test_a_row_the_database_refuses_is_written_alone_logged_counted_and_skipped(sim, any_database):
    db = any_database
    poison = deployment(sim, name="api")
    poison.rollout()
    # A revision no INTEGER column holds (Kubernetes stores annotations as strings): refused by MariaDB
    # ("Out of range value") and by the SQLite driver (int too large) alike, truncation cannot help.
    poison.deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "9" * 25
    poison._apply_deployment()
    healthy = deployment(sim, name="web")
    healthy.rollout()
    before = _skipped_metric()
    w = await start_watcher(watcher_settings(sim.kubeconfig_path), db)
    try:
        await w.synced()
        await wait_for_status(db, "web", 1, S.ROLLING_OUT, within=10)
        healthy.crash_loop(restarts=3)
        await wait_for_status(db, "web", 1, S.FAILED, within=10)
        assert w.health.skipped >= 1
        assert _skipped_metric() >= before + 1
        assert [r.deployment for r in await rows(db)] == ["web"]
        assert w.health.writes_ok(), "a skipped row is not a failing writer"
    finally:
        await w.shutdown()


async def test_readiness_turns_red_only_after_writes_fail_for_longer_than_the_threshold(sim, database):
    d = deployment(sim)
    d.rollout()
    w = await start_watcher(watcher_settings(sim.kubeconfig_path, watcher_write_failure_ready_seconds=1.0),
                            database)
    try:
        await w.synced()
        await wait_for_status(database, "api", 1, S.ROLLING_OUT)
        assert w.health.writes_ok()
        database.simulate_outage(3.0)
        d.crash_loop(restarts=3)
        await asyncio.sleep(0.5)
        assert w.health.failing_since is not None and w.health.writes_ok(), "still within the threshold"
        await asyncio.sleep(1.2)
        assert not w.health.writes_ok(), "failing for longer than the threshold: not ready"
        row, _ = await wait_for_status(database, "api", 1, S.FAILED, within=10)
        assert row.failure_reason == "CrashLoopBackOff"
        assert w.health.writes_ok() and w.health.failing_since is None
    finally:
        await w.shutdown()


def test_write_failure_window_is_measured_from_the_first_failure() -> None:
    h = WatcherHealth(write_failure_ready_seconds=10.0)
    h.write_failed()
    first = h.failing_since
    assert first is not None
    h.write_failed()
    assert h.failing_since == first
    assert h.writes_ok(first + 10.0) and not h.writes_ok(first + 10.1)
    h.write_succeeded()
    assert h.writes_ok(first + 100.0)


async def test_outage_is_not_treated_as_poison(sim, database):
    d = deployment(sim)
    d.rollout()
    w = await start_watcher(watcher_settings(sim.kubeconfig_path), database)
    try:
        await w.synced()
        database.simulate_outage(1.5)
        d.crash_loop(restarts=3)
        with pytest.raises(DatabaseUnavailable):
            async with database.session():
                pass
        row, _ = await wait_for_status(database, "api", 1, S.FAILED, within=10)
        assert row.failure_reason == "CrashLoopBackOff" and w.health.skipped == 0
    finally:
        await w.shutdown()
