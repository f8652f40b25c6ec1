"""Signals from Kubernetes objects and the deterministic classifier over them."""

from __future__ import annotations

from typing import Any

import pytest

from fyr.core.status import RolloutVerdict
from fyr.models.analysis import Category
from fyr.models.rollout import RolloutStatus
from fyr.services.analyzer.logs import digest_log
from fyr.services.analyzer.rules import LogEvidence, classify, signal_line
from fyr.services.analyzer.signals import Signal, extract_signals, normalise
from tests.corpus.builders import Rollout, container, crashloop, running, template, terminated, waiting

IMG = "acme/api:2.0"


def _rollout(**kw: Any) -> Rollout:
    return Rollout("api", "shop", template("api", [container("app", IMG)]),
                   template("api", [container("app", "acme/api:1.0")]), **kw)


def _signals(r: Rollout) -> list[Signal]:
    return extract_signals(deployment=r.deployment, replicasets=[r.new_rs], pods=r.pods, events=r.events)


def _verdict(status: RolloutStatus = RolloutStatus.FAILED, reason: str = "CrashLoopBackOff") -> RolloutVerdict:
    return RolloutVerdict(status=status, reason=reason, message="m", generation=2, revision=2,
                          new_replicaset="api-abc", image=IMG)


def _log(pod: str, text: str, *, container_name: str = "app", previous: bool = True) -> LogEvidence:
    return LogEvidence(pod, container_name, previous, False, digest_log(text, source=f"{pod}/{container_name}"))


# --- signals ----------------------------------------------------------------------------------


def test_identical_crashes_on_three_pods_are_one_signal_per_state() -> None:
    r = _rollout()
    for i in range(3):
        r.pod(i, statuses=[crashloop("app", IMG, restarts=4 + i)])
    sigs = _signals(r)
    term = [s for s in sigs if s.kind == "terminated"]
    back = [s for s in sigs if s.kind == "waiting"]
    assert len(term) == 1 and len(term[0].pods) == 3 and term[0].restarts == 6 and term[0].exit_code == 1
    # kubelet's message names each pod and uid; grouping ignores them
    assert len(back) == 1 and len(back[0].pods) == 3


def test_normalise_masks_pod_names_uids_durations_and_ips() -> None:
    a = normalise("back-off 2m40s restarting failed container=app pod=api-7d9f8-x2x9k_shop"
                  "(0f0e8a4c-1d2b-4c3d-9e8f-0a1b2c3d4e5f) 10.0.3.7:8080")
    b = normalise("back-off 5m0s restarting failed container=app pod=api-7d9f8-qq7zb_shop"
                  "(1a2b3c4d-1d2b-4c3d-9e8f-0a1b2c3d4e5f) 10.0.9.1:8080")
    assert a == b


def test_scheduler_events_without_timestamps_count_their_series() -> None:
    r = _rollout(deadline_exceeded=True)
    pod = r.pod(0, phase="Pending", node=None, conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes"}])
    r.event(pod, "FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu.", count=7,
            scheduler_style=True)
    sched = [s for s in _signals(r) if s.kind == "scheduling" and s.reason == "FailedScheduling"]
    assert sched[0].count == 7


def test_benign_states_and_restating_events_make_no_signal() -> None:
    r = _rollout()
    pod = r.pod(0, statuses=[waiting("app", IMG, "ContainerCreating")],
                init_statuses=[{"name": "init", "restartCount": 0, "state": {"terminated": terminated("Completed", 0)},
                                "lastState": {}}])
    r.event(pod, "Failed", "Error: ErrImagePull")
    r.event(pod, "Pulled", f'Container image "{IMG}" already present on machine', type_="Normal")
    assert [s.kind for s in _signals(r)] == []


def test_failed_create_copied_to_deployment_and_replicaset_is_one_signal() -> None:
    r = _rollout(deadline_exceeded=True)
    msg = 'pods "api-abc-x2x9k" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1'
    r.new_rs["status"]["conditions"] = [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                         "message": msg}]
    r.deployment["status"]["conditions"].append({"type": "ReplicaFailure", "status": "True",
                                                 "reason": "FailedCreate", "message": msg})
    r.event(r.new_rs, "FailedCreate", "Error creating: " + msg, count=9)
    creates = [s for s in _signals(r) if s.kind == "create"]
    assert len(creates) == 1


# --- rules ------------------------------------------------------------------------------------


def test_oom_beats_crash_loop() -> None:
    r = _rollout()
    r.pod(0, statuses=[crashloop("app", IMG, restarts=3, exit_code=137, reason="OOMKilled")])
    result = classify(verdict=_verdict(reason="OOMKilled"), signals=_signals(r), logs=[], target="shop/api",
                      limits={"app": "256Mi"})
    assert result.category is Category.OOM_KILLED
    assert "256Mi" in result.summary and "OOMKilled (exit code 137)" in result.evidence[0]


def test_liveness_kill_with_sigkill_exit_is_a_probe_failure() -> None:
    r = _rollout()
    pod = r.pod(0, statuses=[crashloop("app", IMG, restarts=4, exit_code=137)])
    r.event(pod, "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500", count=12,
            field_path="spec.containers{app}")
    r.event(pod, "Killing", "Container app failed liveness probe, will be restarted", type_="Normal", count=4,
            field_path="spec.containers{app}")
    result = classify(verdict=_verdict(), signals=_signals(r), logs=[], target="shop/api")
    assert result.category is Category.PROBE_FAILURE
    assert "liveness" in result.summary
    assert any("Liveness probe failed" in e for e in result.evidence)


def test_app_exiting_on_its_own_is_a_crash_loop_even_with_probe_noise() -> None:
    r = _rollout()
    pod = r.pod(0, statuses=[crashloop("app", IMG, restarts=4, exit_code=1)])
    r.event(pod, "Unhealthy", "Readiness probe failed: connection refused", count=5,
            field_path="spec.containers{app}")
    logs = [_log(pod["metadata"]["name"], "boot\npanic: assignment to entry in nil map\n\ngoroutine 1 [running]:\n")]
    result = classify(verdict=_verdict(), signals=_signals(r), logs=logs, target="shop/api")
    assert result.category is Category.CRASH_LOOP and result.confidence == "high"
    name = pod["metadata"]["name"]
    assert f"{name}/app (previous): panic: assignment to entry in nil map" in result.evidence
    assert "panic: assignment to entry in nil map" in result.summary


def test_harmless_error_lines_before_the_real_one_are_not_evidence() -> None:
    r = _rollout()
    pod = r.pod(0, statuses=[crashloop("app", IMG)])
    text = ("ERROR metrics exporter: statsd unreachable (ignored)\nERROR flags: using defaults\n"
            "Traceback (most recent call last):\n  File \"/app/x.py\", line 1, in <module>\n"
            "ValueError: PORT must be an integer, got 'eighty'\n")
    result = classify(verdict=_verdict(), signals=_signals(r), logs=[_log(pod["metadata"]["name"], text)],
                      target="shop/api")
    log_evidence = [e for e in result.evidence if "(previous)" in e]
    assert log_evidence and "ValueError: PORT must be an integer" in log_evidence[0]
    assert not any("statsd" in e for e in result.evidence)


def test_exec_format_error_is_a_config_error() -> None:
    r = _rollout()
    pod = r.pod(0, statuses=[crashloop("app", IMG)])
    logs = [_log(pod["metadata"]["name"], "exec /app/server: exec format error\n")]
    result = classify(verdict=_verdict(), signals=_signals(r), logs=logs, target="shop/api")
    assert result.category is Category.CONFIG_ERROR
    assert "architecture" in result.suggested_fix


@pytest.mark.parametrize(("reason", "message", "category", "fix"), [
    ("CreateContainerConfigError", 'secret "db" not found', Category.CONFIG_ERROR, "Create the Secret `db`"),
    ("ErrImagePull", 'failed to resolve reference "acme/api:2.0": acme/api:2.0: not found', Category.IMAGE_PULL,
     "does not exist"),
    ("ImagePullBackOff", "pull access denied, repository does not exist or may require authorization",
     Category.IMAGE_PULL, "imagePullSecrets"),
    ("InvalidImageName", "couldn't parse image name: invalid reference format", Category.IMAGE_PULL,
     "not a valid image reference"),
])
def test_waiting_reasons_map_to_categories_and_fixes(reason: str, message: str, category: Category,
                                                     fix: str) -> None:
    r = _rollout()
    r.pod(0, phase="Pending", statuses=[waiting("app", IMG, reason, message)])
    result = classify(verdict=_verdict(reason=reason), signals=_signals(r), logs=[], target="shop/api")
    assert result.category is category and result.confidence == "high"
    assert fix in result.suggested_fix
    assert message in result.evidence[0]


def test_scheduling_failure_beats_the_progress_deadline_it_caused() -> None:
    r = _rollout(deadline_exceeded=True)
    pod = r.pod(0, phase="Pending", node=None, conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "0/3 nodes are available: 3 Insufficient memory."}])
    r.event(pod, "FailedScheduling", "0/3 nodes are available: 3 Insufficient memory.", scheduler_style=True)
    result = classify(verdict=_verdict(reason="ProgressDeadlineExceeded"), signals=_signals(r), logs=[],
                      target="shop/api")
    assert result.category is Category.SCHEDULING
    assert "Insufficient memory" in result.root_cause


def test_deadline_without_a_specific_signal_is_progress_deadline() -> None:
    r = _rollout(deadline_exceeded=True)
    r.pod(0, statuses=[running("app", IMG)])
    result = classify(verdict=_verdict(reason="ProgressDeadlineExceeded"), signals=_signals(r), logs=[],
                      target="shop/api")
    assert result.category is Category.PROGRESS_DEADLINE and result.confidence == "medium"
    assert "ProgressDeadlineExceeded" in result.evidence[0]


def test_successful_rollout_is_unknown_even_after_restarts() -> None:
    r = _rollout(ready=3)
    r.pod(0, statuses=[running("app", IMG, restarts=1, ready=True, last=terminated("Error", 1))])
    result = classify(verdict=_verdict(RolloutStatus.SUCCESS, "Complete"), signals=_signals(r), logs=[],
                      target="shop/api")
    assert result.category is Category.UNKNOWN and result.evidence == []


def test_nothing_at_all_is_unknown_with_low_confidence() -> None:
    result = classify(verdict=_verdict(RolloutStatus.ROLLING_OUT, "WaitingForAvailableReplicas"), signals=[],
                      logs=[], target="shop/api")
    assert (result.category, result.confidence, result.model_name, result.prompt_version) == (
        Category.UNKNOWN, "low", "rules", "rules-v1")


def test_signal_line_names_pod_container_reason_exit_code_and_pod_count() -> None:
    sig = Signal("terminated", "Error", "", "migrate", True, exit_code=3, restarts=5, count=2,
                 pods=["api-abc-x2x9k", "api-abc-qq7zb"])
    assert signal_line(sig) == "api-abc-x2x9k/migrate (init): Error (exit code 3) restarts 5 [2 pods]"


def test_summary_is_one_line_within_the_contract_limit() -> None:
    r = _rollout()
    pod = r.pod(0, statuses=[crashloop("app", IMG)])
    logs = [_log(pod["metadata"]["name"], "FATAL: " + "x" * 5000 + "\n")]
    result = classify(verdict=_verdict(), signals=_signals(r), logs=logs, target="shop/api")
    assert "\n" not in result.summary and len(result.summary) <= 300


def test_one_past_restart_of_a_running_container_is_not_a_crash_loop() -> None:
    r = _rollout(deadline_exceeded=True)
    pod = r.pod(0, statuses=[running("app", IMG, restarts=1, last=terminated("Error", 1))])
    r.event(pod, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", count=80,
            field_path="spec.containers{app}")
    result = classify(verdict=_verdict(reason="ProgressDeadlineExceeded"), signals=_signals(r), logs=[],
                      target="shop/api")
    assert result.category is Category.PROBE_FAILURE and "readiness" in result.summary


def test_a_process_that_exits_0_in_a_loop_is_explained_as_such() -> None:
    r = _rollout()
    r.pod(0, statuses=[crashloop("app", IMG, restarts=5, exit_code=0, reason="Completed")])
    result = classify(verdict=_verdict(), signals=_signals(r), logs=[], target="shop/api")
    assert result.category is Category.CRASH_LOOP
    assert "exits with code 0" in result.summary and "long-lived process" in result.suggested_fix


def test_of_two_crashing_containers_the_one_whose_logs_say_why_is_explained() -> None:
    r = Rollout("api", "shop", template("api", [container("proxy", "envoy:1"), container("app", IMG)]),
                template("api", [container("proxy", "envoy:1"), container("app", "acme/api:1.0")]))
    pod = r.pod(0, statuses=[crashloop("proxy", "envoy:1", restarts=4), crashloop("app", IMG, restarts=4)])
    logs = [_log(pod["metadata"]["name"], "ERROR upstream gone, exiting\n", container_name="proxy"),
            _log(pod["metadata"]["name"], "Error: Cannot find module 'pg'\n", container_name="app")]
    result = classify(verdict=_verdict(), signals=_signals(r), logs=logs, target="shop/api")
    assert result.category is Category.CRASH_LOOP
    assert "container app of shop/api" in result.summary and "Cannot find module 'pg'" in result.summary


def test_sandbox_failure_under_the_deadline_is_unknown_naming_the_signal() -> None:
    r = _rollout(deadline_exceeded=True)
    pod = r.pod(0, phase="Pending", statuses=[waiting("app", IMG, "ContainerCreating")])
    r.event(pod, "FailedCreatePodSandBox", 'Failed to create pod sandbox: rpc error: code = Unknown desc = failed '
            'to setup network for sandbox "abc": plugin type="calico" failed (add): connection refused', count=9)
    result = classify(verdict=_verdict(reason="ProgressDeadlineExceeded"), signals=_signals(r), logs=[],
                      target="shop/api")
    assert result.category is Category.UNKNOWN  # a specific signal no category names, not the deadline
    assert "FailedCreatePodSandBox" in result.summary and "connection refused" in result.summary
    assert 'plugin type="calico" failed' in result.evidence[0]
    assert any("ProgressDeadlineExceeded" in e for e in result.evidence[1:])


def test_innermost_keeps_the_cause_of_a_chained_runtime_error_once() -> None:
    from fyr.services.analyzer.rules import innermost

    chained = ('rpc error: code = Unknown desc = failed to pull and unpack image "r.io/a:1": failed to resolve '
               'reference "r.io/a:1": failed to do request: Head "https://r.io/v2/a/manifests/1": dial tcp: lookup '
               "r.io on 10.0.0.2:53: no such host")
    assert innermost(chained) == ('Head "https://r.io/v2/a/manifests/1": dial tcp: lookup r.io on 10.0.0.2:53: '
                                  "no such host")
    assert innermost("manifest for a:1 not found: manifest unknown: manifest unknown", min_chars=30) == (
        "manifest for a:1 not found: manifest unknown")


def test_a_long_evidence_line_is_clipped_in_the_middle_so_its_cause_survives() -> None:
    from fyr.services.analyzer.rules import _clip

    line = "pod/app: Failed: " + "failed to resolve reference: " * 40 + "dial tcp: lookup r.io: no such host"
    clipped = _clip(line)
    assert len(clipped) <= 600 and clipped.startswith("pod/app: Failed") and clipped.endswith("no such host")


def test_a_transient_sandbox_event_does_not_hide_a_failing_readiness_probe() -> None:
    r = _rollout(deadline_exceeded=True)
    pod = r.pod(0, statuses=[running("app", IMG)])
    r.event(pod, "FailedCreatePodSandBox", 'Failed to create pod sandbox: rpc error: code = Unknown desc = failed '
            'to setup network for sandbox "abc": plugin type="calico" failed (add): connection refused', count=1)
    r.event(pod, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", count=30,
            field_path="spec.containers{app}")
    result = classify(verdict=_verdict(reason="ProgressDeadlineExceeded"), signals=_signals(r), logs=[],
                      target="shop/api")
    assert result.category is Category.PROBE_FAILURE


def test_pods_lost_with_their_node_are_unknown_naming_the_node() -> None:
    r = _rollout(deadline_exceeded=True)
    pod = r.pod(0, phase="Unknown", statuses=[running("app", IMG)])
    pod["status"].update({"reason": "NodeLost", "message": "Node worker-2 which was running pod api-x is unresponsive"})
    gone = r.pod(1, statuses=[running("app", IMG)])
    gone["status"]["conditions"].append({"type": "DisruptionTarget", "status": "True",
                                         "reason": "DeletionByTaintManager",
                                         "message": "Taint manager: deleting due to NoExecute taint"})
    result = classify(verdict=_verdict(reason="ProgressDeadlineExceeded"), signals=_signals(r), logs=[],
                      target="shop/api")
    assert result.category is Category.UNKNOWN
    assert "NodeLost" in result.summary and "is unresponsive" in result.summary
