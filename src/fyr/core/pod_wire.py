"""A pod's view read straight from the bytes of a watch event or a list page.

Why it exists: pods are nearly all of a cluster's watch traffic, and the watcher needs only the few
fields a `PodView` holds. Parsing the whole object (a pod is about 2 KB of JSON, most of it spec the
rollout decision never reads) and then extracting the view took most of the watcher's time per
event. Here msgspec decodes just those fields into typed structs and skips the rest of the bytes
unparsed; `pod_view_of` turns them into exactly the view that `k8s_views.pod_view` makes of the
parsed dict.

Exactly: a field of an unexpected JSON type (a label that is a number, a restart count that is a
string, a `null` where a list belongs is fine, a list where a map belongs is not) makes the decoder
refuse the whole object, and the caller parses it the slow way, whose rules for odd values are the
reference. Nothing is guessed here. docs/architecture.md 'The pod fast path' says what is covered.
"""

from __future__ import annotations

import sys
from typing import Any, Literal

import msgspec

from fyr.core.k8s_views import (
    CONTROLLER_REVISION_HASH,
    POD_TEMPLATE_GENERATION,
    POD_TEMPLATE_HASH,
    ContainerView,
    PodView,
    owner_uids,
    parse_time,
)

_intern = sys.intern
_UNSET = msgspec.UNSET


class _Owner(msgspec.Struct, rename="camel"):
    kind: str | None = None
    uid: str | None = None
    controller: bool | None = None


class _Meta(msgspec.Struct, rename="camel"):
    name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    labels: dict[str, str | None] | None = None
    owner_references: list[_Owner | None] | None = None
    deletion_timestamp: str | None = None


class _Condition(msgspec.Struct, rename="camel"):
    type: str | None = None
    status: str | None = None
    last_transition_time: str | None = None


class _Waiting(msgspec.Struct):
    reason: str | None = None
    message: str | None = None


class _Terminated(msgspec.Struct, rename="camel"):
    reason: str | None = None
    # Absent and null differ: the dict path reads lastState's exitCode with the current state's as
    # the default for a missing key only.
    exit_code: int | msgspec.UnsetType | None = _UNSET


class _State(msgspec.Struct):
    waiting: _Waiting | None = None
    terminated: _Terminated | None = None


class _Container(msgspec.Struct, rename="camel"):
    name: str | None = None
    image: str | None = None
    restart_count: int | None = None
    state: _State | None = None
    last_state: _State | None = None


class _Status(msgspec.Struct, rename="camel"):
    phase: str | None = None
    conditions: list[_Condition | None] | None = None
    container_statuses: list[_Container | None] | None = None
    init_container_statuses: list[_Container | None] | None = None


class _Spec(msgspec.Struct, rename="camel"):
    node_name: str | None = None


class _Pod(msgspec.Struct):
    metadata: _Meta | None = None
    spec: _Spec | None = None
    status: _Status | None = None


class _WatchEvent(msgspec.Struct):
    type: Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]  # ERROR and the unknown: the caller's
    obj: _Pod | None = msgspec.field(default=None, name="object")


class _PodList(msgspec.Struct):
    items: list[_Pod] | None = None


_EVENT = msgspec.json.Decoder(_WatchEvent)
_LIST = msgspec.json.Decoder(_PodList)
_NO_META = _Meta()
_NO_STATE = _State()
_EMPTY_STATUS = _Status()
BOOKMARK_VIEW = PodView("", "", "", "", "", "", False, None, ())  # a bookmark carries no pod


def _container(c: _Container | None, init: bool) -> ContainerView:
    if c is None:  # `null` in the list: an empty map to the dict path
        c = _Container()
    state = c.state or _NO_STATE
    waiting, terminated = state.waiting, state.terminated
    last = (c.last_state or _NO_STATE).terminated
    exit_code: Any = _UNSET if last is None else last.exit_code
    if exit_code is _UNSET:
        exit_code = _UNSET if terminated is None else terminated.exit_code
    return ContainerView(
        _intern(c.name) if c.name is not None else "",
        init,
        _intern(c.image) if c.image is not None else "",
        c.restart_count if c.restart_count is not None else 0,
        _intern(waiting.reason) if waiting is not None and waiting.reason is not None else "",
        waiting.message if waiting is not None and waiting.message is not None else "",
        _intern(terminated.reason) if terminated is not None and terminated.reason is not None else "",
        _intern(last.reason) if last is not None and last.reason is not None else "",
        exit_code if type(exit_code) is int else None,
    )


def _label(labels: dict[str, str | None], key: str) -> str:
    value = labels.get(key)
    return _intern(value) if value is not None else ""


def pod_view_of(pod: _Pod) -> PodView:
    meta = pod.metadata or _NO_META
    status = pod.status or _EMPTY_STATUS
    unscheduled = None
    for cond in status.conditions or ():
        if cond is not None and cond.type == "PodScheduled" and cond.status == "False":
            unscheduled = parse_time(cond.last_transition_time)
    containers = tuple([_container(c, False) for c in status.container_statuses or ()])
    if status.init_container_statuses:
        containers = tuple([_container(c, True) for c in status.init_container_statuses]) + containers
    refs = meta.owner_references or ()
    rs_uid, set_uid = owner_uids((r.kind, r.uid or "", r.controller) for r in refs if r is not None)
    labels = meta.labels or {}
    node = pod.spec.node_name if pod.spec is not None else None
    return PodView(
        _intern(meta.namespace) if meta.namespace is not None else "",
        meta.name or "",
        meta.uid or "",
        rs_uid,
        _label(labels, POD_TEMPLATE_HASH),
        _intern(status.phase) if status.phase is not None else "",
        bool(meta.deletion_timestamp),
        unscheduled,
        containers,
        set_uid,
        _label(labels, CONTROLLER_REVISION_HASH),
        _label(labels, POD_TEMPLATE_GENERATION),
        _intern(node) if node is not None else "",
    )


def decode_pod_event(line: bytes) -> tuple[Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"], PodView, str] | None:
    """(type, view, resourceVersion or '') of one pod watch event line; None when the line is not
    an ADDED, MODIFIED, DELETED or BOOKMARK of a pod in the expected shape (the caller parses it)."""
    try:
        event = _EVENT.decode(line)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    if event.obj is None:
        return None
    rv = (event.obj.metadata or _NO_META).resource_version or ""
    if event.type == "BOOKMARK":
        return event.type, BOOKMARK_VIEW, rv
    return event.type, pod_view_of(event.obj), rv


def decode_pod_list(page: bytes) -> list[PodView] | None:
    """The views of one pod list page's items; None when the page is not in the expected shape."""
    try:
        listed = _LIST.decode(page)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return [pod_view_of(p) for p in listed.items or ()]
