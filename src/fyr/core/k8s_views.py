"""Small, typed views of the Kubernetes fields the rollout decision reads.

Why this exists: the status function (fyr.core.status) must work on raw camelCase API dicts, and
the watcher's index (fyr.services.watcher.cluster_index) must hold 50,000 pods in little memory. Both go
through the same extraction functions here: the pure function extracts views on the fly, the index
extracts once at `apply` time and keeps only the views (slotted, immutable, comparable, so an
update that changes nothing we read is recognised cheaply).

Facts behind the field choices: docs/kubernetes-signals.md 'How the deployment controller sets conditions', 'Tying
pods to a generation', 'Pod signals'.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson

POD_TEMPLATE_HASH = "pod-template-hash"
CONTROLLER_REVISION_HASH = "controller-revision-hash"
POD_TEMPLATE_GENERATION = "pod-template-generation"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"

_intern = sys.intern


def _m(obj: Any) -> Mapping[str, Any]:
    """A mapping or an empty one: API JSON leaves out empty fields (omitempty), and nulls occur."""
    if type(obj) is dict:  # the common case, without the slower ABC check
        return obj
    return obj if isinstance(obj, Mapping) else {}


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _i(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 (`...Z`, optionally with fractions, as MicroTime has) → aware UTC; None if absent/bad."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def controller_uid(metadata: Mapping[str, Any], kind: str) -> str:
    """The uid of the controller ownerReference of the given kind ('' if none)."""
    refs = metadata.get("ownerReferences") or ()
    fallback = ""
    for ref in refs:
        ref = _m(ref)
        if ref.get("kind") != kind:
            continue
        if ref.get("controller"):
            return _s(ref.get("uid"))
        fallback = fallback or _s(ref.get("uid"))
    return fallback


_SET_KINDS = ("StatefulSet", "DaemonSet")


def owner_uids(refs: Iterable[tuple[object, str, object]]) -> tuple[str, str]:
    """(ReplicaSet uid, StatefulSet-or-DaemonSet uid) of a pod's controller from its ownerReferences
    as (kind, uid, controller) triples, in one pass; as controller_uid, a non-controller reference of
    the kind is the fallback. Both pod readers (the parsed dict here, the wire in `pod_wire`) use it."""
    rs = rs_fallback = owner = owner_fallback = ""
    for kind, uid, controller in refs:
        if kind == "ReplicaSet":
            if controller:
                rs = rs or uid
            rs_fallback = rs_fallback or uid
        elif kind in _SET_KINDS:
            if controller:
                owner = owner or uid
            owner_fallback = owner_fallback or uid
    return rs or rs_fallback, owner or owner_fallback


def pod_owners(metadata: Mapping[str, Any]) -> tuple[str, str]:
    """`owner_uids` of a parsed pod's metadata."""
    refs = (_m(ref) for ref in metadata.get("ownerReferences") or ())
    return owner_uids((ref.get("kind"), _s(ref.get("uid")), ref.get("controller")) for ref in refs)


def _prune(value: Any) -> Any:
    """Drop None and empty maps/lists, recursively.

    apimachinery's Semantic.DeepEqual treats nil and empty slices/maps as equal, and JSON leaves
    empty ones out (omitempty) — so `labels: {}` after removing the hash equals no labels.
    """
    t = type(value)
    if t is str or t is int or t is bool:  # most leaves of a template: no ABC check
        return value
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            pv = _prune(v)
            if pv is None or (isinstance(pv, dict | list) and not pv):
                continue
            out[k] = pv
        return out
    if isinstance(value, list | tuple):
        return [_prune(v) for v in value]
    return value


def template_fingerprint(template: Any) -> str:
    """A digest of a pod template that ignores the `pod-template-hash` label (EqualIgnoreHash).

    Two templates are "equal ignoring hash" exactly when their fingerprints are equal, so the index
    keeps a 32-character digest per ReplicaSet instead of its whole template.
    """
    tpl = dict(_m(template))
    meta = dict(_m(tpl.get("metadata")))
    labels = dict(_m(meta.get("labels")))
    labels.pop(POD_TEMPLATE_HASH, None)
    meta["labels"] = labels
    tpl["metadata"] = meta
    pruned = _prune(tpl)
    try:
        canonical = orjson.dumps(pruned, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
    except orjson.JSONEncodeError:  # what orjson cannot write (an integer beyond 64 bits)
        canonical = json.dumps(pruned, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.blake2b(canonical, digest_size=16).hexdigest()


def parse_revision(annotations: Mapping[str, Any]) -> int | None:
    raw = annotations.get(REVISION_ANNOTATION)
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def replicaset_revision(rs: Mapping[str, Any]) -> int:
    """A ReplicaSet's `deployment.kubernetes.io/revision`, 0 when absent or not a number."""
    return parse_revision(_m(_m(rs.get("metadata")).get("annotations"))) or 0


def claim_names(pods: Iterable[Mapping[str, Any]]) -> list[str]:
    """The PersistentVolumeClaims the pods mount, sorted: a pod Pending on an unbound claim is
    explained by the claim's own events (e.g. `ProvisioningFailed`: its StorageClass is missing)."""
    return sorted({_s(_m(v.get("persistentVolumeClaim")).get("claimName")) for p in pods
                   for v in map(_m, _m(p.get("spec")).get("volumes") or ())
                   if isinstance(v.get("persistentVolumeClaim"), Mapping)} - {""})


# --------------------------------------------------------------------------- views


class ContainerView(msgspec.Struct, frozen=True, gc=False):
    name: str
    init: bool
    image: str
    restart_count: int
    waiting_reason: str
    waiting_message: str
    terminated_reason: str
    last_terminated_reason: str
    last_exit_code: int | None


class PodView(msgspec.Struct, frozen=True, gc=False):
    """A pod's few fields. A msgspec struct rather than a dataclass: one is built per pod update,
    and a frozen dataclass's construction (a `object.__setattr__` per field) was a tenth of the
    watcher's time per event; immutable, comparable and hashable all the same, and outside the
    cyclic collector (it holds only strings, a datetime and container views)."""

    namespace: str
    name: str
    uid: str
    owner_uid: str  # controller ReplicaSet uid, '' if none
    template_hash: str
    phase: str
    deleting: bool
    unscheduled_since: datetime | None  # PodScheduled=False lastTransitionTime
    containers: tuple[ContainerView, ...]
    # StatefulSet / DaemonSet pods: their controller's uid, revision label and node (fyr.core.set_status)
    set_owner_uid: str = ""
    revision_hash: str = ""  # controller-revision-hash label
    template_generation: str = ""  # pod-template-generation label (DaemonSets)
    node: str = ""


@dataclass(frozen=True, slots=True)
class ReplicaSetView:
    namespace: str
    name: str
    uid: str
    owner_uid: str  # controller Deployment uid
    generation: int
    template_hash: str
    revision: int | None
    fingerprint: str
    created: str  # RFC 3339 sorts lexically; ties broken by name, as ReplicaSetsByCreationTimestamp
    spec_replicas: int | None
    status_replicas: int


@dataclass(frozen=True, slots=True)
class EventView:
    name: str
    namespace: str
    kind: str  # involvedObject.kind
    object_name: str
    object_uid: str
    field_path: str
    type: str
    reason: str
    message: str
    first_seen: datetime | None
    last_seen: datetime | None
    count: int


@dataclass(frozen=True, slots=True)
class ConditionView:
    type: str
    status: str
    reason: str
    message: str
    last_update: datetime | None


@dataclass(frozen=True, slots=True)
class DeploymentView:
    namespace: str
    name: str
    uid: str
    generation: int
    observed_generation: int
    spec_replicas: int | None
    paused: bool
    replicas: int
    updated_replicas: int
    available_replicas: int
    conditions: tuple[ConditionView, ...]
    revision: int | None
    image: str | None
    fingerprint: str


# --------------------------------------------------------------------------- extraction


def _str(mapping: Mapping[str, Any], key: str) -> str:
    value = mapping.get(key)
    return value if type(value) is str else ""


def _container(status: Mapping[str, Any], init: bool) -> ContainerView:
    # The hottest code of the watcher (every pod update of a 150,000-pod cluster): plain lookups
    # with the dict case inline (what JSON gives), `_m` and `_str` only for anything else.
    state = status.get("state")
    if type(state) is not dict:
        state = _m(state)
    if state:
        waiting = state.get("waiting")
        if type(waiting) is not dict:
            waiting = _m(waiting)
        terminated = state.get("terminated")
        if type(terminated) is not dict:
            terminated = _m(terminated)
    else:
        waiting = terminated = state
    last_state = status.get("lastState")
    if type(last_state) is not dict:
        last_state = _m(last_state)
    if last_state:
        last_terminated = last_state.get("terminated")
        if type(last_terminated) is not dict:
            last_terminated = _m(last_terminated)
    else:
        last_terminated = last_state
    exit_code = last_terminated.get("exitCode", terminated.get("exitCode"))
    restarts = status.get("restartCount")
    name = status.get("name")
    image = status.get("image")
    return ContainerView(
        _intern(name) if type(name) is str else "",
        init,
        _intern(image) if type(image) is str else "",
        restarts if type(restarts) is int else 0,
        _intern(_str(waiting, "reason")) if waiting else "",
        _str(waiting, "message") if waiting else "",
        _intern(_str(terminated, "reason")) if terminated else "",
        _intern(_str(last_terminated, "reason")) if last_terminated else "",
        exit_code if type(exit_code) is int else None,
    )


def pod_view(pod: Mapping[str, Any]) -> PodView:
    meta = _m(pod.get("metadata"))
    labels = meta.get("labels")
    if type(labels) is not dict:
        labels = _m(labels)
    status = _m(pod.get("status"))
    unscheduled: datetime | None = None
    for cond in status.get("conditions") or ():
        if type(cond) is not dict:
            cond = _m(cond)
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            unscheduled = parse_time(cond.get("lastTransitionTime"))
    init_statuses = status.get("initContainerStatuses")
    statuses = status.get("containerStatuses")
    containers = tuple([_container(c if type(c) is dict else _m(c), False) for c in statuses]) if statuses else ()
    if init_statuses:
        containers = tuple([_container(c if type(c) is dict else _m(c), True) for c in init_statuses]) + containers
    rs_uid, set_uid = pod_owners(meta)
    namespace = meta.get("namespace")
    name = meta.get("name")
    uid = meta.get("uid")
    phase = status.get("phase")
    return PodView(
        _intern(namespace) if type(namespace) is str else "",
        name if type(name) is str else "",
        uid if type(uid) is str else "",
        rs_uid,
        _intern(_str(labels, POD_TEMPLATE_HASH)) if labels else "",
        _intern(phase) if type(phase) is str else "",
        bool(meta.get("deletionTimestamp")),
        unscheduled,
        containers,
        set_uid,
        _intern(_str(labels, CONTROLLER_REVISION_HASH)) if labels else "",
        _intern(_str(labels, POD_TEMPLATE_GENERATION)) if labels else "",
        _intern(_str(_m(pod.get("spec")), "nodeName")),
    )


def replicaset_view(rs: Mapping[str, Any], fingerprint: str | None = None) -> ReplicaSetView:
    """`fingerprint`: a cached template fingerprint for this RS uid and generation, if the caller has one."""
    meta = _m(rs.get("metadata"))
    spec = _m(rs.get("spec"))
    replicas = spec.get("replicas")
    return ReplicaSetView(
        namespace=_intern(_s(meta.get("namespace"))),
        name=_s(meta.get("name")),
        uid=_s(meta.get("uid")),
        owner_uid=controller_uid(meta, "Deployment"),
        generation=_i(meta.get("generation")),
        template_hash=_intern(_s(_m(meta.get("labels")).get(POD_TEMPLATE_HASH))),
        revision=parse_revision(_m(meta.get("annotations"))),
        fingerprint=fingerprint if fingerprint is not None else template_fingerprint(spec.get("template")),
        created=_s(meta.get("creationTimestamp")),
        spec_replicas=replicas if isinstance(replicas, int) else None,
        status_replicas=_i(_m(rs.get("status")).get("replicas")),
    )


def event_times(event: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    """(first seen, last seen). Scheduler events (events.k8s.io read as core/v1) have null
    first/lastTimestamp and carry eventTime and series.lastObservedTime instead (docs/kubernetes-signals.md
    'Events')."""
    event_time = parse_time(event.get("eventTime"))
    first = parse_time(event.get("firstTimestamp")) or event_time
    last = (
        parse_time(event.get("lastTimestamp"))
        or parse_time(_m(event.get("series")).get("lastObservedTime"))
        or event_time
        or first
    )
    return first or last, last


def event_view(event: Mapping[str, Any]) -> EventView:
    meta = _m(event.get("metadata"))
    involved = _m(event.get("involvedObject") or event.get("regarding"))
    first, last = event_times(event)
    count = event.get("count")
    if not isinstance(count, int):
        count = _i(_m(event.get("series")).get("count")) or 1
    return EventView(
        name=_s(meta.get("name")),
        namespace=_intern(_s(involved.get("namespace")) or _s(meta.get("namespace"))),
        kind=_intern(_s(involved.get("kind"))),
        object_name=_s(involved.get("name")),
        object_uid=_s(involved.get("uid")),
        field_path=_s(involved.get("fieldPath")),
        type=_intern(_s(event.get("type"))),
        reason=_intern(_s(event.get("reason"))),
        message=_s(event.get("message") or event.get("note")),
        first_seen=first,
        last_seen=last,
        count=count,
    )


def deployment_view(deployment: Mapping[str, Any], fingerprint: str | None = None) -> DeploymentView:
    meta = _m(deployment.get("metadata"))
    spec = _m(deployment.get("spec"))
    status = _m(deployment.get("status"))
    template = _m(spec.get("template"))
    containers = _m(template.get("spec")).get("containers") or ()
    image = _s(_m(containers[0]).get("image")) if containers else ""
    replicas = spec.get("replicas")
    conditions = tuple(
        ConditionView(
            type=_s(c.get("type")),
            status=_s(c.get("status")),
            reason=_s(c.get("reason")),
            message=_s(c.get("message")),
            last_update=parse_time(c.get("lastUpdateTime")),
        )
        for c in map(_m, status.get("conditions") or ())
    )
    return DeploymentView(
        namespace=_s(meta.get("namespace")),
        name=_s(meta.get("name")),
        uid=_s(meta.get("uid")),
        generation=_i(meta.get("generation")),
        observed_generation=_i(status.get("observedGeneration")),
        spec_replicas=replicas if isinstance(replicas, int) else None,
        paused=bool(spec.get("paused")),
        replicas=_i(status.get("replicas")),
        updated_replicas=_i(status.get("updatedReplicas")),
        available_replicas=_i(status.get("availableReplicas")),
        conditions=conditions,
        revision=parse_revision(_m(meta.get("annotations"))),
        image=image or None,
        fingerprint=fingerprint if fingerprint is not None else template_fingerprint(template),
    )
