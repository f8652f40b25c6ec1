"""`meta.k8s.io/v1` Table responses: the columns `kubectl get` shows, computed server-side.

Why it exists: kubectl asks every `get` for a Table (`Accept: application/json;as=Table;...`) and
prints only what the server's printer put in it; a plain list shows NAME and AGE only. The columns
and cell formats here follow the API server's printers for the kinds the simulated cluster serves
(ages as `duration.HumanDuration`, pod STATUS and RESTARTS as `kubectl get pods` prints them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

JsonObj = dict[str, Any]
Column = tuple[str, str, int]  # name, type, priority (1 = only with -o wide)

_NAME_DESC = "Name must be unique within a namespace."


def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def _parse(ts: Any) -> datetime | None:
    if not isinstance(ts, str) or not ts:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None


def _age(ts: Any, now: datetime) -> str:
    at = _parse(ts)
    return "<unknown>" if at is None else human_duration((now - at).total_seconds())


def _containers(spec: JsonObj) -> tuple[str, str]:
    cs = spec.get("containers") or []
    return ",".join(str(c.get("name", "")) for c in cs), ",".join(str(c.get("image", "")) for c in cs)


def _selector(spec: JsonObj) -> str:
    sel = spec.get("selector") or {}
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for expr in sel.get("matchExpressions") or ():
        op, values = str(expr.get("operator", "")), ",".join(expr.get("values") or ())
        key = str(expr.get("key", ""))
        parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": key,
                      "DoesNotExist": f"!{key}"}.get(op, key))
    return ",".join(parts) or "<none>"


def _template_spec(obj: JsonObj) -> JsonObj:
    spec: JsonObj = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    return spec


def _deployment(d: JsonObj, now: datetime) -> list[Any]:
    spec, st = d.get("spec") or {}, d.get("status") or {}
    names, images = _containers(_template_spec(d))
    return [d["metadata"]["name"], f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
            st.get("updatedReplicas", 0), st.get("availableReplicas", 0),
            _age(d["metadata"].get("creationTimestamp"), now), names, images, _selector(spec)]


def _replicaset(rs: JsonObj, now: datetime) -> list[Any]:
    spec, st = rs.get("spec") or {}, rs.get("status") or {}
    names, images = _containers(_template_spec(rs))
    return [rs["metadata"]["name"], spec.get("replicas", 0), st.get("replicas", 0), st.get("readyReplicas", 0),
            _age(rs["metadata"].get("creationTimestamp"), now), names, images, _selector(spec)]


def _statefulset(s: JsonObj, now: datetime) -> list[Any]:
    spec, st = s.get("spec") or {}, s.get("status") or {}
    names, images = _containers(_template_spec(s))
    return [s["metadata"]["name"], f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
            _age(s["metadata"].get("creationTimestamp"), now), names, images]


def _daemonset(ds: JsonObj, now: datetime) -> list[Any]:
    spec, st = ds.get("spec") or {}, ds.get("status") or {}
    names, images = _containers(_template_spec(ds))
    node_sel = ",".join(f"{k}={v}" for k, v in sorted((_template_spec(ds).get("nodeSelector") or {}).items()))
    return [ds["metadata"]["name"], st.get("desiredNumberScheduled", 0), st.get("currentNumberScheduled", 0),
            st.get("numberReady", 0), st.get("updatedNumberScheduled", 0), st.get("numberAvailable", 0),
            node_sel or "<none>", _age(ds["metadata"].get("creationTimestamp"), now), names, images,
            _selector(spec)]


def _controllerrevision(cr: JsonObj, now: datetime) -> list[Any]:
    owner = next((r for r in cr["metadata"].get("ownerReferences") or () if r.get("controller")), None)
    controller = "<none>"
    if owner is not None:
        group = str(owner.get("apiVersion", "")).split("/")[0] if "/" in str(owner.get("apiVersion", "")) else ""
        kind = str(owner.get("kind", "")).lower()
        controller = f"{kind}.{group}/{owner.get('name')}" if group else f"{kind}/{owner.get('name')}"
    return [cr["metadata"]["name"], controller, cr.get("revision", 0), _age(cr["metadata"].get("creationTimestamp"),
                                                                             now)]


def pod_status_text(pod: JsonObj) -> str:
    """The STATUS column of `kubectl get pods` (printPod, without the rarely seen branches)."""
    st = pod.get("status") or {}
    reason = str(st.get("reason") or st.get("phase") or "Unknown")
    initializing = False
    init_specs = (pod.get("spec") or {}).get("initContainers") or []
    for i, cs in enumerate(st.get("initContainerStatuses") or ()):
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if term and term.get("exitCode") == 0:
            continue
        if term:
            reason = "Init:" + str(term.get("reason") or f"ExitCode:{term.get('exitCode')}")
        elif waiting and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = "Init:" + str(waiting["reason"])
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break
    if not initializing:
        has_running = False
        for cs in reversed(st.get("containerStatuses") or []):
            state = cs.get("state") or {}
            waiting, term = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif term and term.get("reason"):
                reason = str(term["reason"])
            elif term:
                reason = f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode')}"
            elif state.get("running") and cs.get("ready"):
                has_running = True
        if reason == "Completed" and has_running:
            ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or ())
            reason = "Running" if ready else "NotReady"
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return reason


def _pod(pod: JsonObj, now: datetime) -> list[Any]:
    spec, st = pod.get("spec") or {}, pod.get("status") or {}
    statuses = st.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount", 0)) for c in statuses)
    last: datetime | None = None
    for c in statuses:
        at = _parse(((c.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
        if at is not None and (last is None or at > last):
            last = at
    restart_text = f"{restarts} ({human_duration((now - last).total_seconds())} ago)" if restarts and last \
        else str(restarts)
    gates = spec.get("readinessGates") or []
    gate_text = "<none>"
    if gates:
        true = {c.get("type") for c in st.get("conditions") or () if c.get("status") == "True"}
        gate_text = f"{sum(1 for g in gates if g.get('conditionType') in true)}/{len(gates)}"
    return [pod["metadata"]["name"], f"{ready}/{len(spec.get('containers') or [])}", pod_status_text(pod),
            restart_text, _age(pod["metadata"].get("creationTimestamp"), now), st.get("podIP") or "<none>",
            spec.get("nodeName") or "<none>", st.get("nominatedNodeName") or "<none>", gate_text]


def _event(ev: JsonObj, now: datetime) -> list[Any]:
    inv = ev.get("involvedObject") or {}
    first = ev.get("firstTimestamp") or ev.get("eventTime")
    last = ev.get("lastTimestamp") or (ev.get("series") or {}).get("lastObservedTime") or ev.get("eventTime")
    count = ev.get("count") or (ev.get("series") or {}).get("count") or 1
    source = ev.get("source") or {}
    src = str(source.get("component") or ev.get("reportingComponent") or "")
    if source.get("host"):
        src += f", {source['host']}"
    last_text = _age(last, now)
    if int(count) > 1:
        last_text = f"{last_text} (x{count} over {_age(first, now)})"
    return [last_text, ev.get("type", ""), ev.get("reason", ""),
            f"{str(inv.get('kind', '')).lower()}/{inv.get('name', '')}", inv.get("fieldPath", ""), src,
            " ".join(str(ev.get("message", "")).split()), _age(first, now), int(count), ev["metadata"]["name"]]


def _namespace(ns: JsonObj, now: datetime) -> list[Any]:
    return [ns["metadata"]["name"], (ns.get("status") or {}).get("phase", "Active"),
            _age(ns["metadata"].get("creationTimestamp"), now)]


_S, _I = "string", "integer"
PRINTERS: dict[str, tuple[tuple[Column, ...], Callable[[JsonObj, datetime], list[Any]]]] = {
    "Deployment": ((("Name", _S, 0), ("Ready", _S, 0), ("Up-to-date", _I, 0), ("Available", _I, 0),
                    ("Age", _S, 0), ("Containers", _S, 1), ("Images", _S, 1), ("Selector", _S, 1)), _deployment),
    "ReplicaSet": ((("Name", _S, 0), ("Desired", _I, 0), ("Current", _I, 0), ("Ready", _I, 0), ("Age", _S, 0),
                    ("Containers", _S, 1), ("Images", _S, 1), ("Selector", _S, 1)), _replicaset),
    "StatefulSet": ((("Name", _S, 0), ("Ready", _S, 0), ("Age", _S, 0), ("Containers", _S, 1),
                     ("Images", _S, 1)), _statefulset),
    "DaemonSet": ((("Name", _S, 0), ("Desired", _I, 0), ("Current", _I, 0), ("Ready", _I, 0),
                   ("Up-to-date", _I, 0), ("Available", _I, 0), ("Node Selector", _S, 0), ("Age", _S, 0),
                   ("Containers", _S, 1), ("Images", _S, 1), ("Selector", _S, 1)), _daemonset),
    "ControllerRevision": ((("Name", _S, 0), ("Controller", _S, 0), ("Revision", _I, 0), ("Age", _S, 0)),
                           _controllerrevision),
    "Pod": ((("Name", _S, 0), ("Ready", _S, 0), ("Status", _S, 0), ("Restarts", _S, 0), ("Age", _S, 0),
             ("IP", _S, 1), ("Node", _S, 1), ("Nominated Node", _S, 1), ("Readiness Gates", _S, 1)), _pod),
    "Event": ((("Last Seen", _S, 0), ("Type", _S, 0), ("Reason", _S, 0), ("Object", _S, 0), ("Subobject", _S, 1),
               ("Source", _S, 1), ("Message", _S, 0), ("First Seen", _S, 1), ("Count", _I, 1), ("Name", _S, 1)),
              _event),
    "Namespace": ((("Name", _S, 0), ("Status", _S, 0), ("Age", _S, 0)), _namespace),
}


def wants_table(accept: str) -> bool:
    """kubectl's Accept: `application/json;as=Table;v=v1;g=meta.k8s.io,...`."""
    return any("as=Table" in part and "g=meta.k8s.io" in part for part in accept.split(","))


def column_definitions(kind: str) -> list[JsonObj]:
    columns, _ = PRINTERS[kind]
    return [{"name": n, "type": t, "format": "name" if n == "Name" else "", "description": _NAME_DESC
             if n == "Name" else n, "priority": p} for n, t, p in columns]


def _row_object(obj: JsonObj, include: str) -> JsonObj | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def table(kind: str, api_version: str, objects: Iterable[JsonObj], *, metadata: JsonObj, include: str = "Metadata",
          headers: bool = True, now: datetime | None = None) -> JsonObj:
    """A Table of `objects`; `include` is the request's includeObject (None, Metadata, Object)."""
    when = now or datetime.now(UTC)
    _, printer = PRINTERS[kind]
    rows = []
    for obj in objects:
        full = {"apiVersion": api_version, "kind": kind, **obj}
        row: JsonObj = {"cells": printer(full, when)}
        embedded = _row_object(full, include)
        if embedded is not None:
            row["object"] = embedded
        rows.append(row)
    body: JsonObj = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
                     "columnDefinitions": column_definitions(kind) if headers else [], "rows": rows}
    return body
