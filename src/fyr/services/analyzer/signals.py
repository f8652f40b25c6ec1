"""Structured failure signals from pods, ReplicaSets, the Deployment and events.

Logs say *why* a program died; these signals say *how* Kubernetes saw it fail (waiting and
terminated reasons, exit codes, restarts, probe, scheduling, mount and create failures). They are
read from the exact strings of docs/kubernetes-signals.md 'Pod signals' and grouped across pods: ten replicas crashing
the same way are one signal with `pods=10`, which is what both the rules and the LLM need.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Waiting reasons that mean "still starting", not a failure.
_BENIGN_WAITING = frozenset({"ContainerCreating", "PodInitializing"})

# Event reasons worth a signal, mapped to the signal kind.
_EVENT_KINDS: dict[str, str] = {
    "FailedScheduling": "scheduling",
    "FailedMount": "mount",
    "FailedAttachVolume": "mount",
    "FailedMapVolume": "mount",
    "FailedCreate": "create",
    "ReplicaSetCreateError": "create",
    "FailedCreatePodSandBox": "sandbox",
    "FailedCreatePodContainer": "sandbox",
    "Evicted": "evicted",
    "Unhealthy": "probe",
    "FailedPostStartHook": "hook",
    "FailedPreStopHook": "hook",
    "NodeNotReady": "node",
    "NetworkNotReady": "sandbox",
    "ProvisioningFailed": "volume",
}

# Messages that only say that something is still waiting: ranked below a sibling that names the cause.
_GENERIC = re.compile(
    r"timed out waiting for the condition|timeout expired waiting for volumes|^Back-off pulling image"
    r"|Unable to (?:attach or )?mount volumes|unbound immediate PersistentVolumeClaims|has timed out progressing",
    re.IGNORECASE)
# Messages that name the cause: what is missing, refused, unresolvable or unreachable.
_SPECIFIC = re.compile(
    r"not found|manifest unknown|no such host|denied|unauthori[sz]ed|forbidden|couldn't find key|does not exist"
    r"|no route to host|connection refused|i/o timeout|connection timed out|server misbehaving|Try again"
    r"|x509|exceeded quota|insufficient|low on resource|invalid|toomanyrequests|rate limit", re.IGNORECASE)


def specificity(message: str) -> int:
    """2 when a message names its cause, 0 when it only says that something timed out, else 1."""
    if _SPECIFIC.search(message):
        return 2
    return 0 if _GENERIC.search(message) else 1

# a pod lost with its node: NodeLost (node controller), Terminated/Shutdown (graceful node shutdown)
_NODE_POD_REASONS = frozenset({"NodeLost", "Shutdown", "Terminated", "NodeShutdown"})
# DisruptionTarget condition reasons (1.26+): why the pod is being removed
_DISRUPTION = {"DeletionByTaintManager": "node", "TerminationByKubelet": "evicted"}
_PROBE_KILL = re.compile(r"failed (liveness|startup) probe", re.IGNORECASE)
_PULL_FAILED = re.compile(r"Failed to pull image|Back-off pulling image|ErrImagePull|ImagePullBackOff")
_CONTAINER_IN_MSG = re.compile(r"(?:failed container[= ]|container[: ]+)\s*\"?([a-z0-9][a-z0-9-]*)")
_FIELD_PATH_PREFIX = re.compile(r"^spec\.(?:initContainers|containers)\{[^}]+\}: ")  # kubectl 1.33+ events
_FIELD_PATH_CONTAINER = re.compile(r"spec\.(?:initContainers|containers)\{([^}]+)\}")

# What varies between pods of one ReplicaSet and must not split a group.
_NORMALISERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uid>"),
    # <rs>-<5 chars>; followed by "_" in kubelet's pod=<name>_<ns>(<uid>), so no \b at the end
    (re.compile(r"\b[a-z0-9](?:[-a-z0-9]*[a-z0-9])?-[bcdfghjklmnpqrstvwxz2456789]{5}(?![a-z0-9])"), "<pod>"),
    (re.compile(r"\b\d+(\.\d+)?(ms|s|m|h)\b|\b\d+m\d+s\b"), "<dur>"),
    (re.compile(r"\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b"), "<ip>"),
    (re.compile(r"\bsha256:[0-9a-f]{16,}\b|\b[0-9a-f]{32,}\b"), "<hex>"),
)


def normalise(text: str) -> str:
    """Text with per-pod details (names, uids, durations, IPs) masked, for grouping."""
    for pattern, repl in _NORMALISERS:
        text = pattern.sub(repl, text)
    return text.strip()


@dataclass
class Signal:
    """One way of failing, seen on `len(pods)` pods (or `count` times in events)."""

    # waiting|terminated|start|pull|probe|probe_kill|scheduling|mount|create|sandbox|evicted|node|volume|hook
    # |deadline
    kind: str
    reason: str
    message: str = ""
    container: str | None = None
    init: bool = False
    exit_code: int | None = None
    restarts: int = 0  # highest restartCount seen for this container
    count: int = 0  # occurrences: pods for pod-state signals, summed event counts for events
    pods: list[str] = field(default_factory=list)
    current: bool = False  # the container is in this state now (not only lastState)

    def key(self) -> tuple[Any, ...]:
        return (self.kind, self.reason, self.container, self.init, self.exit_code, normalise(self.message))

    def to_dict(self, *, max_pods: int = 3) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "reason": self.reason}
        if self.container:
            out["container"] = self.container + (" (init)" if self.init else "")
        if self.exit_code is not None:
            out["exit_code"] = self.exit_code
        if self.restarts:
            out["restarts"] = self.restarts
        if self.message:
            out["message"] = self.message
        out["count"] = self.count
        if self.pods:
            extra = len(self.pods) - max_pods
            out["pods"] = self.pods[:max_pods] + ([f"+{extra} more"] if extra > 0 else [])
        return out


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _name(obj: Mapping[str, Any]) -> str:
    return str(_meta(obj).get("name", ""))


def _container_statuses(pod: Mapping[str, Any]) -> Iterable[tuple[Mapping[str, Any], bool]]:
    status = pod.get("status") or {}
    for st in status.get("initContainerStatuses") or []:
        yield st, True
    for st in status.get("containerStatuses") or []:
        yield st, False


def _pod_signals(pod: Mapping[str, Any]) -> list[Signal]:
    pod_name = _name(pod)
    found: list[Signal] = []
    status = pod.get("status") or {}
    evicted = status.get("reason") == "Evicted"
    for st, init in _container_statuses(pod):
        cname = str(st.get("name", "?"))
        restarts = int(st.get("restartCount") or 0)
        state = st.get("state") or {}
        last = st.get("lastState") or {}
        waiting = state.get("waiting") or {}
        reason = waiting.get("reason")
        if reason and reason not in _BENIGN_WAITING:
            found.append(
                Signal("waiting", str(reason), str(waiting.get("message") or ""), cname, init,
                       restarts=restarts, pods=[pod_name], count=1, current=True)
            )
        for term, current in ((state.get("terminated"), True), (last.get("terminated"), False)):
            if not term or evicted:
                continue  # an evicted pod's containers were stopped by the kubelet, not crashed
            treason = str(term.get("reason") or "Error")
            code = term.get("exitCode")
            if treason == "Completed" and (code in (0, None)) and (init or not restarts):
                continue  # a finished init container, or a clean exit that was never restarted
            found.append(
                Signal("terminated", treason, str(term.get("message") or ""), cname, init,
                       exit_code=int(code) if code is not None else None, restarts=restarts,
                       pods=[pod_name], count=1, current=current)
            )
            break  # the current termination, when present, is the newest; else the last one
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            found.append(
                Signal("scheduling", str(cond.get("reason") or "Unschedulable"),
                       str(cond.get("message") or ""), pods=[pod_name], count=1, current=True)
            )
    if status.get("reason") == "Evicted":
        found.append(Signal("evicted", "Evicted", str(status.get("message") or ""), pods=[pod_name], count=1))
    elif status.get("reason") in _NODE_POD_REASONS and (
            status.get("reason") != "Terminated" or "shutdown" in str(status.get("message") or "")):
        found.append(Signal("node", str(status["reason"]), str(status.get("message") or ""), pods=[pod_name],
                            count=1))
    for cond in status.get("conditions") or []:
        kind = _DISRUPTION.get(str(cond.get("reason") or "")) if cond.get("type") == "DisruptionTarget" else None
        if kind and cond.get("status") == "True":
            found.append(Signal(kind, str(cond["reason"]), str(cond.get("message") or ""), pods=[pod_name], count=1))
    return found


def _event_count(ev: Mapping[str, Any]) -> int:
    series = ev.get("series") or {}
    return int(ev.get("count") or series.get("count") or 1)


def _event_container(ev: Mapping[str, Any]) -> str | None:
    involved = ev.get("involvedObject") or {}
    match = _FIELD_PATH_CONTAINER.search(str(involved.get("fieldPath") or ""))
    if match:
        return match.group(1)
    m2 = _CONTAINER_IN_MSG.search(str(ev.get("message") or ""))
    return m2.group(1) if m2 else None


def _event_signal(ev: Mapping[str, Any]) -> Signal | None:
    reason = str(ev.get("reason") or "")
    message = _FIELD_PATH_PREFIX.sub("", str(ev.get("message") or ev.get("note") or ""))
    involved = ev.get("involvedObject") or ev.get("regarding") or {}
    obj_name = str(involved.get("name") or "")
    is_pod = involved.get("kind") == "Pod"
    fieldpath = str(involved.get("fieldPath") or "")
    init = "initContainers" in fieldpath
    pods = [obj_name] if is_pod and obj_name else []
    count = _event_count(ev)
    if reason == "Killing" and _PROBE_KILL.search(message):
        return Signal("probe_kill", reason, message, _event_container(ev), init, pods=pods, count=count)
    if reason in ("Failed", "BackOff") and _PULL_FAILED.search(message):
        if message.startswith("Error: "):
            return None  # restates the waiting reason
        # After the "Failed to pull image" events aged out, the back-off is all that names the image;
        # it ranks below a failure event, which names the cause.
        return Signal("pull", "BackOff" if message.startswith("Back-off") else "Failed", message,
                      _event_container(ev), init, pods=pods, count=count)
    if reason == "Failed" and message.startswith("Error: ") and "Image" not in message:
        # kubelet startContainer failure, e.g. `Error: secret "db" not found`
        return Signal("start", "Failed", message, _event_container(ev), init, pods=pods, count=count)
    kind = _EVENT_KINDS.get(reason)
    if kind is None or (ev.get("type") == "Normal" and kind != "probe"):
        return None
    container = _event_container(ev) if kind in ("probe", "hook") else None
    return Signal(kind, reason, message, container, init, pods=pods, count=count)


def _condition_signals(obj: Mapping[str, Any]) -> list[Signal]:
    out: list[Signal] = []
    for cond in (obj.get("status") or {}).get("conditions") or []:
        ctype, reason = cond.get("type"), str(cond.get("reason") or "")
        message = str(cond.get("message") or "")
        if ctype == "Progressing" and reason == "ProgressDeadlineExceeded":
            out.append(Signal("deadline", reason, message, count=1))
        elif ctype == "Progressing" and reason == "ReplicaSetCreateError":
            out.append(Signal("create", reason, message, count=1))
        elif ctype == "ReplicaFailure" and cond.get("status") == "True":
            out.append(Signal("create", reason or "FailedCreate", message, count=1))
    return out


def _merge(signals: Iterable[Signal]) -> list[Signal]:
    groups: dict[tuple[Any, ...], Signal] = {}
    for sig in signals:
        key = sig.key()
        have = groups.get(key)
        if have is None:
            groups[key] = Signal(**{**sig.__dict__, "pods": list(sig.pods)})
            continue
        have.count += sig.count
        have.restarts = max(have.restarts, sig.restarts)
        have.current = have.current or sig.current
        for p in sig.pods:
            if p not in have.pods:
                have.pods.append(p)
    return list(groups.values())


# Most telling first: what the rules look at first and the reduction keeps longest.
_KIND_RANK = {
    "terminated": 0, "waiting": 1, "start": 2, "pull": 3, "probe_kill": 4, "create": 5, "scheduling": 6,
    "mount": 7, "probe": 8, "sandbox": 9, "evicted": 10, "node": 11, "volume": 12, "hook": 13, "deadline": 14,
}


def extract_signals(
    *,
    deployment: Mapping[str, Any],
    replicasets: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
    events: Iterable[Mapping[str, Any]],
) -> list[Signal]:
    """Signals of the given objects, merged across pods, most telling first.

    The caller passes only what belongs to the rollout under analysis: the new ReplicaSet and its
    pods (old ReplicaSets' pods never explain a new rollout's failure), and the events of those.
    """
    raw: list[Signal] = []
    raw.extend(_condition_signals(deployment))
    for rs in replicasets:
        raw.extend(s for s in _condition_signals(rs) if s.kind == "create")
    for pod in pods:
        raw.extend(_pod_signals(pod))
    for ev in events:
        sig = _event_signal(ev)
        if sig is not None:
            raw.append(sig)
    merged = _merge(raw)
    # Deployment/RS conditions copy the RS's FailedCreate message; keep one copy of each message.
    seen_create: dict[str, Signal] = {}
    deduped: list[Signal] = []
    for sig in merged:
        if sig.kind == "create":
            norm = normalise(sig.message).removeprefix("Error creating: ")
            if norm in seen_create:
                first = seen_create[norm]
                first.count = max(first.count, sig.count)  # the event's count says how often it was tried
                continue
            seen_create[norm] = sig
        deduped.append(sig)
    # Within a kind, the message that names the cause first: a generic "timed out waiting for the
    # condition" repeated twenty times never hides the "configmap \"x\" not found" said three times.
    deduped.sort(key=lambda s: (_KIND_RANK.get(s.kind, 99), -specificity(s.message), -len(s.pods), -s.count))
    return deduped


def events_for(
    events: Iterable[Mapping[str, Any]], *, names: Iterable[str], uids: Iterable[str] = ()
) -> list[Mapping[str, Any]]:
    """The events whose involved object is one of `names` (or `uids`)."""
    wanted_names, wanted_uids = set(names), {u for u in uids if u}
    out = []
    for ev in events:
        involved = ev.get("involvedObject") or ev.get("regarding") or {}
        if involved.get("uid") in wanted_uids or involved.get("name") in wanted_names:
            out.append(ev)
    return out
