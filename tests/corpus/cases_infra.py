"""Corpus cases where containers never run or never get ready: pulls, config, scheduling, quota, mounts."""

from __future__ import annotations

from typing import Any

from builders import Rollout, running, template, waiting
from corpus_common import (
    AWS_KEY,
    BEARER,
    ENV_PASS,
    GIT,
    GITLAB,
    JWT,
    PG_PASS,
    base_app,
    case,
    expect,
    noise,
    secret_env,
)

Case = tuple[dict[str, Any], dict[str, Any]]


def _pair(name: str, new_img: str, old_img: str, **extra: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    return template(name, [base_app("app", new_img, **extra)]), template(name, [base_app("app", old_img, **extra)])


@case
def case_image_tag_not_found() -> Case:
    img = "registry.acme.io/shop/cart:2.7.1"
    new, old = _pair("cart", img, "registry.acme.io/shop/cart:2.7.0")
    r = Rollout("cart", "shop", new, old)
    err = (f'rpc error: code = NotFound desc = failed to pull and unpack image "{img}": failed to resolve '
           f'reference "{img}": {img}: not found')
    for i in range(3):
        pod = r.pod(i, phase="Pending", statuses=[waiting("app", img, "ErrImagePull", err)])
        fp = "spec.containers{app}"
        r.event(pod, "Pulling", f'Pulling image "{img}"', type_="Normal", count=3, field_path=fp)
        r.event(pod, "Failed", f'Failed to pull image "{img}": {err}', count=3, field_path=fp)
        r.event(pod, "Failed", "Error: ErrImagePull", count=3, field_path=fp)
    return r.bundle(GIT), expect("image_pull", ["ErrImagePull", "cart:2.7.1: not found"])


@case
def case_image_access_denied_backoff() -> Case:
    img = "ghcr.io/acme/private-api:1.2.0"
    new, old = _pair("private-api", img, "ghcr.io/acme/private-api:1.1.0")
    r = Rollout("private-api", "core", new, old)
    err = (f'failed to pull and unpack image "{img}": failed to resolve reference "{img}": pull access denied, '
           "repository does not exist or may require authorization: server message: insufficient_scope: "
           "authorization failed")
    for i in range(2):
        pod = r.pod(i, phase="Pending", statuses=[
            waiting("app", img, "ImagePullBackOff", f'Back-off pulling image "{img}": ErrImagePull: {err}')])
        r.event(pod, "Failed", f'Failed to pull image "{img}": {err}', count=5, field_path="spec.containers{app}")
        r.event(pod, "BackOff", f'Back-off pulling image "{img}"', type_="Normal", count=20,
                field_path="spec.containers{app}")
    return r.bundle(), expect("image_pull", ["pull access denied"])


@case
def case_invalid_image_name() -> Case:
    img = "registry.acme.io/shop/Search:latest "
    new, old = _pair("search-ui", img, "registry.acme.io/shop/search-ui:4.0.0")
    r = Rollout("search-ui", "shop", new, old)
    msg = (f'Failed to apply default image tag "{img}": couldn\'t parse image name "{img}": invalid reference '
           "format: repository name must be lowercase")
    pod = r.pod(0, phase="Pending", statuses=[waiting("app", img, "InvalidImageName", msg)])
    r.event(pod, "InspectFailed", msg, count=6, field_path="spec.containers{app}")
    return r.bundle(), expect("image_pull", ["invalid reference format"])


@case
def case_missing_secret() -> Case:
    img = "acme/accounts:3.0.0"
    env = [*secret_env(), {"name": "DB_URL", "valueFrom": {"secretKeyRef": {"name": "db-credentials",
                                                                            "key": "url"}}}]
    new, old = _pair("accounts", img, "acme/accounts:2.9.0", env=env)
    r = Rollout("accounts", "identity", new, old)
    for i in range(2):
        pod = r.pod(i, phase="Pending", statuses=[
            waiting("app", img, "CreateContainerConfigError", 'secret "db-credentials" not found')])
        r.event(pod, "Failed", 'Error: secret "db-credentials" not found', count=8,
                field_path="spec.containers{app}")
    return r.bundle(), expect("config_error", ['secret "db-credentials" not found', "CreateContainerConfigError"],
                              [ENV_PASS])


@case
def case_missing_configmap_key() -> Case:
    img = "acme/pricing:1.6.0"
    env = [{"name": "CURRENCY", "valueFrom": {"configMapKeyRef": {"name": "pricing-config", "key": "currency"}}}]
    new, old = _pair("pricing", img, "acme/pricing:1.5.0", env=env)
    r = Rollout("pricing", "shop", new, old)
    msg = "couldn't find key currency in ConfigMap shop/pricing-config"
    pod = r.pod(0, phase="Pending", statuses=[waiting("app", img, "CreateContainerConfigError", msg)])
    r.event(pod, "Failed", "Error: " + msg, count=5, field_path="spec.containers{app}")
    return r.bundle(), expect("config_error", ["couldn't find key currency in ConfigMap"])


@case
def case_readiness_probe_503() -> Case:
    img = "acme/checkout:7.1.0"
    probe = {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5}
    new, old = _pair("checkout", img, "acme/checkout:7.0.0", readinessProbe=probe)
    r = Rollout("checkout", "shop", new, old, deadline_exceeded=True, started_ago=700)
    for i in range(3):
        pod = r.pod(i, statuses=[running("app", img)])
        r.event(pod, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", count=120,
                field_path="spec.containers{app}")
        r.log(pod, "app", "\n".join([*noise(30, i), "2026-11-27T09:59:00Z WARN  /ready: dependency "
                                     "'fraud-service' unhealthy (timeout after 2s)"]) + "\n")
    return r.bundle(), expect("probe_failure", ["Readiness probe failed", "503"])


@case
def case_scheduling_insufficient_cpu() -> Case:
    img = "acme/batch:2.0.0"
    new, old = _pair("batch", img, "acme/batch:1.9.0", resources={"requests": {"cpu": "16", "memory": "1Gi"}})
    r = Rollout("batch", "jobs", new, old, deadline_exceeded=True, started_ago=800)
    msg = ("0/6 nodes are available: 3 Insufficient cpu, 3 node(s) had untolerated taint "
           "{node-role.kubernetes.io/control-plane: }. preemption: 0/6 nodes are available: 3 No preemption "
           "victims found for incoming pod, 3 Preemption is not helpful for scheduling.")
    for i in range(2):
        pod = r.pod(i, phase="Pending", node=None, conditions=[
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": msg}])
        r.event(pod, "FailedScheduling", msg, count=14, source="default-scheduler", scheduler_style=True)
    return r.bundle(), expect("scheduling", ["Insufficient cpu", "FailedScheduling"])


@case
def case_scheduling_node_selector() -> Case:
    img = "acme/gpu-infer:1.0.0"
    new = template("gpu-infer", [base_app("app", img)], nodeSelector={"accelerator": "nvidia-h100"})
    old = template("gpu-infer", [base_app("app", "acme/gpu-infer:0.9.0")])
    r = Rollout("gpu-infer", "ml", new, old, deadline_exceeded=True, started_ago=900)
    msg = ("0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector. preemption: 0/4 nodes "
           "are available: 4 Preemption is not helpful for scheduling.")
    pod = r.pod(0, phase="Pending", node=None, conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": msg}])
    r.event(pod, "FailedScheduling", msg, count=30, source="default-scheduler", scheduler_style=True)
    return r.bundle(), expect("scheduling", ["didn't match Pod's node affinity/selector"])


@case
def case_quota_exceeded() -> Case:
    img = "acme/api:9.9.0"
    new, old = _pair("quota-api", img, "acme/api:9.8.0")
    r = Rollout("quota-api", "team-a", new, old, deadline_exceeded=True, started_ago=700)
    rs = r.new_rs
    msg = (f'pods "{rs["metadata"]["name"]}-x2x9k" is forbidden: exceeded quota: team-a-quota, requested: '
           "limits.memory=256Mi, used: limits.memory=4Gi, limited: limits.memory=4Gi")
    rs["status"]["conditions"] = [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                   "message": msg}]
    r.deployment["status"]["conditions"].append({"type": "ReplicaFailure", "status": "True",
                                                 "reason": "FailedCreate", "message": msg})
    r.event(rs, "FailedCreate", "Error creating: " + msg, count=17, source="replicaset-controller")
    return r.bundle(), expect("create_failed", ["exceeded quota: team-a-quota", "FailedCreate"])


@case
def case_pod_security_forbidden() -> Case:
    img = "acme/netdebug:1.0.0"
    new, old = _pair("netdebug", img, "acme/netdebug:0.9.0", securityContext={"privileged": True})
    r = Rollout("netdebug", "restricted", new, old, deadline_exceeded=True, started_ago=700)
    rs = r.new_rs
    msg = (f'pods "{rs["metadata"]["name"]}-8xkq2" is forbidden: violates PodSecurity "restricted:latest": '
           'privileged (container "app" must not set securityContext.privileged=true)')
    r.event(rs, "FailedCreate", "Error creating: " + msg, count=15, source="replicaset-controller")
    return r.bundle(), expect("create_failed", ['violates PodSecurity "restricted:latest"'])


@case
def case_admission_webhook_denied() -> Case:
    img = "docker.io/library/nginx:latest"
    new, old = _pair("edge", img, "registry.acme.io/edge:1.0.0")
    r = Rollout("edge", "web", new, old, deadline_exceeded=True, started_ago=700)
    rs = r.new_rs
    msg = ('admission webhook "validation.gatekeeper.sh" denied the request: [allowed-repos] container <app> has '
           'an invalid image repo <docker.io/library/nginx:latest>, allowed repos are ["registry.acme.io/"]')
    r.event(rs, "FailedCreate", "Error creating: " + msg, count=9, source="replicaset-controller")
    return r.bundle(), expect("create_failed", ['admission webhook "validation.gatekeeper.sh" denied'])


@case
def case_mount_configmap_missing() -> Case:
    img = "acme/router:3.3.0"
    vols = [{"name": "config", "configMap": {"name": "router-config-v2"}}]
    new = template("router", [base_app("app", img, volumeMounts=[{"name": "config", "mountPath": "/etc/router"}])],
                   volumes=vols)
    old = template("router", [base_app("app", "acme/router:3.2.0")],
                   volumes=[{"name": "config", "configMap": {"name": "router-config"}}])
    r = Rollout("router", "edge", new, old, deadline_exceeded=True, started_ago=700)
    for i in range(2):
        pod = r.pod(i, phase="Pending", statuses=[waiting("app", img, "ContainerCreating")])
        r.event(pod, "FailedMount", 'MountVolume.SetUp failed for volume "config" : configmap "router-config-v2" '
                "not found", count=11)
        r.event(pod, "FailedMount", "Unable to attach or mount volumes: unmounted volumes=[config], unattached "
                "volumes=[], failed to process volumes=[]: timed out waiting for the condition", count=4)
    return r.bundle(), expect("mount_failure", ['configmap "router-config-v2" not found', "FailedMount"])


@case
def case_mount_pvc_multi_attach() -> Case:
    img = "acme/uploads:2.0.0"
    vols = [{"name": "data", "persistentVolumeClaim": {"claimName": "uploads-data"}}]
    new = template("uploads", [base_app("app", img)], volumes=vols)
    old = template("uploads", [base_app("app", "acme/uploads:1.9.0")], volumes=vols)
    r = Rollout("uploads", "shop", new, old, deadline_exceeded=True, started_ago=700, replicas=1)
    pod = r.pod(0, phase="Pending", statuses=[waiting("app", img, "ContainerCreating")])
    r.event(pod, "FailedAttachVolume", 'Multi-Attach error for volume "pvc-5f1c2a9e" Volume is already '
            "exclusively attached to one node and can't be attached to another", count=8,
            source="attachdetach-controller")
    return r.bundle(), expect("mount_failure", ["Multi-Attach error for volume"])


@case
def case_deadline_no_signal() -> Case:
    img = "acme/slowstart:1.1.0"
    new, old = _pair("slowstart", img, "acme/slowstart:1.0.0", env=[{"name": "TOKEN", "value": GITLAB}])
    r = Rollout("slowstart", "misc", new, old, deadline_exceeded=True, started_ago=900)
    for i in range(2):
        pod = r.pod(i, statuses=[running("app", img)])
        r.log(pod, "app", "\n".join(noise(100, 40 + i)) + "\n")
    return r.bundle(), expect("progress_deadline", ["ProgressDeadlineExceeded"], [GITLAB])


@case
def case_deadline_pods_pending_quietly() -> Case:
    img = "acme/legacy:5.0.0"
    new, old = _pair("legacy", img, "acme/legacy:4.9.0")
    r = Rollout("legacy", "misc", new, old, deadline_exceeded=True, started_ago=1200)
    r.pod(0, phase="Pending", statuses=[waiting("app", img, "ContainerCreating")])
    return r.bundle(), expect("progress_deadline", ["timed out progressing"])


@case
def case_healthy_rollout_unknown() -> Case:
    img = "acme/ok:1.0.1"
    new, old = _pair("ok", img, "acme/ok:1.0.0", env=[{"name": "PG", "value": f"postgres://u:{PG_PASS}@pg/x"}])
    r = Rollout("ok", "misc", new, old, ready=2, replicas=2)
    r.old_rs["spec"]["replicas"] = 0  # type: ignore[index]
    r.old_rs["status"].update(replicas=0, readyReplicas=0, availableReplicas=0)  # type: ignore[index]
    r.deployment["status"].update(replicas=2, readyReplicas=2, availableReplicas=2, updatedReplicas=2,
                                  unavailableReplicas=0)
    for i in range(2):
        pod = r.pod(i, statuses=[running("app", img, ready=True)], conditions=[
            {"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}])
        r.log(pod, "app", "\n".join(noise(50, 90 + i)) + f"\nAuthorization: Bearer {BEARER}\n")
    return r.bundle(), expect("unknown", [], [PG_PASS, BEARER], status="SUCCESS")


@case
def case_rolling_no_pods_unknown() -> Case:
    img = "acme/fresh:0.1.0"
    new = template("fresh", [base_app("app", img, env=[{"name": "JWT", "value": JWT},
                                                        {"name": "AWS_ACCESS_KEY_ID", "value": AWS_KEY}])])
    r = Rollout("fresh", "misc", new, None, started_ago=5)
    return r.bundle(), expect("unknown", [], [JWT, AWS_KEY], status="ROLLING_OUT")





@case
def case_image_pull_old_kubelet_cause_in_events() -> Case:
    img = "registry.acme.io/shop/reviews:3.4.0"
    new, old = _pair("reviews", img, "registry.acme.io/shop/reviews:3.3.0")
    r = Rollout("reviews", "shop", new, old)
    err = (f'failed to pull and unpack image "{img}": failed to resolve reference "{img}": '
           f"{img}: not found")
    for i in range(2):
        # kubelets before 1.32 give only the short back-off message; the cause is in the Failed event
        pod = r.pod(i, phase="Pending", statuses=[waiting("app", img, "ImagePullBackOff",
                                                          f'Back-off pulling image "{img}"')])
        r.event(pod, "Failed", f'Failed to pull image "{img}": {err}', count=4, field_path="spec.containers{app}")
        r.event(pod, "BackOff", f'Back-off pulling image "{img}"', type_="Normal", count=16,
                field_path="spec.containers{app}")
    return r.bundle(), expect("image_pull", ["reviews:3.4.0: not found"])


@case
def case_replicaset_create_error_quota() -> Case:
    img = "acme/search-api:2.2.0"
    new, old = _pair("search-api", img, "acme/search-api:2.1.0")
    r = Rollout("search-api", "team-b", new, old, generation=3)
    # the new ReplicaSet could not be created: observedGeneration stays behind (kubectl: "Waiting for
    # deployment spec update to be observed"), no deadline ever follows
    rs_name = r.new_rs["metadata"]["name"]
    msg = (f'Failed to create new replica set "{rs_name}": replicasets.apps "{rs_name}" is forbidden: '
           "exceeded quota: team-b-objects, requested: count/replicasets.apps=1, used: "
           "count/replicasets.apps=40, limited: count/replicasets.apps=40")
    r.deployment["status"]["observedGeneration"] = 2
    r.deployment["status"]["conditions"] = [
        c for c in r.deployment["status"]["conditions"] if c["type"] != "Progressing"
    ] + [{"type": "Progressing", "status": "False", "reason": "ReplicaSetCreateError", "message": msg}]
    r.events.clear()
    r.event(r.deployment, "ReplicaSetCreateError", msg, count=6, source="deployment-controller")
    bundle = r.bundle()
    bundle["replicasets"] = [rs for rs in bundle["replicasets"] if rs["metadata"]["name"] != rs_name]
    return bundle, expect("create_failed", ["exceeded quota: team-b-objects"], status="PENDING")
