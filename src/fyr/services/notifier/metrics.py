"""Prometheus metrics of the notifier: how messages end, how often Slack pushed back, and how long
a failure took to reach Slack.

Collectors are created per registry on demand (never at import time), like the analyzer's, so tests
and several in-process services can each use their own `CollectorRegistry`.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

from fyr.health import collectors_for


@dataclass(frozen=True)
class NotifierMetrics:
    messages: Counter
    rate_limited: Counter
    failure_to_message: Histogram


def notifier_metrics(registry: CollectorRegistry | None = None) -> NotifierMetrics:
    return collectors_for("notifier", registry, _build)


def _build(reg: CollectorRegistry) -> NotifierMetrics:
    return NotifierMetrics(
        messages=Counter("fyr_notifier_messages", "Notification outcomes by message kind "
                         "(sent, found_existing, fallback, released, given_up)", ["kind", "outcome"], registry=reg),
        rate_limited=Counter("fyr_slack_rate_limited", "HTTP 429 answers from Slack", registry=reg),
        failure_to_message=Histogram("fyr_failure_to_message_seconds",
                                     "From a rollout's failed_at to its Slack message being recorded",
                                     registry=reg, buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800)),
    )
