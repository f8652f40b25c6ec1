"""The rollout status of one Deployment generation, decided the way `kubectl rollout status` does.

Why this exists: it is the one decision the whole product rests on, so it is a pure function over
plain data (docs/architecture.md 'Rollout state machine'), tested branch by branch. kubectl decides
where kubectl decides (docs/kubernetes-signals.md 'How kubectl decides a Deployment'); on top of
that, a pod of the *new* ReplicaSet with a decisive signal fails the rollout early instead of ten
minutes later at the progress deadline (docs/kubernetes-signals.md 'What Fyr decides').

`decide` works on views (fyr.core.k8s_views): the watcher's index extracts them once per update, and
fyr.core.rollout once per bundle (where the dict-based `rollout_status` lives).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fyr.core.k8s_views import (
    ContainerView,
    DeploymentView,
    EventView,
    PodView,
    ReplicaSetView,
)
from fyr.models.rollout import RolloutStatus

# Reasons for verdicts that are not failures (kubectl's branches, named).
REASON_SPEC_NOT_OBSERVED = "SpecUpdateNotObserved"
REASON_WAITING_UPDATED = "WaitingForUpdatedReplicas"
REASON_OLD_PENDING_TERMINATION = "OldReplicasPendingTermination"
REASON_WAITING_AVAILABLE = "WaitingForAvailableReplicas"
REASON_PAUSED = "Paused"
REASON_COMPLETE = "Complete"
REASON_DEADLINE = "ProgressDeadlineExceeded"

_MAX_MESSAGE = 1000


@dataclass(frozen=True)
class StatusThresholds:
    crashloop_restarts: int = 3
    oom_restarts: int = 2
    # Optional early failure for scheduling / FailedCreate / FailedMount older than this; off by default
    # because capacity may arrive or a ConfigMap may be applied a moment later (docs/architecture.md 'Rollout state
    # machine').
    pending_fail_seconds: float | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> StatusThresholds:
        """From fyr.settings.Settings (its fields carry the same names); duck-typed to stay pure."""
        return cls(crashloop_restarts=settings.crashloop_restarts, oom_restarts=settings.oom_restarts,
                   pending_fail_seconds=settings.pending_fail_seconds)


@dataclass(frozen=True)
class RolloutVerdict:
    status: RolloutStatus
    reason: str
    message: str
    generation: int
    revision: int | None
    new_replicaset: str | None
    image: str | None
    decisive_pod: str | None = None
    decisive_container: str | None = None


# --------------------------------------------------------------------------- view-based core


def select_new_replicaset(
    deployment: DeploymentView, replicasets: Iterable[ReplicaSetView]
) -> ReplicaSetView | None:
    matching = [rs for rs in replicasets if rs.fingerprint == deployment.fingerprint]
    if not matching:
        return None
    return min(matching, key=lambda rs: (rs.created, rs.name))


def belongs(pod: PodView, rs: ReplicaSetView) -> bool:
    """Whether the RS controls the pod: by ownerReferences uid; a pod without a controller reference
    by the `pod-template-hash` label in the same namespace."""
    if pod.owner_uid:
        return pod.owner_uid == rs.uid
    return bool(rs.template_hash) and pod.template_hash == rs.template_hash and pod.namespace == rs.namespace


def decide(
    d: DeploymentView,
    new_rs: ReplicaSetView | None,
    new_pods: Sequence[PodView],
    events: Sequence[EventView],
    *,
    thresholds: StatusThresholds,
    now: datetime | None = None,
) -> RolloutVerdict:
    """The verdict from views: `new_pods` must be the pods of `new_rs` only; `events` may be any
    events around the Deployment, its new RS and those pods (others are ignored)."""

    def verdict(status: RolloutStatus, reason: str, message: str, pod: str | None = None,
                container: str | None = None) -> RolloutVerdict:
        return RolloutVerdict(
            status=status, reason=reason, message=one_line(message), generation=d.generation,
            revision=d.revision, new_replicaset=new_rs.name if new_rs else None, image=d.image,
            decisive_pod=pod, decisive_container=container,
        )

    # 1. kubectl: "Waiting for deployment spec update to be observed..." — checked first. This also
    #    covers ReplicaSetCreateError, where the controller never bumps observedGeneration.
    if d.generation > d.observed_generation:
        return verdict(RolloutStatus.PENDING, REASON_SPEC_NOT_OBSERVED,
                       "Waiting for deployment spec update to be observed...")
    # 2. kubectl errors when the FIRST Progressing condition (GetDeploymentCondition) has reason
    #    ProgressDeadlineExceeded, whatever its status; later duplicates are never read.
    cond = next((c for c in d.conditions if c.type == "Progressing"), None)
    if cond is not None and cond.reason == REASON_DEADLINE:
        return verdict(RolloutStatus.FAILED, REASON_DEADLINE,
                       f'deployment "{d.name}" exceeded its progress deadline'
                       + (f": {cond.message}" if cond.message else ""))
    # 3. kubectl's count checks; success exactly where kubectl says "successfully rolled out".
    waiting = f'Waiting for deployment "{d.name}" rollout to finish: '
    if d.spec_replicas is not None and d.updated_replicas < d.spec_replicas:
        reason = REASON_WAITING_UPDATED
        message = f"{waiting}{d.updated_replicas} out of {d.spec_replicas} new replicas have been updated..."
    elif d.replicas > d.updated_replicas:
        reason = REASON_OLD_PENDING_TERMINATION
        message = f"{waiting}{d.replicas - d.updated_replicas} old replicas are pending termination..."
    elif d.available_replicas < d.updated_replicas:
        reason = REASON_WAITING_AVAILABLE
        message = f"{waiting}{d.available_replicas} of {d.updated_replicas} updated replicas are available..."
    else:
        return verdict(RolloutStatus.SUCCESS, REASON_COMPLETE, f'deployment "{d.name}" successfully rolled out')

    # 4. Still waiting: fail early on a decisive signal from a pod of the new RS.
    when = now or datetime.now(UTC)
    failure = decisive_pod_signal(new_pods, events, thresholds)
    if failure is None and thresholds.pending_fail_seconds is not None and new_rs is not None:
        failure = _stuck_pending(new_rs, new_pods, events, thresholds.pending_fail_seconds, when)
    if failure is not None:
        return verdict(RolloutStatus.FAILED, *failure)
    if d.paused:  # kubectl's line as is; the pause is told by the reason
        return verdict(RolloutStatus.ROLLING_OUT, REASON_PAUSED, message)
    return verdict(RolloutStatus.ROLLING_OUT, reason, message)


_Failure = tuple[str, str, str | None, str | None]  # reason, message, pod, container


def decisive_pod_signal(
    pods: Sequence[PodView], events: Sequence[EventView], t: StatusThresholds
) -> _Failure | None:
    for pod in sorted(pods, key=lambda p: p.name):
        if pod.deleting or pod.phase in ("Succeeded", "Failed"):
            continue
        for c in pod.containers:  # init containers first: they block everything after them
            found = _container_signal(pod, c, events, t)
            if found is not None:
                reason, message = found
                return reason, message, pod.name, c.name
    return None


def _container_signal(
    pod: PodView, c: ContainerView, events: Sequence[EventView], t: StatusThresholds
) -> tuple[str, str] | None:
    kind = "init container" if c.init else "container"
    oom = "OOMKilled" in (c.terminated_reason, c.last_terminated_reason)
    if oom and c.restart_count >= t.oom_restarts:
        return "OOMKilled", (f"{kind} {c.name} of pod {pod.name} was OOMKilled "
                             f"(restarts: {c.restart_count})")
    if c.waiting_reason == "CrashLoopBackOff" and c.restart_count >= t.crashloop_restarts:
        exit_info = f", last exit code {c.last_exit_code}" if c.last_exit_code is not None else ""
        detail = f": {c.waiting_message}" if c.waiting_message else ""
        return "CrashLoopBackOff", (f"{kind} {c.name} of pod {pod.name} is crash looping "
                                    f"(restarts: {c.restart_count}{exit_info}){detail}")
    if c.waiting_reason in ("InvalidImageName", "CreateContainerConfigError"):
        return c.waiting_reason, c.waiting_message or f"{kind} {c.name} of pod {pod.name}: {c.waiting_reason}"
    if c.waiting_reason in ("ErrImagePull", "ImagePullBackOff"):
        if pull_error_is_permanent(c.waiting_message, c.image):
            return c.waiting_reason, c.waiting_message
        for ev in _pod_events(pod, events, c.name):
            if ev.reason == "Failed" and ev.message.startswith("Failed to pull image") and \
                    pull_error_is_permanent(ev.message, c.image):
                return c.waiting_reason, ev.message
    return None


def _pod_events(pod: PodView, events: Sequence[EventView], container: str | None = None) -> list[EventView]:
    out = []
    for ev in events:
        if ev.kind != "Pod":
            continue
        if ev.object_uid and pod.uid:
            if ev.object_uid != pod.uid:
                continue
        elif ev.object_name != pod.name or (ev.namespace and ev.namespace != pod.namespace):
            continue
        if container and ev.field_path and not ev.field_path.endswith("{" + container + "}"):
            continue
        out.append(ev)
    return sorted(out, key=lambda e: e.last_seen or datetime.min.replace(tzinfo=UTC), reverse=True)


# Permanent vs transient image-pull errors (docs/kubernetes-signals.md 'Image-pull errors: permanent or transient').
# Markers are phrases with spaces or
# punctuation so an image *name* (which has neither) cannot match them; quoted parts are removed first.
_TRANSIENT = (
    "i/o timeout", "timeout", "connection refused", "connection reset", "request canceled",
    "503 service unavailable", "429 too many requests", "too many requests", "no such host",
    "network is unreachable", "temporary failure", "context deadline exceeded", "unexpected eof",
    "registryunavailable", "registry is unavailable",
)
_PERMANENT = (
    ": not found", " not found", "manifest unknown", "404 not found", "pull access denied",
    "repository does not exist", "may require authorization", "401 unauthorized", "unauthorized:",
    "403 forbidden", "access denied", "insufficient_scope", "authorization failed", "denied:",
    "name unknown",
)
_QUOTED = re.compile(r'"[^"]*"')


def pull_error_is_permanent(message: str, image: str = "") -> bool:
    """True when an image-pull error says the image/tag does not exist or access is denied, and is
    not a network/registry hiccup (those are transient and keep the rollout ROLLING_OUT)."""
    text = _QUOTED.sub('""', message)
    if image:
        text = text.replace(image, "<image>")
    text = text.lower()
    if any(marker in text for marker in _TRANSIENT):
        return False
    return any(marker in text for marker in _PERMANENT)


def _old_enough(ev: EventView, limit: float, now: datetime) -> bool:
    start = ev.first_seen or ev.last_seen
    return start is not None and (now - start).total_seconds() >= limit


def stuck_pending_pod(pods: Sequence[PodView], events: Sequence[EventView], limit: float,
                      now: datetime) -> _Failure | None:
    """FailedScheduling / FailedMount / FailedAttachVolume (e.g. a PVC not bound or not attachable) on a
    still-Pending pod, begun at least `limit` seconds ago; shared by every workload kind."""
    for pod in sorted(pods, key=lambda p: p.name):
        if pod.deleting or pod.phase not in ("Pending", ""):
            continue
        for ev in _pod_events(pod, events):
            if ev.reason == "FailedScheduling" and _old_enough(ev, limit, now) and pod.unscheduled_since is not None:
                return ev.reason, ev.message, pod.name, None
            if ev.reason in ("FailedMount", "FailedAttachVolume") and _old_enough(ev, limit, now):
                return ev.reason, ev.message, pod.name, None
        if pod.unscheduled_since is not None and (now - pod.unscheduled_since).total_seconds() >= limit:
            return "FailedScheduling", f"pod {pod.name} unschedulable", pod.name, None
    return None


def _stuck_pending(
    rs: ReplicaSetView, pods: Sequence[PodView], events: Sequence[EventView], limit: float, now: datetime
) -> _Failure | None:
    """A stuck pod (stuck_pending_pod), or FailedCreate on a short new RS, begun at least `limit` seconds
    ago (optional early failure, off by default)."""
    found = stuck_pending_pod(pods, events, limit, now)
    if found is not None:
        return found
    if rs.spec_replicas is not None and rs.status_replicas < rs.spec_replicas:
        for ev in events:
            if ev.reason == "FailedCreate" and ev.kind == "ReplicaSet" and ev.object_name == rs.name \
                    and _old_enough(ev, limit, now):
                return ev.reason, ev.message, None, None
    return None


def one_line(message: str) -> str:
    line = " ".join(message.split())
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 1] + "…"
