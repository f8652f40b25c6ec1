"""Script rollouts the way the deployment controller, scheduler and kubelet would show them.

Why it exists: the demo's scenarios, the tests and the benchmark need realistic objects — a new
ReplicaSet per template change with its `pod-template-hash` and revision annotation, pods owned by
it, Deployment status counts and conditions as the controller computes them, and the exact reasons,
messages and events kubelet and the scheduler write (docs/kubernetes-signals.md). `DeploymentSim` keeps one
Deployment's objects and re-applies them to the cluster after each scripted step.
"""

from __future__ import annotations

import copy
import json
import math
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from fyr.simcluster.defaults import normalize_status
from fyr.simcluster.store import JsonObj, format_time

HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # rand.SafeEncodeString


class Applier(Protocol):
    def apply(self, obj: JsonObj) -> JsonObj: ...
    def delete(self, kind: str, namespace: str, name: str) -> JsonObj | None: ...
    def set_log(self, namespace: str, pod: str, container: str, text: str, *, previous: bool = False) -> None: ...


def pod_template_hash(template: JsonObj) -> str:
    """FNV-32a of the template, its decimal digits mapped to the safe alphabet (like ComputeHash)."""
    h = 0x811C9DC5
    for byte in json.dumps(template, sort_keys=True).encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(HASH_ALPHABET[ord(ch) % len(HASH_ALPHABET)] for ch in str(h))


def _suffix() -> str:
    return "".join(secrets.choice(HASH_ALPHABET) for _ in range(5))


def _without_hash(template: JsonObj) -> JsonObj:
    t = copy.deepcopy(template)
    t.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
    return t


IMAGE_PULL_MESSAGES = {
    # containerd texts (docs/kubernetes-signals.md 'Image-pull errors: permanent or transient')
    "not_found": 'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": failed to '
                 'resolve reference "{ref}": {ref}: not found',
    "denied": 'rpc error: code = Unknown desc = failed to pull and unpack image "{ref}": failed to resolve '
              'reference "{ref}": pull access denied, repository does not exist or may require '
              "authorization: server message: insufficient_scope: authorization failed",
    "timeout": 'rpc error: code = Unknown desc = failed to pull and unpack image "{ref}": failed to resolve '
               'reference "{ref}": failed to do request: Head "https://{registry}/v2/{repo}/manifests/{tag}": '
               "dial tcp 10.0.12.7:443: i/o timeout",
}


class DeploymentSim:
    """One Deployment and the objects the control plane would create for it."""

    def __init__(
        self,
        cluster: Applier,
        *,
        namespace: str,
        name: str,
        image: str,
        replicas: int = 3,
        annotations: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        env: list[JsonObj] | None = None,
        progress_deadline_seconds: int = 600,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.name = name
        self.clock = clock or (lambda: datetime.now(UTC))
        self.replicas = replicas
        self.surge = max(1, math.ceil(replicas * 0.25))
        labels = {"app": name, **(labels or {})}
        container: JsonObj = {"name": "app", "image": image, "ports": [{"containerPort": 8080}],
                              "resources": {"limits": {"memory": "256Mi"}, "requests": {"cpu": "100m"}}}
        if env:
            container["env"] = env
        self.deployment: JsonObj = {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels,
                         "annotations": dict(annotations or {})},
            "spec": {
                "replicas": replicas, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}},
                "strategy": {"type": "RollingUpdate",
                             "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "progressDeadlineSeconds": progress_deadline_seconds, "revisionHistoryLimit": 10,
            },
            "status": {},
        }
        self.replicasets: dict[str, JsonObj] = {}  # by name
        self.pods: dict[str, JsonObj] = {}  # by name
        self.events: dict[tuple[str, str, str], JsonObj] = {}
        self.new_rs: str | None = None
        self._stored_rs: dict[str, JsonObj] = {}
        self._dirty = False  # deployment changed locally since it was last applied

    @classmethod
    def adopt(cls, cluster: Applier, stored: JsonObj, replicasets: list[JsonObj], pods: list[JsonObj],
              *, clock: Callable[[], datetime] | None = None) -> DeploymentSim:
        """Take over a Deployment a client created, with the ReplicaSets and pods it already owns."""
        meta, spec = stored["metadata"], stored.get("spec") or {}
        containers = spec["template"]["spec"]["containers"]
        d = cls(cluster, namespace=meta["namespace"], name=meta["name"], image=str(containers[0].get("image", "")),
                replicas=int(spec.get("replicas", 1)), clock=clock)
        d.refresh(stored)
        uid = meta["uid"]
        for rs in replicasets:
            if any(ref.get("uid") == uid for ref in rs["metadata"].get("ownerReferences") or ()):
                d.replicasets[rs["metadata"]["name"]] = copy.deepcopy(rs)
                d._stored_rs[rs["metadata"]["name"]] = copy.deepcopy(rs)
        rs_uids = {rs["metadata"]["uid"]: name for name, rs in d.replicasets.items()}
        for pod in pods:
            refs = pod["metadata"].get("ownerReferences") or ()
            if refs and refs[0].get("uid") in rs_uids:
                d.pods[pod["metadata"]["name"]] = copy.deepcopy(pod)
        template = _without_hash(d.deployment["spec"]["template"])
        d.new_rs = next((name for name, rs in d.replicasets.items()
                         if _without_hash(rs["spec"]["template"]) == template), None)
        return d

    def refresh(self, stored: JsonObj) -> None:
        """Take the Deployment as stored now (a client may have changed its spec or metadata)."""
        self.deployment = copy.deepcopy(stored)
        self.deployment["metadata"].setdefault("annotations", {})
        self.deployment.setdefault("status", {})
        self.replicas = int(self.deployment["spec"].get("replicas", 1))
        self.surge = max(1, math.ceil(self.replicas * 0.25))

    def template_changed(self) -> bool:
        """The Deployment's template is not the new ReplicaSet's: the controller must roll out."""
        if self.new_rs is None or self.new_rs not in self.replicasets:
            return True
        return _without_hash(self.replicasets[self.new_rs]["spec"]["template"]) != \
            _without_hash(self.deployment["spec"]["template"])

    # --- helpers ------------------------------------------------------------------------------
    def _now(self) -> str:
        return format_time(self.clock())

    def _apply_deployment(self) -> None:
        self.deployment = self.cluster.apply(self.deployment)
        self._dirty = False

    def _apply_pod(self, pod: JsonObj) -> JsonObj:
        stored = self.cluster.apply(pod)
        self.pods[stored["metadata"]["name"]] = stored
        return stored

    def pods_of(self, rs_name: str | None = None) -> list[JsonObj]:
        rs_name = rs_name or self.new_rs
        return [p for p in self.pods.values()
                if p["metadata"]["ownerReferences"][0]["name"] == rs_name]

    def pod(self, index: int = 0) -> JsonObj:
        """The `index`-th pod of the new ReplicaSet (by creation order)."""
        return self.pods_of()[index]

    def event(self, involved: JsonObj, reason: str, message: str, *, type_: str = "Normal",
              component: str = "kubelet", scheduler: bool = False) -> JsonObj:
        """Record an Event as core/v1 shows it; repeats bump count/series like the recorder does."""
        meta = involved["metadata"]
        key = (meta["uid"], reason, message)
        now = self._now()
        ev = self.events.get(key)
        if ev is None:
            ev = {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": self.namespace},
                "involvedObject": {"kind": involved["kind"], "namespace": self.namespace, "name": meta["name"],
                                   "uid": meta["uid"], "apiVersion": involved["apiVersion"],
                                   "resourceVersion": meta.get("resourceVersion", "")},
                "reason": reason, "message": message, "type": type_,
                "source": {"component": component},
            }
            if scheduler:
                # events.k8s.io writers: no first/lastTimestamp, eventTime + series instead.
                ev.update({"firstTimestamp": None, "lastTimestamp": None, "eventTime": self.clock()
                           .strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "reportingComponent": "default-scheduler",
                           "reportingInstance": "default-scheduler-control-plane", "action": "Scheduling"})
            else:
                ev.update({"firstTimestamp": now, "lastTimestamp": now, "count": 1, "eventTime": None,
                           "reportingComponent": component, "reportingInstance": ""})
        elif scheduler:
            series = ev.setdefault("series", {"count": 1})
            series["count"] += 1
            series["lastObservedTime"] = self.clock().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        else:
            ev["count"] += 1
            ev["lastTimestamp"] = now
        ev = self.cluster.apply(ev)
        self.events[key] = ev
        return ev

    def _condition(self, type_: str, status: str, reason: str, message: str) -> None:
        conds: list[JsonObj] = self.deployment["status"].setdefault("conditions", [])
        now = self._now()
        for c in conds:
            if c["type"] == type_:
                if (c["status"], c["reason"], c["message"]) == (status, reason, message):
                    return
                self._dirty = True
                if c["status"] != status:
                    c["lastTransitionTime"] = now
                c.update(status=status, reason=reason, message=message, lastUpdateTime=now)
                return
        self._dirty = True
        conds.append({"type": type_, "status": status, "reason": reason, "message": message,
                      "lastUpdateTime": now, "lastTransitionTime": now})

    def _sync_status(self) -> None:
        """Counts as `calculateStatus` computes them from ReplicaSets and their pods."""
        active = [p for p in self.pods.values() if p["status"].get("phase") not in ("Failed", "Succeeded")]
        ready = [p for p in active if _pod_ready(p)]
        new = [p for p in active if p["metadata"]["ownerReferences"][0]["name"] == self.new_rs]
        spec_total = sum(rs["spec"]["replicas"] for rs in self.replicasets.values())
        st = self.deployment["status"]
        st.update(observedGeneration=self.deployment["metadata"]["generation"], replicas=len(active),
                  updatedReplicas=len(new), readyReplicas=len(ready), availableReplicas=len(ready),
                  unavailableReplicas=max(0, spec_total - len(ready)))
        for key in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas"):
            if not st[key]:
                del st[key]  # omitempty
        max_unavailable = math.floor(self.replicas * 0.25)
        if len(ready) >= self.replicas - max_unavailable:
            self._condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            self._condition("Available", "False", "MinimumReplicasUnavailable",
                            "Deployment does not have minimum availability.")
        for rs in self.replicasets.values():
            owned = [p for p in active if p["metadata"]["ownerReferences"][0]["name"] == rs["metadata"]["name"]]
            rs_ready = [p for p in owned if _pod_ready(p)]
            rs["status"] = normalize_status("ReplicaSet", {
                "replicas": len(owned), "fullyLabeledReplicas": len(owned), "readyReplicas": len(rs_ready),
                "availableReplicas": len(rs_ready), "observedGeneration": rs["metadata"].get("generation", 1)})
            stored = self._stored_rs.get(rs["metadata"]["name"])
            if stored is None or stored["status"] != rs["status"] or stored["spec"] != rs["spec"] \
                    or stored["metadata"].get("annotations") != rs["metadata"].get("annotations"):
                rs = self.cluster.apply(rs)
                self._stored_rs[rs["metadata"]["name"]] = copy.deepcopy(rs)
            self.replicasets[rs["metadata"]["name"]] = rs

    def sync(self) -> None:
        """Re-derive the ReplicaSet and Deployment status after pod changes; apply what changed."""
        before = copy.deepcopy(self.deployment)
        self._sync_status()
        if self.deployment != before or self._dirty:
            self._apply_deployment()
        self._dirty = False

    # --- rollout steps ------------------------------------------------------------------------
    def rollout(self, *, image: str | None = None, env: list[JsonObj] | None = None,
                annotations: dict[str, str] | None = None, observe: bool = True) -> JsonObj:
        """Change the template (or create the Deployment): a new generation; `observe` runs the
        controller's reaction (new ReplicaSet, first surge pods ContainerCreating)."""
        container = self.deployment["spec"]["template"]["spec"]["containers"][0]
        if image is not None:
            container["image"] = image
        if env is not None:
            container["env"] = env
        if annotations:
            self.deployment["metadata"]["annotations"].update(annotations)
        self._apply_deployment()
        if observe:
            self.observe()
        return self.deployment

    def observe(self) -> JsonObj:
        """The deployment controller reacts to the current generation: find or create the new RS."""
        template = _without_hash(self.deployment["spec"]["template"])
        existing = next((rs for rs in self.replicasets.values()
                         if _without_hash(rs["spec"]["template"]) == template), None)
        revisions = [int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
                     for rs in self.replicasets.values()]
        revision = max(revisions, default=0) + 1
        created = existing is None
        if existing is None:
            h = pod_template_hash(template)
            rs_name = f"{self.name}-{h}"
            tmpl = copy.deepcopy(template)
            tmpl["metadata"].setdefault("labels", {})["pod-template-hash"] = h
            rs: JsonObj = {
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {
                    "name": rs_name, "namespace": self.namespace,
                    "labels": dict(tmpl["metadata"]["labels"]),
                    "annotations": {"deployment.kubernetes.io/revision": str(revision),
                                    "deployment.kubernetes.io/desired-replicas": str(self.replicas),
                                    "deployment.kubernetes.io/max-replicas": str(self.replicas + self.surge)},
                    "ownerReferences": [_owner(self.deployment)],
                },
                "spec": {"replicas": min(self.replicas, self.surge),
                         "selector": {"matchLabels": {**((self.deployment["spec"].get("selector") or {})
                                                         .get("matchLabels") or {}), "pod-template-hash": h}},
                         "template": tmpl},
                "status": {"replicas": 0},
            }
        else:
            rs = existing
            rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(revision)
            rs["spec"]["replicas"] = min(self.replicas, self.surge)
        rs = self.cluster.apply(rs)
        rs_name = rs["metadata"]["name"]
        self.replicasets[rs_name] = rs
        self._stored_rs[rs_name] = copy.deepcopy(rs)
        self.new_rs = rs_name
        self.deployment["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = str(revision)
        self.event(self.deployment, "ScalingReplicaSet",
                   f"Scaled up replica set {rs_name} from 0 to {rs['spec']['replicas']}",
                   component="deployment-controller")
        if created:
            self._condition("Progressing", "True", "NewReplicaSetCreated", f'Created new replica set "{rs_name}"')
        else:
            self._condition("Progressing", "True", "FoundNewReplicaSet", f'Found new replica set "{rs_name}"')
        for _ in range(rs["spec"]["replicas"] - len(self.pods_of(rs_name))):
            self._create_pod(rs)
        self.sync()
        return rs

    def _create_pod(self, rs: JsonObj) -> JsonObj:
        tmpl = rs["spec"]["template"]
        name = f"{rs['metadata']['name']}-{_suffix()}"
        while name in self.pods:  # generateName retries on a clash too
            name = f"{rs['metadata']['name']}-{_suffix()}"
        containers = tmpl["spec"]["containers"]
        pod: JsonObj = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "generateName": rs["metadata"]["name"] + "-", "namespace": self.namespace,
                         "labels": dict(tmpl["metadata"]["labels"]), "ownerReferences": [_owner(rs)]},
            "spec": {**copy.deepcopy(tmpl["spec"]), "nodeName": "node-1", "restartPolicy": "Always"},
            "status": {
                "phase": "Pending", "qosClass": "Burstable",
                "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": self._now()}],
                "containerStatuses": [
                    {"name": c["name"], "image": c["image"], "imageID": "", "ready": False, "started": False,
                     "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}}
                    for c in containers
                ],
            },
        }
        pod = self._apply_pod(pod)
        self.event(rs, "SuccessfulCreate", f"Created pod: {name}", component="replicaset-controller")
        return pod

    def become_ready(self) -> None:
        """Every pod of the new RS runs and is ready; old ReplicaSets scale to zero: SUCCESS."""
        rs = self.replicasets[str(self.new_rs)]
        before = len(self.pods_of())
        rs["spec"]["replicas"] = self.replicas
        for _ in range(self.replicas - len(self.pods_of())):
            self._create_pod(rs)
        for pod in self.pods_of()[self.replicas:]:  # scaled down
            self.cluster.delete("Pod", self.namespace, pod["metadata"]["name"])
            del self.pods[pod["metadata"]["name"]]
        if before > self.replicas:
            self.event(self.deployment, "ScalingReplicaSet", f"Scaled down replica set {self.new_rs} from "
                       f"{before} to {self.replicas}", component="deployment-controller")
        for pod in self.pods_of():
            self._set_running(pod, ready=True)
        for name, old in list(self.replicasets.items()):
            if name == self.new_rs or not old["spec"]["replicas"]:
                continue
            old["spec"]["replicas"] = 0
            self.event(self.deployment, "ScalingReplicaSet", f"Scaled down replica set {name} from "
                       f"{len(self.pods_of(name))} to 0", component="deployment-controller")
            for pod in self.pods_of(name):
                self.cluster.delete("Pod", self.namespace, pod["metadata"]["name"])
                del self.pods[pod["metadata"]["name"]]
        self._condition("Progressing", "True", "NewReplicaSetAvailable",
                        f'ReplicaSet "{self.new_rs}" has successfully progressed.')
        self.sync()
        self._cleanup()

    def _cleanup(self) -> None:
        """Delete the oldest scaled-down ReplicaSets beyond `revisionHistoryLimit` (cleanupDeployment)."""
        limit = self.deployment["spec"].get("revisionHistoryLimit")
        if limit is None:
            return
        old = [rs for name, rs in self.replicasets.items()
               if name != self.new_rs and not rs["spec"]["replicas"] and not self.pods_of(name)]
        old.sort(key=lambda rs: int(rs["metadata"]["annotations"].get("deployment.kubernetes.io/revision", "0")))
        for rs in old[: max(0, len(old) - int(limit))]:
            name = rs["metadata"]["name"]
            self.cluster.delete("ReplicaSet", self.namespace, name)
            del self.replicasets[name]
            self._stored_rs.pop(name, None)

    def _set_running(self, pod: JsonObj, *, ready: bool) -> None:
        now = self._now()
        st = pod["status"]
        st.update(phase="Running", podIP="10.244.1.17", startTime=st.get("startTime", now))
        for cs in st["containerStatuses"]:
            cs.update(ready=ready, started=True, state={"running": {"startedAt": now}},
                      imageID=f"docker.io/library/app@sha256:{'a' * 64}",
                      containerID=f"containerd://{secrets.token_hex(32)}")
        flag = "True" if ready else "False"
        st["conditions"] = [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
            {"type": "Ready", "status": flag, "lastTransitionTime": now},
        ]
        self._apply_pod(pod)

    def _container(self, pod: JsonObj, container: str | None) -> JsonObj:
        statuses: list[JsonObj] = pod["status"]["containerStatuses"]
        return next(cs for cs in statuses if container is None or cs["name"] == container)

    def restart(self, *, pod: int = 0, container: str | None = None, exit_code: int = 1,
                reason: str = "Error", log: str | None = None, previous_log: str | None = None) -> JsonObj:
        """One more crash of a container: restartCount+1, CrashLoopBackOff, lastState terminated."""
        p = self.pod(pod)
        cs = self._container(p, container)
        now = self._now()
        cs["restartCount"] = cs.get("restartCount", 0) + 1
        wait = crash_loop_back_off(cs["restartCount"])
        name, uid = p["metadata"]["name"], p["metadata"]["uid"]
        cs.update(ready=False, started=False,
                  lastState={"terminated": {"exitCode": exit_code, "reason": reason, "startedAt": now,
                                            "finishedAt": now, "containerID": f"containerd://{secrets.token_hex(32)}"}},
                  state={"waiting": {"reason": "CrashLoopBackOff", "message": f"back-off {wait} restarting "
                                     f"failed container={cs['name']} pod={name}_{self.namespace}({uid})"}})
        p["status"]["phase"] = "Running"
        for c in p["status"].get("conditions", []):
            if c["type"] in ("Ready", "ContainersReady"):
                c["status"] = "False"
        if previous_log is not None:
            self.cluster.set_log(self.namespace, name, cs["name"], previous_log, previous=True)
        if log is not None:
            self.cluster.set_log(self.namespace, name, cs["name"], log)
        p = self._apply_pod(p)
        self.event(p, "BackOff", f"Back-off restarting failed container {cs['name']} in pod "
                   f"{name}_{self.namespace}({uid})", type_="Warning")
        self.sync()
        return p

    def crash_loop(self, *, restarts: int = 3, pod: int = 0, exit_code: int = 1, log: str | None = None,
                   previous_log: str | None = None) -> JsonObj:
        """Crash the container `restarts` times (one pod update each), as a crash-looping app does."""
        self._set_running(self.pod(pod), ready=False)
        p = self.pod(pod)
        for _ in range(restarts):
            p = self.restart(pod=pod, exit_code=exit_code, log=log, previous_log=previous_log)
        return p

    def oom_kill(self, *, restarts: int = 2, pod: int = 0, previous_log: str | None = None) -> JsonObj:
        self._set_running(self.pod(pod), ready=False)
        p = self.pod(pod)
        for _ in range(restarts):
            p = self.restart(pod=pod, exit_code=137, reason="OOMKilled", previous_log=previous_log)
        return p

    def _waiting(self, reason: str, message: str, *, pod: int | None = None) -> None:
        pods = self.pods_of() if pod is None else [self.pod(pod)]
        for p in pods:
            for cs in p["status"]["containerStatuses"]:
                cs["state"] = {"waiting": {"reason": reason, "message": message}}
            self._apply_pod(p)
        self.sync()

    def image_pull_error(self, *, kind: str = "not_found", backoff: bool = True) -> None:
        """ErrImagePull then ImagePullBackOff with containerd's text (kind: not_found, denied, timeout)."""
        ref = self.deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        repo_tag = ref.split("/", 1)[-1]
        repo, _, tag = repo_tag.rpartition(":")
        error = IMAGE_PULL_MESSAGES[kind].format(ref=ref, registry=ref.split("/", 1)[0], repo=repo, tag=tag)
        for p in self.pods_of():
            self.event(p, "Pulling", f'Pulling image "{ref}"')
            self.event(p, "Failed", f'Failed to pull image "{ref}": {error}', type_="Warning")
            self.event(p, "Failed", "Error: ErrImagePull", type_="Warning")
        self._waiting("ErrImagePull", error)
        if backoff:
            for p in self.pods_of():
                self.event(p, "BackOff", f'Back-off pulling image "{ref}"')
                self.event(p, "Failed", "Error: ImagePullBackOff", type_="Warning")
            self._waiting("ImagePullBackOff", f'Back-off pulling image "{ref}": ErrImagePull: {error}')

    def invalid_image_name(self) -> None:
        ref = self.deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        msg = f'Failed to apply default image tag "{ref}": couldn\'t parse image name "{ref}": invalid reference format'
        for p in self.pods_of():
            self.event(p, "InspectFailed", msg, type_="Warning")
            self.event(p, "Failed", "Error: InvalidImageName", type_="Warning")
        self._waiting("InvalidImageName", msg)

    def missing_secret(self, secret: str = "db-credentials") -> None:
        for p in self.pods_of():
            self.event(p, "Failed", f'Error: secret "{secret}" not found', type_="Warning")
        self._waiting("CreateContainerConfigError", f'secret "{secret}" not found')

    def unschedulable(self, message: str | None = None) -> None:
        """No node fits: pods stay Pending, PodScheduled=False, a FailedScheduling event (scheduler form)."""
        message = message or ("0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
                              "3 No preemption victims found for incoming pod.")
        for p in self.pods_of():
            p["spec"].pop("nodeName", None)
            p["status"].pop("containerStatuses", None)
            p["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                          "message": message, "lastTransitionTime": self._now()}]
            p = self._apply_pod(p)
            self.event(p, "FailedScheduling", message, type_="Warning", component="default-scheduler",
                       scheduler=True)
        self.sync()

    def progress_deadline_exceeded(self) -> None:
        self._condition("Progressing", "False", "ProgressDeadlineExceeded",
                        f'ReplicaSet "{self.new_rs}" has timed out progressing.')
        self._apply_deployment()


def _pod_ready(pod: JsonObj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def _owner(obj: JsonObj) -> JsonObj:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def crash_loop_back_off(restarts: int) -> str:
    """The kubelet's wait after `restarts` restarts (10 s doubling, at most 5 minutes, no jitter),
    as Go's time.Duration prints whole seconds: 10s, 40s, 1m20s, 5m0s."""
    minutes, secs = divmod(min(300, 10 * 2 ** (restarts - 1)), 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


__all__ = ["IMAGE_PULL_MESSAGES", "Applier", "DeploymentSim", "crash_loop_back_off", "pod_template_hash"]
