"""Small builders for realistic camelCase Kubernetes objects, used by the corpus generator.

They produce what the API server returns (ownerReferences, pod-template-hash, revision annotations,
container statuses, core/v1 events with and without `eventTime`), so bundles built here exercise the
same code paths as bundles written by `fyr collect`.
"""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

NOW = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def ts(seconds_ago: float = 0) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def uid(seed: str) -> str:
    h = hashlib.sha256(seed.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def template_hash(template: dict[str, Any]) -> str:
    digest = int(hashlib.sha256(repr(template).encode()).hexdigest()[:8], 16)
    return "".join("456789bcdf"[int(d)] for d in str(digest))[:10]


def pod_suffix(seed: str) -> str:
    h = hashlib.sha256(seed.encode()).digest()
    return "".join(_ALPHABET[b % 27] for b in h[:5])


def container(name: str, image: str, **extra: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": image, "imagePullPolicy": "IfNotPresent"}
    c.update(extra)
    return c


def template(
    app: str, containers: list[dict[str, Any]], *, init: list[dict[str, Any]] | None = None,
    volumes: list[dict[str, Any]] | None = None, **spec_extra: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": containers, "restartPolicy": "Always"}
    if init:
        spec["initContainers"] = init
    if volumes:
        spec["volumes"] = volumes
    spec.update(spec_extra)
    return {"metadata": {"labels": {"app": app}}, "spec": spec}


class Rollout:
    """A Deployment with a previous and a new ReplicaSet, and pods of the new one."""

    def __init__(
        self, name: str, ns: str, new_template: dict[str, Any], old_template: dict[str, Any] | None, *,
        replicas: int = 3, generation: int = 2, annotations: dict[str, str] | None = None,
        deadline_exceeded: bool = False, ready: int = 0, started_ago: float = 300,
    ) -> None:
        self.name, self.ns, self.replicas = name, ns, replicas
        self.dep_uid = uid(f"{ns}/{name}")
        self.revision = 2 if old_template is not None else 1
        self.new_hash = template_hash(new_template)
        self.new_rs = self._rs(new_template, self.new_hash, self.revision, replicas, ready)
        self.old_rs = None
        if old_template is not None:
            old_hash = template_hash(old_template)
            self.old_rs = self._rs(old_template, old_hash, 1, 0 if deadline_exceeded else replicas, replicas)
        conditions = [
            {"type": "Available", "status": "True" if ready else "False",
             "reason": "MinimumReplicasAvailable" if ready else "MinimumReplicasUnavailable",
             "message": "Deployment has minimum availability." if ready
             else "Deployment does not have minimum availability.",
             "lastUpdateTime": ts(started_ago), "lastTransitionTime": ts(started_ago)},
        ]
        if deadline_exceeded:
            conditions.append({
                "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                "message": f'ReplicaSet "{self.new_rs["metadata"]["name"]}" has timed out progressing.',
                "lastUpdateTime": ts(5), "lastTransitionTime": ts(5)})
        else:
            conditions.append({
                "type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                "message": f'ReplicaSet "{self.new_rs["metadata"]["name"]}" is progressing.',
                "lastUpdateTime": ts(started_ago), "lastTransitionTime": ts(3600)})
        old_replicas = self.old_rs["status"]["replicas"] if self.old_rs else 0
        self.deployment: dict[str, Any] = {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {
                "name": name, "namespace": ns, "uid": self.dep_uid, "generation": generation,
                "resourceVersion": "4711", "creationTimestamp": ts(86400),
                "labels": {"app": name},
                "annotations": {"deployment.kubernetes.io/revision": str(self.revision), **(annotations or {})},
            },
            "spec": {
                "replicas": replicas, "selector": {"matchLabels": {"app": name}},
                "template": copy.deepcopy(new_template), "progressDeadlineSeconds": 600,
                "revisionHistoryLimit": 10,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            },
            "status": {
                "observedGeneration": generation, "replicas": replicas + old_replicas,
                "updatedReplicas": replicas, "readyReplicas": ready + old_replicas,
                "availableReplicas": ready + old_replicas,
                "unavailableReplicas": max(0, replicas - ready), "conditions": conditions,
            },
        }
        self.pods: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.logs: list[dict[str, Any]] = []
        self.event(self.deployment, "ScalingReplicaSet",
                   f"Scaled up replica set {self.new_rs['metadata']['name']} from 0 to {replicas}",
                   type_="Normal", ago=started_ago)

    def _rs(self, tmpl: dict[str, Any], h: str, revision: int, replicas: int, ready: int) -> dict[str, Any]:
        rs_name = f"{self.name}-{h}"
        t = copy.deepcopy(tmpl)
        t["metadata"]["labels"]["pod-template-hash"] = h
        return {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name, "namespace": self.ns, "uid": uid(rs_name), "generation": 1,
                "labels": {**tmpl["metadata"]["labels"], "pod-template-hash": h},
                "annotations": {"deployment.kubernetes.io/revision": str(revision),
                                "deployment.kubernetes.io/desired-replicas": str(self.replicas)},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": self.name,
                                     "uid": self.dep_uid, "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": {"replicas": replicas,
                     "selector": {"matchLabels": {"app": self.name, "pod-template-hash": h}},
                     "template": t},
            "status": {"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready,
                       "observedGeneration": 1, "fullyLabeledReplicas": replicas},
        }

    @property
    def replicasets(self) -> list[dict[str, Any]]:
        return [rs for rs in (self.new_rs, self.old_rs) if rs is not None]

    def pod(
        self, index: int, *, statuses: list[dict[str, Any]] | None = None,
        init_statuses: list[dict[str, Any]] | None = None, phase: str = "Running",
        conditions: list[dict[str, Any]] | None = None, node: str | None = "node-1",
    ) -> dict[str, Any]:
        rs = self.new_rs
        pod_name = f"{rs['metadata']['name']}-{pod_suffix(self.name + str(index))}"
        spec = copy.deepcopy(rs["spec"]["template"]["spec"])
        if node:
            spec["nodeName"] = node
        status: dict[str, Any] = {"phase": phase, "startTime": ts(290)}
        if conditions is not None:
            status["conditions"] = conditions
        else:
            status["conditions"] = [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": ts(290)},
                {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                 "message": "containers with unready status: [app]", "lastTransitionTime": ts(290)},
            ]
        if statuses is not None:
            status["containerStatuses"] = statuses
        if init_statuses is not None:
            status["initContainerStatuses"] = init_statuses
        for st in (statuses or []) + (init_statuses or []):
            w = st.get("state", {}).get("waiting")
            if w and "message" in w:
                w["message"] = (w["message"].replace("__POD__", pod_name).replace("__NS__", self.ns)
                                .replace("__UID__", uid(pod_name)))
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": pod_name, "generateName": rs["metadata"]["name"] + "-", "namespace": self.ns,
                "uid": uid(pod_name), "labels": copy.deepcopy(rs["spec"]["template"]["metadata"]["labels"]),
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs["metadata"]["name"],
                                     "uid": rs["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}],
                "creationTimestamp": ts(290),
            },
            "spec": spec,
            "status": status,
        }
        self.pods.append(pod)
        return pod

    def event(
        self, obj: dict[str, Any], reason: str, message: str, *, type_: str = "Warning", count: int = 1,
        field_path: str | None = None, ago: float = 10, source: str = "kubelet", scheduler_style: bool = False,
    ) -> dict[str, Any]:
        meta = obj["metadata"]
        involved: dict[str, Any] = {"kind": obj["kind"], "namespace": self.ns, "name": meta["name"],
                                    "uid": meta["uid"], "apiVersion": obj["apiVersion"]}
        if field_path:
            involved["fieldPath"] = field_path
        n = len(self.events)
        ev: dict[str, Any] = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{n:016x}", "namespace": self.ns, "uid": uid(f"ev{n}{meta['name']}")},
            "involvedObject": involved, "reason": reason, "message": message, "type": type_,
            "source": {"component": source},
        }
        if scheduler_style:
            ev.update({"firstTimestamp": None, "lastTimestamp": None, "eventTime": ts(ago).replace("Z", ".000000Z"),
                       "reportingComponent": "default-scheduler", "action": "Scheduling"})
            if count > 1:
                ev["series"] = {"count": count, "lastObservedTime": ts(ago).replace("Z", ".000000Z")}
        else:
            ev.update({"count": count, "firstTimestamp": ts(ago + 200), "lastTimestamp": ts(ago), "eventTime": None})
        self.events.append(ev)
        return ev

    def log(self, pod: dict[str, Any], container_name: str, text: str, *, previous: bool = False) -> None:
        self.logs.append({"pod": pod["metadata"]["name"], "container": container_name, "previous": previous,
                          "text": text})

    def bundle(self, git: dict[str, Any] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "apiVersion": "fyr/v1", "kind": "RolloutBundle", "cluster": "prod-eu-1",
            "collected_at": ts(0), "deployment": self.deployment, "replicasets": self.replicasets,
            "pods": self.pods, "events": self.events, "logs": self.logs,
        }
        if git is not None:
            out["git"] = git
        return out


def running(name: str, image: str, *, restarts: int = 0, ready: bool = False,
            last: dict[str, Any] | None = None) -> dict[str, Any]:
    st: dict[str, Any] = {"name": name, "image": image, "imageID": "", "ready": ready, "started": True,
                          "restartCount": restarts, "state": {"running": {"startedAt": ts(20)}}}
    st["lastState"] = {"terminated": last} if last else {}
    return st


def waiting(name: str, image: str, reason: str, message: str = "", *, restarts: int = 0,
            last: dict[str, Any] | None = None) -> dict[str, Any]:
    w: dict[str, Any] = {"reason": reason}
    if message:
        w["message"] = message
    return {"name": name, "image": image, "imageID": "", "ready": False, "started": False,
            "restartCount": restarts, "state": {"waiting": w},
            "lastState": {"terminated": last} if last else {}}


def terminated(reason: str, exit_code: int, message: str | None = None) -> dict[str, Any]:
    t: dict[str, Any] = {"reason": reason, "exitCode": exit_code, "startedAt": ts(60), "finishedAt": ts(50),
                         "containerID": "containerd://" + hashlib.sha256(reason.encode()).hexdigest()}
    if message:
        t["message"] = message
    return t


def crashloop(name: str, image: str, *, restarts: int = 5, exit_code: int = 1,
              reason: str = "Error") -> dict[str, Any]:
    # pod=<pod>_<ns>(<uid>), filled in by Rollout.pod()
    msg = f"back-off 2m40s restarting failed container={name} pod=__POD_____NS__(__UID__)"
    return waiting(name, image, "CrashLoopBackOff", msg, restarts=restarts, last=terminated(reason, exit_code))
