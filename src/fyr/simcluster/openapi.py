"""The OpenAPI v3 documents kubectl consults before a write: paths and PATCH parameters, no schemas.

Why it exists: `kubectl create -f` / `apply -f` validate strictly by default and first ask the
server's OpenAPI v3 document whether the PATCH operation of the object's kind takes the
`fieldValidation` query parameter; without the document kubectl refuses the write ("failed to
download openapi"). These documents say yes, so kubectl hands validation to the server. They list
JSON-merge and JSON-patch bodies for PATCH only, so `kubectl apply` computes its strategic merge
patch from its built-in types instead of from schemas this server does not publish.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from fyr.simcluster.store import RESOURCES

JsonObj = dict[str, Any]

_GROUP_VERSIONS = {"api/v1": "/api/v1", "apis/apps/v1": "/apis/apps/v1"}
_QUERY = [{"name": n, "in": "query", "schema": {"type": "string"}} for n in ("dryRun", "fieldManager",
                                                                            "fieldValidation")]
_PATCH_BODY = {"content": {"application/json-patch+json": {"schema": {"type": "object"}},
                           "application/merge-patch+json": {"schema": {"type": "object"}}}, "required": True}
_OK = {"200": {"description": "OK"}}


def _op(operation_id: str, gvk: JsonObj, *, params: list[JsonObj] | None = None,
        body: JsonObj | None = None) -> JsonObj:
    op: JsonObj = {"operationId": operation_id, "parameters": params or [], "responses": _OK,
                   "x-kubernetes-group-version-kind": gvk}
    if body is not None:
        op["requestBody"] = body
    return op


def group_version_doc(gv: str) -> JsonObj | None:
    prefix = _GROUP_VERSIONS.get(gv)
    if prefix is None:
        return None
    paths: JsonObj = {}
    if prefix == "/api/v1":
        gvk = {"group": "", "version": "v1", "kind": "Namespace"}
        paths["/api/v1/namespaces"] = {"post": _op("createCoreV1Namespace", gvk, params=_QUERY)}
        paths["/api/v1/namespaces/{name}"] = {
            "get": _op("readCoreV1Namespace", gvk),
            "patch": _op("patchCoreV1Namespace", gvk, params=_QUERY, body=_PATCH_BODY)}
    for res in RESOURCES.values():
        if res.prefix != prefix:
            continue
        gvk = {"group": res.group, "version": "v1", "kind": res.kind}
        base = f"{prefix}/namespaces/{{namespace}}/{res.plural}"
        paths[base] = {"get": _op(f"list{res.kind}", gvk), "post": _op(f"create{res.kind}", gvk, params=_QUERY)}
        paths[base + "/{name}"] = {"get": _op(f"read{res.kind}", gvk), "put": _op(f"replace{res.kind}", gvk,
                                                                                  params=_QUERY),
                                   "patch": _op(f"patch{res.kind}", gvk, params=_QUERY, body=_PATCH_BODY),
                                   "delete": _op(f"delete{res.kind}", gvk)}
        if res.status_subresource:
            paths[base + "/{name}/status"] = {"patch": _op(f"patch{res.kind}Status", gvk, params=_QUERY,
                                                           body=_PATCH_BODY)}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.37.0-fyr-sim"}, "paths": paths,
            "components": {}}


def _hash(gv: str) -> str:
    return hashlib.sha512(orjson.dumps(group_version_doc(gv))).hexdigest()[:64].upper()


def root() -> JsonObj:
    return {"paths": {gv: {"serverRelativeURL": f"/openapi/v3/{gv}?hash={_hash(gv)}"} for gv in _GROUP_VERSIONS}}
