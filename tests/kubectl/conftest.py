"""The kubectl-oracle tier: `fyr simcluster` as a process, the real kubectl 1.37 talking to it.

Every command runs with nothing but the kubeconfig `fyr simcluster` writes (and a discovery cache
of its own); a warning on stderr is a failure like an error.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Kubectl:
    binary: Path
    env: dict[str, str]

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 30) -> Result:
        done = subprocess.run([str(self.binary), *args], input=stdin, capture_output=True, text=True,
                              env=self.env, timeout=timeout, check=False)
        return Result(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str, stdin: str | None = None) -> str:
        """Run and require exit 0 and a silent stderr (no error, no warning)."""
        r = self(*args, stdin=stdin)
        assert r.code == 0 and not r.err, f"kubectl {' '.join(args)} -> {r.code}\n{r.err}"
        return r.out

    async def many(self, commands: list[list[str]], *, parallel: int = 4) -> list[Result]:
        """Several kubectl runs at once (each is a process: the wall time is the tier's budget)."""
        sem = asyncio.Semaphore(parallel)

        async def one(args: list[str]) -> Result:
            async with sem:
                proc = await asyncio.create_subprocess_exec(str(self.binary), *args, env=self.env,
                                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                out, err = await proc.communicate()
                return Result(proc.returncode or 0, out.decode(), err.decode())

        return list(await asyncio.gather(*(one(c) for c in commands)))


@dataclass
class Playground:
    kubeconfig: Path
    process: subprocess.Popen[str]


def start_simcluster(tmp: Path, *args: str) -> Playground:
    kubeconfig = tmp / "kubeconfig"
    log = (tmp / "simcluster.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "fyr", "simcluster", "--kubeconfig", str(kubeconfig), *args],
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not kubeconfig.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"fyr simcluster did not get ready:\n{(tmp / 'simcluster.log').read_text()}")
        time.sleep(0.05)
    return Playground(kubeconfig, proc)


def stop_simcluster(pg: Playground) -> None:
    pg.process.terminate()
    try:
        assert pg.process.wait(timeout=10) == 0
    finally:
        if pg.process.poll() is None:
            pg.process.kill()


def kubectl_for(binary: Path, kubeconfig: Path, cache: Path) -> Kubectl:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(cache), "KUBECONFIG": str(kubeconfig),
           "KUBECACHEDIR": str(cache / "kube-cache")}
    return Kubectl(binary, env)


@pytest.fixture(scope="module")
def empty_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Playground]:
    tmp = tmp_path_factory.mktemp("sim-empty")
    pg = start_simcluster(tmp, "--scenario", "empty", "--no-controller")
    yield pg
    stop_simcluster(pg)


@pytest.fixture(scope="module")
def demo_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Playground]:
    tmp = tmp_path_factory.mktemp("sim-demo")
    pg = start_simcluster(tmp, "--scenario", "demo")
    yield pg
    stop_simcluster(pg)


@pytest.fixture(scope="module")
def k_empty(kubectl: Path, empty_cluster: Playground, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return kubectl_for(kubectl, empty_cluster.kubeconfig, tmp_path_factory.mktemp("kube-home"))


@pytest.fixture(scope="module")
def k_demo(kubectl: Path, demo_cluster: Playground, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return kubectl_for(kubectl, demo_cluster.kubeconfig, tmp_path_factory.mktemp("kube-home"))
