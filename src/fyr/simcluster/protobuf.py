"""Protobuf request bodies of kubectl's generators, decoded to the JSON objects the server stores.

Why it exists: kubectl's typed clients send protobuf (`application/vnd.kubernetes.protobuf`) when
they write, and client-go never falls back to JSON for it; that is what `kubectl create namespace`,
`kubectl create deployment --image=...` and `kubectl run` do. The envelope is the `k8s\\0` magic then
a `runtime.Unknown` (type meta + the message). Only the fields those generators fill are known
here, with their field numbers from k8s.io/api and k8s.io/apimachinery's generated.proto; a body
with any other field is refused (`Unsupported`) rather than stored with parts missing. Responses
stay JSON, which these clients accept.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

MAGIC = b"k8s\x00"

# message -> field number -> (json name, type, repeated). Types: "string", "int", "bool", "bytes",
# "skip" (a status: cleared on create anyway), ("map", value type) or another message's name.
Field = tuple[str, Any, bool]
SCHEMA: dict[str, dict[int, Field]] = {
    "Unknown": {1: ("typeMeta", "TypeMeta", False), 2: ("raw", "bytes", False),
                3: ("contentEncoding", "string", False), 4: ("contentType", "string", False)},
    "TypeMeta": {1: ("apiVersion", "string", False), 2: ("kind", "string", False)},
    "ObjectMeta": {1: ("name", "string", False), 2: ("generateName", "string", False),
                   3: ("namespace", "string", False), 5: ("uid", "string", False),
                   6: ("resourceVersion", "string", False), 7: ("generation", "int", False),
                   8: ("creationTimestamp", "Time", False), 11: ("labels", ("map", "string"), False),
                   12: ("annotations", ("map", "string"), False),
                   13: ("ownerReferences", "OwnerReference", True), 14: ("finalizers", "string", True)},
    "OwnerReference": {5: ("apiVersion", "string", False), 1: ("kind", "string", False),
                       3: ("name", "string", False), 4: ("uid", "string", False), 6: ("controller", "bool", False),
                       7: ("blockOwnerDeletion", "bool", False)},
    "Time": {1: ("seconds", "int", False), 2: ("nanos", "int", False)},
    "LabelSelector": {1: ("matchLabels", ("map", "string"), False),
                      2: ("matchExpressions", "LabelSelectorRequirement", True)},
    "LabelSelectorRequirement": {1: ("key", "string", False), 2: ("operator", "string", False),
                                 3: ("values", "string", True)},
    "IntOrString": {1: ("type", "int", False), 2: ("intVal", "int", False), 3: ("strVal", "string", False)},
    "Quantity": {1: ("string", "string", False)},
    "Namespace": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "NamespaceSpec", False),
                  3: ("status", "skip", False)},
    "NamespaceSpec": {1: ("finalizers", "string", True)},
    "Deployment": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "DeploymentSpec", False),
                   3: ("status", "skip", False)},
    "DeploymentSpec": {1: ("replicas", "int", False), 2: ("selector", "LabelSelector", False),
                       3: ("template", "PodTemplateSpec", False), 4: ("strategy", "DeploymentStrategy", False),
                       5: ("minReadySeconds", "int", False), 6: ("revisionHistoryLimit", "int", False),
                       7: ("paused", "bool", False), 9: ("progressDeadlineSeconds", "int", False)},
    "DeploymentStrategy": {1: ("type", "string", False), 2: ("rollingUpdate", "RollingUpdateDeployment", False)},
    "RollingUpdateDeployment": {1: ("maxUnavailable", "IntOrString", False), 2: ("maxSurge", "IntOrString", False)},
    "Pod": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "PodSpec", False), 3: ("status", "skip", False)},
    "PodTemplateSpec": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "PodSpec", False)},
    "PodSpec": {2: ("containers", "Container", True), 20: ("initContainers", "Container", True),
                3: ("restartPolicy", "string", False), 4: ("terminationGracePeriodSeconds", "int", False),
                6: ("dnsPolicy", "string", False), 7: ("nodeSelector", ("map", "string"), False),
                8: ("serviceAccountName", "string", False), 10: ("nodeName", "string", False),
                16: ("hostname", "string", False), 19: ("schedulerName", "string", False),
                24: ("priorityClassName", "string", False), 25: ("priority", "int", False),
                30: ("enableServiceLinks", "bool", False), 31: ("preemptionPolicy", "string", False)},
    "Container": {1: ("name", "string", False), 2: ("image", "string", False), 3: ("command", "string", True),
                  4: ("args", "string", True), 5: ("workingDir", "string", False),
                  6: ("ports", "ContainerPort", True), 7: ("env", "EnvVar", True),
                  8: ("resources", "ResourceRequirements", False), 13: ("terminationMessagePath", "string", False),
                  20: ("terminationMessagePolicy", "string", False), 14: ("imagePullPolicy", "string", False),
                  16: ("stdin", "bool", False), 17: ("stdinOnce", "bool", False), 18: ("tty", "bool", False)},
    "ContainerPort": {1: ("name", "string", False), 2: ("hostPort", "int", False), 3: ("containerPort", "int", False),
                      4: ("protocol", "string", False), 5: ("hostIP", "string", False)},
    "EnvVar": {1: ("name", "string", False), 2: ("value", "string", False)},
    "ResourceRequirements": {1: ("limits", ("map", "Quantity"), False), 2: ("requests", ("map", "Quantity"), False)},
}
KINDS = {("v1", "Namespace"), ("apps/v1", "Deployment"), ("v1", "Pod")}
# Go pointer fields: written only when set, so a zero there is a value (`--replicas=0`). Other
# scalars are always written by Go's marshaller, and their zero means "not set" (JSON omits it).
POINTERS = {("DeploymentSpec", 1), ("DeploymentSpec", 6), ("DeploymentSpec", 9), ("PodSpec", 4), ("PodSpec", 25),
            ("PodSpec", 30), ("OwnerReference", 6), ("OwnerReference", 7)}


class Unsupported(ValueError):
    """A body this decoder cannot turn into JSON without losing something."""


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(data):
            raise Unsupported("truncated varint")
        b = data[i]
        value |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return value, i
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    out: list[tuple[int, int | bytes]] = []
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
            out.append((number, value))
        elif wire == 2:
            length, i = _varint(data, i)
            out.append((number, data[i:i + length]))
            i += length
        else:
            raise Unsupported(f"wire type {wire}")
    return out


def _scalar(kind: str, raw: int | bytes) -> Any:
    if kind == "string":
        return raw.decode() if isinstance(raw, bytes) else str(raw)
    if kind == "bytes":
        return raw
    if not isinstance(raw, int):
        raise Unsupported(f"{kind} field is not a varint")
    if kind == "bool":
        return bool(raw)
    return raw - (1 << 64) if raw >= 1 << 63 else raw


def _value(kind: Any, raw: int | bytes) -> Any:
    if isinstance(kind, str) and kind in SCHEMA:
        if not isinstance(raw, bytes):
            raise Unsupported(f"{kind} is not length-delimited")
        return _simplify(kind, decode(kind, raw))
    return _scalar(kind, raw)


def _simplify(message: str, obj: dict[str, Any]) -> Any:
    if message == "IntOrString":
        return obj.get("strVal", "") if obj.get("type") == 1 else obj.get("intVal", 0)
    if message == "Quantity":
        return obj.get("string", "")
    if message == "Time":
        return datetime.fromtimestamp(obj.get("seconds", 0), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return obj


def _is_zero_time(raw: int | bytes) -> bool:
    return isinstance(raw, bytes) and all(value == 0 for _, value in _fields(raw))


def decode(message: str, data: bytes) -> dict[str, Any]:
    schema = SCHEMA[message]
    out: dict[str, Any] = {}
    for number, raw in _fields(data):
        if number not in schema:
            if raw in (0, b""):
                continue  # a zero value Go's marshaller writes for every field: it says nothing
            raise Unsupported(f"field {number} of {message}")
        name, kind, repeated = schema[number]
        if kind == "skip" or (kind == "Time" and _is_zero_time(raw)):
            continue
        if not repeated and raw in (0, b"") and kind in ("string", "int", "bool", "bytes") \
                and (message, number) not in POINTERS:
            continue
        if isinstance(kind, tuple):  # map<string, V>: entries of key = 1, value = 2
            if not isinstance(raw, bytes):
                raise Unsupported(f"map {name} entry")
            entry = dict(_fields(raw))
            key = _scalar("string", entry.get(1, b""))
            value_kind = kind[1]
            value = entry.get(2, b"" if value_kind != "int" else 0)
            out.setdefault(name, {})[key] = _value(value_kind, value)
        elif repeated:
            out.setdefault(name, []).append(_value(kind, raw))
        else:
            out[name] = _value(kind, raw)
    return out


def decode_object(body: bytes) -> dict[str, Any]:
    """A Kubernetes protobuf body as the JSON object it stands for (Unsupported if it cannot be)."""
    if not body.startswith(MAGIC):
        raise Unsupported("no k8s protobuf magic")
    unknown = decode("Unknown", body[len(MAGIC):])
    type_meta = unknown.get("typeMeta") or {}
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    if (api_version, kind) not in KINDS:
        raise Unsupported(f"{kind or 'an object'} in {api_version or 'no version'}")
    obj = decode(kind, unknown.get("raw", b""))
    return {"apiVersion": api_version, "kind": kind, **obj}
