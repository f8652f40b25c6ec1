"""The analyzer service collecting through the real kubernetes_asyncio client from the simulated cluster."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from fyr.core.kubeclient import make_api_client
from fyr.db.engine import Database
from fyr.models.analysis import Analysis, AnalysisMetric
from fyr.services.analyzer.main import kubernetes_source
from fyr.simcluster.controller import DeploymentSim
from fyr.simcluster.server import SimCluster
from tests.integration.analyzer.conftest import PY_CRASH, llm_settings, seed_failed
from tests.integration.analyzer.test_service import all_analysed, run_until

pytestmark = pytest.mark.timeout(30)

async def test_live_collection_and_a_deleted_deployment_both_end_in_a_stored_analysis(
    database: Database, sim: SimCluster
) -> None:
    d = DeploymentSim(sim, namespace="shop", name="orders", image="registry.acme.io/orders:1.0", replicas=2)
    d.rollout()
    d.become_ready()
    d.rollout(image="registry.acme.io/orders:2.0")
    d.crash_loop(restarts=3, previous_log=PY_CRASH, log="starting orders 2.0\n")
    [live] = await seed_failed(database, 1, deployment="orders", first_generation=2)
    [gone] = await seed_failed(database, 1, deployment="deleted-since", first_generation=1)
    settings = llm_settings(None, kubeconfig=sim.kubeconfig_path)
    source = await kubernetes_source(settings, make_api_client)
    await run_until(database, settings, all_analysed(database, [live, gone]), source=source,
                    registry=CollectorRegistry())
    async with database.session() as s:
        rows = {a.rollout_id: a for a in (await s.execute(select(Analysis))).scalars()}
    assert rows[live].analysis["category"] == "crash_loop"
    assert "KeyError: 'DATABASE_URL'" in " ".join(rows[live].analysis["evidence"])
    assert "collection" not in rows[live].reduced_context
    assert rows[gone].reduced_context["collection"]["status"] == "unavailable"


async def test_an_api_server_outage_is_retried_before_degrading(database: Database, sim: SimCluster) -> None:
    d = DeploymentSim(sim, namespace="shop", name="orders", image="registry.acme.io/orders:1.0", replicas=1)
    d.rollout()
    d.crash_loop(restarts=3, previous_log=PY_CRASH, log="starting orders 1.0\n")
    [rid] = await seed_failed(database, 1, deployment="orders", first_generation=1)
    settings = llm_settings(None, kubeconfig=sim.kubeconfig_path, analysis_retry_base_seconds=0.4,
                            analysis_max_attempts=6)
    await sim.set_unavailable(1.0)  # 503 for one second
    source = await kubernetes_source(settings, make_api_client)
    await run_until(database, settings, all_analysed(database, [rid]), source=source,
                    registry=CollectorRegistry())
    async with database.session() as s:
        [analysis] = (await s.execute(select(Analysis))).scalars().all()
        [metric] = (await s.execute(select(AnalysisMetric))).scalars().all()
    assert metric.attempts >= 2  # the first attempt met the outage and was released
    assert "collection" not in analysis.reduced_context
    assert "KeyError: 'DATABASE_URL'" in " ".join(analysis.analysis["evidence"])
