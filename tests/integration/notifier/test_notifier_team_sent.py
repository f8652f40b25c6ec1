"""The team a message names is stored with the rollout, so the history finds what Slack showed."""

from __future__ import annotations

from pathlib import Path

import pytest
from notifier_helpers import add_failed, make_settings, running, wait_for

from fyr.db import rollouts
from fyr.db.engine import Database
from fyr.models.rollout import NotifyStatus
from fyr.services.notifier.main import run_notifier
from tests.fakes.slack_api import SlackFake

pytestmark = pytest.mark.timeout(30)


async def test_the_team_chosen_by_the_routing_file_is_stored_and_found_by_team(
        database: Database, slack: SlackFake, tmp_path: Path) -> None:
    routing = tmp_path / "routing.yaml"
    routing.write_text('- project: "acme/shop-*"\n  team: payments\n  slack_channel: "#payments-alerts"\n')
    settings = make_settings(slack, routing_file=routing)
    routed = await add_failed(database, "api", extra={"fyr.dev/git-project": "acme/shop-api"})
    explicit = await add_failed(database, "worker", extra={"fyr.dev/git-project": "acme/shop-worker",
                                                           "fyr.dev/team": "platform"})
    unrouted = await add_failed(database, "cron", extra={"fyr.dev/git-project": "other/thing"})

    async def all_sent() -> bool:
        async with database.session() as s:
            rows = [await rollouts.get_rollout(s, i) for i in (routed, explicit, unrouted)]
        return all(r is not None and r.notify_status == NotifyStatus.SENT for r in rows)

    async with running(lambda stop: run_notifier(settings=settings, db=database, stop=stop)):
        await wait_for(all_sent)
    async with database.session() as s:
        payments = {r.id for r in await rollouts.list_rollouts(s, team="payments")}
        platform = {r.id for r in await rollouts.list_rollouts(s, team="platform")}
        stored = await rollouts.get_rollout(s, routed)
    assert payments == {routed}  # before: nothing, the routed team was shown but never stored
    assert platform == {explicit}  # the Deployment's own annotation still wins over the routing file
    assert stored is not None and stored.team is None and stored.team_sent == "payments"
