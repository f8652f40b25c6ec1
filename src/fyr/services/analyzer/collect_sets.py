"""Collect one StatefulSet's or DaemonSet's rollout evidence into a `RolloutBundle`.

Why it exists: the two kinds have no ReplicaSets; what says which pods are the new rollout's is the
update revision (fyr.core.set_status). The bundle carries the workload, its ControllerRevisions, the
update revision's pods, the old revision's pods apart (`old_pods`: they never explain the new
rollout, but a reader sees the whole picture), the events of the workload, of the update pods and
of the PersistentVolumeClaims they mount (a pod Pending on an unbound claim), and logs of the most
troubled update pods — the Deployment collector's rules for logs and events.
"""

from __future__ import annotations

from datetime import UTC, datetime

from kubernetes_asyncio import client

from fyr.core.rollout import select_set
from fyr.core.set_status import SetKind
from fyr.models.bundle import RolloutBundle, parse_bundle
from fyr.services.analyzer.collector import (
    Progress,
    _json,
    _list,
    _owned_by,
    _Reader,
    _selector,
    claims_of,
    collect_bundle,
)


async def collect_set_bundle(
    api: client.ApiClient,
    *,
    kind: SetKind,
    namespace: str,
    name: str,
    cluster: str,
    tail_lines: int,
    limit_bytes: int,
    progress: Progress | None = None,
    max_log_pods: int = 5,
) -> RolloutBundle:
    """Read one StatefulSet's or DaemonSet's rollout evidence (errors as for Deployments)."""
    say = progress or (lambda _msg: None)
    r = _Reader(api, namespace)
    read = r.apps.read_namespaced_stateful_set if kind == "StatefulSet" else r.apps.read_namespaced_daemon_set
    obj = await _json(read, f"{kind.lower()} {namespace}/{name}", name, namespace)
    obj.setdefault("apiVersion", "apps/v1")
    obj.setdefault("kind", kind)
    uid = str((obj.get("metadata") or {}).get("uid") or "")
    say(f"{kind.lower()} {namespace}/{name} generation {obj.get('metadata', {}).get('generation')}")

    selector = _selector(obj)
    revisions = [dict(cr) for cr in await _list(
        r.apps.list_namespaced_controller_revision, "controllerrevisions", namespace, kind="ControllerRevision",
        api_version="apps/v1") if uid and _owned_by(cr, uid)]
    say(f"controllerrevisions: {len(revisions)}")

    candidates = await _list(r.core.list_namespaced_pod, "pods", namespace, kind="Pod", api_version="v1",
                             label_selector=selector)
    owned = [dict(p) for p in candidates if not uid or _owned_by(p, uid)]
    chosen = select_set(kind, obj, owned, revisions)
    pods, old_pods = [dict(p) for p in chosen.pods], [dict(p) for p in chosen.old_pods]
    say(f"update revision {chosen.current.name if chosen.current else None}: {len(pods)} pods of it, "
        f"{len(old_pods)} of older revisions")

    events = await r.events_of_all([obj, *pods, *claims_of(pods)])
    say(f"events: {len(events)}")
    logs = await r.logs_of(pods, max_log_pods=max_log_pods, tail_lines=tail_lines, limit_bytes=limit_bytes)
    say(f"logs: {len(logs)} ({sum(len(e.text) for e in logs)} characters)")
    return parse_bundle({
        "apiVersion": "fyr/v1", "kind": "RolloutBundle", "cluster": cluster,
        "collected_at": datetime.now(UTC).isoformat(), "workload": obj, "controller_revisions": revisions,
        "pods": pods, "old_pods": old_pods, "events": events, "logs": [e.model_dump() for e in logs],
    }, source=f"collected {namespace}/{kind.lower()}/{name}")


async def collect_workload(api: client.ApiClient, *, kind: str, namespace: str, name: str, cluster: str,
                           tail_lines: int, limit_bytes: int, progress: Progress | None = None) -> RolloutBundle:
    """The bundle of a workload of any of the three kinds."""
    if kind in ("StatefulSet", "DaemonSet"):
        return await collect_set_bundle(api, kind=kind, namespace=namespace, name=name,  # type: ignore[arg-type]
                                        cluster=cluster, tail_lines=tail_lines, limit_bytes=limit_bytes,
                                        progress=progress)
    return await collect_bundle(api, namespace=namespace, deployment=name, cluster=cluster, tail_lines=tail_lines,
                                limit_bytes=limit_bytes, progress=progress)


__all__ = ["collect_set_bundle", "collect_workload"]
