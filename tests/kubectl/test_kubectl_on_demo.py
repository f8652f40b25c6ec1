"""The real kubectl against `fyr simcluster --scenario demo`: reading commands work without an error
or a warning, and the playground reacts to kubectl's writes as a cluster would."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

import pytest

from fyr.core.rollout import rollout_status
from fyr.models.rollout import RolloutStatus
from fyr.services.analyzer.offline import collect_target
from fyr.settings import Settings
from tests.kubectl.conftest import Kubectl, Playground

pytestmark = pytest.mark.timeout(300)


def _pods(k: Kubectl, ns: str) -> list[dict]:
    items: list[dict] = json.loads(k.ok("get", "pods", "-n", ns, "-o", "json"))["items"]
    return items


def _crashing_pod(k: Kubectl) -> str:
    for pod in _pods(k, "shop"):
        if pod["metadata"]["name"].startswith("checkout-") and \
                pod["status"]["containerStatuses"][0].get("restartCount", 0) >= 3:
            return str(pod["metadata"]["name"])
    raise AssertionError("the demo's checkout rollout has no crash-looping pod")


@pytest.mark.parametrize("args", [
    ("get", "deploy,rs,po", "-A", "-o", "wide"),
    ("get", "all", "-n", "shop"),
    ("get", "events", "-n", "shop"),
    ("get", "ns"),
    ("get", "deployments.apps", "checkout", "-n", "shop", "-o", "yaml"),
    ("describe", "deployment", "checkout", "-n", "shop"),
    ("describe", "replicasets", "-n", "billing"),
    ("rollout", "history", "deployment/checkout", "-n", "shop"),
    ("rollout", "history", "deployment/checkout", "-n", "shop", "--revision=2"),
    ("rollout", "status", "deployment/frontend", "-n", "web", "--watch=false"),
    ("api-resources",),
    ("api-versions",),
])
def test_reading_commands_answer_without_error_or_warning(k_demo: Kubectl, args: tuple[str, ...]) -> None:
    assert k_demo.ok(*args).strip()


def test_columns_are_kubectls(k_demo: Kubectl) -> None:
    header = k_demo.ok("get", "deploy", "-n", "shop", "-o", "wide").splitlines()[0].split()
    assert header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert k_demo.ok("get", "rs", "-n", "shop").splitlines()[0].split() == ["NAME", "DESIRED", "CURRENT", "READY",
                                                                           "AGE"]
    pods = k_demo.ok("get", "po", "-n", "shop").splitlines()
    assert pods[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert any("CrashLoopBackOff" in line and "(" in line for line in pods[1:])  # "3 (5s ago)"
    assert any("ImagePullBackOff" in line for line in pods[1:])
    assert any("CreateContainerConfigError" in line for line in pods[1:])
    events = k_demo.ok("get", "events", "-n", "shop").splitlines()[0]
    assert events.split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]


def test_describe_pod_and_logs_of_the_crash_looping_pod(k_demo: Kubectl) -> None:
    pod = _crashing_pod(k_demo)
    described = k_demo.ok("describe", "pod", pod, "-n", "shop")
    assert "CrashLoopBackOff" in described and "BackOff" in described
    previous = k_demo.ok("logs", pod, "-n", "shop", "--previous")
    assert "KeyError: 'PAYMENT_API_URL'" in previous
    stamped = k_demo.ok("logs", pod, "-n", "shop", "--previous", "--timestamps", "--tail=1").splitlines()
    assert len(stamped) == 1 and stamped[0].split(" ", 1)[0].endswith("Z")
    assert k_demo.ok("logs", pod, "-n", "shop", "--since=1h").count("\n") >= 10


STATEFULSET = """
apiVersion: v1
kind: Namespace
metadata: {name: sets}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: sets}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: "postgres:17"}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: sets}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: "agent:1"}]}
"""


def test_statefulsets_and_daemonsets_are_stored_with_columns_and_status(k_demo: Kubectl) -> None:
    k_demo.ok("create", "-f", "-", stdin=STATEFULSET)
    k_demo.ok("patch", "sts", "db", "-n", "sets", "--subresource=status", "--type=merge", "-p",
              '{"status":{"replicas":1,"readyReplicas":1,"availableReplicas":1}}')
    lines = k_demo.ok("get", "sts,ds", "-n", "sets").splitlines()  # the demo's own sets live in "data"
    assert lines[0].split() == ["NAME", "READY", "AGE"] and lines[1].split()[:2] == ["statefulset.apps/db", "1/1"]
    assert lines[3].split()[:7] == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE"]
    sts = json.loads(k_demo.ok("get", "sts", "db", "-n", "sets", "-o", "json"))
    assert sts["metadata"]["generation"] == 1 and sts["spec"]["podManagementPolicy"] == "OrderedReady"


def test_errors_are_kubectls_status_lines(k_demo: Kubectl) -> None:
    missing = k_demo("get", "deployment", "nope", "-n", "shop")
    assert missing.code == 1
    assert missing.err.strip() == 'Error from server (NotFound): deployments.apps "nope" not found'
    future = k_demo("get", "--raw", "/api/v1/pods?watch=1&resourceVersion=99999999")
    assert future.code == 1 and "Too large resource version: 99999999" in future.err


def test_set_image_crashloop_fails_the_rollout_and_get_w_streams_it(
    k_demo: Kubectl, demo_cluster: Playground
) -> None:
    watch = subprocess.Popen([str(k_demo.binary), "get", "pods", "-n", "web", "-w"], env=k_demo.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        k_demo.ok("set", "image", "deployment/frontend", "-n", "web",
                  "app=registry.acme.example/acme/frontend:crashloop")
        deadline = time.monotonic() + 10
        verdict = None
        while time.monotonic() < deadline:
            dep = json.loads(k_demo.ok("get", "deploy", "frontend", "-n", "web", "-o", "json"))
            rss = json.loads(k_demo.ok("get", "rs", "-n", "web", "-o", "json"))["items"]
            verdict = rollout_status(dep, rss, _pods(k_demo, "web"))
            if verdict.status is RolloutStatus.FAILED:
                break
            time.sleep(0.2)
        assert verdict is not None and verdict.status is RolloutStatus.FAILED and verdict.reason == "CrashLoopBackOff"
        line = k_demo.ok("rollout", "status", "deployment/frontend", "-n", "web", "--watch=false").strip()
        assert line.startswith('Waiting for deployment "frontend" rollout to finish: ')
        settings = Settings(kubeconfig=demo_cluster.kubeconfig)
        bundle = asyncio.run(collect_target("web/frontend", settings=settings))
        assert any(lg.previous and "KeyError: 'DATABASE_URL'" in lg.text for lg in bundle.logs)
    finally:
        watch.terminate()
        out, err = watch.communicate(timeout=10)
    assert not err
    assert out.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert any("CrashLoopBackOff" in line for line in out.splitlines()[1:])


def test_generators_create_in_protobuf_and_the_controller_fails_the_named_image(k_demo: Kubectl) -> None:
    k_demo.ok("create", "namespace", "gen")
    k_demo.ok("create", "deployment", "api", "-n", "gen", "--image=reg.example/api:notfound", "--replicas=2",
              "--port=8080")
    deadline, status = time.monotonic() + 10, ""
    while time.monotonic() < deadline and "ImagePullBackOff" not in status:
        status = k_demo("get", "pods", "-n", "gen").out  # "No resources found" until the controller acts
        time.sleep(0.2)
    assert "ImagePullBackOff" in status
    k_demo.ok("run", "one", "-n", "gen", "--image=busybox:1", "--", "sleep", "10")
    assert k_demo.ok("get", "pod", "one", "-n", "gen", "-o", "jsonpath={.spec.containers[0].args}") == '["sleep","10"]'


def test_logs_follow_streams_until_the_pod_is_deleted(k_demo: Kubectl) -> None:
    pod = next(p["metadata"]["name"] for p in _pods(k_demo, "billing")
               if p["status"]["containerStatuses"][0].get("ready"))
    follow = subprocess.Popen([str(k_demo.binary), "logs", "-f", pod, "-n", "billing"], env=k_demo.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    assert follow.poll() is None  # still following
    k_demo.ok("delete", "pod", pod, "-n", "billing")
    assert follow.wait(timeout=10) == 0
    assert not follow.stderr or not follow.stderr.read()


def test_scale_rollout_restart_and_history_limit(k_demo: Kubectl) -> None:
    k_demo.ok("scale", "deployment/invoicer", "-n", "billing", "--replicas=3")
    k_demo.ok("patch", "deployment/invoicer", "-n", "billing", "--type=merge", "-p",
              '{"spec":{"revisionHistoryLimit":1,"template":{"spec":{"containers":[{"name":"app",'
              '"image":"registry.acme.example/acme/invoicer:fixed"}]}}}}')
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        line = k_demo.ok("rollout", "status", "deployment/invoicer", "-n", "billing", "--watch=false").strip()
        if line == 'deployment "invoicer" successfully rolled out':
            break
        time.sleep(0.2)
    assert line == 'deployment "invoicer" successfully rolled out'
    rs = k_demo.ok("get", "rs", "-n", "billing", "-o", "name").split()
    assert len(rs) == 2  # the current one and revisionHistoryLimit=1 old one
    ready = k_demo.ok("get", "deploy", "invoicer", "-n", "billing", "-o", "jsonpath={.status.readyReplicas}")
    assert ready == "3"
