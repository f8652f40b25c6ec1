"""The simulated API server's write, WatchList, defaulting, Table and log rules, over real HTTP.

(The real kubectl checks the same server in tests/kubectl; these pin each rule on its own.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from fyr.simcluster.controller import DeploymentSim
from fyr.simcluster.patch import strategic_merge
from fyr.simcluster.protobuf import MAGIC, Unsupported, decode_object
from fyr.simcluster.reactive import ReactiveController, failure_of
from fyr.simcluster.server import SimCluster
from fyr.simcluster.tables import human_duration, pod_status_text

pytestmark = pytest.mark.timeout(20)

APPS = "/apis/apps/v1/namespaces/shop"
STRATEGIC = {"Content-Type": "application/strategic-merge-patch+json"}
MERGE = {"Content-Type": "application/merge-patch+json"}


def deployment(name: str = "api", image: str = "app:1") -> dict[str, Any]:
    containers = [{"name": "app", "image": image, "ports": [{"containerPort": 80}]},
                  {"name": "sidecar", "image": "proxy:1"}]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}}},
            "status": {"replicas": 9}}


@pytest.fixture
async def sim() -> AsyncIterator[SimCluster]:
    async with SimCluster.running(too_large_wait=0.2) as s:
        yield s


@pytest.fixture
async def http(sim: SimCluster) -> AsyncIterator[aiohttp.ClientSession]:
    sim.state.add_namespace("shop")
    async with aiohttp.ClientSession(base_url=sim.url) as session:
        yield session


async def call(http: aiohttp.ClientSession, method: str, path: str, body: Any = None,
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with http.request(method, path, json=body, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_unknown_paths_answer_a_status_body(http):
    status, body = await call(http, "GET", "/apis/batch/v1/jobs")
    assert status == 404 and body["kind"] == "Status" and body["reason"] == "NotFound"
    status, body = await call(http, "GET", f"{APPS}/deployments/nope")
    assert (status, body["message"]) == (404, 'deployments.apps "nope" not found')


async def test_create_defaults_the_object_and_clears_the_status(http):
    status, created = await call(http, "POST", f"{APPS}/deployments", deployment())
    assert status == 201
    assert created["metadata"]["generation"] == 1 and created["status"] == {}
    spec = created["spec"]
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    app = spec["template"]["spec"]["containers"][0]
    assert app["imagePullPolicy"] == "IfNotPresent" and app["ports"][0]["protocol"] == "TCP"
    assert app["terminationMessagePath"] == "/dev/termination-log"
    assert spec["template"]["spec"]["dnsPolicy"] == "ClusterFirst"
    status, again = await call(http, "POST", f"{APPS}/deployments", deployment())
    assert (status, again["reason"]) == (409, "AlreadyExists")
    status, nowhere = await call(http, "POST", "/apis/apps/v1/namespaces/nowhere/deployments", deployment())
    assert (status, nowhere["message"]) == (404, 'namespaces "nowhere" not found')


async def test_status_and_spec_writes_follow_the_subresource_rules(http):
    await call(http, "POST", f"{APPS}/deployments", deployment())
    _, patched = await call(http, "PATCH", f"{APPS}/deployments/api/status",
                            {"status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 0}}, MERGE)
    assert patched["metadata"]["generation"] == 1
    assert patched["status"] == {"observedGeneration": 1, "replicas": 2}  # zero counts are omitted
    # a spec change through the main resource bumps the generation and keeps the status
    _, changed = await call(http, "PATCH", f"{APPS}/deployments/api", {
        "spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
                                       "containers": [{"name": "app", "image": "app:2"}]}}},
        "status": {"replicas": 99}}, STRATEGIC)
    assert changed["metadata"]["generation"] == 2 and changed["status"]["replicas"] == 2
    containers = changed["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("app", "app:2"), ("sidecar", "proxy:1")]
    # metadata only: no bump
    _, labelled = await call(http, "PATCH", f"{APPS}/deployments/api", {"metadata": {"labels": {"x": "y"}}}, MERGE)
    assert labelled["metadata"]["generation"] == 2
    status, body = await call(http, "PATCH", f"{APPS}/deployments/api",
                              [{"op": "replace", "path": "/spec/replicas", "value": 5}],
                              {"Content-Type": "application/json-patch+json"})
    assert status == 200 and body["spec"]["replicas"] == 5 and body["metadata"]["generation"] == 3
    stale = {**body, "metadata": {**body["metadata"], "resourceVersion": "2"}}
    status, conflict = await call(http, "PUT", f"{APPS}/deployments/api", stale)
    assert (status, conflict["reason"]) == (409, "Conflict")


async def test_scale_subresource_reads_and_writes_replicas(http):
    await call(http, "POST", f"{APPS}/deployments", deployment())
    _, scale = await call(http, "GET", f"{APPS}/deployments/api/scale")
    assert scale["kind"] == "Scale" and scale["spec"] == {"replicas": 2} and scale["status"]["selector"] == "app=api"
    _, scaled = await call(http, "PATCH", f"{APPS}/deployments/api/scale", {"spec": {"replicas": 4}}, MERGE)
    assert scaled["spec"]["replicas"] == 4
    _, dep = await call(http, "GET", f"{APPS}/deployments/api")
    assert dep["spec"]["replicas"] == 4 and dep["metadata"]["generation"] == 2


async def test_delete_lets_the_garbage_collector_remove_dependents_unless_orphaned(sim, http):
    for name in ("one", "two"):
        d = DeploymentSim(sim, namespace="shop", name=name, image="app:1", replicas=2)
        d.rollout()
        d.become_ready()
    status, _ = await call(http, "DELETE", f"{APPS}/deployments/one")
    assert status == 200
    assert not [p for p in sim.list("Pod", "shop") if p["metadata"]["name"].startswith("one-")]
    assert not [r for r in sim.list("ReplicaSet", "shop") if r["metadata"]["name"].startswith("one-")]
    await call(http, "DELETE", f"{APPS}/deployments/two?propagationPolicy=Orphan")
    assert len([p for p in sim.list("Pod", "shop") if p["metadata"]["name"].startswith("two-")]) == 2


async def test_watch_list_sends_the_state_then_the_initial_events_end_bookmark(sim, http):
    sim.apply({"kind": "Pod", "metadata": {"name": "a", "namespace": "shop"}, "spec": {"containers": []}})
    query = "watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true" \
            "&timeoutSeconds=1"
    async with http.get(f"/api/v1/namespaces/shop/pods?{query}") as resp:
        events = [json.loads(line) async for line in resp.content if line.strip()]
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    bookmark = events[1]["object"]["metadata"]
    assert bookmark["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert bookmark["resourceVersion"] == str(sim.state.rv)


async def test_a_future_resource_version_is_too_large(sim, http):
    status, body = await call(http, "GET", f"/api/v1/pods?watch=1&resourceVersion={sim.state.rv + 10}")
    assert status == 504 and body["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"
    assert body["message"].startswith(f"Too large resource version: {sim.state.rv + 10}, current: ")


async def test_table_responses_carry_kubectls_columns(sim, http):
    d = DeploymentSim(sim, namespace="shop", name="api", image="app:1", replicas=2)
    d.rollout()
    d.crash_loop(restarts=3)
    accept = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
    async with http.get("/api/v1/namespaces/shop/pods", headers=accept) as resp:
        table = await resp.json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0] == \
        ["Name", "Ready", "Status", "Restarts", "Age"]
    cells = {row["cells"][0]: row["cells"] for row in table["rows"]}
    crashing = cells[d.pod(0)["metadata"]["name"]]
    assert crashing[1:3] == ["0/1", "CrashLoopBackOff"] and crashing[3].startswith("3 (")


def test_human_durations_and_pod_status_match_kubectl():
    assert [human_duration(s) for s in (5, 119, 130, 600, 3600 * 5 + 60, 3600 * 30, 86400 * 3 + 3600)] == \
        ["5s", "119s", "2m10s", "10m", "5h1m", "30h", "3d1h"]
    pod = {"metadata": {}, "status": {"phase": "Pending", "containerStatuses": [
        {"name": "a", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}}
    assert pod_status_text(pod) == "ImagePullBackOff"
    pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert pod_status_text(pod) == "Terminating"


def test_strategic_merge_by_key_with_directives():
    target = {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}], "finalizers": ["x"],
              "labels": {"a": "1", "b": "2"}}
    patch = {"env": [{"name": "B", "$patch": "delete"}, {"name": "C", "value": "3"}], "finalizers": ["y"],
             "labels": {"a": None}}
    assert strategic_merge(target, patch) == {"env": [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}],
                                              "finalizers": ["x", "y"], "labels": {"b": "2"}}


async def test_logs_since_timestamps_and_follow(sim, http):
    sim.apply({"kind": "Pod", "metadata": {"name": "p", "namespace": "shop"},
               "spec": {"containers": [{"name": "app", "image": "x"}]}})
    sim.set_log("shop", "p", "app", "one\ntwo\n")
    async with http.get("/api/v1/namespaces/shop/pods/p/log?timestamps=true&sinceSeconds=60") as resp:
        lines = (await resp.text()).splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["one", "two"] and lines[0].split(" ")[0].endswith("Z")
    async with http.get("/api/v1/namespaces/shop/pods/p/log?follow=true") as resp:
        assert await resp.content.readline() == b"one\n"
        await resp.content.readline()
        sim.append_log("shop", "p", "app", "three\n")
        assert await asyncio.wait_for(resp.content.readline(), 5) == b"three\n"
        sim.delete("Pod", "shop", "p")
        assert await asyncio.wait_for(resp.content.read(), 5) == b""


def test_replicaset_history_is_pruned_to_the_limit(sim):
    d = DeploymentSim(sim, namespace="shop", name="api", image="app:1", replicas=1)
    d.deployment["spec"]["revisionHistoryLimit"] = 1
    for tag in ("1", "2", "3", "4"):
        d.rollout(image=f"app:{tag}")
        d.become_ready()
    assert len(sim.list("ReplicaSet", "shop")) == 2


def _pb(number: int, value: bytes | int) -> bytes:
    def varint(n: int) -> bytes:
        out = b""
        while True:
            out += bytes([(n & 0x7F) | (0x80 if n > 0x7F else 0)])
            n >>= 7
            if not n:
                return out
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    return varint(number << 3 | 2) + varint(len(value)) + value


def test_protobuf_bodies_decode_and_unknown_fields_are_refused():
    meta = _pb(1, b"ns1") + _pb(4, b"") + _pb(7, 0)  # selfLink "" and generation 0: Go's zero values
    body = MAGIC + _pb(1, _pb(1, b"v1") + _pb(2, b"Namespace")) + _pb(2, _pb(1, meta))
    assert decode_object(body) == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns1"}}
    with pytest.raises(Unsupported):
        decode_object(MAGIC + _pb(1, _pb(1, b"v1") + _pb(2, b"Namespace")) + _pb(2, _pb(1, meta + _pb(99, 5))))
    with pytest.raises(Unsupported):
        decode_object(MAGIC + _pb(1, _pb(1, b"v1") + _pb(2, b"Secret")))


def test_failure_tags():
    assert failure_of("reg.example/app:crashloop") == "crashloop"
    assert failure_of("reg.example:5000/app:oom-2") == "oom"
    assert failure_of("app:1.2.3") is None and failure_of("notfound/app") is None


async def test_the_controller_rolls_out_what_a_client_writes(sim, http):
    ctl = ReactiveController(sim, reaction_seconds=0.01)
    try:
        await call(http, "POST", f"{APPS}/deployments", deployment(image="app:1"))
        for _ in range(200):
            dep = sim.get("Deployment", "shop", "api")
            if dep and dep["status"].get("availableReplicas") == 2:
                break
            await asyncio.sleep(0.02)
        assert dep is not None and dep["status"]["updatedReplicas"] == 2
        await call(http, "PATCH", f"{APPS}/deployments/api", {"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "app:crashloop"}]}}}}, STRATEGIC)
        for _ in range(200):
            crashing = [p for p in sim.list("Pod", "shop")
                        if p["status"].get("containerStatuses", [{}])[0].get("restartCount", 0) >= 3]
            if crashing:
                break
            await asyncio.sleep(0.02)
        assert crashing
    finally:
        await ctl.close()
