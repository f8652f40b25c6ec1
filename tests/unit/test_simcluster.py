"""The simulated API server speaks the real list/watch/log protocol to the real client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from kubernetes_asyncio import client, watch

from fyr.core.kubeclient import make_api_client
from fyr.simcluster.server import SimCluster

pytestmark = pytest.mark.timeout(20)


def pod(name: str, ns: str = "shop", labels: dict[str, str] | None = None, containers: int = 1) -> dict:
    return {"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": ns, "labels": labels or {"app": "api"}},
            "spec": {"containers": [{"name": f"c{i}" if containers > 1 else "app", "image": "x"}
                                    for i in range(containers)]},
            "status": {"phase": "Running"}}


@pytest.fixture
async def sim() -> AsyncIterator[SimCluster]:
    async with SimCluster.running(bookmark_interval=0.2) as s:
        yield s


@pytest.fixture
async def api(sim: SimCluster) -> AsyncIterator[client.ApiClient]:
    api = await make_api_client(kubeconfig=sim.kubeconfig_path)
    async with api:
        yield api


async def read_events(resp: aiohttp.ClientResponse) -> list[dict]:
    out = []
    async for line in resp.content:
        if line.strip():
            out.append(json.loads(line))
    return out


async def test_list_reports_resource_version_and_filters_by_namespace_and_label(sim, api):
    sim.apply(pod("a"))
    sim.apply(pod("b", ns="other"))
    sim.apply(pod("c", labels={"app": "web"}))
    core = client.CoreV1Api(api)
    everything = await core.list_pod_for_all_namespaces()
    assert [p.metadata.name for p in everything.items] == ["b", "a", "c"] or len(everything.items) == 3
    assert everything.metadata.resource_version == "4"  # a fresh cluster is at 1, never 0
    shop = await core.list_namespaced_pod("shop", label_selector="app=api")
    assert [p.metadata.name for p in shop.items] == ["a"]
    not_api = await core.list_namespaced_pod("shop", label_selector="app!=api")
    assert [p.metadata.name for p in not_api.items] == ["c"]


async def test_apply_assigns_server_fields_and_bumps_generation_only_on_spec_change(sim):
    d = {"kind": "Deployment", "metadata": {"name": "api", "namespace": "shop"},
         "spec": {"replicas": 1}, "status": {}}
    first = sim.apply(d)
    assert first["metadata"]["generation"] == 1 and first["metadata"]["uid"]
    d["status"] = {"observedGeneration": 1}
    second = sim.apply(d)
    assert second["metadata"]["generation"] == 1
    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    d["spec"] = {"replicas": 2}
    assert sim.apply(d)["metadata"]["generation"] == 2


async def test_watch_from_listed_version_streams_changes_in_order_with_bookmarks(sim, api):
    sim.apply(pod("a"))
    core = client.CoreV1Api(api)
    listed = await core.list_namespaced_pod("shop")
    resp = await core.list_namespaced_pod("shop", watch=True, _preload_content=False, timeout_seconds=1,
                                          allow_watch_bookmarks=True,
                                          resource_version=listed.metadata.resource_version)
    sim.apply(pod("b"))
    changed = pod("a")
    changed["status"]["phase"] = "Failed"
    sim.apply(changed)
    sim.delete("Pod", "shop", "b")
    sim.apply(pod("elsewhere", ns="other"))
    events = await read_events(resp)
    changes = [(e["type"], e["object"]["metadata"]["name"]) for e in events if e["type"] != "BOOKMARK"]
    assert changes == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert bookmarks and int(bookmarks[-1]["object"]["metadata"]["resourceVersion"]) >= 6


async def test_watch_without_version_starts_with_synthetic_added_events(sim, api):
    sim.apply(pod("a"))
    resp = await client.CoreV1Api(api).list_pod_for_all_namespaces(watch=True, _preload_content=False,
                                                                   timeout_seconds=0.3)
    events = await read_events(resp)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a")]


async def test_watch_from_compacted_version_gets_410_gone_through_the_client(sim, api):
    sim.apply(pod("a"))
    old = sim.get("Pod", "shop", "a")["metadata"]["resourceVersion"]
    sim.apply(pod("b"))
    sim.compact()
    w = watch.Watch()
    with pytest.raises(client.ApiException) as exc:
        async for _ in w.stream(client.CoreV1Api(api).list_namespaced_pod, "shop", resource_version=old,
                                timeout_seconds=1):
            pass
    assert exc.value.status == 410


async def test_history_window_is_configurable():
    async with SimCluster.running(history_limit=2) as sim:
        for i in range(5):
            sim.apply(pod(f"p{i}"))
        assert sim.state.floor == 4
        api = await make_api_client(kubeconfig=sim.kubeconfig_path)
        async with api:
            core = client.CoreV1Api(api)
            resp = await core.list_namespaced_pod("shop", watch=True, _preload_content=False,
                                                  resource_version="3", timeout_seconds=1)
            assert (await read_events(resp))[0]["object"]["code"] == 410
            resp = await core.list_namespaced_pod("shop", watch=True, _preload_content=False,
                                                  resource_version="4", timeout_seconds=0.2)
            assert [e["object"]["metadata"]["name"] for e in await read_events(resp)] == ["p3", "p4"]


async def test_list_pages_with_limit_and_continue(sim, api):
    for i in range(5):
        sim.apply(pod(f"p{i}"))
    core = client.CoreV1Api(api)
    first = await core.list_pod_for_all_namespaces(limit=2)
    assert len(first.items) == 2 and first.metadata._continue
    names = [p.metadata.name for p in first.items]
    token = first.metadata._continue
    while token:
        page = await core.list_pod_for_all_namespaces(limit=2, _continue=token)
        assert page.metadata.resource_version == first.metadata.resource_version
        names += [p.metadata.name for p in page.items]
        token = page.metadata._continue
    assert names == [f"p{i}" for i in range(5)]


async def test_pod_log_honours_container_previous_tail_and_limit(sim, api):
    sim.apply(pod("a", containers=2))
    sim.set_log("shop", "a", "c0", "one\ntwo\nthree\n")
    sim.set_log("shop", "a", "c0", "crashed: boom\n", previous=True)
    core = client.CoreV1Api(api)
    assert await core.read_namespaced_pod_log("a", "shop", container="c0", tail_lines=2) == "two\nthree\n"
    assert await core.read_namespaced_pod_log("a", "shop", container="c0", limit_bytes=3) == "one"
    assert await core.read_namespaced_pod_log("a", "shop", container="c0", previous=True) == "crashed: boom\n"
    with pytest.raises(client.ApiException) as exc:
        await core.read_namespaced_pod_log("a", "shop")
    assert exc.value.status == 400 and "a container name must be specified" in exc.value.body
    with pytest.raises(client.ApiException) as exc:
        await core.read_namespaced_pod_log("a", "shop", container="c1", previous=True)
    assert "previous terminated container" in exc.value.body
    with pytest.raises(client.ApiException) as exc:
        await core.read_namespaced_pod_log("missing", "shop", container="c0")
    assert exc.value.status == 404


async def test_get_single_objects_and_not_found_status(sim, api):
    sim.apply({"kind": "Deployment", "metadata": {"name": "api", "namespace": "shop"},
               "spec": {"selector": {"matchLabels": {"app": "api"}},
                        "template": {"metadata": {"labels": {"app": "api"}},
                                     "spec": {"containers": [{"name": "app", "image": "x"}]}}}})
    apps = client.AppsV1Api(api)
    got = await apps.read_namespaced_deployment("api", "shop")
    assert got.metadata.generation == 1
    with pytest.raises(client.ApiException) as exc:
        await apps.read_namespaced_deployment("nope", "shop")
    body = json.loads(exc.value.body)
    assert (exc.value.status, body["reason"], body["message"]) == (404, "NotFound",
                                                                    'deployments.apps "nope" not found')


async def test_cut_watches_ends_open_streams(sim, api):
    core = client.CoreV1Api(api)
    resp = await core.list_pod_for_all_namespaces(watch=True, _preload_content=False, timeout_seconds=30)
    await asyncio.sleep(0.05)
    assert sim.cut_watches() == 1
    assert await asyncio.wait_for(read_events(resp), 2) == []


async def test_abrupt_cut_drops_the_connection(sim, api):
    core = client.CoreV1Api(api)
    resp = await core.list_pod_for_all_namespaces(watch=True, _preload_content=False, timeout_seconds=30)
    await asyncio.sleep(0.05)
    sim.cut_watches(abrupt=True)
    with pytest.raises(aiohttp.ClientError):
        await asyncio.wait_for(read_events(resp), 2)


async def test_unavailable_server_answers_503_then_recovers(sim, api):
    core = client.CoreV1Api(api)
    await sim.set_unavailable(0.3)
    with pytest.raises(client.ApiException) as exc:
        await core.list_pod_for_all_namespaces()
    assert exc.value.status == 503
    await asyncio.sleep(0.4)
    assert (await core.list_pod_for_all_namespaces()).items == []


async def test_refusing_server_closes_its_port_then_comes_back_on_it(sim, api):
    core = client.CoreV1Api(api)
    await sim.set_unavailable(True, refuse=True)
    with pytest.raises(aiohttp.ClientError):
        await core.list_pod_for_all_namespaces()
    await sim.set_unavailable(False)
    assert (await core.list_pod_for_all_namespaces()).items == []


async def test_loopback_needs_no_credentials_but_a_wrong_token_is_unauthorized(sim):
    async with aiohttp.ClientSession() as http:
        async with http.get(sim.url + "/api/v1/pods") as resp:
            assert resp.status == 200
        async with http.get(sim.url + "/api/v1/pods", headers={"Authorization": "Bearer nope"}) as resp:
            assert resp.status == 401
            assert (await resp.json())["reason"] == "Unauthorized"
        async with http.get(sim.url + "/api/v1/pods", headers={"Authorization": f"Bearer {sim.token}"}) as resp:
            assert resp.status == 200


async def test_discovery_is_enough_for_the_client(sim, api):
    version = await client.VersionApi(api).get_code()
    assert version.major == "1"
    groups = await client.ApisApi(api).get_api_versions()
    assert groups.groups[0].name == "apps"
    resources = await client.CoreV1Api(api).get_api_resources()
    assert {r.name for r in resources.resources} >= {"pods", "pods/log", "events"}


async def test_watch_that_was_busy_writing_past_its_bookmark_time_still_sends_what_is_queued(sim):
    # A slow reader: the stream blocks in its write (20 MB queued); meanwhile one more pod is
    # written and the bookmark falls due. The stream must send that pod once the reader reads.
    rv = sim.state.rv
    big = "x" * 100_000
    async with aiohttp.ClientSession() as session:
        resp = await session.get(f"{sim.url}/api/v1/pods", params={
            "watch": "true", "allowWatchBookmarks": "true", "resourceVersion": str(rv)})
        for i in range(200):
            sim.apply({**pod(f"big-{i}"), "metadata": {"name": f"big-{i}", "namespace": "shop",
                                                       "annotations": {"filler": big}}})
        await asyncio.sleep(0.1)  # the stream takes all 200 and blocks writing them
        sim.apply(pod("last"))
        await asyncio.sleep(0.5)  # past the bookmark interval (0.2 s) while still blocked
        names = []
        async with asyncio.timeout(10):
            async for line in resp.content:
                event = json.loads(line)
                if event["type"] == "ADDED":
                    names.append(event["object"]["metadata"]["name"])
                    if names[-1] == "last":
                        break
        resp.close()
    assert names == [f"big-{i}" for i in range(200)] + ["last"]
