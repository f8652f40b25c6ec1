"""The annotate API names the workload's kind: a StatefulSet's annotation never lands on a Deployment
of the same name, before or after its rollout is recorded."""

from __future__ import annotations

import pytest

from fyr.db.engine import Database
from fyr.db.rollouts import RolloutKey
from tests.integration.ingestor.ingestor_helpers import SHA, client_for
from tests.integration.ingestor.test_ingestor_annotate import AUTH, NOTE, assert_annotated, load, record

pytestmark = pytest.mark.timeout(60)

STS = RolloutKey("prod-eu", "shop", "shop-api", 3, kind="StatefulSet", uid="u-sts")
DEP = RolloutKey("prod-eu", "shop", "shop-api", 12, uid="u-dep")


async def test_annotation_of_a_statefulset_attaches_to_it_only(any_database: Database) -> None:
    sts, dep = await record(any_database, STS), await record(any_database, DEP)
    async with client_for(any_database) as client:
        response = await client.post("/api/v1/rollouts/annotate", json={**NOTE, "kind": "StatefulSet"}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["rollout_ids"] == [sts.id]
    assert_annotated(await load(any_database, STS))
    assert (await load(any_database, DEP)).git_commit is None and dep.id != sts.id


async def test_a_staged_daemonset_annotation_joins_its_rollout_when_recorded(any_database: Database) -> None:
    async with client_for(any_database) as client:
        response = await client.post("/api/v1/rollouts/annotate", json={**NOTE, "kind": "DaemonSet"}, headers=AUTH)
        bad = await client.post("/api/v1/rollouts/annotate", json={**NOTE, "kind": "CronJob"}, headers=AUTH)
    assert response.json()["status"] == "staged" and bad.status_code == 422
    await record(any_database, DEP)
    assert (await load(any_database, DEP)).git_commit is None
    ds = RolloutKey("prod-eu", "shop", "shop-api", 1, kind="DaemonSet", uid="u-ds")
    await record(any_database, ds)
    assert (await load(any_database, ds)).git_commit == SHA
