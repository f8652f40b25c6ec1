"""Builders for realistic camelCase Kubernetes objects, as the API server returns them.

Shared by the unit tests of the status function, the watcher index and others. Defaults describe
a healthy, completed rollout; override only what a test is about. Zero/empty fields are left out,
as `omitempty` does in real API JSON. Uids are deterministic (uuid5 of kind/namespace/name).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from fyr.simcluster.store import ClusterState

T0 = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
IMAGE = "registry.example.com/shop/web:v2"
HASH = "7d7bf6d974"
OLD_HASH = "5c98d4b7f6"


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def uid_for(kind: str, ns: str, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}/{ns}/{name}"))


def _controller_ref(kind: str, api_version: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def pod_template(image: str = IMAGE, *, app: str = "web", env: Sequence[Mapping[str, Any]] = (),
                 init_image: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "app", "image": image, "imagePullPolicy": "IfNotPresent",
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "resources": {"limits": {"memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
    }
    if env:
        container["env"] = [dict(e) for e in env]
    spec: dict[str, Any] = {
        "containers": [container], "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
        "schedulerName": "default-scheduler", "securityContext": {}, "terminationGracePeriodSeconds": 30,
    }
    if init_image:
        spec["initContainers"] = [{"name": "migrate", "image": init_image, "imagePullPolicy": "IfNotPresent",
                                   "resources": {}}]
    return {"metadata": {"creationTimestamp": None, "labels": {"app": app}}, "spec": spec}


def condition(type_: str, status: str, reason: str, message: str = "", *,
              updated: datetime = T0, transitioned: datetime | None = None) -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "lastUpdateTime": iso(updated), "lastTransitionTime": iso(transitioned or updated)}


def progressing(reason: str = "NewReplicaSetAvailable", rs_name: str = f"web-{HASH}", **kw: Any) -> dict[str, Any]:
    messages = {
        "NewReplicaSetAvailable": ("True", f'ReplicaSet "{rs_name}" has successfully progressed.'),
        "ReplicaSetUpdated": ("True", f'ReplicaSet "{rs_name}" is progressing.'),
        "NewReplicaSetCreated": ("True", f'Created new replica set "{rs_name}"'),
        "ProgressDeadlineExceeded": ("False", f'ReplicaSet "{rs_name}" has timed out progressing.'),
        "DeploymentPaused": ("Unknown", "Deployment is paused"),
    }
    status, message = messages.get(reason, ("True", ""))
    return condition("Progressing", status, reason, message, **kw)


def deployment(name: str = "web", ns: str = "shop", *, generation: int = 2, observed: int | None = None,
               replicas: int = 3, updated: int | None = None, ready: int | None = None,
               available: int | None = None, total: int | None = None,
               conditions: Sequence[Mapping[str, Any]] | None = None, paused: bool = False,
               image: str = IMAGE, template: Mapping[str, Any] | None = None, revision: int | None = 2,
               annotations: Mapping[str, str] | None = None, labels: Mapping[str, str] | None = None,
               progress_deadline: int | None = 600, managed_fields: bool = True) -> dict[str, Any]:
    """A Deployment. Status counts default to a completed rollout of `replicas`."""
    updated = replicas if updated is None else updated
    available = updated if available is None else available
    ready = available if ready is None else ready
    total = updated if total is None else total
    tpl = copy.deepcopy(dict(template)) if template is not None else pod_template(image, app=name)
    ann = {"meta.helm.sh/release-name": name} if annotations is None else dict(annotations)
    if revision is not None:
        ann["deployment.kubernetes.io/revision"] = str(revision)
    meta: dict[str, Any] = {
        "name": name, "namespace": ns, "uid": uid_for("Deployment", ns, name), "generation": generation,
        "resourceVersion": "1000", "creationTimestamp": iso(T0 - timedelta(days=30)),
        "labels": dict(labels or {"app": name}), "annotations": ann,
    }
    if managed_fields:
        meta["managedFields"] = [{"manager": "kubectl-client-side-apply", "operation": "Update",
                                  "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
                                  "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}}}]
        meta["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = '{"kind":"Deployment"}' * 20
    spec: dict[str, Any] = {
        "replicas": replicas, "revisionHistoryLimit": 10, "selector": {"matchLabels": {"app": name}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        "template": tpl,
    }
    if progress_deadline is not None:
        spec["progressDeadlineSeconds"] = progress_deadline
    if paused:
        spec["paused"] = True
    if conditions is None:
        complete = updated == replicas and total == replicas and available == replicas
        conditions = [
            condition("Available", "True" if available >= replicas - 1 else "False",
                      "MinimumReplicasAvailable" if available >= replicas - 1 else "MinimumReplicasUnavailable"),
            progressing("NewReplicaSetAvailable" if complete else "ReplicaSetUpdated", f"{name}-{HASH}"),
        ]
    status: dict[str, Any] = {"observedGeneration": generation if observed is None else observed,
                              "conditions": [dict(c) for c in conditions]}
    for key, value in (("replicas", total), ("updatedReplicas", updated), ("readyReplicas", ready),
                       ("availableReplicas", available), ("unavailableReplicas", max(0, replicas - available))):
        if value:
            status[key] = value
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec, "status": status}


def replicaset(owner: Mapping[str, Any], *, hash_: str = HASH, template: Mapping[str, Any] | None = None,
               replicas: int | None = None, ready: int | None = None, available: int | None = None,
               revision: int | None = None, created: datetime = T0,
               name: str | None = None) -> dict[str, Any]:
    """A ReplicaSet controlled by `owner` (a Deployment dict). The template defaults to the owner's
    (so this is its *new* RS) with the pod-template-hash label added, as the controller does."""
    ns = owner["metadata"]["namespace"]
    rs_name = name or f"{owner['metadata']['name']}-{hash_}"
    tpl = copy.deepcopy(dict(template if template is not None else owner["spec"]["template"]))
    tpl.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = hash_
    replicas = owner["spec"].get("replicas", 1) if replicas is None else replicas
    ready = replicas if ready is None else ready
    available = ready if available is None else available
    rev = revision if revision is not None else owner["metadata"]["annotations"].get(
        "deployment.kubernetes.io/revision", "1")
    labels = {**tpl["metadata"]["labels"]}
    status: dict[str, Any] = {"observedGeneration": 1}
    for key, value in (("replicas", replicas), ("fullyLabeledReplicas", replicas), ("readyReplicas", ready),
                       ("availableReplicas", available)):
        if value:
            status[key] = value
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": rs_name, "namespace": ns, "uid": uid_for("ReplicaSet", ns, rs_name), "generation": 1,
            "resourceVersion": "2000", "creationTimestamp": iso(created), "labels": labels,
            "annotations": {"deployment.kubernetes.io/desired-replicas": str(replicas),
                            "deployment.kubernetes.io/max-replicas": str(replicas + 1),
                            "deployment.kubernetes.io/revision": str(rev)},
            "ownerReferences": [_controller_ref("Deployment", "apps/v1", owner)],
        },
        "spec": {"replicas": replicas, "selector": {"matchLabels": {**owner["spec"]["selector"]["matchLabels"],
                                                                     "pod-template-hash": hash_}},
                 "template": tpl},
        "status": status,
    }


# ---- container statuses


def running(name: str = "app", *, restarts: int = 0, ready: bool = True, image: str = IMAGE,
            last_terminated: Mapping[str, Any] | None = None) -> dict[str, Any]:
    cs: dict[str, Any] = {"name": name, "image": image, "imageID": f"{image}@sha256:{'a' * 64}",
                          "ready": ready, "started": True, "restartCount": restarts,
                          "state": {"running": {"startedAt": iso(T0)}},
                          "lastState": {}}
    if last_terminated:
        cs["lastState"] = {"terminated": dict(last_terminated)}
    return cs


def terminated_state(reason: str = "Error", exit_code: int = 1, message: str = "") -> dict[str, Any]:
    state = {"reason": reason, "exitCode": exit_code, "startedAt": iso(T0), "finishedAt": iso(T0),
             "containerID": "containerd://" + "b" * 64}
    if message:
        state["message"] = message
    return state


def waiting(reason: str, message: str = "", name: str = "app", *, restarts: int = 0, image: str = IMAGE,
            last_terminated: Mapping[str, Any] | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"reason": reason}
    if message:
        state["message"] = message
    cs: dict[str, Any] = {"name": name, "image": image, "imageID": "", "ready": False, "started": False,
                          "restartCount": restarts, "state": {"waiting": state}, "lastState": {}}
    if last_terminated:
        cs["lastState"] = {"terminated": dict(last_terminated)}
    return cs


def crashloop(restarts: int, name: str = "app", *, exit_code: int = 1, reason: str = "Error",
              pod_name: str = "web-x", image: str = IMAGE) -> dict[str, Any]:
    backoff = min(10 * 2 ** max(restarts - 1, 0), 300)
    return waiting("CrashLoopBackOff",
                   f"back-off {backoff}s restarting failed container={name} pod={pod_name}_shop(uid)",
                   name, restarts=restarts, image=image,
                   last_terminated=terminated_state(reason, exit_code))


# ---- pods


def pod(rs: Mapping[str, Any], suffix: str = "x2x9k", *, phase: str = "Running",
        container_statuses: Sequence[Mapping[str, Any]] | None = None,
        init_container_statuses: Sequence[Mapping[str, Any]] | None = None,
        conditions: Sequence[Mapping[str, Any]] | None = None, owner: bool = True,
        deleting: bool = False, node: str | None = "node-1") -> dict[str, Any]:
    """A pod of ReplicaSet `rs` (ownerReference + pod-template-hash label, as the RS controller makes)."""
    ns = rs["metadata"]["namespace"]
    name = f"{rs['metadata']['name']}-{suffix}"
    labels = dict(rs["spec"]["template"]["metadata"]["labels"])
    meta: dict[str, Any] = {"name": name, "generateName": rs["metadata"]["name"] + "-", "namespace": ns,
                            "uid": uid_for("Pod", ns, name), "resourceVersion": "3000",
                            "creationTimestamp": iso(T0), "labels": labels}
    if owner:
        meta["ownerReferences"] = [_controller_ref("ReplicaSet", "apps/v1", rs)]
    if deleting:
        meta["deletionTimestamp"] = iso(T0)
    statuses = [running()] if container_statuses is None else [dict(c) for c in container_statuses]
    ready = all(c.get("ready") for c in statuses) and phase == "Running"
    if conditions is None:
        conditions = [condition("PodScheduled", "True", "")] if node else []
        conditions = [*conditions, {"type": "Ready", "status": "True" if ready else "False",
                                    "lastTransitionTime": iso(T0)}]
    spec = copy.deepcopy(rs["spec"]["template"]["spec"])
    if node:
        spec["nodeName"] = node
    status: dict[str, Any] = {"phase": phase, "conditions": [dict(c) for c in conditions],
                              "qosClass": "Burstable", "startTime": iso(T0)}
    if statuses:
        status["containerStatuses"] = statuses
    if init_container_statuses:
        status["initContainerStatuses"] = [dict(c) for c in init_container_statuses]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def unschedulable_conditions(since: datetime = T0, message: str = "0/3 nodes are available: 3 Insufficient cpu.") \
        -> list[dict[str, Any]]:
    return [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
             "lastTransitionTime": iso(since)}]


# ---- events


def event(involved: Mapping[str, Any], reason: str, message: str, *, type_: str = "Warning", count: int = 1,
          first: datetime | None = T0, last: datetime | None = None, field_path: str | None = None,
          scheduler: bool = False, source: str = "kubelet", name: str | None = None) -> dict[str, Any]:
    """A core/v1 Event about `involved`. `scheduler=True` gives the events.k8s.io shape read as
    core/v1: null first/lastTimestamp, eventTime + series, no count (docs/kubernetes-signals.md 'Events')."""
    meta = involved["metadata"]
    ref: dict[str, Any] = {"kind": involved["kind"], "namespace": meta["namespace"], "name": meta["name"],
                           "uid": meta["uid"], "apiVersion": involved.get("apiVersion", "v1"),
                           "resourceVersion": meta.get("resourceVersion", "1")}
    if field_path:
        ref["fieldPath"] = field_path
    ev_name = name or f"{meta['name']}.{uuid.uuid5(uuid.NAMESPACE_URL, reason + message).hex[:16]}"
    last = last or first
    ev: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": ev_name, "namespace": meta["namespace"], "uid": uid_for("Event", "", ev_name),
                     "resourceVersion": "4000", "creationTimestamp": iso(first or T0)},
        "involvedObject": ref, "reason": reason, "message": message, "type": type_,
    }
    if scheduler:
        ev.update({"firstTimestamp": None, "lastTimestamp": None, "eventTime": micro(first or T0),
                   "reportingComponent": "default-scheduler", "reportingInstance": "default-scheduler-cp-1",
                   "action": "Scheduling", "source": {}})
        if count > 1:
            ev["series"] = {"count": count, "lastObservedTime": micro(last or T0)}
    else:
        ev.update({"firstTimestamp": iso(first) if first else None, "lastTimestamp": iso(last) if last else None,
                   "count": count, "eventTime": None, "source": {"component": source, "host": "node-1"},
                   "reportingComponent": source, "reportingInstance": "node-1"})
    return ev


class StoreCluster:
    """What the simulated controllers write to, without a server: the store alone."""

    def __init__(self) -> None:
        self.state = ClusterState()

    def apply(self, obj):  # type: ignore[no-untyped-def]
        return self.state.apply(obj)

    def delete(self, kind, namespace, name):  # type: ignore[no-untyped-def]
        return self.state.delete(kind, namespace, name)

    def set_log(self, namespace, pod, container, text, *, previous=False):  # type: ignore[no-untyped-def]
        self.state.set_log(namespace, pod, container, text, previous=previous)
