"""Serving metrics, in Prometheus' text format at ``/metrics`` (prometheus-client), and as snapshots the
Production Health report reads.

Labels are the route (its template: ``GET /v1/forecast/{product_id}``), the status, and for each product
answered the model family and category: never the product, whose cardinality would swamp Prometheus.
Each server keeps its own registry (tests start several in one process). Every ``SNAPSHOT_SECONDS`` and
when it stops, the server appends its counters so far to ``.matih/serving/metrics.jsonl``; the health
report takes each server's last snapshot, so what it shows is what the servers recorded.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from matih.monitoring.serving import metrics_path
from matih.state import append_jsonl, utc_stamp
from matih.workspace import Workspace

__all__ = ["CONTENT_TYPE_LATEST", "ServingMetrics", "family_of", "route_of"]

#: request latency buckets, seconds (the seed reports p50 45 ms, p99 128 ms)
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)
SNAPSHOT_SECONDS = 60.0


def route_of(method: str, path: str, prefix: str) -> str:
    """The route template a request path matches (a product id never becomes a label)."""
    if path.startswith(prefix + "/"):
        return f"{method} {prefix}/{{product_id}}"
    return f"{method} {path}"


def family_of(model: str) -> str:
    """``lstm:category:Toys`` -> ``lstm``; the default family's ``category:Toys`` / ``fallback``."""
    head = model.split(":", 1)[0]
    return "default" if head in ("category", "fallback") else head


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.started_at = utc_stamp()
        self.requests = Counter(
            "matih_requests",
            "Forecast requests answered, by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "matih_request_seconds",
            "Time to answer a forecast request",
            ["route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.answers = Counter(
            "matih_forecast_answers",
            "Products answered, by the model family and category that answered",
            ["family", "category"],
            registry=self.registry,
        )

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def answered(self, model: str, category: str | None) -> None:
        self.answers.labels(family_of(model), category or "").inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def snapshot(self) -> dict[str, Any]:
        """Counters so far: requests by status, the latency histogram summed over routes, answers."""
        by_status: dict[str, float] = {}
        buckets: dict[str, float] = {}
        answers: dict[str, float] = {}
        for metric in self.registry.collect():
            for sample in metric.samples:
                if sample.name == "matih_requests_total":
                    status = sample.labels["status"]
                    by_status[status] = by_status.get(status, 0) + sample.value
                elif sample.name == "matih_request_seconds_bucket":
                    le = sample.labels["le"]
                    buckets[le] = buckets.get(le, 0) + sample.value
                elif sample.name == "matih_forecast_answers_total":
                    key = f"{sample.labels['family']}/{sample.labels['category']}"
                    answers[key] = answers.get(key, 0) + sample.value
        return {
            "started_at": self.started_at,
            "at": utc_stamp(),
            "requests": by_status,
            "buckets": buckets,
            "answers": answers,
        }

    def persist(self, ws: Workspace) -> None:
        append_jsonl(metrics_path(ws), self.snapshot())
