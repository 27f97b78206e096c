"""Serving figures for the health report, from the snapshots servers write."""

from __future__ import annotations

import datetime as dt

import pytest

from matih.api.metrics import ServingMetrics
from matih.monitoring.serving import latency_quantile, serving_summary
from matih.workspace import Workspace


def test_latency_quantiles_interpolate_like_histogram_quantile():
    buckets = {"0.01": 50.0, "0.05": 90.0, "0.1": 99.0, "+Inf": 100.0}
    assert latency_quantile(buckets, 0.5) == pytest.approx(0.01)  # the 50th of 100 ends the first bucket
    assert latency_quantile(buckets, 0.7) == pytest.approx(0.01 + 0.04 * 20 / 40)
    assert latency_quantile(buckets, 0.995) == pytest.approx(0.1)  # beyond the last bound: its lower edge
    assert latency_quantile({}, 0.5) is None


def test_each_servers_last_snapshot_counts_once(tmp_path):
    (tmp_path / "matih.yaml").write_text("name: served\n")
    ws = Workspace(tmp_path)
    first, second = ServingMetrics(), ServingMetrics()
    second.started_at = "later"  # two servers, one after the other
    for _ in range(98):
        first.observe("POST /v1/forecast", 200, 0.004)
    first.persist(ws)
    first.observe("POST /v1/forecast", 503, 0.0001)
    for _ in range(3):  # the slowest 3% of requests
        first.observe("GET /v1/forecast/{product_id}", 200, 0.2)
    first.persist(ws)  # supersedes its first snapshot
    second.observe("POST /v1/forecast", 200, 0.004)
    second.answered("lstm:category:Toys", "Toys")
    second.persist(ws)
    summary = serving_summary(ws, dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    assert summary is not None
    assert summary["servers"] == 2 and summary["requests"] == 103
    assert summary["error_rate"] == pytest.approx(1 / 103)
    assert 0.0025 <= summary["p50_seconds"] <= 0.005 and 0.15 <= summary["p99_seconds"] <= 0.25
    assert 'family="lstm"' in second.exposition().decode()
