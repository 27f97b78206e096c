"""Table ages and SLA shares from the sync journal and the warehouse's write journal."""

from __future__ import annotations

import datetime as dt

import pytest

from matih.monitoring.freshness import freshness
from matih.sources.runs import StreamRun, SyncRun, record
from matih.state import append_jsonl
from matih.warehouse.journal import journal_path
from matih.workspace import Workspace

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def sync_at(ws: Workspace, hours: float, status: str = "succeeded") -> None:
    ended = (T0 + dt.timedelta(hours=hours)).isoformat()
    streams = [StreamRun("orders", "incremental", {"orders": 5, "order_items": 9})]
    record(
        ws,
        SyncRun(
            f"r{hours}",
            "shopify-orders",
            "source-shopify",
            ended,
            ended,
            status,
            destination="postgresql.shopify",
            streams=streams,
        ),
    )


def test_the_seeds_short_name_resolves_and_gaps_beyond_the_sla_count_against_it(tmp_path):
    (tmp_path / "matih.yaml").write_text("name: fresh\n")
    ws = Workspace(tmp_path)
    for hours in (0, 4, 14):
        sync_at(ws, hours)
    sync_at(ws, 17, status="failed")  # a failed sync loaded nothing
    now = T0 + dt.timedelta(hours=20)
    f = freshness(ws, "shopify.order_items", 6, now=now, period=dt.timedelta(days=30))
    assert f.resolved == "postgresql.shopify.order_items" and f.loads == 3
    # 0-4h and 4-10h within; 10-14h stale (10h after the last load); 14-20h within: 16 of 20 hours
    assert f.within_sla == pytest.approx(0.8) and f.age_hours == pytest.approx(6.0) and f.ok
    late = freshness(
        ws, "shopify.order_items", 6, now=now + dt.timedelta(hours=1), period=dt.timedelta(days=30)
    )
    assert not late.ok and "BREACH" in late.line()
    assert freshness(ws, "shopify.refunds", 6, now=now, period=dt.timedelta(days=30)).age_hours is None


def test_tables_matih_writes_come_from_the_write_journal(tmp_path):
    (tmp_path / "matih.yaml").write_text("name: fresh\n")
    ws = Workspace(tmp_path)
    for hours in (0, 24, 48):
        at = (T0 + dt.timedelta(hours=hours)).isoformat()
        entry = {"table": "analytics.derived.demand_features", "mode": "overwrite", "rows": 1, "at": at}
        append_jsonl(journal_path(ws.warehouse_dir), entry)
    f = freshness(
        ws,
        "analytics.derived.demand_features",
        24,
        now=T0 + dt.timedelta(hours=50),
        period=dt.timedelta(days=30),
    )
    assert f.loads == 3 and f.within_sla == 1.0 and f.age_hours == pytest.approx(2.0)
