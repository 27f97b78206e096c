"""What the forecast servers recorded (:mod:`matih.api.metrics` writes the snapshots): requests, error
rate and latency quantiles for the Production Health report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from matih.state import read_jsonl
from matih.workspace import Workspace

__all__ = ["latency_quantile", "metrics_path", "serving_summary"]


def metrics_path(ws: Workspace) -> Path:
    return ws.state / "serving" / "metrics.jsonl"


def latency_quantile(buckets: dict[str, float], q: float) -> float | None:
    """The ``q`` quantile of a cumulative histogram, interpolated within its bucket (as PromQL's
    histogram_quantile does)."""
    bounds = sorted((float(le), n) for le, n in buckets.items())
    total = bounds[-1][1] if bounds else 0
    if not total:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in bounds:
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = bound, count
    return lower


def serving_summary(ws: Workspace, since: dt.datetime) -> dict[str, Any] | None:
    """Requests, error rate and p50/p99 latency over the servers that ran since ``since`` (each server's
    last snapshot); None when none recorded anything."""
    last: dict[str, dict[str, Any]] = {}
    for snap in read_jsonl(metrics_path(ws)):
        if snap["at"] >= since.isoformat(timespec="seconds"):
            last[snap["started_at"]] = snap
    if not last:
        return None
    requests: dict[str, float] = {}
    buckets: dict[str, float] = {}
    for snap in last.values():
        for k, v in snap["requests"].items():
            requests[k] = requests.get(k, 0) + v
        for k, v in snap["buckets"].items():
            buckets[k] = buckets.get(k, 0) + v
    total = sum(requests.values())
    errors = sum(v for k, v in requests.items() if k.startswith("5"))
    return {
        "servers": len(last),
        "requests": int(total),
        "error_rate": errors / total if total else 0.0,
        "p50_seconds": latency_quantile(buckets, 0.5),
        "p99_seconds": latency_quantile(buckets, 0.99),
    }
