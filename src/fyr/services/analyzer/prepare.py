"""From a redacted bundle to digested evidence: the step before rules and reduction.

Everything here reads a `RedactedBundle` (redaction.py): secrets were masked once, on entry, before
anything is digested, classified or put into a context. Which pods count: only those of the new
ReplicaSet; the rollout's failure is never explained by the old one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fyr.core.k8s_views import claim_names, replicaset_revision
from fyr.core.status import find_new_replicaset, pods_of_replicaset
from fyr.models.bundle import RolloutBundle
from fyr.services.analyzer.logs import digest_log
from fyr.services.analyzer.redaction import RedactedBundle
from fyr.services.analyzer.rules import LogEvidence
from fyr.services.analyzer.signals import Signal, events_for, extract_signals


@dataclass(frozen=True)
class RolloutObjects:
    """The objects that belong to the rollout under analysis."""

    new_rs: Mapping[str, Any] | None
    old_rs: Mapping[str, Any] | None
    pods: list[Mapping[str, Any]]
    events: list[Mapping[str, Any]]


def rollout_objects(bundle: RedactedBundle) -> RolloutObjects:
    new_rs = find_new_replicaset(bundle.deployment, bundle.replicasets)
    others = [rs for rs in bundle.replicasets if rs is not new_rs]
    old_rs = max(others, key=replicaset_revision) if others else None
    if new_rs is not None:
        pods = list(pods_of_replicaset(new_rs, bundle.pods))
    elif not bundle.replicasets:
        pods = list(bundle.pods)  # a hand-made bundle without ReplicaSets: its pods are all we have
    else:
        pods = []  # ReplicaSets, none of them new (not created yet): old pods never explain the rollout
    names = [bundle.name, *[str(p["metadata"]["name"]) for p in pods], *claim_names(pods)]
    uids = [str((o.get("metadata") or {}).get("uid") or "") for o in [bundle.deployment, *pods]]
    if new_rs is not None:
        names.append(str(new_rs["metadata"]["name"]))
        uids.append(str(new_rs["metadata"].get("uid") or ""))
    return RolloutObjects(new_rs, old_rs, pods, events_for(bundle.events, names=names, uids=uids))


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
