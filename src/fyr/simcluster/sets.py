"""Script StatefulSet and DaemonSet rollouts the way their controllers, the scheduler and kubelet show them.

Why it exists: the watcher's, collector's and demo's tests for the two kinds need the objects the
real controllers write — a ControllerRevision per template (`<name>-<hash>`, `.revision`, the
`controller-revision-hash` label), pods labelled with their revision, a StatefulSet's ordered pods
(`<name>-<ordinal>`, created one at a time up, updated one at a time down to the partition, each
waiting for the previous one to be Ready) and a DaemonSet's one pod per node (updated one node at a
time, `pod-template-generation` label), with the status counts the controllers compute.

Each step is explicit, as in `fyr.simcluster.controller.DeploymentSim`: a test changes the template,
lets the controller react (`reconcile`), makes pods ready or fail, and the objects are re-applied.
"""

from __future__ import annotations

import copy
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fyr.simcluster.controller import (
    HASH_ALPHABET,
    IMAGE_PULL_MESSAGES,
    Applier,
    crash_loop_back_off,
    pod_template_hash,
)
from fyr.simcluster.store import JsonObj, format_time

REVISION_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"
PVC_UNBOUND = ("0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: "
               "0/3 nodes are available: 3 Preemption is not helpful for scheduling.")


def _owner(obj: JsonObj) -> JsonObj:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def _ready(pod: JsonObj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


class _SetSim(ABC):
    """What both controllers share: the workload, its revisions, pods, events and pod scripting."""

    kind = ""

    def __init__(self, cluster: Applier, *, namespace: str, name: str, image: str,
                 annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None,
                 strategy: str = "RollingUpdate", clock: Callable[[], datetime] | None = None) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.name = name
        self.clock = clock or (lambda: datetime.now(UTC))
        container: JsonObj = {"name": "app", "image": image,
                              "resources": {"limits": {"memory": "256Mi"}, "requests": {"cpu": "100m"}}}
        self.obj: JsonObj = {
            "apiVersion": "apps/v1", "kind": self.kind,
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": name, **(labels or {})},
                         "annotations": dict(annotations or {})},
            "spec": {"selector": {"matchLabels": {"app": name}}, "revisionHistoryLimit": 10,
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}},
                     "updateStrategy": {"type": strategy}},
            "status": {},
        }
        self.revisions: dict[str, JsonObj] = {}  # ControllerRevisions by name
        self.pods: dict[str, JsonObj] = {}
        self.events: dict[tuple[str, str, str], JsonObj] = {}
        self.update_revision: str | None = None  # ControllerRevision name

    # --- helpers ------------------------------------------------------------------------------
    def _now(self) -> str:
        return format_time(self.clock())

    def _apply(self) -> None:
        self.obj = self.cluster.apply(self.obj)

    def _apply_pod(self, pod: JsonObj) -> JsonObj:
        stored = self.cluster.apply(pod)
        self.pods[stored["metadata"]["name"]] = stored
        return stored

    def _delete_pod(self, name: str) -> None:
        self.cluster.delete("Pod", self.namespace, name)
        self.pods.pop(name, None)

    def revision_hash(self, name: str | None = None) -> str:
        return str(self.revisions[name or str(self.update_revision)]["metadata"]["labels"][REVISION_LABEL])

    def event(self, involved: JsonObj, reason: str, message: str, *, type_: str = "Normal",
              component: str = "kubelet") -> JsonObj:
        meta = involved["metadata"]
        key = (meta["uid"], reason, message)
        now = self._now()
        ev = self.events.get(key)
        if ev is None:
            ev = {"apiVersion": "v1", "kind": "Event",
                  "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": self.namespace},
                  "involvedObject": {"kind": involved["kind"], "namespace": self.namespace, "name": meta["name"],
                                     "uid": meta["uid"], "apiVersion": involved["apiVersion"]},
                  "reason": reason, "message": message, "type": type_, "source": {"component": component},
                  "firstTimestamp": now, "lastTimestamp": now, "count": 1, "reportingComponent": component}
        else:
            ev["count"] += 1
            ev["lastTimestamp"] = now
        ev = self.cluster.apply(ev)
        self.events[key] = ev
        return ev

    def _template(self) -> JsonObj:
        return copy.deepcopy(self.obj["spec"]["template"])

    def _observe_revision(self) -> JsonObj:
        """Find or create the ControllerRevision of the current template; it becomes the newest."""
        template = self._template()
        newest = max((int(r["revision"]) for r in self.revisions.values()), default=0)
        found = next((r for r in self.revisions.values() if r["data"]["spec"]["template"] == template), None)
        if found is None:
            h = pod_template_hash(template)[:10]
            found = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
                     "metadata": {"name": f"{self.name}-{h}", "namespace": self.namespace,
                                  "labels": {"app": self.name, REVISION_LABEL: self._label_value(h)},
                                  "ownerReferences": [_owner(self.obj)]},
                     "data": {"spec": {"template": template}}, "revision": newest + 1}
        elif int(found["revision"]) != newest:
            found["revision"] = newest + 1  # a rollback: the old revision is renumbered as the newest
        found = self.cluster.apply(found)
        self.revisions[found["metadata"]["name"]] = found
        self.update_revision = found["metadata"]["name"]
        return found

    def _label_value(self, h: str) -> str:
        return h

    def _new_pod(self, name: str, node: str, extra_labels: dict[str, str]) -> JsonObj:
        tmpl = self.revisions[str(self.update_revision)]["data"]["spec"]["template"]
        spec = {**copy.deepcopy(tmpl["spec"]), "nodeName": node, "restartPolicy": "Always"}
        # a StatefulSet's volumeClaimTemplates: each pod mounts its own claim, `<template>-<pod>`
        templates = [t["metadata"]["name"] for t in self.obj["spec"].get("volumeClaimTemplates") or ()]
        claims = [{"name": t, "persistentVolumeClaim": {"claimName": f"{t}-{name}"}} for t in templates]
        if claims:
            spec["volumes"] = [*spec.get("volumes", ()), *claims]
        pod: JsonObj = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": self.namespace,
                         "labels": {**tmpl["metadata"]["labels"], REVISION_LABEL: self.revision_hash(),
                                    **extra_labels},
                         "ownerReferences": [_owner(self.obj)]},
            "spec": spec,
            "status": {"phase": "Pending", "qosClass": "Burstable",
                       "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": self._now()}],
                       "containerStatuses": [
                           {"name": c["name"], "image": c["image"], "imageID": "", "ready": False,
                            "started": False, "restartCount": 0,
                            "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}}
                           for c in tmpl["spec"]["containers"]]},
        }
        pod = self._apply_pod(pod)
        self.event(self.obj, "SuccessfulCreate", f"create Pod {name} in {self.kind} {self.name} successful",
                   component=f"{self.kind.lower()}-controller")
        return pod

    def is_updated(self, pod: JsonObj) -> bool:
        return bool(pod["metadata"]["labels"].get(REVISION_LABEL) == self.revision_hash())

    def set_running(self, pod_name: str, *, ready: bool = True) -> None:
        now = self._now()
        pod = self.pods[pod_name]
        st = pod["status"]
        st.update(phase="Running", podIP="10.244.1.17", startTime=st.get("startTime", now))
        for cs in st.get("containerStatuses", []):
            cs.update(ready=ready, started=True, state={"running": {"startedAt": now}},
                      imageID="docker.io/library/app@sha256:" + "a" * 64,
                      containerID=f"containerd://{secrets.token_hex(32)}")
        flag = "True" if ready else "False"
        st["conditions"] = [{"type": t, "status": "True" if t in ("PodScheduled", "Initialized") else flag,
                             "lastTransitionTime": now}
                            for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]
        self._apply_pod(pod)

    def restart(self, pod_name: str, *, exit_code: int = 1, reason: str = "Error",
                previous_log: str | None = None) -> JsonObj:
        """One more crash of the pod's first container: restartCount+1, CrashLoopBackOff."""
        pod = self.pods[pod_name]
        if pod["status"].get("phase") != "Running":
            self.set_running(pod_name, ready=False)
            pod = self.pods[pod_name]
        cs = pod["status"]["containerStatuses"][0]
        now = self._now()
        cs["restartCount"] = cs.get("restartCount", 0) + 1
        wait = crash_loop_back_off(cs["restartCount"])
        uid = pod["metadata"]["uid"]
        cs.update(ready=False, started=False,
                  lastState={"terminated": {"exitCode": exit_code, "reason": reason, "startedAt": now,
                                            "finishedAt": now}},
                  state={"waiting": {"reason": "CrashLoopBackOff",
                                     "message": f"back-off {wait} restarting failed container="
                                                f"{cs['name']} pod={pod_name}_{self.namespace}({uid})"}})
        for c in pod["status"]["conditions"]:
            if c["type"] in ("Ready", "ContainersReady"):
                c["status"] = "False"
        if previous_log is not None:
            self.cluster.set_log(self.namespace, pod_name, cs["name"], previous_log, previous=True)
        pod = self._apply_pod(pod)
        self.event(pod, "BackOff", f"Back-off restarting failed container {cs['name']} in pod "
                   f"{pod_name}_{self.namespace}({uid})", type_="Warning")
        self.sync()
        return pod

    def crash_loop(self, pod_name: str, *, restarts: int = 3, previous_log: str | None = None) -> JsonObj:
        pod = self.pods[pod_name]
        for _ in range(restarts):
            pod = self.restart(pod_name, previous_log=previous_log)
        return pod

    def image_not_found(self, pod_name: str) -> None:
        """ErrImagePull then ImagePullBackOff with containerd's not-found text."""
        pod = self.pods[pod_name]
        ref = pod["spec"]["containers"][0]["image"]
        repo, _, tag = ref.split("/", 1)[-1].rpartition(":")
        error = IMAGE_PULL_MESSAGES["not_found"].format(ref=ref, registry=ref.split("/", 1)[0], repo=repo, tag=tag)
        self.event(pod, "Failed", f'Failed to pull image "{ref}": {error}', type_="Warning")
        self.event(pod, "Failed", "Error: ErrImagePull", type_="Warning")
        for reason, message in (("ErrImagePull", error),
                                ("ImagePullBackOff", f'Back-off pulling image "{ref}": ErrImagePull: {error}')):
            for cs in pod["status"]["containerStatuses"]:
                cs["state"] = {"waiting": {"reason": reason, "message": message}}
            pod = self._apply_pod(pod)
        self.sync()

    def unbound_volume(self, pod_name: str, message: str = PVC_UNBOUND, *,
                       at: datetime | None = None) -> None:
        """The pod stays Pending: its PersistentVolumeClaim is not bound (FailedScheduling)."""
        pod = self.pods[pod_name]
        when = format_time(at) if at is not None else self._now()
        pod["spec"].pop("nodeName", None)
        pod["status"].pop("containerStatuses", None)
        pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                        "message": message, "lastTransitionTime": when}]
        pod = self._apply_pod(pod)
        ev = self.event(pod, "FailedScheduling", message, type_="Warning", component="default-scheduler")
        if at is not None:
            ev["firstTimestamp"] = ev["lastTimestamp"] = when
            self.events[(pod["metadata"]["uid"], "FailedScheduling", message)] = self.cluster.apply(ev)
        self.sync()

    @abstractmethod
    def sync(self) -> None:
        """Re-derive the workload's status from its pods; apply it if it changed."""

    @abstractmethod
    def make_ready(self) -> None:
        """Pods waiting to start become Ready, and the controller goes on."""

    def run_to_completion(self, limit: int = 100) -> None:
        """Make every pod ready, step by step, until the controller has nothing left to do."""
        for _ in range(limit):
            before = {n: p["metadata"].get("resourceVersion") for n, p in self.pods.items()}
            self.make_ready()
            if {n: p["metadata"].get("resourceVersion") for n, p in self.pods.items()} == before:
                return


class StatefulSetSim(_SetSim):
    """One StatefulSet with OrderedReady pod management and the RollingUpdate (or OnDelete) strategy."""

    kind = "StatefulSet"

    def __init__(self, cluster: Applier, *, namespace: str, name: str, image: str, replicas: int = 3,
                 partition: int | None = 0, **kw: Any) -> None:
        super().__init__(cluster, namespace=namespace, name=name, image=image, **kw)
        spec = self.obj["spec"]
        spec.update(replicas=replicas, serviceName=name, podManagementPolicy="OrderedReady")
        if spec["updateStrategy"]["type"] == "RollingUpdate" and partition is not None:
            spec["updateStrategy"]["rollingUpdate"] = {"partition": partition}
        self.current_revision: str | None = None

    def _label_value(self, h: str) -> str:
        return f"{self.name}-{h}"  # a StatefulSet's pods carry the revision's name

    def ordinal_pod(self, ordinal: int) -> str:
        return f"{self.name}-{ordinal}"

    @property
    def partition(self) -> int:
        rolling = self.obj["spec"]["updateStrategy"].get("rollingUpdate") or {}
        return int(rolling.get("partition") or 0)

    def rollout(self, *, image: str | None = None, partition: int | None = None, observe: bool = True) -> JsonObj:
        """Change the template (or create the StatefulSet): a new generation; `observe`: the controller
        records the revision and takes its first step."""
        if image is not None:
            self.obj["spec"]["template"]["spec"]["containers"][0]["image"] = image
        if partition is not None:
            self.obj["spec"]["updateStrategy"]["rollingUpdate"] = {"partition": partition}
        self._apply()
        if observe:
            self._observe_revision()
            if self.current_revision is None:
                self.current_revision = self.update_revision
            self.reconcile()
        return self.obj

    def reconcile(self) -> None:
        """One controller pass: create the next missing ordinal, or replace the highest outdated one at
        or above the partition — only when every existing pod is Ready (OrderedReady)."""
        if all(_ready(p) for p in self.pods.values()):
            replicas = int(self.obj["spec"]["replicas"])
            missing = [i for i in range(replicas) if self.ordinal_pod(i) not in self.pods]
            rolling = self.obj["spec"]["updateStrategy"]["type"] == "RollingUpdate"
            if missing:
                self._new_pod(self.ordinal_pod(missing[0]), "node-1", {
                    "statefulset.kubernetes.io/pod-name": self.ordinal_pod(missing[0]),
                    "apps.kubernetes.io/pod-index": str(missing[0])})
            elif rolling:
                outdated = [i for i in range(replicas - 1, self.partition - 1, -1)
                            if not self.is_updated(self.pods[self.ordinal_pod(i)])]
                if outdated:
                    name = self.ordinal_pod(outdated[0])
                    self._delete_pod(name)
                    self._new_pod(name, "node-1", {"statefulset.kubernetes.io/pod-name": name,
                                                   "apps.kubernetes.io/pod-index": str(outdated[0])})
        self.sync()

    def start_ready(self) -> None:
        """Where run_to_completion ends for a new StatefulSet, in one step: every ordinal Ready (benchmarks)."""
        for i in range(int(self.obj["spec"]["replicas"])):
            name = self.ordinal_pod(i)
            if name not in self.pods:
                self._new_pod(name, "node-1", {"statefulset.kubernetes.io/pod-name": name,
                                               "apps.kubernetes.io/pod-index": str(i)})
            self.set_running(name)
        self.sync()

    def make_ready(self, ordinal: int | None = None) -> None:
        """Pods waiting to start become Ready (one ordinal, or all of them), and the controller goes on."""
        names = [self.ordinal_pod(ordinal)] if ordinal is not None else list(self.pods)
        for name in names:
            if not _ready(self.pods[name]):
                self.set_running(name)
        self.reconcile()

    def sync(self) -> None:
        pods = [p for p in self.pods.values() if p["status"].get("phase") not in ("Failed", "Succeeded")]
        update_hash = self.revision_hash() if self.update_revision else None
        current_hash = self.revision_hash(self.current_revision) if self.current_revision else None
        updated = sum(1 for p in pods if p["metadata"]["labels"].get(REVISION_LABEL) == update_hash)
        if updated == int(self.obj["spec"]["replicas"]) and len(pods) == updated:
            self.current_revision = self.update_revision
            current_hash = update_hash
        current = sum(1 for p in pods if p["metadata"]["labels"].get(REVISION_LABEL) == current_hash)
        ready = sum(1 for p in pods if _ready(p))
        st: JsonObj = {"observedGeneration": self.obj["metadata"]["generation"], "replicas": len(pods),
                       "readyReplicas": ready, "availableReplicas": ready, "currentReplicas": current,
                       "updatedReplicas": updated, "currentRevision": self.current_revision,
                       "updateRevision": self.update_revision, "collisionCount": 0}
        st = {k: v for k, v in st.items() if v not in (0, None) or k == "observedGeneration"}
        if st != self.obj.get("status"):
            self.obj["status"] = st
            self._apply()


class DaemonSetSim(_SetSim):
    """One DaemonSet: a pod per node, RollingUpdate one node at a time (maxUnavailable 1)."""

    kind = "DaemonSet"

    def __init__(self, cluster: Applier, *, namespace: str, name: str, image: str,
                 nodes: tuple[str, ...] = ("node-1", "node-2", "node-3"), **kw: Any) -> None:
        super().__init__(cluster, namespace=namespace, name=name, image=image, **kw)
        if self.obj["spec"]["updateStrategy"]["type"] == "RollingUpdate":
            self.obj["spec"]["updateStrategy"]["rollingUpdate"] = {"maxUnavailable": 1, "maxSurge": 0}
        self.nodes = nodes

    def pod_on(self, node: str) -> str:
        return next(n for n, p in self.pods.items() if p["spec"].get("nodeName") == node)

    def rollout(self, *, image: str | None = None, observe: bool = True) -> JsonObj:
        if image is not None:
            self.obj["spec"]["template"]["spec"]["containers"][0]["image"] = image
        self._apply()
        if observe:
            self._observe_revision()
            self.reconcile()
        return self.obj

    def _create_on(self, node: str) -> JsonObj:
        name = f"{self.name}-{''.join(secrets.choice(HASH_ALPHABET) for _ in range(5))}"
        return self._new_pod(name, node, {GENERATION_LABEL: str(self.obj["metadata"]["generation"])})

    def reconcile(self) -> None:
        """Every node without a pod gets one; then, if no pod is unavailable, one outdated pod is replaced."""
        on_node = {p["spec"].get("nodeName"): n for n, p in self.pods.items()}
        for node in self.nodes:
            if node not in on_node:
                self._create_on(node)
        rolling = self.obj["spec"]["updateStrategy"]["type"] == "RollingUpdate"
        if rolling and all(_ready(p) for p in self.pods.values()):
            outdated = sorted(n for n, p in self.pods.items() if not self.is_updated(p))
            if outdated:
                node = self.pods[outdated[0]]["spec"]["nodeName"]
                self._delete_pod(outdated[0])
                self._create_on(node)
        self.sync()

    def start_ready(self) -> None:
        """Where run_to_completion ends for a new DaemonSet, in one step: a Ready pod on every node."""
        on_node = {p["spec"].get("nodeName") for p in self.pods.values()}
        for node in self.nodes:
            if node not in on_node:
                self._create_on(node)
        for name in list(self.pods):
            self.set_running(name)
        self.sync()

    def make_ready(self, node: str | None = None) -> None:
        names = [self.pod_on(node)] if node is not None else list(self.pods)
        for name in names:
            if not _ready(self.pods[name]):
                self.set_running(name)
        self.reconcile()

    def sync(self) -> None:
        pods = list(self.pods.values())
        ready = sum(1 for p in pods if _ready(p))
        updated = sum(1 for p in pods if self.is_updated(p)) if self.update_revision else 0
        desired = len(self.nodes)
        st: JsonObj = {"observedGeneration": self.obj["metadata"]["generation"],
                       "desiredNumberScheduled": desired, "currentNumberScheduled": len(pods),
                       "numberMisscheduled": 0, "numberReady": ready, "numberAvailable": ready,
                       "updatedNumberScheduled": updated, "numberUnavailable": max(0, desired - ready)}
        st = {k: v for k, v in st.items()
              if v or k in ("observedGeneration", "desiredNumberScheduled", "currentNumberScheduled",
                            "numberMisscheduled", "numberReady")}
        if st != self.obj.get("status"):
            self.obj["status"] = st
            self._apply()


__all__ = ["PVC_UNBOUND", "DaemonSetSim", "StatefulSetSim"]
