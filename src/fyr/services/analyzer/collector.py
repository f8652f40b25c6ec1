"""Collect one Deployment's rollout evidence from the API server into a `RolloutBundle`.

What `kubectl describe` plus `kubectl logs [--previous]` would show, gathered the way the analyzer
needs it (docs/architecture.md 'Analysis pipeline'): the Deployment, its new and previous ReplicaSets (so the change is
visible), the new ReplicaSet's pods, the events of all of them, and container logs (current, and
`previous=true` for restarted containers, init containers included) bounded by tailLines/limitBytes.

Objects are read with `_preload_content=False` and kept as the raw camelCase JSON the API server
sent, which is what the bundle contract asks for. A log that cannot be read (container never
started, previous instance gone) is skipped, not fatal: one missing log must not lose the rest.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
import structlog
from kubernetes_asyncio import client

from fyr.core.k8s_views import claim_names, pod_view
from fyr.core.rollout import select_deployment
from fyr.core.status import belongs
from fyr.errors import PermanentError, TransientError
from fyr.models.bundle import LogEntry, RolloutBundle, parse_bundle

log = structlog.get_logger()

JsonObj = dict[str, Any]
Progress = Callable[[str], None]

_CONCURRENCY = 8  # parallel event/log reads; the API server's default per-client QPS is modest


async def _body(resp: Any, what: str) -> bytes:
    """The response body; non-2xx becomes TransientError (429/5xx) or PermanentError (the rest)."""
    try:
        data: bytes = await resp.read()
    finally:
        resp.release()
    if 200 <= resp.status < 300:
        return data
    try:
        message = str(json.loads(data).get("message", ""))
    except ValueError:
        message = data[:200].decode(errors="replace")
    if resp.status == 429 or resp.status >= 500:
        raise TransientError(f"{what}: API server answered {resp.status}: {message}")
    raise PermanentError(f"{what}: API server answered {resp.status}: {message}")


async def _json(call: Any, what: str, *args: Any, **kwargs: Any) -> JsonObj:
    try:
        resp = await call(*args, _preload_content=False, **kwargs)
        return dict(json.loads(await _body(resp, what)))
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TransientError(f"{what}: {type(exc).__name__}: {exc}") from exc


async def _list(call: Any, what: str, namespace: str, *, kind: str, api_version: str, **kwargs: Any) -> list[JsonObj]:
    """Every item of every page; list items carry no kind/apiVersion on the wire, so we add them."""
    items: list[JsonObj] = []
    token: str | None = None
    while True:
        page_kwargs = dict(kwargs, limit=500)
        if token:
            page_kwargs["_continue"] = token
        body = await _json(call, what, namespace, **page_kwargs)
        for item in body.get("items") or []:
            items.append({"apiVersion": api_version, "kind": kind, **item})
        token = (body.get("metadata") or {}).get("continue")
        if not token:
            return items


def _selector(deployment: Mapping[str, Any]) -> str | None:
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or None


def _owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])


def _restarted_containers(pod: Mapping[str, Any]) -> list[tuple[str, bool, bool]]:
    """(container, is_init, has_previous) for every container of the pod, init containers first."""
    status = pod.get("status") or {}
    restarts: dict[str, int] = {}
    terminated_before: set[str] = set()
    for st in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        restarts[str(st.get("name"))] = int(st.get("restartCount") or 0)
        if (st.get("lastState") or {}).get("terminated"):
            terminated_before.add(str(st.get("name")))
    spec = pod.get("spec") or {}
    out = []
    for c in spec.get("initContainers") or []:
        name = str(c.get("name"))
        out.append((name, True, restarts.get(name, 0) > 0 or name in terminated_before))
    for c in spec.get("containers") or []:
        name = str(c.get("name"))
        out.append((name, False, restarts.get(name, 0) > 0 or name in terminated_before))
    return out


class _Reader:
    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.ns = namespace
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.sem = asyncio.Semaphore(_CONCURRENCY)

    async def events_of(self, obj: Mapping[str, Any]) -> list[JsonObj]:
        meta = obj.get("metadata") or {}
        kind = str(obj.get("kind") or "")
        selector = f"involvedObject.name={meta.get('name')}"
        if kind:
            selector += f",involvedObject.kind={kind}"
        async with self.sem:
            events = await _list(self.core.list_namespaced_event, f"events of {kind}/{meta.get('name')}",
                                 self.ns, kind="Event", api_version="v1", field_selector=selector)
        uid = meta.get("uid")
        # same name, earlier incarnation (a deleted and recreated object): not ours
        return [e for e in events if not uid or (e.get("involvedObject") or {}).get("uid") in (None, "", uid)]

    async def events_of_all(self, objs: list[JsonObj]) -> list[JsonObj]:
        """The events of every object, read in parallel, each event once (by uid)."""
        batches = await asyncio.gather(*(self.events_of(obj) for obj in objs))
        seen: set[str] = set()
        events: list[JsonObj] = []
        for batch in batches:
            for ev in batch:
                key = str((ev.get("metadata") or {}).get("uid") or id(ev))
                if key not in seen:
                    seen.add(key)
                    events.append(ev)
        return events

    async def logs_of(self, pods: list[JsonObj], *, max_log_pods: int, tail_lines: int,
                      limit_bytes: int) -> list[LogEntry]:
        """Current and previous logs of the restarted containers of the pods worth reading."""
        jobs = []
        for pod in _log_worthy(pods, max_log_pods):
            pod_name = str(pod["metadata"]["name"])
            for container, _init, has_previous in _restarted_containers(pod):
                jobs.append((pod_name, container, False))
                if has_previous:
                    jobs.append((pod_name, container, True))
        texts = await asyncio.gather(*(self.log(p, c, previous=prev, tail_lines=tail_lines, limit_bytes=limit_bytes)
                                       for p, c, prev in jobs))
        return [LogEntry(pod=p, container=c, previous=prev, text=text)
                for (p, c, prev), text in zip(jobs, texts, strict=True) if text is not None]

    async def log(self, pod: str, container: str, *, previous: bool, tail_lines: int,
                  limit_bytes: int) -> str | None:
        what = f"log of {pod}/{container}" + (" (previous)" if previous else "")
        async with self.sem:
            try:
                resp = await self.core.read_namespaced_pod_log(
                    pod, self.ns, container=container, previous=previous, tail_lines=tail_lines,
                    limit_bytes=limit_bytes, _preload_content=False)
                data = await _body(resp, what)
            except PermanentError as exc:
                # 400 "waiting to start" / "previous terminated container not found": nothing to read
                log.info("collector_log_unavailable", pod=pod, container=container, previous=previous,
                         error=str(exc)[:200])
                return None
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise TransientError(f"{what}: {type(exc).__name__}: {exc}") from exc
        return data.decode("utf-8", errors="replace")


def claims_of(pods: list[JsonObj]) -> list[JsonObj]:
    """The claims the pods mount, as objects whose events `_Reader.events_of` reads: a pod waiting
    for an unbound claim is explained by the claim's events (e.g. its StorageClass is missing)."""
    return [{"kind": "PersistentVolumeClaim", "metadata": {"name": c}} for c in claim_names(pods)]


async def collect_bundle(
    api: client.ApiClient,
    *,
    namespace: str,
    deployment: str,
    cluster: str,
    tail_lines: int,
    limit_bytes: int,
    progress: Progress | None = None,
    max_log_pods: int = 5,
) -> RolloutBundle:
    """Read one Deployment's rollout evidence. TransientError / PermanentError on API failures of
    the Deployment, ReplicaSet, Pod or Event reads; unreadable logs are skipped. Logs are read for
    at most `max_log_pods` pods, the most restarted / least ready first."""
    say = progress or (lambda _msg: None)
    r = _Reader(api, namespace)
    dep = await _json(r.apps.read_namespaced_deployment, f"deployment {namespace}/{deployment}", deployment,
                      namespace)
    dep.setdefault("apiVersion", "apps/v1")
    dep.setdefault("kind", "Deployment")
    dep_uid = str((dep.get("metadata") or {}).get("uid") or "")
    say(f"deployment {namespace}/{deployment} generation {dep.get('metadata', {}).get('generation')}")

    all_rs = await _list(r.apps.list_namespaced_replica_set, "replicasets", namespace, kind="ReplicaSet",
                         api_version="apps/v1", label_selector=_selector(dep))
    owned = [rs for rs in all_rs if not dep_uid or _owned_by(rs, dep_uid)]
    chosen = select_deployment(dep, owned, ())
    new_rs, old_rs = chosen.new_rs, chosen.old_rs
    replicasets = [dict(rs) for rs in (new_rs, old_rs) if rs is not None]
    say(f"replicasets: new {_name(new_rs)}, previous {_name(old_rs)}")

    pods: list[JsonObj] = []
    new_view = chosen.new_rs_view
    if new_view is not None:
        hash_label = new_view.template_hash
        selector = _selector(dep)
        if hash_label:
            selector = f"{selector},pod-template-hash={hash_label}" if selector else f"pod-template-hash={hash_label}"
        candidates = await _list(r.core.list_namespaced_pod, "pods", namespace, kind="Pod", api_version="v1",
                                 label_selector=selector)
        pods = [dict(p) for p in candidates if belongs(pod_view(p), new_view)]
    say(f"pods of the new replicaset: {len(pods)}")

    events = await r.events_of_all([dep, *replicasets, *pods, *claims_of(pods)])
    say(f"events: {len(events)}")
    logs = await r.logs_of(pods, max_log_pods=max_log_pods, tail_lines=tail_lines, limit_bytes=limit_bytes)
    say(f"logs: {len(logs)} ({sum(len(e.text) for e in logs)} characters)")

    return parse_bundle({
        "apiVersion": "fyr/v1", "kind": "RolloutBundle", "cluster": cluster,
        "collected_at": datetime.now(UTC).isoformat(),
        "deployment": dep, "replicasets": replicasets, "pods": pods, "events": events,
        "logs": [e.model_dump() for e in logs],
    }, source=f"collected {namespace}/{deployment}")


def _trouble(pod: Mapping[str, Any]) -> tuple[int, int, str]:
    """Sort key: most restarts first, then not-ready pods, then by name (stable)."""
    status = pod.get("status") or {}
    statuses = [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
    restarts = sum(int(st.get("restartCount") or 0) for st in statuses)
    ready = all(st.get("ready") for st in statuses) and bool(statuses)
    return (-restarts, int(ready), str((pod.get("metadata") or {}).get("name")))


def _log_worthy(pods: list[JsonObj], limit: int) -> list[JsonObj]:
    """The pods whose logs are read: a 50-replica Deployment failing the same way on every pod needs
    the logs of a few of them, not 200 MB (the reduction would collapse them anyway)."""
    return sorted(pods, key=_trouble)[:limit]


def _name(obj: Mapping[str, Any] | None) -> str | None:
    return None if obj is None else str((obj.get("metadata") or {}).get("name"))
