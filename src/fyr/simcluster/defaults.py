"""API defaulting and wire shape of the objects the simulated cluster stores.

Why it exists: a real API server fills in defaults on every write (`SetDefaults_*` of core/v1 and
apps/v1) and serializes Go structs, so zero counts tagged `omitempty` are absent and a ReplicaSet's
`status.replicas` is always present. Clients (kubectl's printers, Fyr's views, `kubectl apply`'s
three-way diff) see those fields; objects without them are not what a cluster returns.
"""

from __future__ import annotations

from typing import Any

JsonObj = dict[str, Any]

_PROBE_DEFAULTS = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
# Status fields tagged `omitempty` (dropped when zero) per kind; `always` are written even when 0.
_OMITEMPTY: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Deployment": (("observedGeneration", "replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                    "unavailableReplicas", "terminatingReplicas", "collisionCount"), ()),
    "ReplicaSet": (("fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration",
                    "terminatingReplicas"), ("replicas",)),
    "StatefulSet": (("observedGeneration", "readyReplicas", "currentReplicas", "updatedReplicas",
                     "collisionCount", "availableReplicas"), ("replicas",)),
    "DaemonSet": (("observedGeneration", "updatedNumberScheduled", "numberAvailable", "numberUnavailable",
                   "collisionCount"),
                  ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady")),
}


def image_pull_policy(image: str) -> str:
    """`Always` for `:latest` or no tag (and no digest), otherwise `IfNotPresent`."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _container(c: JsonObj) -> None:
    c.setdefault("imagePullPolicy", image_pull_policy(str(c.get("image", ""))))
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for port in c.get("ports") or ():
        port.setdefault("protocol", "TCP")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        p = c.get(probe)
        if isinstance(p, dict):
            for k, v in _PROBE_DEFAULTS.items():
                p.setdefault(k, v)
            if isinstance(p.get("httpGet"), dict):
                p["httpGet"].setdefault("scheme", "HTTP")
    for env in c.get("env") or ():
        ref = (env.get("valueFrom") or {}).get("fieldRef")
        if isinstance(ref, dict):
            ref.setdefault("apiVersion", "v1")


def pod_spec(spec: JsonObj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or ():
            if isinstance(c, dict):
                _container(c)


def _template(spec: JsonObj) -> None:
    tmpl = spec.get("template")
    if isinstance(tmpl, dict):
        tmpl.setdefault("metadata", {})
        if isinstance(tmpl.get("spec"), dict):
            pod_spec(tmpl["spec"])


def normalize_status(kind: str, status: JsonObj) -> JsonObj:
    """Drop zero `omitempty` counts and write the non-omitempty ones, as the server serializes them."""
    omit, always = _OMITEMPTY.get(kind, ((), ()))
    for key in omit:
        if key in status and not status[key]:
            del status[key]
    for key in always:
        status.setdefault(key, 0)
    return status


def apply_defaults(kind: str, obj: JsonObj) -> JsonObj:
    """Fill in what the API server defaults for `kind`, in place; returns `obj`."""
    spec = obj.get("spec")
    if kind == "Pod" and isinstance(spec, dict):
        pod_spec(spec)
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("priority", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    elif kind == "Deployment" and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            ru = strategy.setdefault("rollingUpdate", {})
            ru.setdefault("maxUnavailable", "25%")
            ru.setdefault("maxSurge", "25%")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        _template(spec)
    elif kind == "ReplicaSet" and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        _template(spec)
    elif kind == "StatefulSet" and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if strategy.get("type") == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
        _template(spec)
    elif kind == "DaemonSet" and isinstance(spec, dict):
        strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if strategy.get("type") == "RollingUpdate":
            ru = strategy.setdefault("rollingUpdate", {})
            ru.setdefault("maxUnavailable", 1)
            ru.setdefault("maxSurge", 0)
        spec.setdefault("revisionHistoryLimit", 10)
        _template(spec)
    if kind in _OMITEMPTY:
        status = obj.get("status")
        if not isinstance(status, dict):
            status = obj["status"] = {}
        normalize_status(kind, status)
    return obj
