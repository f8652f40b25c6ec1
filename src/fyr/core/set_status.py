"""The rollout status of a StatefulSet or DaemonSet generation, decided the way `kubectl rollout status` does.

Why this exists: `kubectl rollout status` covers three kinds, and a broken database (StatefulSet) or
node agent (DaemonSet) rollout matters as much as a Deployment's. Where kubectl decides, this module
decides exactly as kubectl's `StatefulSetStatusViewer` and `DaemonSetStatusViewer`
(k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go), with kubectl's lines as messages. On top
of that, while kubectl is still waiting, a pod of the *update revision* with a decisive signal fails
the rollout early, with the same signals and thresholds as a Deployment's new ReplicaSet
(fyr.core.status). Pods of the old revision never fail the new rollout: a StatefulSet partition keeps
them on purpose, and their crash loop was there before.

Which pods are the update revision's:
- StatefulSet: the pod label `controller-revision-hash` equals `status.updateRevision` (the
  ControllerRevision's name).
- DaemonSet: the status has no update revision; the DaemonSet's newest ControllerRevision (highest
  `.revision`, owned by the DaemonSet's uid, whatever its labels) carries the hash in its
  `controller-revision-hash` label (else its name is `<daemonset>-<hash>`), which its pods carry too.
  Without a ControllerRevision, or for a pod without the hash label, the pod label
  `pod-template-generation` equal to the generation.

A strategy other than RollingUpdate (OnDelete): kubectl refuses ("rollout status is only available
for RollingUpdate strategy type") and reports done; so does this module — SUCCESS with reason
`OnDeleteStrategy` and kubectl's line, never a failure, because pods change only when deleted.

Pure: plain data in, a verdict out; the clock is the `now` the caller passes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from fyr.core.k8s_views import (
    CONTROLLER_REVISION_HASH,
    EventView,
    PodView,
    controller_uid,
)
from fyr.core.status import (
    RolloutVerdict,
    StatusThresholds,
    decisive_pod_signal,
    one_line,
    stuck_pending_pod,
)
from fyr.models.rollout import RolloutStatus

SetKind = Literal["StatefulSet", "DaemonSet"]
ROLLING_UPDATE = "RollingUpdate"

REASON_SPEC_NOT_OBSERVED = "SpecUpdateNotObserved"
REASON_WAITING_READY = "WaitingForReadyPods"
REASON_WAITING_PARTITION = "WaitingForPartitionedRollout"
REASON_PARTITION_COMPLETE = "PartitionedRolloutComplete"
REASON_WAITING_REVISION = "WaitingForRevisionUpdate"
REASON_WAITING_UPDATED = "WaitingForUpdatedPods"
REASON_WAITING_AVAILABLE = "WaitingForAvailablePods"
REASON_COMPLETE = "Complete"
REASON_ON_DELETE = "OnDeleteStrategy"
REASON_UNSUPPORTED_STRATEGY = "UnsupportedUpdateStrategy"
NOT_ROLLING_UPDATE = f"rollout status is only available for {ROLLING_UPDATE} strategy type"


def _m(obj: Any) -> Mapping[str, Any]:
    return obj if isinstance(obj, Mapping) else {}


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _i(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _opt_i(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class StatefulSetView:
    namespace: str
    name: str
    uid: str
    generation: int
    observed_generation: int
    strategy: str  # spec.updateStrategy.type as stored ('' when absent, as Go sees it)
    has_rolling_update: bool  # spec.updateStrategy.rollingUpdate present
    partition: int | None
    spec_replicas: int | None
    ready_replicas: int
    updated_replicas: int
    current_replicas: int
    current_revision: str
    update_revision: str
    image: str | None


@dataclass(frozen=True, slots=True)
class DaemonSetView:
    namespace: str
    name: str
    uid: str
    generation: int
    observed_generation: int
    strategy: str
    desired: int  # status.desiredNumberScheduled
    updated: int  # status.updatedNumberScheduled
    available: int  # status.numberAvailable
    image: str | None


@dataclass(frozen=True, slots=True)
class RevisionView:
    """A ControllerRevision, without its (large) data."""

    namespace: str
    name: str
    uid: str
    owner_uid: str
    revision: int
    hash: str  # the controller-revision-hash label, else the name's suffix after the owner's name


@dataclass(frozen=True, slots=True)
class ViewerResult:
    """What kubectl's viewer returns: (message, done, error)."""

    message: str
    done: bool
    error: str | None = None


def _first_image(spec: Mapping[str, Any]) -> str | None:
    containers = _m(_m(spec.get("template")).get("spec")).get("containers") or ()
    image = _s(_m(containers[0]).get("image")) if containers else ""
    return image or None


def statefulset_view(sts: Mapping[str, Any]) -> StatefulSetView:
    meta, spec, status = _m(sts.get("metadata")), _m(sts.get("spec")), _m(sts.get("status"))
    strategy = _m(spec.get("updateStrategy"))
    rolling = strategy.get("rollingUpdate")
    return StatefulSetView(
        namespace=_s(meta.get("namespace")), name=_s(meta.get("name")), uid=_s(meta.get("uid")),
        generation=_i(meta.get("generation")), observed_generation=_i(status.get("observedGeneration")),
        strategy=_s(strategy.get("type")), has_rolling_update=isinstance(rolling, Mapping),
        partition=_opt_i(_m(rolling).get("partition")), spec_replicas=_opt_i(spec.get("replicas")),
        ready_replicas=_i(status.get("readyReplicas")), updated_replicas=_i(status.get("updatedReplicas")),
        current_replicas=_i(status.get("currentReplicas")), current_revision=_s(status.get("currentRevision")),
        update_revision=_s(status.get("updateRevision")), image=_first_image(spec),
    )


def daemonset_view(ds: Mapping[str, Any]) -> DaemonSetView:
    meta, spec, status = _m(ds.get("metadata")), _m(ds.get("spec")), _m(ds.get("status"))
    return DaemonSetView(
        namespace=_s(meta.get("namespace")), name=_s(meta.get("name")), uid=_s(meta.get("uid")),
        generation=_i(meta.get("generation")), observed_generation=_i(status.get("observedGeneration")),
        strategy=_s(_m(spec.get("updateStrategy")).get("type")),
        desired=_i(status.get("desiredNumberScheduled")), updated=_i(status.get("updatedNumberScheduled")),
        available=_i(status.get("numberAvailable")), image=_first_image(spec),
    )


def _revision_hash(meta: Mapping[str, Any]) -> str:
    """The revision's hash: its `controller-revision-hash` label, else what its name adds to its
    owner's (the controllers name a revision `<workload>-<hash>`; a hand-made one may carry no label)."""
    label = _s(_m(meta.get("labels")).get(CONTROLLER_REVISION_HASH))
    if label:
        return label
    name = _s(meta.get("name"))
    for ref in meta.get("ownerReferences") or ():
        owner = _s(_m(ref).get("name"))
        if owner and name.startswith(owner + "-") and len(name) > len(owner) + 1:
            return name[len(owner) + 1:]
    return ""


def revision_view(cr: Mapping[str, Any]) -> RevisionView:
    meta = _m(cr.get("metadata"))
    owner = controller_uid(meta, "DaemonSet") or controller_uid(meta, "StatefulSet")
    return RevisionView(namespace=_s(meta.get("namespace")), name=_s(meta.get("name")), uid=_s(meta.get("uid")),
                        owner_uid=owner, revision=_i(cr.get("revision")), hash=_revision_hash(meta))


# --------------------------------------------------------------------------- kubectl's viewers


def statefulset_viewer(s: StatefulSetView) -> ViewerResult:
    """StatefulSetStatusViewer.Status, branch for branch."""
    if s.strategy != ROLLING_UPDATE:
        return ViewerResult("", True, NOT_ROLLING_UPDATE)
    if s.observed_generation == 0 or s.generation > s.observed_generation:
        return ViewerResult("Waiting for statefulset spec update to be observed...", False)
    if s.spec_replicas is not None and s.ready_replicas < s.spec_replicas:
        return ViewerResult(f"Waiting for {s.spec_replicas - s.ready_replicas} pods to be ready...", False)
    if s.has_rolling_update:
        if s.spec_replicas is not None and s.partition is not None:
            want = s.spec_replicas - s.partition
            if s.updated_replicas < want:
                return ViewerResult(f"Waiting for partitioned roll out to finish: {s.updated_replicas} out of "
                                    f"{want} new pods have been updated...", False)
        return ViewerResult(f"partitioned roll out complete: {s.updated_replicas} new pods have been updated...",
                            True)
    if s.update_revision != s.current_revision:
        return ViewerResult(f"waiting for statefulset rolling update to complete {s.updated_replicas} pods at "
                            f"revision {s.update_revision}...", False)
    return ViewerResult(f"statefulset rolling update complete {s.current_replicas} pods at revision "
                        f"{s.current_revision}...", True)


def daemonset_viewer(d: DaemonSetView) -> ViewerResult:
    """DaemonSetStatusViewer.Status, branch for branch."""
    if d.strategy != ROLLING_UPDATE:
        return ViewerResult("", True, NOT_ROLLING_UPDATE)
    if d.generation <= d.observed_generation:
        if d.updated < d.desired:
            return ViewerResult(f'Waiting for daemon set "{d.name}" rollout to finish: {d.updated} out of '
                                f"{d.desired} new pods have been updated...", False)
        if d.available < d.desired:
            return ViewerResult(f'Waiting for daemon set "{d.name}" rollout to finish: {d.available} of '
                                f"{d.desired} updated pods are available...", False)
        return ViewerResult(f'daemon set "{d.name}" successfully rolled out', True)
    return ViewerResult("Waiting for daemon set spec update to be observed...", False)


def _statefulset_reason(s: StatefulSetView, r: ViewerResult) -> str:
    if r.error is not None:
        return REASON_ON_DELETE if s.strategy == "OnDelete" else REASON_UNSUPPORTED_STRATEGY
    if r.message.startswith("Waiting for statefulset spec"):
        return REASON_SPEC_NOT_OBSERVED
    if r.message.startswith("Waiting for partitioned"):
        return REASON_WAITING_PARTITION
    if r.message.startswith("partitioned roll out complete"):
        return REASON_PARTITION_COMPLETE
    if r.message.startswith("waiting for statefulset rolling"):
        return REASON_WAITING_REVISION
    if r.done:
        return REASON_COMPLETE
    return REASON_WAITING_READY


def _daemonset_reason(d: DaemonSetView, r: ViewerResult) -> str:
    if r.error is not None:
        return REASON_ON_DELETE if d.strategy == "OnDelete" else REASON_UNSUPPORTED_STRATEGY
    if r.done:
        return REASON_COMPLETE
    if r.message.startswith("Waiting for daemon set spec"):
        return REASON_SPEC_NOT_OBSERVED
    return REASON_WAITING_UPDATED if "new pods have been updated" in r.message else REASON_WAITING_AVAILABLE


# --------------------------------------------------------------------------- update-revision pods


def newest_revision(owner_uid: str, revisions: Iterable[RevisionView]) -> RevisionView | None:
    """A DaemonSet's current ControllerRevision: the highest `.revision` it owns (name breaks ties)."""
    owned = [r for r in revisions if r.owner_uid == owner_uid]
    return max(owned, key=lambda r: (r.revision, r.name)) if owned else None


def is_update_pod(kind: SetKind, workload: StatefulSetView | DaemonSetView, pod: PodView,
                  current: RevisionView | None = None) -> bool:
    """Whether the pod belongs to the workload's update revision (see the module docstring)."""
    if workload.uid and pod.set_owner_uid and pod.set_owner_uid != workload.uid:
        return False
    if kind == "StatefulSet":
        assert isinstance(workload, StatefulSetView)
        return bool(workload.update_revision) and pod.revision_hash == workload.update_revision
    if current is not None and current.hash and pod.revision_hash:
        return pod.revision_hash == current.hash
    return bool(pod.template_generation) and pod.template_generation == str(workload.generation)


def _ordinal(set_name: str, pod_name: str) -> str | None:
    tail = pod_name.removeprefix(set_name + "-")
    return tail if tail != pod_name and tail.isdigit() else None


# --------------------------------------------------------------------------- the decision


def decide_set(
    kind: SetKind,
    workload: StatefulSetView | DaemonSetView,
    update_pods: Sequence[PodView],
    events: Sequence[EventView],
    *,
    thresholds: StatusThresholds,
    current: RevisionView | None = None,
    now: datetime | None = None,
) -> RolloutVerdict:
    """The verdict from views: `update_pods` must be the update revision's pods only (is_update_pod)."""
    if kind == "StatefulSet":
        assert isinstance(workload, StatefulSetView)
        result = statefulset_viewer(workload)
        reason = _statefulset_reason(workload, result)
        revision_name: str | None = workload.update_revision or None
    else:
        assert isinstance(workload, DaemonSetView)
        result = daemonset_viewer(workload)
        reason = _daemonset_reason(workload, result)
        revision_name = current.name if current is not None else None
    revision = current.revision if current is not None and current.revision else None

    def verdict(status: RolloutStatus, why: str, message: str, pod: str | None = None,
                container: str | None = None) -> RolloutVerdict:
        return RolloutVerdict(status=status, reason=why, message=one_line(message),
                              generation=workload.generation, revision=revision, new_replicaset=revision_name,
                              image=workload.image, decisive_pod=pod, decisive_container=container)

    if result.error is not None:
        return verdict(RolloutStatus.SUCCESS, reason, result.error)
    if result.done:
        return verdict(RolloutStatus.SUCCESS, reason, result.message)
    if reason == REASON_SPEC_NOT_OBSERVED:
        return verdict(RolloutStatus.PENDING, reason, result.message)
    failure = decisive_pod_signal(update_pods, events, thresholds)
    if failure is None and thresholds.pending_fail_seconds is not None:
        failure = stuck_pending_pod(update_pods, events, thresholds.pending_fail_seconds, now or datetime.now(UTC))
    if failure is not None:
        why, message, pod_name, container = failure
        return verdict(RolloutStatus.FAILED, why, _where(kind, workload, update_pods, pod_name) + message,
                       pod_name, container)
    return verdict(RolloutStatus.ROLLING_OUT, reason, result.message)


def _where(kind: SetKind, workload: StatefulSetView | DaemonSetView, pods: Sequence[PodView],
           pod_name: str | None) -> str:
    """Name the kind's unit of failure: a StatefulSet's stuck ordinal, a DaemonSet's failing node."""
    if pod_name is None:
        return ""
    if kind == "StatefulSet":
        ordinal = _ordinal(workload.name, pod_name)
        return f'statefulset "{workload.name}" stuck at ordinal {ordinal}: ' if ordinal is not None else ""
    node = next((p.node for p in pods if p.name == pod_name), "")
    return f'daemon set "{workload.name}" failing on node {node}: ' if node else ""


__all__ = [
    "NOT_ROLLING_UPDATE", "DaemonSetView", "RevisionView", "SetKind", "StatefulSetView", "ViewerResult",
    "daemonset_view", "daemonset_viewer", "decide_set", "is_update_pod", "newest_revision", "revision_view",
    "statefulset_view", "statefulset_viewer",
]
