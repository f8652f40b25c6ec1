"""The rollout status function: kubectl's branches, early failure signals, and what must not fail."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fyr.core.rollout import rollout_status, select_deployment
from fyr.core.status import (
    RolloutVerdict,
    StatusThresholds,
    pull_error_is_permanent,
)
from fyr.models.rollout import RolloutStatus
from tests.unit.k8s_builders import (
    HASH,
    IMAGE,
    OLD_HASH,
    T0,
    condition,
    crashloop,
    deployment,
    event,
    pod,
    pod_template,
    progressing,
    replicaset,
    running,
    terminated_state,
    unschedulable_conditions,
    waiting,
)

pytestmark = pytest.mark.timeout(10)

OLD_IMAGE = "registry.example.com/shop/web:v1"
NOT_FOUND = ('rpc error: code = NotFound desc = failed to pull and unpack image "registry.example.com/shop/web:v2":'
             ' failed to resolve reference "registry.example.com/shop/web:v2": '
             "registry.example.com/shop/web:v2: not found")
DENIED = ('failed to pull and unpack image "registry.example.com/shop/web:v2": failed to resolve reference '
          '"registry.example.com/shop/web:v2": pull access denied, repository does not exist or may require '
          "authorization: server message: insufficient_scope: authorization failed")
TIMEOUT = ('failed to pull and unpack image "registry.example.com/shop/web:v2": failed to resolve reference '
           '"registry.example.com/shop/web:v2": failed to do request: Head '
           '"https://registry.example.com/v2/shop/web/manifests/v2": dial tcp 10.0.0.7:443: i/o timeout')


def rolling(**kw: Any) -> dict[str, Any]:
    """A Deployment mid-rollout: 1 of 3 updated, old replicas still there."""
    defaults: dict[str, Any] = {"replicas": 3, "updated": 1, "available": 2, "total": 4}
    defaults.update(kw)
    return deployment(**defaults)


def scene(dep: dict[str, Any], new_statuses: list[dict[str, Any]] | None = None, *,
          init_statuses: list[dict[str, Any]] | None = None, phase: str = "Running",
          old_statuses: list[dict[str, Any]] | None = None, events: list[dict[str, Any]] = (),  # type: ignore[assignment]
          thresholds: StatusThresholds = StatusThresholds(), now_offset: float = 30.0,
          pod_conditions: list[dict[str, Any]] | None = None, node: str | None = "node-1") -> RolloutVerdict:
    """A new RS (the Deployment's template) + an old RS (older image), one pod each, and evaluate."""
    new_rs = replicaset(dep, replicas=1, ready=0, revision=2)
    old_rs = replicaset(dep, hash_=OLD_HASH, template=pod_template(OLD_IMAGE), replicas=3, revision=1,
                        created=T0 - timedelta(days=1))
    new_pod = pod(new_rs, "n1abc", phase=phase, container_statuses=new_statuses,
                  init_container_statuses=init_statuses, conditions=pod_conditions, node=node)
    old_pod = pod(old_rs, "o1abc", container_statuses=old_statuses or [running(image=OLD_IMAGE)])
    return rollout_status(dep, [old_rs, new_rs], [old_pod, new_pod], list(events), thresholds=thresholds,
                          now=T0 + timedelta(seconds=now_offset))


# ----------------------------------------------------------------- kubectl branches


def test_observed_generation_behind_is_pending_even_with_deadline_exceeded() -> None:
    dep = deployment(generation=5, observed=4, conditions=[progressing("ProgressDeadlineExceeded")])
    v = scene(dep, [crashloop(9)])
    assert v.status is RolloutStatus.PENDING
    assert v.message == "Waiting for deployment spec update to be observed..."
    assert v.generation == 5


def test_progress_deadline_exceeded_fails_before_counts() -> None:
    dep = rolling(conditions=[progressing("ProgressDeadlineExceeded")])
    v = scene(dep)
    assert v.status is RolloutStatus.FAILED
    assert v.reason == "ProgressDeadlineExceeded"
    assert v.message.startswith('deployment "web" exceeded its progress deadline')


def test_deadline_reason_counts_whatever_the_condition_status() -> None:
    cond = condition("Progressing", "True", "ProgressDeadlineExceeded", "x")
    v = scene(rolling(conditions=[cond]))
    assert v.status is RolloutStatus.FAILED


def test_updated_below_desired_is_rolling_out_with_kubectl_message() -> None:
    v = scene(rolling())
    assert v.status is RolloutStatus.ROLLING_OUT
    assert v.reason == "WaitingForUpdatedReplicas"
    assert v.message == 'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...'


def test_old_replicas_pending_termination_is_rolling_out() -> None:
    v = scene(deployment(replicas=3, updated=3, available=3, total=4))
    assert v.status is RolloutStatus.ROLLING_OUT
    assert v.reason == "OldReplicasPendingTermination"
    assert "1 old replicas are pending termination..." in v.message


def test_available_below_updated_is_rolling_out() -> None:
    v = scene(deployment(replicas=3, updated=3, available=2, total=3))
    assert v.status is RolloutStatus.ROLLING_OUT
    assert v.reason == "WaitingForAvailableReplicas"
    assert "2 of 3 updated replicas are available..." in v.message


def test_complete_rollout_is_success_with_identity_fields() -> None:
    dep = deployment(generation=7, revision=4)
    v = scene(dep)
    assert v.status is RolloutStatus.SUCCESS
    assert v.reason == "Complete"
    assert v.message == 'deployment "web" successfully rolled out'
    assert (v.generation, v.revision, v.new_replicaset, v.image) == (7, 4, f"web-{HASH}", IMAGE)


def test_success_even_if_pods_restarted_earlier() -> None:
    v = scene(deployment(), [running(restarts=5, last_terminated=terminated_state("OOMKilled", 137))])
    assert v.status is RolloutStatus.SUCCESS


def test_missing_zero_counts_mean_zero() -> None:
    dep = deployment(replicas=2, updated=0, available=0, total=0)
    assert "updatedReplicas" not in dep["status"]
    v = rollout_status(dep, [], [])
    assert v.status is RolloutStatus.ROLLING_OUT
    assert "0 out of 2 new replicas" in v.message
    assert v.new_replicaset is None


def test_scale_to_zero_is_success() -> None:
    dep = deployment(replicas=0, updated=0, available=0, total=0, generation=9)
    v = rollout_status(dep, [replicaset(dep, replicas=0)], [])
    assert v.status is RolloutStatus.SUCCESS
    assert v.generation == 9


def test_scale_only_generation_keeps_revision_and_new_replicaset() -> None:
    before = deployment(generation=3, replicas=3, revision=2)
    rs = replicaset(before, revision=2)
    scaled = deployment(generation=4, replicas=5, updated=3, available=3, total=3, revision=2)
    v = rollout_status(scaled, [rs], [pod(rs)])
    assert v.status is RolloutStatus.ROLLING_OUT
    assert (v.generation, v.revision, v.new_replicaset) == (4, 2, rs["metadata"]["name"])
    done = rollout_status(deployment(generation=4, replicas=5, revision=2), [rs], [pod(rs)])
    assert done.status is RolloutStatus.SUCCESS


def test_paused_deployment_waiting_is_rolling_out_paused_with_kubectl_line() -> None:
    dep = rolling(paused=True, conditions=[progressing("DeploymentPaused")])
    v = scene(dep)
    assert v.status is RolloutStatus.ROLLING_OUT
    assert v.reason == "Paused"
    assert v.message.startswith('Waiting for deployment "web" rollout to finish: ')
    assert v.message.endswith("...")


def test_only_the_first_progressing_condition_counts_like_kubectl() -> None:
    later = rolling(conditions=[progressing("ReplicaSetUpdated"), progressing("ProgressDeadlineExceeded")])
    assert scene(later).status is RolloutStatus.ROLLING_OUT
    first = rolling(conditions=[progressing("ProgressDeadlineExceeded"), progressing("ReplicaSetUpdated")])
    assert scene(first).status is RolloutStatus.FAILED


def test_paused_deployment_with_matching_counts_is_success_like_kubectl() -> None:
    v = scene(deployment(paused=True))
    assert v.status is RolloutStatus.SUCCESS


def test_replicaset_create_error_stays_pending() -> None:
    cond = condition("Progressing", "False", "ReplicaSetCreateError", 'Failed to create new replica set "web-x"')
    v = rollout_status(deployment(generation=3, observed=2, conditions=[cond]), [], [])
    assert v.status is RolloutStatus.PENDING


# ----------------------------------------------------------------- early failure signals


def test_crashloop_fails_rollout_after_third_restart() -> None:
    v = scene(rolling(), [crashloop(3, exit_code=2)])
    assert v.status is RolloutStatus.FAILED
    assert v.reason == "CrashLoopBackOff"
    assert v.decisive_pod == f"web-{HASH}-n1abc"
    assert v.decisive_container == "app"
    assert "last exit code 2" in v.message


def test_crashloop_below_threshold_keeps_rolling_out() -> None:
    assert scene(rolling(), [crashloop(2)]).status is RolloutStatus.ROLLING_OUT


def test_single_restart_keeps_rolling_out() -> None:
    v = scene(rolling(), [running(restarts=1, ready=False, last_terminated=terminated_state())])
    assert v.status is RolloutStatus.ROLLING_OUT


def test_crashloop_threshold_is_a_setting() -> None:
    v = scene(rolling(), [crashloop(2)], thresholds=StatusThresholds(crashloop_restarts=2))
    assert v.status is RolloutStatus.FAILED


@pytest.mark.parametrize("where", ["state", "lastState"])
def test_oomkilled_fails_after_second_restart(where: str) -> None:
    oom = terminated_state("OOMKilled", 137)
    if where == "state":
        cs = {**running(restarts=2, ready=False), "state": {"terminated": oom}}
    else:
        cs = crashloop(2, reason="OOMKilled", exit_code=137)
    v = scene(rolling(), [cs])
    assert v.status is RolloutStatus.FAILED
    assert v.reason == "OOMKilled"


def test_single_oomkill_keeps_rolling_out() -> None:
    v = scene(rolling(), [running(restarts=1, last_terminated=terminated_state("OOMKilled", 137))])
    assert v.status is RolloutStatus.ROLLING_OUT


@pytest.mark.parametrize("reason", ["ErrImagePull", "ImagePullBackOff"])
@pytest.mark.parametrize("text", [NOT_FOUND, DENIED, "manifest unknown: manifest unknown",
                                  "failed to authorize: failed to fetch anonymous token: unexpected status: "
                                  "401 Unauthorized"])
def test_image_pull_not_found_or_denied_fails(reason: str, text: str) -> None:
    message = text if reason == "ErrImagePull" else f'Back-off pulling image "{IMAGE}": ErrImagePull: {text}'
    v = scene(rolling(), [waiting(reason, message)], phase="Pending")
    assert v.status is RolloutStatus.FAILED
    assert v.reason == reason
    assert v.decisive_container == "app"


def test_short_backoff_message_uses_failed_pull_event_of_that_pod() -> None:
    dep = rolling()
    new_rs = replicaset(dep, replicas=1, ready=0)
    new_pod = pod(new_rs, "n1abc", phase="Pending",
                  container_statuses=[waiting("ImagePullBackOff", f'Back-off pulling image "{IMAGE}"')])
    ev = event(new_pod, "Failed", f'Failed to pull image "{IMAGE}": {NOT_FOUND}', field_path="spec.containers{app}")
    without = rollout_status(dep, [new_rs], [new_pod], [], now=T0)
    with_event = rollout_status(dep, [new_rs], [new_pod], [ev], now=T0)
    assert without.status is RolloutStatus.ROLLING_OUT
    assert with_event.status is RolloutStatus.FAILED
    assert with_event.reason == "ImagePullBackOff"
    assert "not found" in with_event.message


def test_failed_pull_event_of_another_pod_does_not_count() -> None:
    dep = rolling()
    new_rs = replicaset(dep, replicas=1, ready=0)
    p1 = pod(new_rs, "aaaaa", phase="Pending", container_statuses=[waiting("ImagePullBackOff", "Back-off")])
    p2 = pod(new_rs, "bbbbb", phase="Running")
    ev = event(p2, "Failed", f'Failed to pull image "{IMAGE}": {NOT_FOUND}')
    assert rollout_status(dep, [new_rs], [p1, p2], [ev]).status is RolloutStatus.ROLLING_OUT


@pytest.mark.parametrize("text", [TIMEOUT, "dial tcp 10.0.0.7:443: connect: connection refused",
                                  "net/http: TLS handshake timeout", "unexpected status: 503 Service Unavailable",
                                  "toomanyrequests: 429 Too Many Requests"])
def test_image_pull_network_errors_are_transient(text: str) -> None:
    v = scene(rolling(), [waiting("ErrImagePull", text)], phase="Pending")
    assert v.status is RolloutStatus.ROLLING_OUT


def test_image_name_containing_marker_words_is_not_misread() -> None:
    image = "registry.example.com/shop/timeout-service:v2"
    text = (f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": '
            f'failed to resolve reference "{image}": {image}: not found')
    assert pull_error_is_permanent(text, image)


@pytest.mark.parametrize(("reason", "message"), [
    ("InvalidImageName", 'Failed to apply default image tag "web:V2!": couldn\'t parse image name "web:V2!": '
                         "invalid reference format"),
    ("CreateContainerConfigError", 'secret "db-credentials" not found'),
])
def test_config_and_image_name_errors_fail_immediately(reason: str, message: str) -> None:
    v = scene(rolling(), [waiting(reason, message)], phase="Pending")
    assert v.status is RolloutStatus.FAILED
    assert v.reason == reason
    assert v.message == message


def test_init_container_crashloop_fails_the_rollout() -> None:
    dep = rolling(template=pod_template(init_image="registry.example.com/shop/migrate:v2"))
    v = scene(dep, [waiting("PodInitializing")], phase="Pending",
              init_statuses=[crashloop(4, "migrate", image="registry.example.com/shop/migrate:v2")])
    assert v.status is RolloutStatus.FAILED
    assert v.reason == "CrashLoopBackOff"
    assert v.decisive_container == "migrate"
    assert "init container migrate" in v.message


def test_init_container_config_error_fails_the_rollout() -> None:
    v = scene(rolling(), [waiting("PodInitializing")], phase="Pending",
              init_statuses=[waiting("CreateContainerConfigError", 'configmap "seed" not found', "migrate")])
    assert v.status is RolloutStatus.FAILED
    assert v.decisive_container == "migrate"


# ----------------------------------------------------------------- must not fail


def test_failing_pods_of_old_replicaset_do_not_fail_new_rollout() -> None:
    v = scene(rolling(), [running(ready=False)], old_statuses=[crashloop(12, image=OLD_IMAGE)])
    assert v.status is RolloutStatus.ROLLING_OUT


def test_readiness_failure_keeps_rolling_out() -> None:
    dep = rolling()
    new_rs = replicaset(dep, replicas=1, ready=0)
    p = pod(new_rs, container_statuses=[running(ready=False)])
    ev = event(p, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", count=40,
               last=T0 + timedelta(minutes=5))
    v = rollout_status(dep, [new_rs], [p], [ev], now=T0 + timedelta(minutes=5))
    assert v.status is RolloutStatus.ROLLING_OUT


@pytest.mark.parametrize(("reason", "message"), [
    ("FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
                         "3 No preemption victims found for incoming pod."),
    ("FailedMount", 'MountVolume.SetUp failed for volume "config" : configmap "app-config" not found'),
])
def test_scheduling_and_mount_failures_keep_rolling_out_by_default(reason: str, message: str) -> None:
    dep = rolling()
    new_rs = replicaset(dep, replicas=1, ready=0)
    p = pod(new_rs, phase="Pending", container_statuses=[waiting("ContainerCreating")],
            conditions=unschedulable_conditions() if reason == "FailedScheduling" else None,
            node=None if reason == "FailedScheduling" else "node-1")
    ev = event(p, reason, message, first=T0, count=30, scheduler=reason == "FailedScheduling",
               last=T0 + timedelta(hours=1))
    v = rollout_status(dep, [new_rs], [p], [ev], now=T0 + timedelta(hours=1))
    assert v.status is RolloutStatus.ROLLING_OUT


def test_quota_failed_create_keeps_rolling_out_by_default() -> None:
    dep = rolling()
    new_rs = replicaset(dep, replicas=2, ready=0)
    new_rs["status"].pop("replicas")
    ev = event(new_rs, "FailedCreate", f'Error creating: pods "{new_rs["metadata"]["name"]}-x2x9k" is forbidden: '
               "exceeded quota: pods, requested: pods=1, used: pods=10, limited: pods=10",
               source="replicaset-controller")
    v = rollout_status(dep, [new_rs], [], [ev], now=T0 + timedelta(hours=1))
    assert v.status is RolloutStatus.ROLLING_OUT


# ----------------------------------------------------------------- optional pending threshold


def _pending_thresholds() -> StatusThresholds:
    return StatusThresholds(pending_fail_seconds=120)


def test_failed_scheduling_with_null_timestamps_fails_after_pending_threshold() -> None:
    dep = rolling()
    new_rs = replicaset(dep, replicas=1, ready=0)
    p = pod(new_rs, phase="Pending", container_statuses=[], conditions=unschedulable_conditions(T0), node=None)
    ev = event(p, "FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu.", scheduler=True, count=4,
               first=T0, last=T0 + timedelta(seconds=200))
    assert ev["firstTimestamp"] is None and ev["lastTimestamp"] is None and ev["eventTime"]
    early = rollout_status(dep, [new_rs], [p], [ev], thresholds=_pending_thresholds(), now=T0 + timedelta(seconds=60))
    late = rollout_status(dep, [new_rs], [p], [ev], thresholds=_pending_thresholds(), now=T0 + timedelta(seconds=200))
    assert early.status is RolloutStatus.ROLLING_OUT
    assert late.status is RolloutStatus.FAILED
    assert late.reason == "FailedScheduling"
    assert late.decisive_pod == p["metadata"]["name"]


def test_failed_mount_fails_after_pending_threshold() -> None:
    dep = rolling()
    new_rs = replicaset(dep, replicas=1, ready=0)
    p = pod(new_rs, phase="Pending", container_statuses=[waiting("ContainerCreating")])
    ev = event(p, "FailedMount", 'MountVolume.SetUp failed for volume "config" : configmap "app-config" not found',
               first=T0)
    v = rollout_status(dep, [new_rs], [p], [ev], thresholds=_pending_thresholds(), now=T0 + timedelta(seconds=121))
    assert (v.status, v.reason) == (RolloutStatus.FAILED, "FailedMount")


def test_failed_create_fails_after_pending_threshold_only_while_replicaset_is_short() -> None:
    dep = rolling()
    short = replicaset(dep, replicas=2, ready=0)
    short["status"].pop("replicas")
    ev = event(short, "FailedCreate", "Error creating: pods is forbidden: exceeded quota: pods", first=T0)
    now = T0 + timedelta(minutes=5)
    v = rollout_status(dep, [short], [], [ev], thresholds=_pending_thresholds(), now=now)
    assert (v.status, v.reason) == (RolloutStatus.FAILED, "FailedCreate")
    full = replicaset(dep, replicas=2, ready=0)
    assert rollout_status(dep, [full], [], [ev], thresholds=_pending_thresholds(), now=now).status \
        is RolloutStatus.ROLLING_OUT


# ----------------------------------------------------------------- recovery and new-RS selection


def test_rollout_that_recovers_goes_from_failed_to_success() -> None:
    dep = rolling()
    new_rs = replicaset(dep, replicas=3, ready=0)
    failing = [pod(new_rs, "aaaaa", container_statuses=[crashloop(3)])]
    first = rollout_status(dep, [new_rs], failing, now=T0)
    assert first.status is RolloutStatus.FAILED
    healed = deployment()  # same generation, all replicas updated and available
    later = rollout_status(healed, [replicaset(healed)], [pod(replicaset(healed), "bbbbb")], now=T0)
    assert later.status is RolloutStatus.SUCCESS
    assert later.generation == first.generation


def test_new_replicaset_is_chosen_by_template_ignoring_pod_template_hash() -> None:
    dep = deployment()
    old = replicaset(dep, hash_=OLD_HASH, template=pod_template(OLD_IMAGE), created=T0 - timedelta(days=2))
    new = replicaset(dep, hash_="b8d9f47c5", created=T0 - timedelta(days=3))  # older, odd hash: still new
    assert select_deployment(dep, [old, new], ()).new_rs is new


def test_new_replicaset_ignores_empty_vs_missing_fields() -> None:
    dep = deployment()
    tpl = dep["spec"]["template"]
    rs = replicaset(dep)
    rs["spec"]["template"]["spec"]["securityContext"] = {}
    tpl["spec"].pop("securityContext")
    assert select_deployment(dep, [rs], ()).new_rs is rs


def test_oldest_of_several_matching_replicasets_is_new() -> None:
    dep = deployment()
    a = replicaset(dep, hash_="44444", created=T0, name="web-b")
    b = replicaset(dep, hash_="55555", created=T0, name="web-a")
    c = replicaset(dep, hash_="66666", created=T0 + timedelta(seconds=1))
    assert select_deployment(dep, [c, a, b], ()).new_rs is b


def test_no_matching_replicaset_means_none() -> None:
    dep = deployment()
    other = replicaset(dep, template=pod_template(OLD_IMAGE))
    assert select_deployment(dep, [other], ()).new_rs is None
    v = rollout_status(rolling(), [other], [pod(other, container_statuses=[crashloop(9)])])
    assert v.status is RolloutStatus.ROLLING_OUT and v.new_replicaset is None


def test_rollback_reuses_old_replicaset_as_new() -> None:
    dep = deployment(image=OLD_IMAGE, generation=5, revision=3, replicas=3, updated=1, available=1, total=4)
    old_template_rs = replicaset(dep, hash_=OLD_HASH, created=T0 - timedelta(days=5), revision=3)
    newer = replicaset(dep, template=pod_template(IMAGE), created=T0, revision=2)
    crashing_newer = pod(newer, container_statuses=[crashloop(8)])
    v = rollout_status(dep, [old_template_rs, newer], [crashing_newer])
    assert v.new_replicaset == old_template_rs["metadata"]["name"]
    assert v.status is RolloutStatus.ROLLING_OUT


def test_new_replicasets_pods_by_owner_uid_then_hash_label() -> None:
    dep = deployment()
    rs = replicaset(dep)
    other = replicaset(dep, hash_=OLD_HASH, template=pod_template(OLD_IMAGE))
    owned = pod(rs, "aaaaa")
    orphan = pod(rs, "bbbbb", owner=False)
    foreign = pod(other, "ccccc")
    mislabeled = pod(other, "ddddd")
    mislabeled["metadata"]["labels"]["pod-template-hash"] = HASH  # owner uid wins over the label
    got = select_deployment(dep, [rs], [owned, orphan, foreign, mislabeled])
    assert got.new_rs is rs
    names = [p["metadata"]["name"] for p in (owned, orphan, foreign, mislabeled)]
    assert [p["metadata"]["name"] for p in got.pods] == names[:2]
    assert [p["metadata"]["name"] for p in got.old_pods] == names[2:]


def test_terminating_new_pod_does_not_fail_the_rollout() -> None:
    dep = rolling()
    rs = replicaset(dep, replicas=1, ready=0)
    p = pod(rs, container_statuses=[crashloop(5)], deleting=True)
    assert rollout_status(dep, [rs], [p]).status is RolloutStatus.ROLLING_OUT


def test_decisive_signal_fails_even_when_paused() -> None:
    v = scene(rolling(paused=True), [crashloop(3)])
    assert v.status is RolloutStatus.FAILED


def test_verdict_message_is_one_line() -> None:
    v = scene(rolling(), [waiting("CreateContainerConfigError", "line one\nline two")], phase="Pending")
    assert v.message == "line one line two"


def test_thresholds_come_from_settings() -> None:
    from fyr.settings import Settings

    cfg = Settings(crashloop_restarts=5, oom_restarts=4, pending_fail_seconds=90)
    assert StatusThresholds.from_settings(cfg) == StatusThresholds(5, 4, 90)


def _kubectl_status(dep: dict[str, Any]) -> tuple[str, bool, bool]:
    """kubectl's DeploymentStatusViewer.Status transcribed (docs/kubernetes-signals.md 'How kubectl decides a
    Deployment'): (message, done, error)."""
    meta, spec, st = dep["metadata"], dep["spec"], dep["status"]
    name = meta["name"]
    if meta["generation"] <= st.get("observedGeneration", 0):
        # GetDeploymentCondition: the first condition of the type, never a later duplicate.
        cond = next((c for c in st.get("conditions", []) if c["type"] == "Progressing"), None)
        if cond is not None and cond["reason"] == "ProgressDeadlineExceeded":
            return f'deployment "{name}" exceeded its progress deadline', False, True
        upd, rep, avail = st.get("updatedReplicas", 0), st.get("replicas", 0), st.get("availableReplicas", 0)
        wait = f'Waiting for deployment "{name}" rollout to finish: '
        if spec.get("replicas") is not None and upd < spec["replicas"]:
            return f"{wait}{upd} out of {spec['replicas']} new replicas have been updated...", False, False
        if rep > upd:
            return f"{wait}{rep - upd} old replicas are pending termination...", False, False
        if avail < upd:
            return f"{wait}{avail} of {upd} updated replicas are available...", False, False
        return f'deployment "{name}" successfully rolled out', True, False
    return "Waiting for deployment spec update to be observed...", False, False


@given(
    generation=st.integers(1, 4), observed=st.integers(0, 4), replicas=st.integers(0, 4),
    updated=st.integers(0, 5), total=st.integers(0, 6), available=st.integers(0, 6),
    deadline=st.booleans(), paused=st.booleans(),
    duplicate=st.sampled_from([None, "ProgressDeadlineExceeded", "NewReplicaSetAvailable"]),
)
@settings(max_examples=300, deadline=None)
def test_status_agrees_with_kubectl_on_every_count_combination(
    generation: int, observed: int, replicas: int, updated: int, total: int, available: int,
    deadline: bool, paused: bool, duplicate: str | None,
) -> None:
    conditions = [progressing("ProgressDeadlineExceeded" if deadline else "ReplicaSetUpdated")]
    if duplicate is not None:
        conditions.append(progressing(duplicate))
    dep = deployment(generation=generation, observed=observed, replicas=replicas, updated=updated, total=total,
                     available=available, conditions=conditions, paused=paused)
    message, done, error = _kubectl_status(dep)
    v = rollout_status(dep, [], [])
    expected = (RolloutStatus.SUCCESS if done else RolloutStatus.FAILED if error
                else RolloutStatus.PENDING if generation > observed else RolloutStatus.ROLLING_OUT)
    assert v.status is expected
    if not error:
        assert v.message == message
    else:
        assert v.message.startswith(message)
