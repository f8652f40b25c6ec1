"""The three PATCH forms kubectl sends: JSON merge patch, JSON patch and strategic merge patch.

Why it exists: `kubectl apply`, `set image`, `scale`, `rollout restart/pause/undo` and `patch
--subresource=status` each pick one of them, and a real server answers all three. JSON patch is
RFC 6902 through the `jsonpatch` library; merge patch is RFC 7386; strategic merge follows
apimachinery's rules for the fields these objects have: lists of containers, env, ports, volumes,
mounts, conditions and owner references merge by their key, `$patch` / `$retainKeys` /
`$deleteFromPrimitiveList` directives apply, `$setElementOrder` is honoured by merging only.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

JsonObj = dict[str, Any]

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"

# patchMergeKey of list fields (by field name: the same name has the same key in every kind served).
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "ports": "containerPort", "volumeMounts": "mountPath", "volumeDevices": "devicePath", "volumes": "name",
    "imagePullSecrets": "name", "conditions": "type", "ownerReferences": "uid", "hostAliases": "ip",
    "resourceClaims": "name", "topologySpreadConstraints": "topologyKey", "readinessGates": "conditionType",
}
# Lists of scalars merged as sets (patchStrategy merge).
MERGE_SETS = {"finalizers"}


class PatchError(ValueError):
    """A patch that cannot be applied (answered 422/400 by the server)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def json_patch(target: JsonObj, ops: Any) -> JsonObj:
    if not isinstance(ops, list):
        raise PatchError("json patch must be a list of operations")
    try:
        result: JsonObj = jsonpatch.apply_patch(target, ops)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as exc:
        raise PatchError(str(exc)) from exc
    return result


def strategic_merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    out = dict(target)
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            out[field] = [v for v in out.get(field) or [] if v not in (value or [])]
            continue
        if value is None:
            out.pop(key, None)
        elif isinstance(value, list):
            out[key] = _merge_list(key, out.get(key), value)
        elif isinstance(value, dict):
            merged = strategic_merge(out.get(key), value)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
        else:
            out[key] = value
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _merge_list(field: str, current: Any, patch: list[Any]) -> list[Any]:
    base = list(current) if isinstance(current, list) else []
    if field in MERGE_SETS:
        return base + [v for v in patch if v not in base]
    key = MERGE_KEYS.get(field)
    if key is None or not all(isinstance(v, dict) for v in patch):
        return [copy.deepcopy(v) for v in patch if not (isinstance(v, dict) and v.get("$patch"))]
    if any(isinstance(v, dict) and v.get("$patch") == "replace" for v in patch):
        return [copy.deepcopy({k: w for k, w in v.items() if k != "$patch"}) for v in patch
                if v.get("$patch") != "replace"]
    for item in patch:
        if key not in item:
            raise PatchError(f"map: {item} does not contain declared merge key: {key}")
        index = next((i for i, cur in enumerate(base) if isinstance(cur, dict) and cur.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del base[index]
        elif index is None:
            base.append(strategic_merge({}, item))
        else:
            base[index] = strategic_merge(base[index], item)
    return base


def apply_patch(content_type: str, target: JsonObj, patch: Any) -> JsonObj:
    """The patched object; PatchError for a malformed patch."""
    kind = content_type.split(";")[0].strip()
    if kind == JSON_PATCH:
        return json_patch(target, patch)
    if not isinstance(patch, dict):
        raise PatchError("patch body must be a JSON object")
    if kind == MERGE:
        result = merge_patch(target, patch)
    elif kind == STRATEGIC:
        result = strategic_merge(target, patch)
    else:
        raise PatchError(f"unsupported patch type {kind}")
    if not isinstance(result, dict):
        raise PatchError("patch removed the whole object")
    return result
