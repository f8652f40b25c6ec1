"""Discovery documents: what kubectl reads before any request (short names, categories, verbs).

Why it exists: `kubectl get deploy,rs,po`, `kubectl get all` and every resource argument are
resolved through discovery. kubectl ≥ 1.30 asks for the aggregated form (`apidiscovery.k8s.io/v2`
`APIGroupDiscoveryList`) first and reads the legacy per-version `APIResourceList` from servers
that answer plain JSON; both are served, built from the same resource table.
"""

from __future__ import annotations

from typing import Any

from fyr.simcluster.store import RESOURCES, ResourceType

JsonObj = dict[str, Any]

AGGREGATED_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
SERVER_VERSION = {
    "major": "1", "minor": "37", "emulationMajor": "1", "emulationMinor": "37", "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "36", "gitVersion": "v1.37.0-fyr-sim", "gitCommit": "0" * 40, "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25.0", "compiler": "gc", "platform": "linux/amd64",
}
_ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
_NAMESPACE_VERBS = ["create", "delete", "get", "list"]
_SUB_VERBS = ["get", "patch", "update"]


def wants_aggregated(accept: str) -> bool:
    return any("as=APIGroupDiscoveryList" in part and "v=v2;" in part + ";" for part in accept.split(","))


def _kind_ref(group: str, kind: str, version: str = "v1") -> JsonObj:
    return {"group": group, "version": version, "kind": kind}


def _served(prefix: str) -> list[ResourceType]:
    return [r for r in RESOURCES.values() if r.prefix == prefix]


def resource_list(prefix: str) -> JsonObj:
    """The legacy `APIResourceList` of /api/v1 or /apis/apps/v1."""
    out: list[JsonObj] = []
    if prefix == "/api/v1":
        out.append({"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
                    "verbs": _NAMESPACE_VERBS, "shortNames": ["ns"]})
    for res in _served(prefix):
        entry: JsonObj = {"name": res.plural, "singularName": res.kind.lower(), "namespaced": True,
                          "kind": res.kind, "verbs": _ALL_VERBS}
        if res.short_names:
            entry["shortNames"] = list(res.short_names)
        if res.categories:
            entry["categories"] = list(res.categories)
        out.append(entry)
        if res.status_subresource:
            out.append({"name": f"{res.plural}/status", "singularName": "", "namespaced": True, "kind": res.kind,
                        "verbs": _SUB_VERBS})
        if res.scale_subresource:
            out.append({"name": f"{res.plural}/scale", "singularName": "", "namespaced": True, "group": "autoscaling",
                        "version": "v1", "kind": "Scale", "verbs": _SUB_VERBS})
        if res.plural == "pods":
            out.append({"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]})
    group_version = "v1" if prefix == "/api/v1" else prefix.removeprefix("/apis/")
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": out}


def _aggregated_resources(prefix: str) -> list[JsonObj]:
    out: list[JsonObj] = []
    if prefix == "/api/v1":
        out.append({"resource": "namespaces", "responseKind": _kind_ref("", "Namespace"), "scope": "Cluster",
                    "singularResource": "namespace", "verbs": _NAMESPACE_VERBS, "shortNames": ["ns"],
                    "subresources": []})
    for res in _served(prefix):
        subs: list[JsonObj] = []
        if res.status_subresource:
            subs.append({"subresource": "status", "responseKind": _kind_ref(res.group, res.kind),
                         "verbs": _SUB_VERBS})
        if res.scale_subresource:
            subs.append({"subresource": "scale", "responseKind": _kind_ref("autoscaling", "Scale"),
                         "verbs": _SUB_VERBS})
        if res.plural == "pods":
            subs.append({"subresource": "log", "responseKind": _kind_ref("", "Pod"), "verbs": ["get"]})
        entry: JsonObj = {"resource": res.plural, "responseKind": _kind_ref(res.group, res.kind),
                          "scope": "Namespaced", "singularResource": res.kind.lower(), "verbs": _ALL_VERBS,
                          "subresources": subs}
        if res.short_names:
            entry["shortNames"] = list(res.short_names)
        if res.categories:
            entry["categories"] = list(res.categories)
        out.append(entry)
    return sorted(out, key=lambda e: str(e["resource"]))


def aggregated(core: bool) -> JsonObj:
    """`APIGroupDiscoveryList` for /api (core) or /apis (the apps group)."""
    if core:
        item: JsonObj = {"metadata": {"creationTimestamp": None},
                         "versions": [{"version": "v1", "resources": _aggregated_resources("/api/v1"),
                                       "freshness": "Current"}]}
    else:
        item = {"metadata": {"name": "apps", "creationTimestamp": None},
                "versions": [{"version": "v1", "resources": _aggregated_resources("/apis/apps/v1"),
                              "freshness": "Current"}]}
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
            "items": [item]}


def api_versions() -> JsonObj:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}


def apps_group() -> JsonObj:
    gv = {"groupVersion": "apps/v1", "version": "v1"}
    return {"kind": "APIGroup", "apiVersion": "v1", "name": "apps", "versions": [gv], "preferredVersion": gv}


def api_groups() -> JsonObj:
    group = apps_group()
    group.pop("kind")
    group.pop("apiVersion")
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]}
