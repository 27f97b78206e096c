"""Incremental refreshes against a real sandbox: synced, a day passes, synced again, refreshed by days,
and compared row for row with a full rebuild of the same query."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from matih.query.incremental import refresh
from matih.sandbox import server
from matih.sources import sync
from matih.warehouse import warehouse_of
from matih.warehouse.compare import differing_rows
from tests.conftest import END, Served, serving

DAILY_FEATURES = """
CREATE TABLE analytics.derived.{name} AS
WITH daily_sales AS (
    SELECT oi.product_id, DATE(o.order_date) AS sale_date, SUM(oi.quantity) AS units_sold,
           COUNT(DISTINCT o.order_id) AS num_orders, AVG(oi.unit_price) AS avg_selling_price
    FROM postgresql.shopify.order_items oi
    JOIN postgresql.shopify.orders o ON oi.order_id = o.order_id
    WHERE o.order_date >= DATE '2024-01-01'
    GROUP BY oi.product_id, DATE(o.order_date)
),
rolling AS (
    SELECT *,
        AVG(units_sold) OVER (PARTITION BY product_id ORDER BY sale_date
            RANGE BETWEEN INTERVAL 6 DAYS PRECEDING AND CURRENT ROW) AS sales_rolling_7d,
        STDDEV(units_sold) OVER (PARTITION BY product_id ORDER BY sale_date
            RANGE BETWEEN INTERVAL 29 DAYS PRECEDING AND CURRENT ROW) AS sales_volatility_30d,
        SUM(units_sold) OVER (PARTITION BY product_id ORDER BY sale_date
            RANGE BETWEEN INTERVAL 7 DAYS PRECEDING AND INTERVAL 7 DAYS PRECEDING) AS sales_lag_7d
    FROM daily_sales
)
SELECT r.*, EXTRACT(DOW FROM r.sale_date) AS day_of_week, pc.category{extra_columns}
FROM rolling r
LEFT JOIN postgresql.analytics.product_categories pc ON r.product_id = pc.product_id{extra_joins}
WHERE r.sale_date >= DATE '2024-02-01'
"""

WITH_STOCK = {
    "extra_columns": ", inv.quantity_on_hand",
    "extra_joins": "\nLEFT JOIN postgresql.inventory.inventory inv ON r.product_id = inv.product_id",
}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, small_world) -> Iterator[Served]:
    """A sandbox of this module's own, served a week short of the world's end: these tests move its
    clock on, and the shared one's days belong to the source tests."""
    dest = tmp_path_factory.mktemp("incremental") / "novamart"
    with serving(dest, small_world, END - dt.timedelta(days=7)) as handle:
        yield handle


def _synced(sandbox: Served, *sources: str):
    for source in ("shopify-orders", "product-categories", *sources):
        sync(sandbox.ws, source)
    return sandbox.ws, warehouse_of(sandbox.ws)


def _differences(wh, a: str, b: str) -> int:
    return differing_rows(wh, a, b, ("product_id", "sale_date"))


@pytest.mark.server
def test_incremental_refresh_equals_a_full_rebuild_row_for_row(sandbox) -> None:
    ws, wh = _synced(sandbox)
    sql = DAILY_FEATURES.format(name="daily_features", extra_columns="", extra_joins="")
    target = "analytics.derived.daily_features"

    def run():
        return refresh(ws, wh, sql, target, date_column="sale_date", lookback_days=30)

    first = run()
    assert first.mode == "full" and first.reason == "first build" and first.rows > 0
    again = run()
    assert again.mode == "unchanged", again.reason
    before = wh.query(f"SELECT count(*) AS n, max(sale_date) AS last FROM {target}").to_pylist()[0]

    server.advance(ws)
    sync(ws, "shopify-orders")
    sync(ws, "product-categories")  # re-synced in full, unchanged: no reason to rebuild
    done = run()
    assert done.mode == "incremental", done.reason
    assert done.first_day is not None and done.first_day <= sandbox.clock()
    after = wh.query(f"SELECT count(*) AS n, max(sale_date) AS last FROM {target}").to_pylist()[0]
    assert after["last"] > before["last"]
    # the days before the first changed one were kept, the rest replaced
    kept = wh.query(f"SELECT count(*) AS n FROM {target} WHERE sale_date < DATE '{done.first_day}'")
    assert after["n"] == kept.column(0)[0].as_py() + done.rows

    wh.run(sql.replace("daily_features", "daily_features_full"))
    assert _differences(wh, target, "analytics.derived.daily_features_full") == 0


@pytest.mark.server
def test_a_changed_table_read_on_every_day_forces_a_full_rebuild(sandbox) -> None:
    ws, wh = _synced(sandbox, "inventory-db")
    sql = DAILY_FEATURES.format(name="stock_features", **WITH_STOCK)
    target = "analytics.derived.stock_features"
    assert refresh(ws, wh, sql, target, date_column="sale_date", lookback_days=30).mode == "full"

    server.advance(ws)
    for source in ("shopify-orders", "inventory-db"):
        sync(ws, source)
    done = refresh(ws, wh, sql, target, date_column="sale_date", lookback_days=30)
    # today's stock is joined onto every day: every day's rows changed, so only a rebuild is exact
    assert done.mode == "full"
    assert "postgresql.inventory.inventory changed" in done.reason
    wh.run(sql.replace("stock_features", "stock_features_full"))
    assert _differences(wh, target, "analytics.derived.stock_features_full") == 0


@pytest.mark.server
def test_a_failed_refresh_keeps_the_table_and_its_state(sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    from matih.exceptions import WarehouseError
    from matih.warehouse import Warehouse

    ws, wh = _synced(sandbox)
    sql = DAILY_FEATURES.format(name="kept_features", extra_columns="", extra_joins="")
    target = "analytics.derived.kept_features"
    refresh(ws, wh, sql, target, date_column="sale_date", lookback_days=30)
    rows = wh.query(f"SELECT count(*) FROM {target}").column(0)[0].as_py()

    server.advance(ws)
    sync(ws, "shopify-orders")

    real = Warehouse.replace_days

    def broken(self, name, sql, date_column, first_day, *rest):
        # fail inside the transaction, after the delete, as a dying statement would
        return real(self, name, sql + " AND no_such_column > 0", date_column, first_day, *rest)

    monkeypatch.setattr(type(wh), "replace_days", broken)
    with pytest.raises(WarehouseError, match="unchanged"):
        refresh(ws, wh, sql, target, date_column="sale_date", lookback_days=30)
    monkeypatch.undo()
    assert wh.query(f"SELECT count(*) FROM {target}").column(0)[0].as_py() == rows
    # the state was not moved on: the next run still sees the new day and refreshes it
    done = refresh(ws, wh, sql, target, date_column="sale_date", lookback_days=30)
    assert done.mode == "incremental"
    wh.run(sql.replace("kept_features", "kept_features_full"))
    assert _differences(wh, target, "analytics.derived.kept_features_full") == 0


def test_the_seed_pipeline_asking_for_an_incremental_feature_task_is_told_why_not(loaded_workspace) -> None:
    import json

    from matih.exceptions import SpecError
    from matih.orchestrate.tasks import TaskContext, sql_execute
    from matih.specs import load_spec

    ws = loaded_workspace
    raw = json.loads((ws.root / "pipelines" / "demand-forecast-daily.json").read_text())
    task = next(t for t in raw["tasks"] if t["type"] == "sql_execute")
    task["config"]["incremental"] = {"date_column": "sale_date", "lookback_days": 400}
    path = ws.root / "pipelines" / "incremental-probe.json"
    path.write_text(json.dumps({**raw, "pipeline_id": "incremental-probe"}))
    try:
        spec = load_spec(path)
    finally:
        path.unlink()
    parsed = next(t for t in spec.tasks if t.task_id == task["task_id"])
    with pytest.raises(SpecError) as caught:
        sql_execute(parsed, ws, TaskContext(pipeline=spec, run_id="probe"))
    said = str(caught.value)
    assert "pipelines/incremental-probe.json" in said
    assert "config.incremental" in said
    assert "counts rows, not days" in said


def test_incremental_cannot_be_combined_with_append() -> None:
    from pydantic import ValidationError

    from matih.specs.tasks import SqlExecuteConfig

    with pytest.raises(ValidationError, match="cannot be combined with write_mode 'append'"):
        SqlExecuteConfig(
            query_ref="analytics.queries.q",
            target_table="analytics.derived.t",
            write_mode="append",
            incremental={"date_column": "sale_date", "lookback_days": 7},
        )
