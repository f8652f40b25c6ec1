"""`fyr simcluster`: the simulated cluster served on loopback until interrupted, for kubectl and Fyr.

Why it exists: to try Fyr without a cluster, and to judge Fyr against the real kubectl, a user
needs the simulated API server as a process of its own with a kubeconfig that kubectl and Fyr both
use as is. The kubeconfig is written once the server answers (and the chosen scenario is in place),
so a script can wait for the file. With the controller, Deployments that clients create or change
roll out as in the demo and fail as their image tag says (fyr.simcluster.reactive); without it,
objects are stored exactly as given and status changes only through the status subresource.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import structlog

from fyr.demo.scenarios import play, scenarios
from fyr.simcluster.controller import DeploymentSim
from fyr.simcluster.reactive import ReactiveController
from fyr.simcluster.server import SimCluster

log = structlog.get_logger()

SCENARIOS = ("demo", "empty")


def remove_stale_kubeconfig(path: Path) -> None:
    """A previous run's kubeconfig goes first: the file must appear only when this server is ready.
    Any other file at that path is left alone (it is overwritten when the server is ready)."""
    if path.is_file() and "fyr-sim" in path.read_text(errors="replace"):
        path.unlink()


async def serve_simcluster(*, scenario: str, controller: bool, kubeconfig: Path, port: int) -> int:
    sim = SimCluster()
    try:
        await sim.start(port=port)
    except OSError as exc:
        print(f"fyr: simcluster: cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ctl = ReactiveController(sim) if controller else None
    try:
        if scenario == "demo":
            plays = scenarios()
            await asyncio.gather(*(play(sim, sc) for sc in plays))
            if ctl is not None:
                for sc in plays:
                    if isinstance(sc.sim, DeploymentSim):  # the reactive controller drives Deployments
                        ctl.adopt(sc.sim)
        sim.write_kubeconfig(kubeconfig)
        log.info("simcluster_ready", url=sim.url, kubeconfig=str(kubeconfig), scenario=scenario,
                 controller=controller)
        print(f"export KUBECONFIG={kubeconfig}", flush=True)
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if ctl is not None:
            await ctl.close()
        await sim.stop()
    print("fyr: simcluster stopped", file=sys.stderr)
    return 0
