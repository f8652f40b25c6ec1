"""Fixtures for the analyzer service tests: failed rollouts in the database, corpus bundles, the LLM fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fyr.db import rollouts
from fyr.db.engine import Database
from fyr.db.rollouts import RolloutKey
from fyr.models.bundle import RolloutBundle, load_bundle
from fyr.models.rollout import RolloutStatus
from fyr.settings import Settings
from fyr.simcluster.server import SimCluster
from tests.fakes.openai_api import FakeOpenAI

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
CRASH_BUNDLE = CORPUS / "go_panic_nil_pointer.json"


def corpus_bundle(name: str = "go_panic_nil_pointer") -> RolloutBundle:
    return load_bundle(CORPUS / f"{name}.json")


async def seed_failed(db: Database, n: int, *, deployment: str = "payments", namespace: str = "shop",
                      cluster: str = "ci-cluster", first_generation: int = 1) -> list[int]:
    """`n` FAILED rollouts (analysis PENDING), one generation each; returns their ids."""
    ids: list[int] = []
    async with db.session() as s:
        for i in range(n):
            key = RolloutKey(cluster, namespace, deployment, first_generation + i)
            row, _ = await rollouts.record_generation(s, key, status=RolloutStatus.ROLLING_OUT,
                                                      image="registry.example/shop/payments:2.0")
            await rollouts.transition(s, row, RolloutStatus.FAILED, reason="CrashLoopBackOff",
                                      message="container app crash-looping")
            ids.append(row.id)
    return ids


def llm_settings(fake: FakeOpenAI | None, **kw: Any) -> Settings:
    base: dict[str, Any] = {
        "cluster_name": "ci-cluster", "llm": "none", "poll_interval_seconds": 0.05,
        "analysis_retry_base_seconds": 0.05, "analysis_retry_max_seconds": 5.0, "llm_timeout_seconds": 5.0,
    }
    if fake is not None:
        base.update(llm="openai", openai_api_key="sk-test-not-a-real-key", openai_base_url=fake.base_url,
                    llm_model="gpt-4o-mini")
    base.update(kw)
    return Settings(**base)


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


# A Python service that crashes on a missing setting: the collector and service tests' log.
PY_CRASH = (
    "starting orders 2.0\n"
    "Traceback (most recent call last):\n"
    '  File "/app/main.py", line 3, in <module>\n'
    "KeyError: 'DATABASE_URL'\n"
)


@pytest.fixture
async def sim() -> AsyncIterator[SimCluster]:
    async with SimCluster.running() as s:
        yield s
