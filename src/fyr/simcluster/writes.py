"""Create, replace, patch and delete as the API server's registry does them.

Why it exists: kubectl's writes (`create -f`, `apply`, `scale`, `set image`, `rollout restart`,
`patch --subresource=status`, `delete`) must meet the same rules as on a real cluster: a create
clears the status of kinds with a status subresource, an update of the main resource keeps the
stored status and an update of `/status` keeps everything else, `metadata.generation` goes up only
on a spec change, a stale `resourceVersion` is a 409 Conflict, deletion lets the garbage collector
remove dependents (background propagation) unless orphaned. Every failure is an `ApiError` that the
server answers as a `metav1.Status`.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from fyr.simcluster.patch import PatchError, apply_patch
from fyr.simcluster.store import ClusterState, ResourceType

JsonObj = dict[str, Any]
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


class ApiError(Exception):
    """A request the API server refuses: the HTTP code, Status reason, message and details."""

    def __init__(self, code: int, reason: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details


def not_found(res: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{res.qualified} "{name}" not found', name=name, group=res.group,
                    kind=res.plural)


def _copy(obj: JsonObj) -> JsonObj:
    out: JsonObj = orjson.loads(orjson.dumps(obj))
    return out


def _qos_class(pod: JsonObj) -> str:
    containers = (pod.get("spec") or {}).get("containers") or []
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        (r.get("limits") or {}).get(k) and (r.get("requests") or {}).get(k, (r.get("limits") or {}).get(k))
        == (r.get("limits") or {}).get(k) for r in resources for k in ("cpu", "memory"))
    return "Guaranteed" if guaranteed else "Burstable"


def _check_identity(res: ResourceType, namespace: str, body: Any, name: str | None) -> JsonObj:
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if (kind and kind != res.kind) or (api_version and api_version != res.api_version):
        raise ApiError(400, "BadRequest", f"the API version in the data ({api_version}) does not match the "
                       f"expected API version ({res.api_version})" if kind == res.kind else
                       f"{kind} in version \"{str(api_version).rsplit('/', 1)[-1]}\" cannot be handled as a "
                       f"{res.kind}: the kind does not match")
    meta = body.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise ApiError(400, "BadRequest", "metadata must be an object")
    if meta.get("namespace") and meta["namespace"] != namespace:
        raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace "
                       "sent on the request")
    meta["namespace"] = namespace
    if name is not None:
        if meta.get("name") and meta["name"] != name:
            raise ApiError(400, "BadRequest", "the name of the object "
                           f"({meta['name']}) does not match the name on the URL ({name})")
        meta["name"] = name
    return body


def create(state: ClusterState, res: ResourceType, namespace: str, body: Any) -> JsonObj:
    if namespace not in state.namespaces:
        raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found', name=namespace, kind="namespaces")
    obj = _check_identity(res, namespace, body, None)
    meta = obj["metadata"]
    if meta.get("resourceVersion"):
        raise ApiError(500, "InternalError", "resourceVersion should not be set on objects to be created")
    if not meta.get("name"):
        if not meta.get("generateName"):
            raise ApiError(422, "Invalid", f'{res.kind}.{res.group or "core"} "" is invalid: metadata.name: '
                           "Required value: name or generateName is required", kind=res.kind, group=res.group,
                           causes=[{"reason": "FieldValueRequired", "field": "metadata.name",
                                    "message": "Required value: name or generateName is required"}])
        meta["name"] = meta["generateName"] + "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(5))
    if (namespace, meta["name"]) in state.objects[res.plural]:
        raise ApiError(409, "AlreadyExists", f'{res.qualified} "{meta["name"]}" already exists',
                       name=meta["name"], group=res.group, kind=res.plural)
    for server_field in ("uid", "creationTimestamp", "generation", "deletionTimestamp"):
        meta.pop(server_field, None)
    if res.status_subresource:
        obj["status"] = {}
        if res.kind == "Pod":
            obj["status"] = {"phase": "Pending", "qosClass": _qos_class(obj)}
    return state.apply(obj)


def _current(state: ClusterState, res: ResourceType, namespace: str, name: str) -> JsonObj:
    found = state.objects[res.plural].get((namespace, name))
    if found is None:
        raise not_found(res, name)
    return found


def _conflict(res: ResourceType, name: str) -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {res.qualified} "{name}": the object '
                    "has been modified; please apply your changes to the latest version and try again",
                    name=name, group=res.group, kind=res.plural)


def replace(state: ClusterState, res: ResourceType, namespace: str, name: str, body: Any,
            *, subresource: str | None = None) -> JsonObj:
    """PUT: the whole object, or only its status (`subresource="status"`)."""
    old = _current(state, res, namespace, name)
    new = _check_identity(res, namespace, body, name)
    want_rv = new["metadata"].get("resourceVersion")
    if want_rv and want_rv != old["metadata"]["resourceVersion"]:
        raise _conflict(res, name)
    if subresource == "status":
        merged = _copy(old)
        merged["status"] = new.get("status") or {}
        return state.apply(merged)
    if res.status_subresource:
        new["status"] = _copy(old.get("status") or {})
    return state.apply(new)


def patch(state: ClusterState, res: ResourceType, namespace: str, name: str, content_type: str, body: Any,
          *, subresource: str | None = None) -> JsonObj:
    old = _current(state, res, namespace, name)
    try:
        patched = apply_patch(content_type, _copy(old), body)
    except PatchError as exc:
        if str(exc).startswith("unsupported patch type"):
            raise ApiError(415, "UnsupportedMediaType", str(exc)) from exc
        raise ApiError(422, "Invalid", f'{res.kind}.{res.group or "core"} "{name}" is invalid: {exc}') from exc
    meta = patched.get("metadata")
    if not isinstance(meta, dict) or meta.get("name") != name or meta.get("namespace") != namespace:
        raise ApiError(400, "BadRequest", "a patch may not change the name or namespace of an object")
    want_rv = meta.get("resourceVersion")
    if want_rv and want_rv != old["metadata"]["resourceVersion"]:
        raise _conflict(res, name)
    return replace(state, res, namespace, name, patched, subresource=subresource)


def delete(state: ClusterState, res: ResourceType, namespace: str, name: str,
           *, propagation: str | None = None) -> JsonObj:
    _current(state, res, namespace, name)
    gone = state.delete(res.kind, namespace, name) if propagation == "Orphan" else \
        state.delete_cascade(res.kind, namespace, name)
    assert gone is not None
    return gone


# --- scale subresource (autoscaling/v1 Scale) ---------------------------------------------------

def scale_of(res: ResourceType, obj: JsonObj) -> JsonObj:
    meta = obj["metadata"]
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    selector = ",".join(f"{k}={v}" for k, v in sorted(((spec.get("selector") or {}).get("matchLabels") or {})
                                                       .items()))
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
                         "resourceVersion": meta["resourceVersion"],
                         "creationTimestamp": meta.get("creationTimestamp")},
            "spec": {"replicas": spec.get("replicas", 0)},
            "status": {"replicas": status.get("replicas", 0), "selector": selector}}


def update_scale(state: ClusterState, res: ResourceType, namespace: str, name: str, content_type: str | None,
                 body: Any) -> JsonObj:
    """PUT (content_type None) or PATCH of `/scale`: only `spec.replicas` is taken."""
    old = _current(state, res, namespace, name)
    current = scale_of(res, old)
    if content_type is None:
        wanted = body
    else:
        try:
            wanted = apply_patch(content_type, current, body)
        except PatchError as exc:
            raise ApiError(422, "Invalid", f"Scale.autoscaling \"{name}\" is invalid: {exc}") from exc
    if not isinstance(wanted, dict) or not isinstance((wanted.get("spec") or {}).get("replicas", 0), int):
        raise ApiError(400, "BadRequest", "spec.replicas must be an integer")
    want_rv = (wanted.get("metadata") or {}).get("resourceVersion")
    if content_type is None and want_rv and want_rv != old["metadata"]["resourceVersion"]:
        raise _conflict(res, name)
    new = _copy(old)
    new["spec"]["replicas"] = int((wanted.get("spec") or {}).get("replicas", 0))
    return scale_of(res, state.apply(new))
