"""`fyr collect NS/KIND/NAME` and `fyr analyze` for StatefulSets and DaemonSets, through the simulated
API server and the real kubernetes_asyncio client."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fyr.core.kubeclient import make_api_client
from fyr.core.status import StatusThresholds
from fyr.models.bundle import RolloutBundle, load_bundle
from fyr.models.rollout import RolloutStatus
from fyr.services.analyzer.collect_sets import collect_workload
from fyr.services.analyzer.offline import parse_target, run_analyze, run_collect
from fyr.services.analyzer.pipeline import analyze_bundle
from fyr.settings import Settings
from fyr.simcluster.server import SimCluster
from fyr.simcluster.sets import DaemonSetSim, StatefulSetSim

pytestmark = pytest.mark.timeout(30)
PG_CRASH = ("2026-12-04 10:00:01 UTC [1] LOG:  starting PostgreSQL 17.2\n"
            "2026-12-04 10:00:01 UTC [1] FATAL:  could not open configuration file "
            "\"/etc/postgresql/extra.conf\": No such file or directory\n")


async def _collect(sim: SimCluster, kind: str, namespace: str, name: str) -> RolloutBundle:
    api = await make_api_client(kubeconfig=sim.kubeconfig_path)
    try:
        return await collect_workload(api, kind=kind, namespace=namespace, name=name, cluster="sim",
                                      tail_lines=2000, limit_bytes=1 << 20)
    finally:
        await api.close()


def _crash_looping_statefulset(sim: SimCluster) -> StatefulSetSim:
    sts = StatefulSetSim(sim, namespace="data", name="pg", image="registry.acme.io/pg:16")
    sts.rollout()
    sts.run_to_completion()
    sts.rollout(image="registry.acme.io/pg:17")
    sts.crash_loop("pg-2", restarts=3, previous_log=PG_CRASH)
    sts.crash_loop("pg-0", restarts=4)  # an old-revision pod in trouble too: not this rollout's cause
    return sts


async def test_statefulset_bundle_carries_revisions_and_keeps_old_pods_apart(sim: SimCluster, tmp_path: Path) -> None:
    sts = _crash_looping_statefulset(sim)
    bundle = await _collect(sim, "StatefulSet", "data", "pg")
    assert bundle.workload_kind == "StatefulSet" and bundle.name == "pg"
    assert [p["metadata"]["name"] for p in bundle.pods] == ["pg-2"]
    assert sorted(p["metadata"]["name"] for p in bundle.old_pods) == ["pg-0", "pg-1"]
    assert {cr["metadata"]["name"] for cr in bundle.controller_revisions} == set(sts.revisions)
    assert any(e.pod == "pg-2" and e.previous and "FATAL" in e.text for e in bundle.logs)
    data = bundle.to_json_dict()
    assert data["apiVersion"] == "fyr/v1" and "workload" in data and "deployment" not in data
    (tmp_path / "b.json").write_text(json.dumps(data))
    again = load_bundle(tmp_path / "b.json")
    assert again.workload_kind == "StatefulSet" and again.old_pods == bundle.old_pods

    result = analyze_bundle(again)
    assert result.verdict.status == RolloutStatus.FAILED and result.verdict.decisive_pod == "pg-2"
    assert result.rules.category.value == "crash_loop"
    assert "StatefulSet data/pg (stuck at ordinal 2)" in result.rules.summary + result.rules.root_cause
    header = result.reduced_context["rollout"]
    assert header["kind"] == "StatefulSet" and header["stuck_ordinal"] == 2
    assert header["update_revision"] == sts.update_revision
    assert any("could not open configuration file" in line for line in result.rules.evidence)


async def test_daemonset_bundle_names_the_failing_nodes(sim: SimCluster) -> None:
    ds = DaemonSetSim(sim, namespace="logging", name="shipper", image="registry.acme.io/shipper:1.0")
    ds.rollout()
    ds.run_to_completion()
    ds.rollout(image="registry.acme.io/shipper:1.1-typo")
    new = next(n for n, p in ds.pods.items() if ds.is_updated(p))
    ds.image_not_found(new)
    bundle = await _collect(sim, "DaemonSet", "logging", "shipper")
    assert [p["metadata"]["name"] for p in bundle.pods] == [new] and len(bundle.old_pods) == 2
    result = analyze_bundle(bundle)
    assert result.verdict.status == RolloutStatus.FAILED and result.rules.category.value == "image_pull"
    header = result.reduced_context["rollout"]
    assert header["kind"] == "DaemonSet" and header["failing_nodes"] == [ds.pods[new]["spec"]["nodeName"]]
    assert result.verdict.message.startswith('daemon set "shipper" failing on node ')
    assert f"DaemonSet logging/shipper (failing on node {ds.pods[new]['spec']['nodeName']})" in result.rules.summary


async def test_fyr_collect_and_analyze_with_a_kind_in_the_target(sim: SimCluster, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    _crash_looping_statefulset(sim)
    settings = Settings(_env_file=None, kubeconfig=sim.kubeconfig_path)  # type: ignore[call-arg]
    out = tmp_path / "pg.json"
    assert await run_collect("data/statefulset/pg", out=out, settings=settings, progress=False) == 0
    code, text = await run_analyze(out, fmt="json", settings=settings)
    assert code == 0
    got = json.loads(text)
    assert got["analysis"]["category"] == "crash_loop"
    assert await run_collect("data/cronjob/pg", out=None, settings=settings, progress=False) == 2
    assert "kind must be deployment, statefulset or daemonset" in capsys.readouterr().err


def test_targets_keep_namespace_slash_name_as_a_deployment() -> None:
    assert parse_target("shop/api") == ("shop", "Deployment", "api")
    assert parse_target("data/sts/pg") == ("data", "StatefulSet", "pg")
    assert parse_target("kube-system/DaemonSet/agent") == ("kube-system", "DaemonSet", "agent")
    for bad in ("shop", "a/b/c/d", "shop//api"):
        with pytest.raises(ValueError):
            parse_target(bad)


_NO_CLASS = 'storageclass.storage.k8s.io "fast-ssd" not found'


def _statefulset_pending_on_an_unbound_claim(sim: SimCluster) -> StatefulSetSim:
    sts = StatefulSetSim(sim, namespace="data", name="pg", image="registry.acme.io/pg:17", replicas=1)
    sts.obj["spec"]["volumeClaimTemplates"] = [
        {"metadata": {"name": "data"}, "spec": {"storageClassName": "fast-ssd", "accessModes": ["ReadWriteOnce"],
                                                "resources": {"requests": {"storage": "10Gi"}}}}]
    sts.rollout()
    sts.unbound_volume("pg-0", at=datetime.now(UTC) - timedelta(minutes=20))
    claim = {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
             "metadata": {"name": "data-pg-0", "uid": "5b0e7a2c-8f1d-4c6e-9a3b-2d7f1e0c4b8a"}}
    sts.event(claim, "ProvisioningFailed", _NO_CLASS, type_="Warning", component="persistentvolume-controller")
    return sts


async def test_statefulset_bundle_carries_the_events_of_the_claims_its_pods_mount(
        sim: SimCluster, tmp_path: Path) -> None:
    _statefulset_pending_on_an_unbound_claim(sim)
    bundle = await _collect(sim, "StatefulSet", "data", "pg")
    claims = [e for e in bundle.events if e["involvedObject"]["kind"] == "PersistentVolumeClaim"]
    assert [(e["involvedObject"]["name"], e["reason"]) for e in claims] == [("data-pg-0", "ProvisioningFailed")]
    # and offline: the bundle file alone names the missing StorageClass
    (tmp_path / "pg.json").write_text(json.dumps(bundle.to_json_dict()))
    result = analyze_bundle(load_bundle(tmp_path / "pg.json"), thresholds=StatusThresholds(pending_fail_seconds=300))
    assert result.verdict.status == RolloutStatus.FAILED and result.verdict.decisive_pod == "pg-0"
    assert result.rules.category.value == "scheduling"
    assert _NO_CLASS in result.rules.summary + result.rules.root_cause
    assert any('"fast-ssd" not found' in e for e in result.rules.evidence)
