"""Prometheus metrics of the watcher: transitions the database refused even when written alone.

A refused transition is skipped so that the rest of the cluster's rollouts are recorded; the counter
is how an operator sees that it happened (each one is also logged with its key).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from fyr.health import collectors_for


@dataclass(frozen=True)
class WatcherMetrics:
    rows_skipped: Counter


def watcher_metrics(registry: CollectorRegistry | None = None) -> WatcherMetrics:
    """The watcher's collectors in `registry` (default: the process registry), created once."""
    return collectors_for("watcher", registry, _build)


def _build(reg: CollectorRegistry) -> WatcherMetrics:
    return WatcherMetrics(
        rows_skipped=Counter("fyr_watcher_rows_skipped", "Rollout transitions the database refused even "
                             "when written alone (logged as rollout_write_skipped), then skipped", registry=reg),
    )
