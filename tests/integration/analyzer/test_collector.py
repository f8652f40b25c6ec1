"""The collector against the simulated API server, driven by the real kubernetes_asyncio client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fyr.core.kubeclient import make_api_client
from fyr.errors import PermanentError
from fyr.models.bundle import RolloutBundle, dump_bundle, load_bundle
from fyr.services.analyzer.collector import collect_bundle
from fyr.services.analyzer.offline import run_analyze, run_collect
from fyr.services.analyzer.pipeline import analyze_bundle
from fyr.settings import Settings
from fyr.simcluster.controller import DeploymentSim
from fyr.simcluster.server import SimCluster
from tests.integration.analyzer.conftest import PY_CRASH

pytestmark = pytest.mark.timeout(30)

async def _collect(sim: SimCluster, deployment: str = "orders", **kw: int) -> RolloutBundle:
    api = await make_api_client(kubeconfig=sim.kubeconfig_path)
    try:
        return await collect_bundle(api, namespace="shop", deployment=deployment, cluster="sim",
                                    tail_lines=kw.get("tail_lines", 2000),
                                    limit_bytes=kw.get("limit_bytes", 1 << 20))
    finally:
        await api.close()


def _crash_looping(sim: SimCluster) -> DeploymentSim:
    d = DeploymentSim(sim, namespace="shop", name="orders", image="registry.acme.io/orders:1.0", replicas=2)
    d.rollout()
    d.become_ready()
    for p in d.pods_of():
        sim.set_log("shop", p["metadata"]["name"], "app", "old version serving\n")
    d.rollout(image="registry.acme.io/orders:2.0")
    d.crash_loop(restarts=3, previous_log=PY_CRASH, log="starting orders 2.0\n")
    return d


async def test_collects_new_and_previous_replicaset_pods_events_and_logs(sim: SimCluster) -> None:
    d = _crash_looping(sim)
    bundle = await _collect(sim)

    assert bundle.deployment["metadata"]["name"] == "orders"
    rs_names = [rs["metadata"]["name"] for rs in bundle.replicasets]
    assert rs_names[0] == d.new_rs and len(rs_names) == 2
    pod_names = {p["metadata"]["name"] for p in bundle.pods}
    assert pod_names == {p["metadata"]["name"] for p in d.pods_of()}  # only the new ReplicaSet's pods
    assert all(p["kind"] == "Pod" for p in bundle.pods)
    reasons = {e["reason"] for e in bundle.events}
    assert "BackOff" in reasons and "ScalingReplicaSet" in reasons
    crashed = d.pod(0)["metadata"]["name"]
    by_key = {(lg.pod, lg.container, lg.previous): lg.text for lg in bundle.logs}
    assert "KeyError: 'DATABASE_URL'" in by_key[(crashed, "app", True)]
    assert by_key[(crashed, "app", False)] == "starting orders 2.0\n"
    assert not any("old version serving" in t for t in by_key.values())


async def test_collected_bundle_round_trips_and_analyzes_as_crash_loop(sim: SimCluster, tmp_path: Path) -> None:
    _crash_looping(sim)
    bundle = await _collect(sim)
    path = tmp_path / "bundle.json"
    dump_bundle(bundle, path)
    again = load_bundle(path)
    result = analyze_bundle(again)
    assert result.verdict.status.value == "FAILED"
    assert result.rules.category.value == "crash_loop"
    assert any("KeyError: 'DATABASE_URL'" in e for e in result.rules.evidence)


async def test_logs_are_bounded_by_tail_lines_and_limit_bytes(sim: SimCluster) -> None:
    d = _crash_looping(sim)
    crashed = d.pod(0)["metadata"]["name"]
    sim.set_log("shop", crashed, "app", "".join(f"line {i} {'x' * 40}\n" for i in range(5000)), previous=True)
    bundle = await _collect(sim, tail_lines=100, limit_bytes=2048)
    text = next(lg.text for lg in bundle.logs if lg.pod == crashed and lg.previous)
    assert len(text.encode()) <= 2048
    assert text.startswith("line 4900 ")  # the tail, not the head


async def test_failing_init_container_previous_log_is_collected(sim: SimCluster) -> None:
    d = DeploymentSim(sim, namespace="shop", name="orders", image="registry.acme.io/orders:2.0", replicas=1)
    d.rollout()
    pod = d.pod(0)
    pod["spec"]["initContainers"] = [{"name": "migrate", "image": "registry.acme.io/orders:2.0"}]
    pod["status"]["initContainerStatuses"] = [{
        "name": "migrate", "image": "registry.acme.io/orders:2.0", "ready": False, "restartCount": 3,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]
    sim.apply(pod)
    sim.set_log("shop", pod["metadata"]["name"], "migrate", "ERROR: relation \"users\" does not exist\n",
                previous=True)
    bundle = await _collect(sim)
    keys = {(lg.container, lg.previous) for lg in bundle.logs}
    assert ("migrate", True) in keys


async def test_unreadable_logs_of_waiting_containers_are_skipped(sim: SimCluster) -> None:
    d = DeploymentSim(sim, namespace="shop", name="orders", image="registry.acme.io/orders:9.9", replicas=2)
    d.rollout()
    d.image_pull_error(kind="not_found")
    bundle = await _collect(sim)
    assert len(bundle.pods) == len(d.pods_of()) >= 1
    assert bundle.logs == []
    assert analyze_bundle(bundle).rules.category.value == "image_pull"


async def test_missing_deployment_is_a_permanent_error(sim: SimCluster) -> None:
    with pytest.raises(PermanentError, match="404"):
        await _collect(sim, deployment="nope")


async def test_run_collect_writes_a_bundle_file_that_fyr_analyze_reads(sim: SimCluster, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    _crash_looping(sim)
    out = tmp_path / "orders.json"
    settings = Settings(_env_file=None, kubeconfig=sim.kubeconfig_path, cluster_name="sim")  # type: ignore[call-arg]
    code = await run_collect("shop/orders", out=out, settings=settings, progress=True)
    assert code == 0
    assert "wrote" in capsys.readouterr().err
    code, text = await run_analyze(out, fmt="json", settings=settings)
    assert code == 0 and json.loads(text)["analysis"]["category"] == "crash_loop"
    assert load_bundle(out).cluster == "sim"


async def test_run_collect_reports_a_missing_deployment_and_a_bad_target(sim: SimCluster, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(_env_file=None, kubeconfig=sim.kubeconfig_path)  # type: ignore[call-arg]
    assert await run_collect("shop/ghost", out=tmp_path / "x.json", settings=settings, progress=False) == 1
    assert await run_collect("no-slash", out=None, settings=settings, progress=False) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "collect shop/ghost failed" in err[0] and "NAMESPACE/NAME" in err[1]
    assert not (tmp_path / "x.json").exists()


async def test_logs_are_read_for_the_most_troubled_pods_only(sim: SimCluster) -> None:
    d = DeploymentSim(sim, namespace="shop", name="orders", image="registry.acme.io/orders:1.0", replicas=4)
    d.rollout()
    d.become_ready()
    for i, p in enumerate(d.pods_of()):
        sim.set_log("shop", p["metadata"]["name"], "app", f"pod {i} fine\n")
    d.crash_loop(restarts=3, pod=2, previous_log="FATAL: boom\n")
    api = await make_api_client(kubeconfig=sim.kubeconfig_path)
    try:
        bundle = await collect_bundle(api, namespace="shop", deployment="orders", cluster="sim", tail_lines=100,
                                      limit_bytes=4096, max_log_pods=1)
    finally:
        await api.close()
    assert len(bundle.pods) == 4
    assert {lg.pod for lg in bundle.logs} == {d.pod(2)["metadata"]["name"]}
    assert any(lg.previous and "FATAL: boom" in lg.text for lg in bundle.logs)


async def test_events_of_an_unbound_claim_are_collected_and_name_the_missing_storageclass(sim: SimCluster) -> None:
    d = DeploymentSim(sim, namespace="shop", name="orders", image="registry.acme.io/orders:1.0", replicas=1)
    d.rollout()
    d.become_ready()
    d.deployment["spec"]["template"]["spec"]["volumes"] = [
        {"name": "data", "persistentVolumeClaim": {"claimName": "orders-data"}}]
    d.rollout(image="registry.acme.io/orders:2.0")
    d.unschedulable("0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 "
                    "nodes are available: 3 Preemption is not helpful for scheduling.")
    claim = {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
             "metadata": {"name": "orders-data", "uid": "0c5e2b9a-1d7f-4e3a-9b8c-6f2a1e0d4c3b"}}
    d.event(claim, "ProvisioningFailed", 'storageclass.storage.k8s.io "fast-ssd" not found', type_="Warning",
            component="persistentvolume-controller")
    d.progress_deadline_exceeded()
    bundle = await _collect(sim)
    assert any(e["involvedObject"]["kind"] == "PersistentVolumeClaim" for e in bundle.events)
    rules = analyze_bundle(bundle).rules
    assert rules.category.value == "scheduling"
    assert 'storageclass.storage.k8s.io "fast-ssd" not found' in rules.summary
    assert any('"fast-ssd" not found' in e for e in rules.evidence)


_DB_PW = "Tr0ub4dor&3xyz"
_STRIPE = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"


def _leaky(sim: SimCluster) -> None:
    d = DeploymentSim(sim, namespace="shop", name="orders", image="registry.acme.io/orders:1.0", replicas=1)
    d.rollout()
    d.become_ready()
    d.rollout(image="registry.acme.io/orders:2.0", env=[{"name": "MYSQL_PWD", "value": _DB_PW}])
    log = f"connecting with {_DB_PW}\nstripe key {_STRIPE}\n" + PY_CRASH
    d.crash_loop(restarts=3, previous_log=log, log="starting\n")


async def test_collected_bundle_is_redacted_unless_raw_with_a_warning(
        sim: SimCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _leaky(sim)
    settings = Settings(_env_file=None, kubeconfig=sim.kubeconfig_path, cluster_name="sim")  # type: ignore[call-arg]
    out, raw = tmp_path / "orders.json", tmp_path / "orders-raw.json"
    assert await run_collect("shop/orders", out=out, settings=settings, progress=False) == 0
    text = out.read_text()
    assert _DB_PW not in text and _STRIPE not in text and "sk_live_****" in text
    assert "KeyError: 'DATABASE_URL'" in text  # evidence kept
    assert "UNREDACTED" not in capsys.readouterr().err
    assert await run_collect("shop/orders", out=raw, settings=settings, progress=False, raw=True) == 0
    assert _DB_PW in raw.read_text() and _STRIPE in raw.read_text()
    assert "UNREDACTED" in capsys.readouterr().err
