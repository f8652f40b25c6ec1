"""The watcher against MariaDB (CI sets FYR_TEST_MYSQL_URL): the same guarantees as on SQLite."""

from __future__ import annotations

import pytest

from fyr.models.rollout import RolloutStatus

from .conftest import deployment, rows, start_watcher, wait_for_status, watcher_settings

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(60)]
S = RolloutStatus


async def test_crashloop_restart_and_outage_on_mariadb(sim, mysql_database):
    db = mysql_database
    d = deployment(sim)
    d.rollout()
    d.become_ready()
    first = await start_watcher(watcher_settings(sim.kubeconfig_path), db)
    try:
        await first.synced()
        await wait_for_status(db, "api", 1, S.SUCCESS)
        d.rollout(image="registry.example.com/acme/api:2.0")
        await wait_for_status(db, "api", 2, S.ROLLING_OUT)
    finally:
        await first.shutdown()
    d.crash_loop(restarts=3)  # while no watcher runs
    second = await start_watcher(watcher_settings(sim.kubeconfig_path), db)
    try:
        await second.synced()
        db.simulate_outage(1.0)
        row, _ = await wait_for_status(db, "api", 2, S.FAILED, within=15)
        assert row.failure_reason == "CrashLoopBackOff"
        assert [(r.generation, r.status) for r in await rows(db)] == [(1, S.SUCCESS), (2, S.FAILED)]
        assert second.health.written == 1
    finally:
        await second.shutdown()
