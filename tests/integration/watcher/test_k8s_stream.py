"""One list/watch round of `KindWatcher` against the simulated API server, real client."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator

import pytest
from kubernetes_asyncio import client

from fyr.core.k8s_views import PodView, pod_view
from fyr.core.kubeclient import make_api_client
from fyr.errors import PermanentError
from fyr.services.watcher.cluster_index import ClusterIndex
from fyr.services.watcher.k8s import (
    KindWatcher,
    KubeUnavailable,
    WatchScope,
    WatchTimeouts,
    collector_paused,
    scopes,
)
from fyr.simcluster.server import SimCluster

pytestmark = pytest.mark.timeout(30)


def pod(name: str, ns: str = "shop", phase: str = "Running") -> dict:
    return {"kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": {"app": "api"}},
            "spec": {"containers": [{"name": "app", "image": "x"}]}, "status": {"phase": phase}}


@pytest.fixture
async def api(sim: SimCluster) -> AsyncIterator[client.ApiClient]:
    api = await make_api_client(kubeconfig=sim.kubeconfig_path)
    async with api:
        yield api


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def __call__(self, kind: str, event_type: str, obj: dict) -> None:
        self.seen.append((event_type, obj["metadata"]["name"], (obj.get("status") or {}).get("phase", "")))


def watcher_for(api: client.ApiClient, rec: Recorder, **kw: object) -> KindWatcher:
    timeouts = WatchTimeouts(server_seconds=int(kw.pop("server_seconds", 1)),  # type: ignore[call-overload]
                             inactivity_seconds=float(kw.pop("inactivity", 5.0)),  # type: ignore[arg-type]
                             page_size=int(kw.pop("page_size", 2)))  # type: ignore[call-overload]
    return KindWatcher(api, WatchScope("Pod", **kw), rec, timeouts=timeouts)  # type: ignore[arg-type]


async def test_first_round_lists_in_pages_then_watches_from_the_listed_version(sim, api):
    for i in range(5):
        sim.apply(pod(f"p{i}"))
    rec = Recorder()
    w = watcher_for(api, rec)
    task = asyncio.create_task(w.round())
    await asyncio.sleep(0.2)
    sim.apply(pod("p0", phase="Failed"))
    await task
    assert [s[:2] for s in rec.seen[:5]] == [("ADDED", f"p{i}") for i in range(5)]
    assert rec.seen[5:] == [("MODIFIED", "p0", "Failed")]
    assert w.resource_version == sim.get("Pod", "shop", "p0")["metadata"]["resourceVersion"]


async def test_next_round_continues_from_last_version_without_relisting(sim, api):
    rec = Recorder()
    w = watcher_for(api, rec)
    await w.round()
    sim.apply(pod("late"))  # between rounds: must come from the watch history, not a list
    await w.round()
    assert w.lists == 1
    assert rec.seen == [("ADDED", "late", "Running")]


async def test_410_gone_relists_and_yields_deleted_for_objects_that_vanished(sim, api):
    sim.apply(pod("stays"))
    sim.apply(pod("goes"))
    rec = Recorder()
    w = watcher_for(api, rec)
    await w.round()
    sim.delete("Pod", "shop", "goes")
    sim.apply(pod("stays", phase="Failed"))
    sim.compact()
    await w.round()  # watch from the old version: ERROR 410 -> resourceVersion dropped
    assert w.resource_version is None
    await w.round()  # relist
    assert w.lists == 2
    assert ("MODIFIED", "stays", "Failed") in rec.seen
    assert ("DELETED", "goes", "") in rec.seen
    assert set(w.known) == {("shop", "stays")}


async def test_bookmarks_advance_the_resource_version(sim, api):
    sim.bookmark_interval = 0.2
    sim.apply(pod("a"))
    w = watcher_for(api, Recorder(), namespace="shop", server_seconds=1)
    await w.relist()
    before = w.resource_version
    sim.apply(pod("x", ns="elsewhere"))  # not in our namespace: only a bookmark moves us past it
    await w.watch_once()
    assert int(w.resource_version) == sim.state.rv > int(before)


async def test_inactivity_timeout_ends_the_round_and_keeps_the_version(sim, api):
    sim.bookmark_interval = 60.0  # a silent stream
    rec = Recorder()
    w = watcher_for(api, rec, server_seconds=30, inactivity=0.5)
    await w.relist()
    rv = w.resource_version
    started = asyncio.get_running_loop().time()
    await w.watch_once()
    assert asyncio.get_running_loop().time() - started < 5
    assert w.resource_version == rv


async def test_dropped_connection_is_a_transient_error_and_the_next_round_resumes(sim, api):
    rec = Recorder()
    w = watcher_for(api, rec, server_seconds=30)
    await w.relist()
    task = asyncio.create_task(w.round())
    await asyncio.sleep(0.2)
    sim.cut_watches(abrupt=True)
    with pytest.raises(KubeUnavailable):
        await task
    sim.apply(pod("after"))
    w.timeouts = WatchTimeouts(server_seconds=1, inactivity_seconds=5, page_size=2)
    await w.round()
    assert rec.seen == [("ADDED", "after", "Running")] and w.lists == 1


async def test_unavailable_server_is_transient_and_unauthorized_is_permanent(sim, api):
    rec = Recorder()
    w = watcher_for(api, rec)
    await sim.set_unavailable(True)
    with pytest.raises(KubeUnavailable):
        await w.round()
    await sim.set_unavailable(True, refuse=True)
    with pytest.raises(KubeUnavailable):
        await w.round()
    await sim.set_unavailable(False)
    sim.require_token = True  # the credentials the client holds (none) are no longer accepted
    with pytest.raises(PermanentError):
        await w.round()


async def test_namespaced_scopes_relist_only_their_namespace(sim, api):
    sim.apply(pod("a1", ns="a"))
    sim.apply(pod("b1", ns="b"))
    rec_a, rec_b = Recorder(), Recorder()
    wa = watcher_for(api, rec_a, namespace="a")
    wb = watcher_for(api, rec_b, namespace="b")
    await wa.relist()
    await wb.relist()
    assert [s[1] for s in rec_a.seen] == ["a1"] and [s[1] for s in rec_b.seen] == ["b1"]


def test_label_selector_narrows_the_workloads_only():
    got = scopes(["a", "b"], "team=payments")
    assert len(got) == 14  # 7 kinds x 2 namespaces
    workloads = {"Deployment", "StatefulSet", "DaemonSet"}
    assert {s.label_selector for s in got if s.kind in workloads} == {"team=payments"}
    assert {s.label_selector for s in got if s.kind not in workloads} == {None}
    assert {s.namespace for s in scopes([], None)} == {None}
    assert {s.field_selector for s in got if s.kind == "Event"} == {"type=Warning"}


async def test_event_stream_carries_warnings_only(sim, api):
    involved = {"kind": "Pod", "name": "p", "namespace": "shop"}
    for name, type_ in (("normal", "Normal"), ("warning", "Warning")):
        sim.apply({"kind": "Event", "metadata": {"name": name, "namespace": "shop"}, "type": type_,
                   "reason": "Failed" if type_ == "Warning" else "Pulled", "involvedObject": involved})
    seen: list[str] = []
    scope = next(s for s in scopes(["shop"], None) if s.kind == "Event")
    w = KindWatcher(api, scope, lambda k, t, o: seen.append(o["metadata"]["name"]),
                    timeouts=WatchTimeouts(server_seconds=1))
    await w.round()
    assert seen == ["warning"]


async def test_a_list_pauses_the_cyclic_collector_and_a_failed_page_resumes_it(sim, api):
    for i in range(5):
        sim.apply(pod(f"p{i}"))
    collecting: list[bool] = []

    def on_change(kind: str, event_type: str, obj: dict) -> None:
        collecting.append(gc.isenabled())

    timeouts = WatchTimeouts(server_seconds=1, inactivity_seconds=5.0, page_size=2)
    w = KindWatcher(api, WatchScope("Pod"), on_change, timeouts=timeouts)
    assert gc.isenabled()
    await w.relist()
    assert collecting == [False] * 5  # three pages, delivered with the collector off
    assert gc.isenabled()
    await sim.set_unavailable(True)
    with pytest.raises(KubeUnavailable):
        await w.round()  # the first page fails: the collector is on again all the same
    await sim.set_unavailable(False)
    assert gc.isenabled()


def test_the_collector_stays_off_until_the_last_of_overlapping_lists_ends_and_off_if_it_was_off():
    assert gc.isenabled()
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the other list is still in progress
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # someone else turned it off: left off
    finally:
        gc.enable()


async def test_pod_views_come_from_the_wire_and_an_odd_pod_still_comes_parsed(sim, api):
    for i in range(3):
        sim.apply(pod(f"p{i}"))
    odd = pod("odd")
    odd["metadata"]["labels"] = {"pod-template-hash": 7}  # outside the fast reader's schema
    sim.apply(odd)
    as_listed = {name: pod_view(sim.get("Pod", "shop", name) or {}) for name in ("p0", "p1", "p2")}
    got: list[tuple[str, object]] = []
    timeouts = WatchTimeouts(server_seconds=1, inactivity_seconds=5.0, page_size=2)
    w = KindWatcher(api, WatchScope("Pod"), lambda k, t, o: got.append((t, o)), timeouts=timeouts, pod_views=True)
    task = asyncio.create_task(w.round())
    await asyncio.sleep(0.2)
    sim.apply(pod("p1", phase="Failed"))
    sim.apply(dict(odd, status={"phase": "Failed"}))
    sim.delete("Pod", "shop", "p2")
    await task
    listed, watched = got[:4], got[4:]
    # a page holding the odd pod is parsed whole; the other page is read as views
    assert sum(isinstance(o, PodView) for _, o in listed) == 2
    for _, o in listed:
        if isinstance(o, PodView):
            assert o == as_listed[o.name]
        else:
            assert o["metadata"]["name"] in ("odd", "p0", "p1", "p2")  # type: ignore[index]
    assert [t for t, _ in watched] == ["MODIFIED", "MODIFIED", "DELETED"]
    assert isinstance(watched[0][1], PodView) and watched[0][1].phase == "Failed"
    assert isinstance(watched[1][1], dict) and watched[1][1]["status"]["phase"] == "Failed"
    assert isinstance(watched[2][1], PodView) and watched[2][1].name == "p2"
    assert w.events == 3
    assert set(w.known) == {("shop", "p0"), ("shop", "p1"), ("shop", "odd")}
    # the index takes either form
    index = ClusterIndex()
    for t, o in got:
        index.apply("Pod", t, o)  # type: ignore[arg-type]
    assert index.stats()["pods"] == 3
