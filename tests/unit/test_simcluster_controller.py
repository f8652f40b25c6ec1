"""The rollout scripting helper produces objects shaped as the control plane writes them."""

from __future__ import annotations

from fyr.simcluster.controller import DeploymentSim, pod_template_hash
from tests.unit.k8s_builders import StoreCluster


def make(**kw):  # type: ignore[no-untyped-def]
    c = StoreCluster()
    return c, DeploymentSim(c, namespace="shop", name="api", image="registry.example.com/acme/api:1.0", **kw)


def test_new_template_creates_replicaset_with_hash_revision_and_owned_pods():
    c, d = make()
    d.rollout()
    d.become_ready()
    first_rs = d.new_rs
    d.rollout(image="registry.example.com/acme/api:2.0")
    rs = c.state.get("ReplicaSet", "shop", d.new_rs)
    assert d.new_rs != first_rs
    h = rs["metadata"]["labels"]["pod-template-hash"]
    assert d.new_rs == f"api-{h}" and set(h) <= set("456789bcdf")
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    dep = c.state.get("Deployment", "shop", "api")
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert dep["metadata"]["generation"] == 2 and dep["status"]["observedGeneration"] == 2
    new_pods = d.pods_of()
    assert new_pods and all(p["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"] for p in new_pods)
    assert all(p["metadata"]["labels"]["pod-template-hash"] == h for p in new_pods)


def test_success_reports_counts_and_new_replicaset_available():
    c, d = make(replicas=3)
    d.rollout()
    d.become_ready()
    st = c.state.get("Deployment", "shop", "api")["status"]
    assert (st["replicas"], st["updatedReplicas"], st["availableReplicas"]) == (3, 3, 3)
    progressing = next(x for x in st["conditions"] if x["type"] == "Progressing")
    assert progressing["reason"] == "NewReplicaSetAvailable"


def test_crash_loop_sets_restart_count_backoff_and_last_state():
    c, d = make()
    d.rollout()
    d.become_ready()
    d.rollout(image="registry.example.com/acme/api:2.0")
    d.crash_loop(restarts=3, exit_code=2, previous_log="panic: boom\n")
    pod = c.state.get("Pod", "shop", d.pod()["metadata"]["name"])
    cs = pod["status"]["containerStatuses"][0]
    assert cs["restartCount"] == 3
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["state"]["waiting"]["message"].startswith("back-off 40s restarting failed container=app")
    assert cs["lastState"]["terminated"] == cs["lastState"]["terminated"] | {"exitCode": 2, "reason": "Error"}
    assert c.state.logs[("shop", pod["metadata"]["name"], "app", True)] == "panic: boom\n"
    backoff = [e for e in c.state.objects["events"].values() if e["reason"] == "BackOff"]
    assert backoff[0]["count"] == 3


def test_image_pull_not_found_uses_containerd_text():
    c, d = make()
    d.rollout(image="registry.example.com/acme/api:nope")
    d.image_pull_error(kind="not_found")
    cs = c.state.get("Pod", "shop", d.pod()["metadata"]["name"])["status"]["containerStatuses"][0]
    assert cs["state"]["waiting"]["reason"] == "ImagePullBackOff"
    assert cs["state"]["waiting"]["message"].endswith("registry.example.com/acme/api:nope: not found")


def test_unschedulable_event_has_null_timestamps_and_event_time():
    c, d = make()
    d.rollout()
    d.unschedulable()
    ev = next(e for e in c.state.objects["events"].values() if e["reason"] == "FailedScheduling")
    assert ev["firstTimestamp"] is None and ev["lastTimestamp"] is None and ev["eventTime"]
    assert ev["reportingComponent"] == "default-scheduler"


def test_missing_secret_and_progress_deadline():
    c, d = make()
    d.rollout()
    d.missing_secret("db")
    cs = c.state.get("Pod", "shop", d.pod()["metadata"]["name"])["status"]["containerStatuses"][0]
    assert cs["state"]["waiting"] == {"reason": "CreateContainerConfigError", "message": 'secret "db" not found'}
    d.progress_deadline_exceeded()
    conds = c.state.get("Deployment", "shop", "api")["status"]["conditions"]
    assert any(x["reason"] == "ProgressDeadlineExceeded" and x["status"] == "False" for x in conds)


def test_template_hash_ignores_its_own_label():
    t = {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "app", "image": "x"}]}}
    assert pod_template_hash(t) == pod_template_hash(t)
    assert pod_template_hash(t) != pod_template_hash({**t, "spec": {"containers": []}})
