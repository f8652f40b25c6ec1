"""The Slack message names the workload's kind where it named the Deployment."""

from __future__ import annotations

import json

from fyr.models.rollout import Rollout, RolloutStatus
from fyr.services.notifier.render import render_failure, render_recovery, view_from_rows


def _row(kind: str) -> Rollout:
    return Rollout(id=7, cluster="prod", kind=kind, namespace="data", deployment="pg", uid="u-1", generation=4,
                   status=RolloutStatus.FAILED, failure_reason="CrashLoopBackOff",
                   failure_message='statefulset "pg" stuck at ordinal 2: container app of pod pg-2 is crash looping')


def test_a_statefulset_failure_names_the_kind_in_header_field_and_metadata() -> None:
    msg = render_failure(view_from_rows(_row("StatefulSet"), {"summary": "pg-2 crash loops", "category": "crash_loop"}))
    blob = json.dumps(msg.blocks)
    assert "Rollout failed: StatefulSet data/pg" in blob
    assert "*StatefulSet*" in blob and "*Deployment*" not in blob
    assert msg.metadata["event_payload"]["workload_kind"] == "StatefulSet"
    assert "StatefulSet prod/data/pg" in msg.text
    assert "DaemonSet prod/data/pg" in render_recovery(view_from_rows(_row("DaemonSet"))).text


def test_a_deployment_message_reads_as_before() -> None:
    msg = render_failure(view_from_rows(_row("Deployment"), {"summary": "x"}))
    blob = json.dumps(msg.blocks)
    assert "Rollout failed: data/pg" in blob and "*Deployment*" in blob
    assert "prod/data/pg" in msg.text and "Deployment prod" not in msg.text
