"""Deployment states for the oracle: every branch of kubectl's status viewer and the early failures.

Each `State` is what a cluster could hold for one Deployment: its spec (replicas, paused, a spec
change the controller has not observed yet), its status counts and conditions, and the pods of its
new (and optionally an old) ReplicaSet with their container states. `decisive` says whether Fyr may
fail the rollout before kubectl does (a decisive signal on a pod of the new ReplicaSet).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NS = "oracle"
T0 = "2026-12-01T10:00:00Z"

JsonObj = dict[str, Any]


def cond(type_: str, status: str, reason: str, message: str = "") -> JsonObj:
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "lastUpdateTime": T0, "lastTransitionTime": T0}


PROGRESSING = cond("Progressing", "True", "ReplicaSetUpdated", 'ReplicaSet "x" is progressing.')
COMPLETE = cond("Progressing", "True", "NewReplicaSetAvailable", 'ReplicaSet "x" has successfully progressed.')
DEADLINE = cond("Progressing", "False", "ProgressDeadlineExceeded", 'ReplicaSet "x" has timed out progressing.')
PAUSED = cond("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused")
AVAILABLE = cond("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
UNAVAILABLE = cond("Available", "False", "MinimumReplicasUnavailable",
                   "Deployment does not have minimum availability.")


def _pod_conditions(ready: bool) -> list[JsonObj]:
    flag = "True" if ready else "False"
    return [{"type": t, "status": s, "lastTransitionTime": T0} for t, s in
            (("PodScheduled", "True"), ("Initialized", "True"), ("ContainersReady", flag), ("Ready", flag))]


def running(ready: bool = True) -> JsonObj:
    return {"phase": "Running", "conditions": _pod_conditions(ready),
            "containerStatuses": [{"name": "app", "image": "img", "imageID": "", "ready": ready, "started": True,
                                   "restartCount": 0, "state": {"running": {"startedAt": T0}}}]}


def waiting(reason: str, message: str = "", restarts: int = 0, last: JsonObj | None = None) -> JsonObj:
    state: JsonObj = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
    return {"phase": "Pending" if not restarts else "Running", "conditions": _pod_conditions(False),
            "containerStatuses": [{"name": "app", "image": "img", "imageID": "", "ready": False, "started": False,
                                   "restartCount": restarts, "state": state, "lastState": last or {}}]}


def crashloop(restarts: int, exit_code: int = 1, reason: str = "Error") -> JsonObj:
    last = {"terminated": {"exitCode": exit_code, "reason": reason, "startedAt": T0, "finishedAt": T0}}
    return waiting("CrashLoopBackOff", "back-off 40s restarting failed container=app", restarts, last)


def oom(restarts: int) -> JsonObj:
    return crashloop(restarts, 137, "OOMKilled")


def init_crashloop(restarts: int) -> JsonObj:
    st = running(ready=False)
    st["phase"] = "Pending"
    st["containerStatuses"][0]["state"] = {"waiting": {"reason": "PodInitializing"}}
    st["initContainerStatuses"] = [{
        "name": "migrate", "image": "img", "imageID": "", "ready": False, "restartCount": restarts,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": T0, "finishedAt": T0}}}]
    return st


NOT_FOUND = ('rpc error: code = NotFound desc = failed to pull and unpack image "reg.example/app:nope": failed to '
             'resolve reference "reg.example/app:nope": reg.example/app:nope: not found')
TIMEOUT = ('rpc error: code = Unknown desc = failed to pull and unpack image "reg.example/app:v2": failed to do '
           'request: Head "https://reg.example/v2/app/manifests/v2": dial tcp 10.0.0.7:443: i/o timeout')


@dataclass
class State:
    name: str
    replicas: int = 3
    status: JsonObj = field(default_factory=dict)  # counts only; conditions separately
    conditions: list[JsonObj] = field(default_factory=list)
    paused: bool = False
    stale: bool = False  # a spec change after create: generation 2, observedGeneration 1
    new_pods: list[JsonObj] = field(default_factory=list)  # pod statuses
    old_pods: list[JsonObj] = field(default_factory=list)
    init_container: bool = False
    decisive: bool = False


def counts(replicas: int = 0, updated: int = 0, ready: int = 0, available: int = 0, unavailable: int = 0) -> JsonObj:
    return {"replicas": replicas, "updatedReplicas": updated, "readyReplicas": ready,
            "availableReplicas": available, "unavailableReplicas": unavailable}


def states() -> list[State]:
    s: list[State] = []

    def add(name: str, **kw: Any) -> None:
        s.append(State(f"s{len(s) + 1:02d}-{name}", **kw))

    # Spec update not observed: checked before anything else.
    add("stale", stale=True, status=counts(3, 3, 3, 3), conditions=[COMPLETE, AVAILABLE])
    add("stale-deadline", stale=True, status=counts(3, 1, 2, 2, 1), conditions=[DEADLINE])
    add("stale-crashloop", stale=True, status=counts(4, 1, 3, 3, 1), conditions=[PROGRESSING],
        new_pods=[crashloop(5)])
    add("stale-paused", stale=True, paused=True, status=counts(3, 3, 3, 3), conditions=[PAUSED])
    # Progress deadline: the first Progressing condition only, whatever its status.
    add("deadline", status=counts(4, 1, 3, 3, 1), conditions=[DEADLINE, UNAVAILABLE])
    add("deadline-status-true", status=counts(4, 1, 3, 3, 1),
        conditions=[cond("Progressing", "True", "ProgressDeadlineExceeded", "odd but possible")])
    add("deadline-counts-complete", status=counts(3, 3, 3, 3), conditions=[DEADLINE])
    add("deadline-then-progressing", status=counts(4, 1, 3, 3, 1), conditions=[DEADLINE, PROGRESSING])
    add("progressing-then-deadline", status=counts(4, 1, 3, 3, 1), conditions=[PROGRESSING, DEADLINE])
    add("complete-then-deadline", status=counts(3, 3, 3, 3), conditions=[COMPLETE, DEADLINE])
    add("available-then-deadline", status=counts(4, 1, 3, 3, 1), conditions=[AVAILABLE, DEADLINE])
    add("deadline-paused", paused=True, status=counts(4, 1, 3, 3, 1), conditions=[DEADLINE])
    add("deadline-crashloop", status=counts(4, 1, 3, 3, 1), conditions=[DEADLINE], new_pods=[crashloop(9)])
    # Updated replicas below desired (surge and unavailability counts).
    add("updated-0-of-3", status=counts(3, 0, 3, 3), conditions=[PROGRESSING, AVAILABLE])
    add("updated-1-of-3-surge", status=counts(4, 1, 3, 3, 1), conditions=[PROGRESSING, AVAILABLE],
        new_pods=[running(False)], old_pods=[running()] * 3)
    add("updated-2-of-3-unavailable", status=counts(3, 2, 2, 2, 1), conditions=[PROGRESSING, UNAVAILABLE])
    add("updated-2-of-10-big-surge", replicas=10, status=counts(12, 2, 9, 9, 3), conditions=[PROGRESSING])
    add("updated-1-of-1", replicas=1, status=counts(1, 0, 1, 1), conditions=[PROGRESSING])
    add("updated-paused", paused=True, status=counts(4, 1, 3, 3, 1), conditions=[PAUSED])
    add("fresh-no-status", status={}, conditions=[])
    # Old replicas pending termination.
    add("old-pending-1", status=counts(4, 3, 3, 3), conditions=[PROGRESSING])
    add("old-pending-3", status=counts(6, 3, 6, 6), conditions=[PROGRESSING, AVAILABLE])
    add("old-pending-paused", paused=True, status=counts(5, 3, 5, 5), conditions=[PAUSED])
    # Updated replicas not yet available.
    add("available-0-of-3", status=counts(3, 3, 0, 0, 3), conditions=[PROGRESSING, UNAVAILABLE],
        new_pods=[running(False)] * 3)
    add("available-2-of-3", status=counts(3, 3, 2, 2, 1), conditions=[PROGRESSING])
    add("available-paused", paused=True, status=counts(3, 3, 1, 1, 2), conditions=[PAUSED])
    add("ready-not-available", status=counts(3, 3, 3, 1, 2), conditions=[PROGRESSING])
    # Complete.
    add("complete", status=counts(3, 3, 3, 3), conditions=[AVAILABLE, COMPLETE], new_pods=[running()] * 3)
    add("complete-paused", paused=True, status=counts(3, 3, 3, 3), conditions=[PAUSED])
    add("scaled-to-zero", replicas=0, status=counts(), conditions=[AVAILABLE, COMPLETE])
    add("available-above-updated", status=counts(3, 3, 3, 4), conditions=[COMPLETE])
    add("complete-no-conditions", status=counts(3, 3, 3, 3))
    add("complete-old-crashing", status=counts(3, 3, 3, 3), conditions=[COMPLETE],
        new_pods=[running()] * 3, old_pods=[crashloop(7)])
    add("complete-despite-crash-history", status=counts(2, 2, 2, 2), replicas=2, conditions=[COMPLETE],
        new_pods=[crashloop(4), running()])
    # Early failure: decisive signals on a pod of the new ReplicaSet while kubectl still waits.
    add("crashloop-3", status=counts(4, 1, 3, 3, 1), conditions=[PROGRESSING], new_pods=[crashloop(3)],
        old_pods=[running()] * 3, decisive=True)
    add("crashloop-2", status=counts(4, 1, 3, 3, 1), conditions=[PROGRESSING], new_pods=[crashloop(2)])
    add("oom-2", status=counts(4, 1, 3, 3, 1), conditions=[PROGRESSING], new_pods=[oom(2)], decisive=True)
    add("oom-1", status=counts(4, 1, 3, 3, 1), conditions=[PROGRESSING], new_pods=[oom(1)])
    add("image-not-found", status=counts(4, 1, 3, 3, 1), conditions=[PROGRESSING],
        new_pods=[waiting("ErrImagePull", NOT_FOUND)], decisive=True)
    add("image-pull-timeout", status=counts(4, 1, 3, 3, 1), conditions=[PROGRESSING],
        new_pods=[waiting("ErrImagePull", TIMEOUT)])
    add("invalid-image-name", status=counts(4, 1, 3, 3, 1), conditions=[PROGRESSING],
        new_pods=[waiting("InvalidImageName", 'couldn\'t parse image name "App:Bad": invalid reference format')],
        decisive=True)
    add("missing-secret", status=counts(4, 1, 3, 3, 1), conditions=[PROGRESSING],
        new_pods=[waiting("CreateContainerConfigError", 'secret "db" not found')], decisive=True)
    add("init-crashloop", status=counts(4, 1, 3, 3, 1), conditions=[PROGRESSING], new_pods=[init_crashloop(4)],
        init_container=True, decisive=True)
    add("container-creating", status=counts(4, 1, 3, 3, 1), conditions=[PROGRESSING],
        new_pods=[waiting("ContainerCreating")])
    add("not-ready", status=counts(3, 3, 2, 2, 1), conditions=[PROGRESSING], new_pods=[running(False)])
    add("crashloop-paused", paused=True, status=counts(4, 1, 3, 3, 1), conditions=[PAUSED],
        new_pods=[crashloop(6)], decisive=True)
    add("old-rs-crashing-new-waiting", status=counts(4, 1, 3, 3, 1), conditions=[PROGRESSING],
        new_pods=[waiting("ContainerCreating")], old_pods=[crashloop(8)])
    return s
