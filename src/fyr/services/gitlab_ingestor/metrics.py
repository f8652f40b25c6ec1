"""The ingestor's Prometheus metrics, one registry per app (several apps in one process — tests,
`fyr all` — never collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class IngestorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("fyr_ingestor_requests", "Webhook and annotate requests by outcome",
                                ["endpoint", "event", "outcome"], registry=self.registry)
        self.latency = Histogram("fyr_ingestor_request_seconds", "Time to answer an accepted request",
                                 ["endpoint"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))
        self.batch_size = Histogram("fyr_ingestor_batch_size", "Deliveries per shared transaction",
                                    registry=self.registry, buckets=(1, 2, 4, 8, 16, 32, 64))
        self.batch_seconds = Histogram("fyr_ingestor_batch_seconds", "Time of one shared transaction",
                                       registry=self.registry,
                                       buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1))
        self.retries = Counter("fyr_ingestor_transaction_retries", "Transactions retried after a "
                               "deadlock or lock wait timeout", registry=self.registry)
        self.ignored = Counter("fyr_ingestor_deliveries_ignored", "Authenticated deliveries answered 200 and "
                               "not used, by reason", ["reason"], registry=self.registry)
        self.attached = Counter("fyr_ingestor_rollouts_attached", "Rollouts that received GitLab metadata",
                                registry=self.registry)

    def count(self, endpoint: str, event: str, outcome: str) -> None:
        self.requests.labels(endpoint, event, outcome).inc()

    def observe_batch(self, size: int, seconds: float) -> None:
        """One shared transaction of the group commit: how many deliveries, how long."""
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)

    def answered(self, endpoint: str, event: str, outcome: str, *, attached: int, seconds: float) -> None:
        """An accepted request: its outcome, the rollouts it reached and the time to answer it."""
        self.count(endpoint, event, outcome)
        self.attached.inc(attached)
        self.latency.labels(endpoint).observe(seconds)
