"""Which objects make up one rollout, chosen once from raw API objects, and the verdict over them.

Why this exists: the collector (which pods to read logs of), the offline analyzer (which pods and
events explain the failure) and `kubectl rollout status`'s verdict must agree on the same objects:
for a Deployment the new ReplicaSet and its pods, for a StatefulSet or DaemonSet the update
revision's pods (docs/kubernetes-signals.md 'Tying pods to a generation'). `select_rollout` turns
the raw objects into views once and makes that choice once; `RolloutSelection.verdict` decides over
the same views (fyr.core.status.decide, fyr.core.set_status.decide_set), so a bundle is not turned
into views, back into dicts and into views again.

The watcher does not come through here: its index keeps views only and selects from its own maps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from fyr.core.k8s_views import (
    DeploymentView,
    EventView,
    PodView,
    ReplicaSetView,
    deployment_view,
    event_view,
    pod_view,
    replicaset_view,
)
from fyr.core.set_status import (
    DaemonSetView,
    RevisionView,
    SetKind,
    StatefulSetView,
    daemonset_view,
    decide_set,
    is_update_pod,
    newest_revision,
    revision_view,
    statefulset_view,
)
from fyr.core.status import RolloutVerdict, StatusThresholds, belongs, decide, select_new_replicaset

WorkloadKind = Literal["Deployment", "StatefulSet", "DaemonSet"]
WORKLOAD_KINDS: tuple[WorkloadKind, ...] = ("Deployment", "StatefulSet", "DaemonSet")

Raw = Mapping[str, Any]


@dataclass(frozen=True)
class RolloutSelection:
    """One rollout's objects: raw (as the API gave them, for the bundle and the analyzer's context)
    and as views (for the decision), built once.

    `pods` are the rollout's own pods: the new ReplicaSet's, or the update revision's; `old_pods`
    are the workload's other pods, which never explain the new rollout."""

    kind: WorkloadKind
    workload: DeploymentView | StatefulSetView | DaemonSetView
    new_rs: Raw | None = None
    new_rs_view: ReplicaSetView | None = None
    old_rs: Raw | None = None  # the previous ReplicaSet: the highest revision among the others
    current: RevisionView | None = None  # a set's update revision
    pods: tuple[Raw, ...] = ()
    pod_views: tuple[PodView, ...] = ()
    old_pods: tuple[Raw, ...] = ()

    def verdict(self, events: Sequence[EventView], *, thresholds: StatusThresholds = StatusThresholds(),
                now: datetime | None = None) -> RolloutVerdict:
        """kubectl's verdict, failed early on a decisive signal of `pods` (see fyr.core.status)."""
        if isinstance(self.workload, DeploymentView):
            return decide(self.workload, self.new_rs_view, self.pod_views, events, thresholds=thresholds, now=now)
        set_kind: SetKind = "StatefulSet" if self.kind == "StatefulSet" else "DaemonSet"
        return decide_set(set_kind, self.workload, self.pod_views, events, thresholds=thresholds,
                          current=self.current, now=now)


def _split(pods: Sequence[Raw], mine: Sequence[bool]) -> tuple[tuple[Raw, ...], tuple[Raw, ...]]:
    return (tuple(p for p, m in zip(pods, mine, strict=True) if m),
            tuple(p for p, m in zip(pods, mine, strict=True) if not m))


def select_deployment(deployment: Raw, replicasets: Sequence[Raw], pods: Sequence[Raw]) -> RolloutSelection:
    """The new ReplicaSet (the owned one whose template equals the Deployment's ignoring the hash, the
    oldest if several: FindNewReplicaSet), its pods, and the previous ReplicaSet."""
    d = deployment_view(deployment)
    views = [replicaset_view(rs) for rs in replicasets]
    owned = [i for i, v in enumerate(views) if not v.owner_uid or not d.uid or v.owner_uid == d.uid]
    chosen = select_new_replicaset(d, [views[i] for i in owned])
    new_i = next((i for i in owned if views[i] is chosen), None)
    others = [i for i in owned if i != new_i]
    old_i = max(others, key=lambda i: views[i].revision or 0) if others else None
    pod_views = [pod_view(p) for p in pods]
    mine = [chosen is not None and belongs(pv, chosen) for pv in pod_views]
    new_pods, old_pods = _split(pods, mine)
    return RolloutSelection(
        kind="Deployment", workload=d,
        new_rs=replicasets[new_i] if new_i is not None else None, new_rs_view=chosen,
        old_rs=replicasets[old_i] if old_i is not None else None,
        pods=new_pods, pod_views=tuple(pv for pv, m in zip(pod_views, mine, strict=True) if m), old_pods=old_pods,
    )


def select_set(kind: SetKind, workload: Raw, pods: Sequence[Raw], revisions: Sequence[Raw]) -> RolloutSelection:
    """The update revision (a StatefulSet's `status.updateRevision`, a DaemonSet's newest
    ControllerRevision) and its pods (fyr.core.set_status.is_update_pod)."""
    view: StatefulSetView | DaemonSetView = (statefulset_view(workload) if kind == "StatefulSet"
                                             else daemonset_view(workload))
    revs = [revision_view(r) for r in revisions]
    current: RevisionView | None
    if isinstance(view, StatefulSetView):
        current = next((r for r in revs if r.name == view.update_revision), None)
    elif view.uid:
        current = newest_revision(view.uid, revs)
    else:
        current = max(revs, key=lambda r: (r.revision, r.name)) if revs else None
    pod_views = [pod_view(p) for p in pods]
    mine = [is_update_pod(kind, view, pv, current) for pv in pod_views]
    update, old = _split(pods, mine)
    return RolloutSelection(kind=kind, workload=view, current=current, pods=update,
                            pod_views=tuple(pv for pv, m in zip(pod_views, mine, strict=True) if m), old_pods=old)


def select_rollout(kind: str, workload: Raw, *, replicasets: Sequence[Raw] = (), pods: Sequence[Raw] = (),
                   revisions: Sequence[Raw] = ()) -> RolloutSelection:
    """`select_deployment` or `select_set` by the workload's kind."""
    if kind in ("StatefulSet", "DaemonSet"):
        return select_set("StatefulSet" if kind == "StatefulSet" else "DaemonSet", workload, pods, revisions)
    return select_deployment(workload, replicasets, pods)


# --------------------------------------------------------------------------- the dict-based verdicts


def rollout_status(
    deployment: Raw,
    replicasets: Sequence[Raw],
    pods: Sequence[Raw],
    events: Sequence[Raw] = (),
    *,
    thresholds: StatusThresholds = StatusThresholds(),
    now: datetime | None = None,
) -> RolloutVerdict:
    """A Deployment's verdict from raw API objects."""
    return select_deployment(deployment, replicasets, pods).verdict(
        [event_view(e) for e in events], thresholds=thresholds, now=now)


def set_rollout_status(
    kind: SetKind,
    workload: Raw,
    pods: Sequence[Raw],
    events: Sequence[Raw] = (),
    revisions: Sequence[Raw] = (),
    *,
    thresholds: StatusThresholds = StatusThresholds(),
    now: datetime | None = None,
) -> RolloutVerdict:
    """A StatefulSet's or DaemonSet's verdict from raw API objects."""
    return select_set(kind, workload, pods, revisions).verdict(
        [event_view(e) for e in events], thresholds=thresholds, now=now)


__all__ = [
    "WORKLOAD_KINDS", "RolloutSelection", "WorkloadKind", "rollout_status", "select_deployment", "select_rollout",
    "select_set", "set_rollout_status",
]
