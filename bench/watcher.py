"""Watcher benchmark: a cluster at Kubernetes' published scale limit on the simulated API server:
150,000 pods over 10,000 workloads of the three kinds (Deployments, StatefulSets, DaemonSets).

The simulated cluster runs in a child process (so that the numbers are the watcher's alone: CPU,
RSS); the watcher runs here, the real service code (`run_watcher` with the real kubernetes_asyncio
client over loopback HTTP) writing to SQLite in a temp dir (or `--database-url`). Printed:

- initial sync: until every stream is listed, and until every Deployment's rollout row is written;
- steady state: a burst of pod status updates (readiness flips, each one re-evaluated) drained at
  the watcher's own speed: events per second, and per CPU-second of this process;
- detection latency: rollouts that crash-loop while pod churn goes on; from the third restart's pod
  update (applied in the cluster) to the FAILED row committed: p50 / p99 / max;
- peak RSS of this process.

    .venv/bin/python bench/watcher.py [--workloads 10000] [--pods-per-workload 15]
        [--statefulsets 0.2] [--daemonsets 0.1] [--burst 100000] [--failures 200]
        [--database-url mysql+aiomysql://root@127.0.0.1:3306/fyr_bench]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import resource
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import structlog  # noqa: E402

from fyr.core.status import RolloutVerdict  # noqa: E402
from fyr.db.engine import Database  # noqa: E402
from fyr.db.migrate import upgrade  # noqa: E402
from fyr.services.watcher.cluster_index import ClusterIndex, WorkloadRef  # noqa: E402
from fyr.services.watcher.main import RolloutRecorder, WatcherHealth, run_watcher, thresholds_from  # noqa: E402
from fyr.settings import load_settings  # noqa: E402

# --------------------------------------------------------------------------------- the cluster side


def cluster_main(conn: Connection, workloads: int, pods_per: int, sts_share: float, ds_share: float,
                 kubeconfig: str) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    asyncio.run(_cluster(conn, workloads, pods_per, sts_share, ds_share, Path(kubeconfig)))


async def _cluster(conn: Connection, n: int, pods_per: int, sts_share: float, ds_share: float,
                   kubeconfig: Path) -> None:
    from fyr.simcluster.controller import DeploymentSim
    from fyr.simcluster.server import SimCluster
    from fyr.simcluster.sets import DaemonSetSim, StatefulSetSim

    started = time.monotonic()
    nodes = tuple(f"node-{k}" for k in range(pods_per))  # a daemon set has a pod per node
    n_sts, n_ds = int(n * sts_share), int(n * ds_share)
    async with SimCluster.running(kubeconfig_path=kubeconfig, history_limit=400_000,
                                  bookmark_interval=30.0) as sim:
        sims: list[Any] = []
        for i in range(n):
            ns, notes = f"team-{i % 50}", {"app.gitlab.com/app": f"acme-svc-{i}", "app.gitlab.com/env": "prod"}
            image = f"registry.example.com/acme/svc-{i}:1.0"
            if i % 10 < round(10 * sts_share) and i // 10 * round(10 * sts_share) < n_sts:
                s = StatefulSetSim(sim, namespace=ns, name=f"db-{i}", image=image, replicas=pods_per,
                                   annotations=notes)
                s.rollout(observe=False)
                s._observe_revision()
                s.current_revision = s.update_revision
                s.start_ready()
                sims.append(s)
            elif i % 10 >= 10 - round(10 * ds_share) and i // 10 * round(10 * ds_share) < n_ds:
                a = DaemonSetSim(sim, namespace=ns, name=f"agent-{i}", image=image, nodes=nodes, annotations=notes)
                a.rollout(observe=False)
                a._observe_revision()
                a.start_ready()
                sims.append(a)
            else:
                d = DeploymentSim(sim, namespace=ns, name=f"svc-{i}", replicas=pods_per, image=image,
                                  annotations=notes)
                d.rollout()
                d.become_ready()
                sims.append(d)
            if i % 200 == 0:
                await asyncio.sleep(0)
        counts = {k: len(v) for k, v in sim.state.objects.items()}
        conn.send(("ready", counts, time.monotonic() - started))
        while True:
            cmd, *args = await asyncio.to_thread(conn.recv)
            if cmd == "burst":
                conn.send(("burst_done", *await _burst(sims, int(args[0]))))
            elif cmd == "fail":
                conn.send(("fail_done", *await _failures(sim, sims, int(args[0]), float(args[1]))))
            elif cmd == "stop":
                return


def _flip(d: Any, name: str) -> bool:
    """Flip the readiness of one pod of workload `d` as its kubelet would: on the pod as it is now.

    The pod is read from, and written back through, its controller's own copy (`d.pods`), which is
    what the cluster stores: a copy kept from earlier would, once the controller has replaced the pod
    (a StatefulSet's ordinal keeps its name across revisions), write the old revision's labels and
    status over the new pod. False: the pod is gone, or not started (no Ready condition to flip)."""
    pod = d.pods.get(name)
    if pod is None:
        return False
    conditions = [c for c in pod["status"].get("conditions", ()) if c["type"] in ("Ready", "ContainersReady")]
    if not conditions:
        return False
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    for c in conditions:
        c["status"] = "False" if ready else "True"
    pod["status"]["containerStatuses"][0]["ready"] = not ready
    d._apply_pod(pod)
    return True


def _pods_of(sims: list[Any]) -> list[tuple[Any, str]]:
    return [(d, name) for d in sims for name in d.pods]


async def _burst(sims: list[Any], count: int) -> tuple[int, float]:
    """`count` readiness flips of healthy pods, as fast as the cluster can apply them."""
    pods = _pods_of(sims[:2000])
    t0 = time.monotonic()
    done = i = 0
    while done < count:
        if _flip(*pods[i % len(pods)]):
            done += 1
            if done % 2000 == 0:
                await asyncio.sleep(0)  # let the server write to the watch streams
        i += 1
    return count, time.monotonic() - t0


def _kind(d: Any) -> str:
    return "Deployment" if d.__class__.__name__ == "DeploymentSim" else str(d.kind)


async def _fail(d: Any) -> None:
    """A new revision whose first new pod crash-loops: two restarts, then the decisive third."""
    from fyr.simcluster.sets import DaemonSetSim, StatefulSetSim

    if isinstance(d, StatefulSetSim | DaemonSetSim):
        d.start_ready()  # undo the readiness flips of the churn: the controllers wait for ready pods
    d.rollout(image=f"registry.example.com/acme/{d.name}:2.0")
    await asyncio.sleep(0.01)
    if isinstance(d, StatefulSetSim | DaemonSetSim):
        pod = next(n for n, p in sorted(d.pods.items(), reverse=True) if d.is_updated(p))
        d.crash_loop(pod, restarts=2)
        await asyncio.sleep(0.01)
        d.restart(pod)
    else:
        d.crash_loop(restarts=2)
        await asyncio.sleep(0.01)
        d.restart()


def _chosen(sims: list[Any], count: int) -> list[Any]:
    """`count` workloads spread evenly over each kind, in proportion to the kind's share."""
    by_kind: dict[str, list[int]] = {}
    for i, d in enumerate(sims):
        by_kind.setdefault(_kind(d), []).append(i)
    picked: list[int] = []
    for indices in by_kind.values():
        n = max(1, round(count * len(indices) / len(sims)))
        picked += [indices[k * len(indices) // n] for k in range(n)]
    return [sims[i] for i in sorted(picked)[:count]]


def _drifted(sim: Any, d: Any) -> list[str]:
    """Pods of `d` whose stored version is not its controller's last write (someone else wrote them)."""
    out = []
    for name, pod in d.pods.items():
        stored = sim.get("Pod", d.namespace, name)
        if stored is None or stored["metadata"]["resourceVersion"] != pod["metadata"]["resourceVersion"]:
            out.append(name)
    return out


async def _failures(sim: Any, sims: list[Any], count: int, churn_per_s: float
                    ) -> tuple[dict[str, float], dict[str, str]]:
    """Crash-loop `count` new rollouts (of every kind) one after another, with background pod churn;
    returns namespace/name -> wall time right after the decisive (third restart) pod update was
    applied, and namespace/name -> kind."""
    decisive: dict[str, float] = {}
    kinds: dict[str, str] = {}
    pods = _pods_of(sims[-2000:])
    stop = asyncio.Event()

    async def churn() -> None:
        i = 0
        while not stop.is_set():
            for _ in range(int(churn_per_s / 20)):
                _flip(*pods[i % len(pods)])
                i += 1
            await asyncio.sleep(0.05)

    task = asyncio.create_task(churn())
    chosen = _chosen(sims, count)
    for d in chosen:
        await _fail(d)
        decisive[f"{d.namespace}/{d.name}"] = time.time()
        kinds[f"{d.namespace}/{d.name}"] = _kind(d)
        await asyncio.sleep(0.02)
    await asyncio.sleep(2.0)
    stop.set()
    await task
    drifted = {f"{d.namespace}/{d.name}": names for d in chosen if (names := _drifted(sim, d))}
    if drifted:  # the measurement would be of a cluster no controller made
        raise RuntimeError(f"pods written behind their controllers' backs: {drifted}")
    return decisive, kinds


# --------------------------------------------------------------------------------- the watcher side


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def wait(cond: Any, limit: float, what: str) -> float:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > limit:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
    return time.monotonic() - t0


async def bench(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="fyr-bench-watcher-"))
    url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'fyr.db'}"
    upgrade(url)
    db = Database.from_url(url)
    kubeconfig = tmp / "kubeconfig"
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=cluster_main, args=(child, args.workloads, args.pods_per_workload, args.statefulsets,
                                                  args.daemonsets, str(kubeconfig)), daemon=True)
    proc.start()
    print(f"building the simulated cluster ({args.workloads} workloads x {args.pods_per_workload} pods; "
          f"{args.statefulsets:.0%} StatefulSets, {args.daemonsets:.0%} DaemonSets)...")
    _, counts, build_s = await asyncio.to_thread(parent.recv)
    print(f"  cluster built in {build_s:.1f} s: {counts}")

    cluster = f"bench-{int(time.time())}"
    settings = load_settings(cluster_name=cluster, kubeconfig=kubeconfig, database_url=url)
    committed: dict[str, float] = {}

    evaluated: dict[str, float] = {}

    def on_failed(ref: WorkloadRef, verdict: RolloutVerdict, seen: float) -> None:
        now_wall, now_mono = time.time(), time.monotonic()
        committed[f"{ref[1]}/{ref[2]}"] = now_wall
        evaluated[f"{ref[1]}/{ref[2]}"] = now_wall - (now_mono - seen)

    health = WatcherHealth()
    recorder = RolloutRecorder(index=ClusterIndex(), db=db, cluster=cluster, thresholds=thresholds_from(settings),
                               health=health, on_failed=on_failed)
    stop = asyncio.Event()
    cpu0, t0 = cpu_seconds(), time.monotonic()
    task = asyncio.create_task(run_watcher(settings=settings, db=db, stop=stop, health=health, recorder=recorder))
    listed = await wait(health.is_synced, 600, "initial list")
    cpu_listed = cpu_seconds()
    recorded = await wait(lambda: health.written >= args.workloads and not recorder.pending and not recorder.dirty,
                          600, "initial rows")
    print(f"initial sync: all streams listed in {listed:.2f} s ({health.events} objects, cpu "
          f"{cpu_listed - cpu0:.1f} s); {health.written} rollout rows written {recorded:.2f} s later "
          f"(cpu {cpu_seconds() - cpu_listed:.1f} s); first sync total {listed + recorded:.2f} s")
    print(f"  index: {recorder.index.stats()}")

    # steady state: drain a burst at the watcher's own pace
    base = health.events
    cpu1, t1 = cpu_seconds(), time.monotonic()
    parent.send(("burst", args.burst))
    await wait(lambda: health.events >= base + args.burst, 600, "burst")
    elapsed, cpu = time.monotonic() - t1, cpu_seconds() - cpu1
    _, n, produce_s = await asyncio.to_thread(parent.recv)
    print(f"steady state (live): {n} pod updates processed in {elapsed:.2f} s = {n / elapsed:,.0f} events/s "
          f"({n / cpu:,.0f} per CPU-second of the watcher; the cluster produced them in {produce_s:.2f} s, "
          f"so this rate is the producer's)")

    # drain: the cluster produces a burst while this process is stalled (its event loop blocked on
    # purpose), so the updates queue up on the stream; then the watcher drains them at its own pace
    base = health.events
    parent.send(("burst", args.burst))
    parent.recv()  # blocking on purpose: nothing is consumed until the burst is all produced
    cpu1, t1 = cpu_seconds(), time.monotonic()
    await wait(lambda: health.events >= base + args.burst, 600, "drain")
    elapsed, cpu = time.monotonic() - t1, cpu_seconds() - cpu1
    print(f"drain: {args.burst} queued pod updates processed in {elapsed:.2f} s = {args.burst / elapsed:,.0f} "
          f"events/s on one core ({args.burst / cpu:,.0f} per CPU-second)")

    # detection latency under churn
    parent.send(("fail", args.failures, args.churn))
    _, decisive, kinds = await asyncio.to_thread(parent.recv)
    try:
        await wait(lambda: all(k in committed for k in decisive), 60, "FAILED rows")
    except SystemExit:
        missing = sorted(set(decisive) - set(committed))
        print(f"missing FAILED rows: {len(missing)} of {len(decisive)}")
        for key in missing:
            ref = (kinds[key], *key.split("/", 1))
            v = recorder.index.evaluate(ref, thresholds=recorder.thresholds)  # type: ignore[arg-type]
            print(f"  {ref[0]} {key}: the watcher's verdict now: " + (
                f"{v.status} generation {v.generation} ({v.reason}: {v.message})" if v else "not in the index"))
        raise
    lat = sorted((committed[k] - t) * 1000 for k, t in decisive.items())
    seen = sorted((evaluated[k] - t) * 1000 for k, t in decisive.items())
    p = statistics.quantiles(lat, n=100, method="inclusive")
    q = statistics.quantiles(seen, n=100, method="inclusive")
    print(f"detection latency (third restart's pod update -> FAILED row committed), {len(lat)} rollouts "
          f"with {args.churn:,.0f} pod updates/s of churn: p50 {p[49]:.0f} ms, p99 {p[98]:.0f} ms, "
          f"max {lat[-1]:.0f} ms")
    print(f"  of which update -> verdict FAILED in the watcher: p50 {q[49]:.0f} ms, p99 {q[98]:.0f} ms")
    for kind in sorted(set(kinds.values())):
        of_kind = sorted((committed[k] - t) * 1000 for k, t in decisive.items() if kinds[k] == kind)
        print(f"  {kind}: {len(of_kind)} rollouts, median {statistics.median(of_kind):.0f} ms, "
              f"max {of_kind[-1]:.0f} ms")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the watcher process: {rss_mb:.0f} MB (total run {time.monotonic() - t0:.0f} s)")
    stop.set()
    await task
    parent.send(("stop",))
    proc.join(10)
    await db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", type=int, default=10_000)
    ap.add_argument("--pods-per-workload", type=int, default=15)
    ap.add_argument("--statefulsets", type=float, default=0.2, help="share of the workloads")
    ap.add_argument("--daemonsets", type=float, default=0.1, help="share of the workloads")
    ap.add_argument("--burst", type=int, default=100_000)
    ap.add_argument("--failures", type=int, default=200)
    ap.add_argument("--churn", type=float, default=2000.0, help="pod updates/s during the latency phase")
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
