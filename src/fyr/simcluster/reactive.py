"""The deployment controller and kubelet of `fyr simcluster`: they answer what clients change.

Why it exists: in the playground a user drives the cluster with kubectl (`create`, `apply`,
`set image`, `scale`, `rollout restart/undo`, `delete pod`), and the cluster must react as a real
one: a new ReplicaSet and pods for a template change, a scale for a replica change, a pod recreated
when one is deleted. The reactions are `DeploymentSim`'s, the same simulation the demo and the tests
script. What the new pods then do follows the image tag, so a failure is one command away:

    :crashloop      the container exits 1 and restarts until CrashLoopBackOff (an app crash log)
    :oom            the container is OOMKilled (exit 137) and restarts
    :notfound       the image tag does not exist: ErrImagePull, then ImagePullBackOff
    :denied         the registry refuses the pull (access denied)
    :nosecret       a referenced Secret is missing: CreateContainerConfigError
    :unschedulable  no node fits the pods: Pending with FailedScheduling

A tag may carry a suffix after a dash (`:crashloop-2`) to make a new template. Any other tag runs
and becomes ready.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from fyr.simcluster.controller import DeploymentSim
from fyr.simcluster.server import SimCluster
from fyr.simcluster.store import JsonObj, ResourceType

log = structlog.get_logger()

CRASH_LOG = """\
2026-11-27T10:00:01Z INFO  starting service
2026-11-27T10:00:01Z INFO  reading configuration
Traceback (most recent call last):
  File "/app/service/main.py", line 12, in <module>
    database_url = os.environ["DATABASE_URL"]
  File "/usr/local/lib/python3.12/os.py", line 714, in __getitem__
    raise KeyError(key) from None
KeyError: 'DATABASE_URL'
"""
OOM_LOG = """\
2026-11-27T10:00:01Z INFO  starting batch worker
2026-11-27T10:00:09Z INFO  loaded 1800000 rows into memory
2026-11-27T10:00:11Z WARN  heap usage at 97%
"""

FAILURES: dict[str, Callable[[DeploymentSim], object]] = {
    "crashloop": lambda d: d.crash_loop(restarts=3, log=CRASH_LOG, previous_log=CRASH_LOG),
    "oom": lambda d: d.oom_kill(restarts=2, previous_log=OOM_LOG),
    "notfound": lambda d: d.image_pull_error(kind="not_found"),
    "denied": lambda d: d.image_pull_error(kind="denied"),
    "nosecret": lambda d: d.missing_secret(),
    "unschedulable": lambda d: d.unschedulable(),
}


def failure_of(image: str) -> str | None:
    """The failure an image's tag names (`app:crashloop`, `app:oom-2`), or None for a healthy image."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    base = tag.split("-", 1)[0]
    return base if base in FAILURES else None


class ReactiveController:
    """Reconciles every Deployment a client writes; one pending reconcile per Deployment."""

    def __init__(self, sim: SimCluster, *, reaction_seconds: float = 0.2) -> None:
        self.sim = sim
        self.reaction_seconds = reaction_seconds
        self.deployments: dict[tuple[str, str], DeploymentSim] = {}
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        sim.write_hooks.append(self._on_write)

    def adopt(self, d: DeploymentSim) -> None:
        """Manage a Deployment some script created (the demo's)."""
        self.deployments[(d.namespace, d.name)] = d

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(ValueError):
            self.sim.write_hooks.remove(self._on_write)

    def _on_write(self, res: ResourceType, event_type: str, obj: JsonObj) -> None:
        meta = obj["metadata"]
        if res.kind == "Deployment":
            self._schedule((meta["namespace"], meta["name"]))
        elif res.kind == "Pod" and event_type == "DELETED":
            for key, d in self.deployments.items():
                if meta["name"] in d.pods:
                    del d.pods[meta["name"]]
                    self._schedule(key)

    def _schedule(self, key: tuple[str, str]) -> None:
        old = self._tasks.get(key)
        if old is not None and not old.done():
            old.cancel()
        self._tasks[key] = asyncio.get_running_loop().create_task(self._reconcile(key))

    async def _reconcile(self, key: tuple[str, str]) -> None:
        try:
            await asyncio.sleep(self.reaction_seconds)
            d = self._refresh(key)
            if d is None:
                return
            if d.deployment["spec"].get("paused"):
                d.sync()  # a paused Deployment is observed, not rolled out
                return
            if d.template_changed():
                d.observe()
                await asyncio.sleep(self.reaction_seconds)  # the kubelet starts the new pods
                d = self._refresh(key)
                if d is None:
                    return
            elif not d.pods_of() and not d.replicas:
                d.sync()
                return
            failure = failure_of(str(d.deployment["spec"]["template"]["spec"]["containers"][0].get("image", "")))
            if failure is None:
                d.become_ready()
            else:
                FAILURES[failure](d)
            log.info("simcluster_reconciled", namespace=key[0], deployment=key[1], failure=failure)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("simcluster_reconcile_failed", namespace=key[0], deployment=key[1])

    def _refresh(self, key: tuple[str, str]) -> DeploymentSim | None:
        stored = self.sim.get("Deployment", *key)
        if stored is None:
            self.deployments.pop(key, None)
            return None
        d = self.deployments.get(key)
        if d is None:
            d = DeploymentSim.adopt(self.sim, stored, self.sim.list("ReplicaSet", key[0]), self.sim.list("Pod", key[0]))
            self.deployments[key] = d
        else:
            d.refresh(stored)
        return d
