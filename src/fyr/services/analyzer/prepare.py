"""From a redacted bundle to digested evidence: the step before rules and reduction.

Everything here reads a `RedactedBundle` (redaction.py): secrets were masked once, on entry, before
anything is digested, classified or put into a context. Which pods count: only those of the new
ReplicaSet or the update revision, as selected once for the verdict too (fyr.core.rollout); the
rollout's failure is never explained by the old ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fyr.core.k8s_views import DeploymentView, claim_names, pod_view
from fyr.core.rollout import RolloutSelection, select_rollout
from fyr.core.set_status import StatefulSetView
from fyr.models.bundle import RolloutBundle
from fyr.services.analyzer.logs import digest_log
from fyr.services.analyzer.redaction import RedactedBundle
from fyr.services.analyzer.rules import LogEvidence
from fyr.services.analyzer.signals import Signal, events_for, extract_signals


@dataclass(frozen=True)
class RolloutObjects:
    """The objects that belong to the rollout under analysis, chosen once (fyr.core.rollout)."""

    selection: RolloutSelection
    pods: list[Mapping[str, Any]]  # the pods that explain the rollout
    events: list[Mapping[str, Any]]  # the events about the workload, its new ReplicaSet, those pods and their claims

    @property
    def new_rs(self) -> Mapping[str, Any] | None:
        return self.selection.new_rs

    @property
    def old_rs(self) -> Mapping[str, Any] | None:
        return self.selection.old_rs


def select_bundle(bundle: RolloutBundle) -> RolloutSelection:
    """The bundle's rollout objects as views, selected once for the verdict and the analysis."""
    return select_rollout(bundle.workload_kind, bundle.deployment, replicasets=bundle.replicasets,
                          pods=bundle.pods, revisions=bundle.controller_revisions)


def _explaining_pods(bundle: RolloutBundle, sel: RolloutSelection) -> list[Mapping[str, Any]]:
    """The selection's pods; a hand-made bundle that gives nothing to select by (no ReplicaSets, a set
    without an update revision) has only its pods to go on. Old pods never explain the rollout."""
    if sel.pods:
        return list(sel.pods)
    workload = sel.workload
    if isinstance(workload, DeploymentView):
        nothing_to_select_by = not bundle.replicasets
    elif isinstance(workload, StatefulSetView):
        nothing_to_select_by = not workload.update_revision
    else:
        nothing_to_select_by = sel.current is None and not any(pod_view(p).template_generation for p in sel.old_pods)
    return list(bundle.pods) if nothing_to_select_by else []


def rollout_objects(bundle: RedactedBundle, sel: RolloutSelection) -> RolloutObjects:
    pods = _explaining_pods(bundle.bundle, sel)
    names = [bundle.name, *[str(p["metadata"]["name"]) for p in pods], *claim_names(pods)]
    uids = [str((o.get("metadata") or {}).get("uid") or "") for o in [bundle.deployment, *pods]]
    if sel.new_rs is not None:
        names.append(str(sel.new_rs["metadata"]["name"]))
        uids.append(str(sel.new_rs["metadata"].get("uid") or ""))
    return RolloutObjects(sel, pods, events_for(bundle.events, names=names, uids=uids))


def rollout_signals(bundle: RedactedBundle, objs: RolloutObjects) -> list[Signal]:
    return extract_signals(
        deployment=bundle.deployment,
        replicasets=[objs.new_rs] if objs.new_rs is not None else [],
        pods=objs.pods,
        events=objs.events,
    )


def _init_containers(pods: Iterable[Mapping[str, Any]]) -> set[tuple[str, str]]:
    out = set()
    for pod in pods:
        for c in (pod.get("spec") or {}).get("initContainers") or []:
            out.add((str(pod["metadata"]["name"]), str(c.get("name"))))
    return out


def prepare_logs(bundle: RedactedBundle, objs: RolloutObjects) -> list[LogEvidence]:
    """Digests of the new ReplicaSet's container logs (redacted on entry, before digesting)."""
    pod_names = {str(p["metadata"]["name"]) for p in objs.pods}
    inits = _init_containers(objs.pods)
    pods_known = bool(bundle.pods)  # a bundle with logs but no pod objects: keep every log
    out = []
    for entry in bundle.logs:
        if pods_known and entry.pod not in pod_names:
            continue
        if not entry.text:
            continue
        source = f"{entry.pod}/{entry.container}" + (" (previous)" if entry.previous else "")
        digest = digest_log(entry.text, source=source)
        out.append(LogEvidence(entry.pod, entry.container, entry.previous,
                               (entry.pod, entry.container) in inits, digest))
    return out


def raw_log_bytes(bundle: RolloutBundle | RedactedBundle) -> int:
    # isascii() is O(1) in CPython: a 200 MB ASCII log is not encoded (copied) just to be measured
    return sum(len(e.text) if e.text.isascii() else len(e.text.encode("utf-8", "surrogatepass")) for e in bundle.logs)
