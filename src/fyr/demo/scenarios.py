"""The demo's scenario scripts: realistic failing (and healthy) rollouts on the simulated cluster.

Each scenario deploys one service the way a GitLab deploy job would (deploy-board annotations, an
image tagged with the commit), then plays what the control plane and kubelet would show. `decisive`
is stamped at the pod update that decides the outcome, so the demo can report seconds from the
failure to the Slack message.

Two scenarios are not Deployments: a StatefulSet whose new revision crash-loops on its first updated
ordinal (the highest, as the StatefulSet controller replaces them top down) and a DaemonSet whose new
image is not found on the first node it reaches (fyr.simcluster.sets).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fyr.simcluster.controller import DeploymentSim
from fyr.simcluster.server import SimCluster
from fyr.simcluster.sets import DaemonSetSim, StatefulSetSim

WorkloadSim = DeploymentSim | StatefulSetSim | DaemonSetSim
Step = Callable[[Any], Awaitable[None]]  # called with the scenario's WorkloadSim

PY_MISSING_ENV = """\
2026-11-27T10:00:01Z INFO  Starting checkout service v2.14.0
2026-11-27T10:00:01Z INFO  Loading configuration from environment
2026-11-27T10:00:01Z WARN  FEATURE_FLAGS not set, using defaults
Traceback (most recent call last):
  File "/app/checkout/main.py", line 42, in <module>
    app = create_app()
  File "/app/checkout/app.py", line 17, in create_app
    settings = Settings.from_env()
  File "/app/checkout/settings.py", line 31, in from_env
    payment_url = os.environ["PAYMENT_API_URL"]
  File "/usr/local/lib/python3.12/os.py", line 714, in __getitem__
    raise KeyError(key) from None
KeyError: 'PAYMENT_API_URL'
"""

JAVA_OOM = "\n".join(
    [f"2026-11-27 10:00:{i % 60:02d}.123  INFO 1 --- [pool-2-thread-{i % 8}] c.a.i.BatchJob : processed batch {i} "
     f"(2000 invoices)" for i in range(400)]
    + [
        "2026-11-27 10:07:12.001  WARN 1 --- [pool-2-thread-3] c.a.i.BatchJob : heap usage at 97%",
        'Exception in thread "pool-2-thread-3" java.lang.OutOfMemoryError: Java heap space',
        "\tat java.base/java.util.Arrays.copyOf(Arrays.java:3537)",
        "\tat com.acme.invoicer.PdfRenderer.render(PdfRenderer.java:88)",
        "\tat com.acme.invoicer.BatchJob.run(BatchJob.java:54)",
    ]
) + "\n"

PG_BAD_CONFIG = """\
2026-11-27 10:00:01.204 UTC [1] LOG:  starting PostgreSQL 17.2 on x86_64-pc-linux-gnu
2026-11-27 10:00:01.207 UTC [1] LOG:  listening on IPv4 address "0.0.0.0", port 5432
2026-11-27 10:00:01.219 UTC [1] FATAL:  invalid value for parameter "shared_buffers": "4GB "
2026-11-27 10:00:01.219 UTC [1] HINT:  Valid units for this parameter are "B", "kB", "MB", "GB", and "TB".
2026-11-27 10:00:01.221 UTC [1] LOG:  database system is shut down
"""

GO_CRASH = """\
{"level":"info","ts":"2026-11-27T10:00:01Z","msg":"orders-api starting","version":"1.9.3"}
{"level":"info","ts":"2026-11-27T10:00:01Z","msg":"connecting to postgres","host":"orders-db"}
panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x6f1c2a]

goroutine 1 [running]:
main.(*Server).routes(0x0)
\t/src/cmd/orders/server.go:57 +0x2a
main.main()
\t/src/cmd/orders/main.go:23 +0x1c5
"""


def commit_for(name: str) -> str:
    return hashlib.sha1(f"fyr-demo/{name}".encode()).hexdigest()


@dataclass
class Scenario:
    key: str
    namespace: str
    name: str
    project: str  # GitLab path_with_namespace
    team: str
    channel: str
    expect_status: str  # FAILED, SUCCESS or RECOVERED
    expect_category: str | None
    steps: list[tuple[float, Step]]
    language: str = ""
    commit: str = ""
    decisive: float | None = None  # monotonic time of the decisive pod update
    sim: WorkloadSim | None = field(default=None, repr=False)
    kind: str = "Deployment"  # or StatefulSet / DaemonSet

    def __post_init__(self) -> None:
        self.commit = self.commit or commit_for(self.key)

    @property
    def label(self) -> str:
        """How the demo's table names the workload: `namespace/name`, the kind on a line of its own
        for the kinds other than Deployment (the table stays readable at 80 columns)."""
        where = f"{self.namespace}/{self.name}"
        return where if self.kind == "Deployment" else f"{where}\n({self.kind})"

    @property
    def slug(self) -> str:
        return self.project.replace("/", "-").replace(".", "-").lower()

    @property
    def image(self) -> str:
        return f"registry.acme.example/{self.project}:{self.commit[:8]}"

    def annotations(self) -> dict[str, str]:
        notes = {"app.gitlab.com/app": self.slug, "app.gitlab.com/env": "production"}
        if self.key == "etl" or self.kind != "Deployment":
            # The data and platform teams annotate their workloads themselves; the others rely on the
            # routing file.
            notes.update({"fyr.dev/team": self.team, "fyr.dev/slack-channel": self.channel})
        return notes


def _mark(sc: Scenario, fn: Step) -> Step:
    async def run(d: DeploymentSim) -> None:
        await fn(d)
        sc.decisive = time.monotonic()
    return run


async def _ready(d: DeploymentSim) -> None:
    d.become_ready()


def scenarios() -> list[Scenario]:
    out: list[Scenario] = []

    def add(sc: Scenario, failing: Step | None, *, then: list[tuple[float, Step]] | None = None) -> None:
        if failing is not None:
            sc.steps.append((1.0, _mark(sc, failing)))
        else:
            sc.steps.append((1.0, _mark(sc, _ready)))
        sc.steps.extend(then or [])
        out.append(sc)

    async def crash_py(d: DeploymentSim) -> None:
        d.crash_loop(restarts=3, log=PY_MISSING_ENV, previous_log=PY_MISSING_ENV)

    async def bad_tag(d: DeploymentSim) -> None:
        d.image_pull_error(kind="not_found")

    async def java_oom(d: DeploymentSim) -> None:
        d.oom_kill(restarts=2, previous_log=JAVA_OOM)

    async def secret(d: DeploymentSim) -> None:
        d.missing_secret("cart-db-credentials")

    async def unschedulable(d: DeploymentSim) -> None:
        d.unschedulable()
        await asyncio.sleep(1.5)  # the progress deadline of this Deployment is short on purpose
        d.progress_deadline_exceeded()

    async def go_crash(d: DeploymentSim) -> None:
        d.crash_loop(restarts=3, exit_code=2, log=GO_CRASH, previous_log=GO_CRASH)

    async def pg_crash(s: StatefulSetSim) -> None:
        first = next(name for name, pod in sorted(s.pods.items(), reverse=True) if s.is_updated(pod))
        s.crash_loop(first, restarts=3, previous_log=PG_BAD_CONFIG)

    async def shipper_tag(d: DaemonSetSim) -> None:
        d.image_not_found(next(name for name, pod in sorted(d.pods.items()) if d.is_updated(pod)))

    add(Scenario("checkout", "shop", "checkout", "acme/checkout", "payments", "#team-payments", "FAILED",
                 "crash_loop", [], language="Python"), crash_py)
    add(Scenario("catalog", "shop", "catalog", "acme/catalog", "storefront", "#team-storefront", "FAILED",
                 "image_pull", [], language="any"), bad_tag)
    add(Scenario("invoicer", "billing", "invoicer", "acme/invoicer", "billing", "#team-billing", "FAILED",
                 "oom_killed", [], language="Java"), java_oom)
    add(Scenario("cart", "shop", "cart", "acme/cart", "storefront", "#team-storefront", "FAILED",
                 "config_error", [], language="any"), secret)
    add(Scenario("etl", "data", "nightly-etl", "acme/data-etl", "data", "#team-data", "FAILED",
                 "scheduling", [], language="any"), unschedulable)
    add(Scenario("frontend", "web", "frontend", "acme/frontend", "storefront", "#team-storefront", "SUCCESS",
                 None, [], language="Node"), None)
    add(Scenario("orders", "shop", "orders-api", "acme/orders-api", "payments", "#team-payments", "RECOVERED",
                 "crash_loop", [], language="Go"), go_crash, then=[(4.0, _ready)])
    add(Scenario("ledger", "data", "ledger-db", "acme/ledger-db", "data", "#team-data", "FAILED", "crash_loop", [],
                 language="PostgreSQL", kind="StatefulSet"), pg_crash)
    add(Scenario("shipper", "logging", "log-shipper", "acme/log-shipper", "platform", "#team-platform", "FAILED",
                 "image_pull", [], language="any", kind="DaemonSet"), shipper_tag)
    return out


async def play(sim: SimCluster, sc: Scenario) -> None:
    """Deploy the scenario's service, then run its steps with their delays."""
    if sc.kind != "Deployment":
        await _play_set(sim, sc)
        return
    d = DeploymentSim(sim, namespace=sc.namespace, name=sc.name,
                      image=f"registry.acme.example/{sc.project}:previous", replicas=2,
                      annotations=sc.annotations(), progress_deadline_seconds=2 if sc.key == "etl" else 600)
    d.rollout()
    d.become_ready()  # the previous version runs fine
    await asyncio.sleep(0.5)
    d.rollout(image=sc.image, annotations={"fyr.dev/git-commit": sc.commit})
    sc.sim = d
    for delay, step in sc.steps:
        await asyncio.sleep(delay)
        await step(d)


async def _play_set(sim: SimCluster, sc: Scenario) -> None:
    previous = f"registry.acme.example/{sc.project}:previous"
    w: StatefulSetSim | DaemonSetSim
    if sc.kind == "StatefulSet":
        w = StatefulSetSim(sim, namespace=sc.namespace, name=sc.name, image=previous, annotations=sc.annotations())
    else:
        w = DaemonSetSim(sim, namespace=sc.namespace, name=sc.name, image=previous, annotations=sc.annotations())
    w.rollout()
    w.run_to_completion()  # the previous version runs fine
    await asyncio.sleep(0.5)
    w.obj["metadata"]["annotations"]["fyr.dev/git-commit"] = sc.commit
    w.rollout(image=sc.image)
    sc.sim = w
    for delay, step in sc.steps:
        await asyncio.sleep(delay)
        await step(w)
