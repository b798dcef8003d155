"""`ServiceMetrics`: the coordinator service's Prometheus metrics, in a registry of its own.

Each service owns its `CollectorRegistry` (never the process-global one), so two coordinators in one
process, or one test after another, never share or collide on counters. `render` gives the text
exposition format served at GET /metrics.

Who counts what: the HTTP application counts refused requests (`requests_rejected{reason}`, and
`updates_rejected{reason}` for refused replies), body bytes in and out, request latency per route, and
the `current_round` / `sites_seen` gauges (read from the state store when /metrics is scraped). The round
loop reports what only it can judge through `observe_round`: `rounds_completed`, `round_seconds`,
`current_round`, `updates_accepted`, and `updates_rejected` for updates that fail its deeper checks
(package signature, round, model hash: `verification`; names, shapes, finiteness: `unusable`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from fedward.coordinator.rounds import RoundRecord

__all__ = ["METRICS_CONTENT_TYPE", "ServiceMetrics"]

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
_REQUEST_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0)
_ROUND_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0, 7200.0)


class ServiceMetrics:
    """Counters, gauges and histograms of one coordinator service (names start with `fedward_`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.rounds_completed = Counter("fedward_rounds_completed", "Rounds finished.", registry=r)
        self.updates_accepted = Counter("fedward_updates_accepted", "Site updates accepted.", registry=r)
        self.updates_rejected = Counter(
            "fedward_updates_rejected", "Site updates refused, by reason.", ["reason"], registry=r
        )
        self.requests_rejected = Counter(
            "fedward_requests_rejected", "HTTP requests refused, by reason.", ["reason"], registry=r
        )
        self.bytes_received = Counter("fedward_bytes_received", "Request body bytes read.", registry=r)
        self.bytes_sent = Counter("fedward_bytes_sent", "Response body bytes sent under /v1.", registry=r)
        self.current_round = Gauge("fedward_current_round", "The round the coordinator is in.", registry=r)
        self.sites_seen = Gauge("fedward_sites_seen", "Sites that have made a signed request.", registry=r)
        self.request_seconds = Histogram(
            "fedward_request_seconds", "HTTP request latency, by route.", ["route"],
            buckets=_REQUEST_BUCKETS, registry=r,
        )  # fmt: skip
        self.round_seconds = Histogram(
            "fedward_round_seconds", "Wall time of a round.", buckets=_ROUND_BUCKETS, registry=r
        )

    def render(self) -> bytes:
        """Every metric in the Prometheus text exposition format (version 0.0.4)."""
        return generate_latest(self.registry)

    def observe_round(self, record: RoundRecord) -> None:
        """Count a finished round: its time, and each site's update accepted or rejected (a site that
        failed on its own or timed out sent no update, so it counts as neither)."""
        self.rounds_completed.inc()
        self.round_seconds.observe(max(0.0, record.seconds))
        self.current_round.set(record.round)
        for outcome in record.outcomes.values():
            if outcome.status == "ok":
                self.updates_accepted.inc()
            elif outcome.status == "rejected":
                self.updates_rejected.labels("verification").inc()
            elif outcome.status == "failed" and (outcome.error or "").startswith("unusable update"):
                self.updates_rejected.labels("unusable").inc()
