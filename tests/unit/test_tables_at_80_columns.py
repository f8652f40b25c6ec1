"""`fyr rollouts list` and the demo's closing table fit a default 80-column terminal without cutting
what matters (names, channels, reasons wrap rather than end in "…")."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from fyr.demo import _report
from fyr.demo.scenarios import scenarios
from fyr.history import rollouts_table
from fyr.models.rollout import NotifyStatus, Rollout, RolloutStatus


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=80, force_terminal=False, color_system=None), out


def _rollout(i: int, ns: str, name: str, status: RolloutStatus, reason: str | None, team: str | None) -> Rollout:
    return Rollout(id=i, cluster="production-eu-west-1", namespace=ns, deployment=name, generation=12,
                   status=status, failure_reason=reason, team=None, team_sent=team,
                   started_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
                   notify_status=NotifyStatus.SENT if reason else None)


def test_rollouts_list_fits_80_columns_and_names_the_database() -> None:
    rows = [_rollout(1041, "payments", "checkout-api", RolloutStatus.FAILED, "ProgressDeadlineExceeded", "payments"),
            _rollout(1040, "shop", "catalog", RolloutStatus.FAILED, "CreateContainerConfigError", "storefront"),
            _rollout(1039, "web", "frontend", RolloutStatus.SUCCESS, None, None)]
    console, out = _console()
    console.print(rollouts_table(rows, where="SQLite file /var/lib/fyr/fyr.db"))
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    assert "payments/checkout-api" in text and "storefront" in text and "2026-12-01" in text
    assert "of cluster production-eu-west-1" in text and "/var/lib/fyr/fyr.db" in text


def test_the_demo_table_fits_80_columns() -> None:
    plays = scenarios()
    now = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    results: dict[str, tuple[Rollout | None, str | None]] = {}
    sent_at: dict[int, float] = {}
    for i, sc in enumerate(plays, start=1):
        failed = sc.expect_status != "SUCCESS"
        r = Rollout(id=i, cluster="demo", namespace=sc.namespace, deployment=sc.name, generation=2,
                    status=RolloutStatus.FAILED if sc.expect_status == "FAILED" else RolloutStatus.SUCCESS,
                    failed_at=now if failed else None,
                    completed_at=now if sc.expect_status != "FAILED" else None,
                    notify_status=NotifyStatus.SENT if failed else None,
                    recovery_status=NotifyStatus.SENT if sc.expect_status == "RECOVERED" else None,
                    update_status=NotifyStatus.SENT if sc.expect_status == "RECOVERED" else None,
                    slack_channel_sent=sc.channel if failed else None)
        results[sc.key] = (r, sc.expect_category)
        sc.decisive = 100.0
        sent_at[i] = 100.9
    console, out = _console()
    assert _report(console, plays, results, sent_at, 9.5) == 0
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text and "#team-storefront" in text and "RECOVERED" in text and "0.9 s" in text
    assert "9/9 scenarios reached their outcome" in text
