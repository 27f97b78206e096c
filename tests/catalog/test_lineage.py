"""Lineage from the SQL, the sources and the pipelines, against hand-drawn graphs."""

from __future__ import annotations

import json
import shutil
import time

from typer.testing import CliRunner

from matih.catalog.lineage import build_lineage, parse_query
from matih.cli.main import app
from matih.workspace import Workspace
from tests.conftest import EXAMPLE

OI, ORD = "postgresql.shopify.order_items", "postgresql.shopify.orders"
INV, PC = "postgresql.inventory.inventory", "postgresql.analytics.product_categories"
DAILY = {
    (OI, "product_id"),
    (ORD, "order_date"),
}  # the daily_sales grain: every window partitions and orders by it

# hand-written: where each output column of the seed's feature SQL comes from
EXPECTED = {
    "product_id": {(OI, "product_id")},
    "sale_date": {(ORD, "order_date")},
    "units_sold": {(OI, "quantity")},
    "revenue": {(OI, "quantity"), (OI, "unit_price")},
    "avg_selling_price": {(OI, "unit_price")},
    "avg_discount_pct": {(OI, "discount")},
    "sales_rolling_7d": DAILY | {(OI, "quantity")},
    "sales_rolling_14d": DAILY | {(OI, "quantity")},
    "sales_rolling_30d": DAILY | {(OI, "quantity")},
    "sales_volatility_30d": DAILY | {(OI, "quantity")},
    "sales_lag_7d": DAILY | {(OI, "quantity")},
    "sales_lag_14d": DAILY | {(OI, "quantity")},
    "sales_same_day_last_year": DAILY | {(OI, "quantity")},
    "day_of_week": {(ORD, "order_date")},
    "month": {(ORD, "order_date")},
    "is_weekend": {(ORD, "order_date")},
    "is_holiday_period": {(ORD, "order_date")},
    "category": {(PC, "category")},
    "subcategory": {(PC, "subcategory")},
    "seasonal_flag": {(PC, "seasonal_flag")},
    "quantity_on_hand": {(INV, "quantity_on_hand")},
    "reorder_point": {(INV, "reorder_point")},
    "is_low_stock": {(INV, "quantity_on_hand"), (INV, "reorder_point")},
}


def test_column_lineage_of_the_seed_feature_sql() -> None:
    query = parse_query("demand_features", (EXAMPLE / "queries" / "demand_features.sql").read_text())
    assert query.writes == "analytics.derived.demand_features"
    assert sorted(query.reads) == sorted([OI, ORD, INV, PC])
    assert query.columns == EXPECTED


def test_the_example_workspace_graph_matches_the_seed_diagram() -> None:
    graph = build_lineage(Workspace(EXAMPLE))
    feeds = {e.source for e in graph.edges if e.target == "analytics.derived.demand_features"}
    assert feeds == {OI, ORD, INV, PC}
    assert {e.target for e in graph.edges if e.source == "source:shopify-orders"} == {
        ORD,
        OI,
        "postgresql.shopify.products",
        "postgresql.shopify.products__variants",
        "postgresql.shopify.inventory_levels",
    }
    model = {(e.source, e.target, e.kind) for e in graph.edges if e.kind == "train"}
    assert model == {("analytics.derived.demand_features", "model:demand-forecast-daily", "train")}
    assert graph.cycles() == [] and graph.self_feeding_pipelines() == []
    # product_categories is an input and depends on none of the pipeline's outputs
    assert {e.source for e in graph.upstream(PC)} == {"source:product-categories"}
    started = time.perf_counter()
    build_lineage(Workspace(EXAMPLE))
    assert time.perf_counter() - started < 5  # generous: the benchmark holds the real goal


def _workspace_with(tmp_path, queries: dict[str, str]) -> Workspace:
    root = tmp_path / "ws"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".matih"))
    for name, sql in queries.items():
        (root / "queries" / f"{name}.sql").write_text(sql)
    return Workspace(root)


def test_every_cycle_is_named_with_its_path(tmp_path) -> None:
    ws = _workspace_with(
        tmp_path,
        {
            "a": "CREATE TABLE analytics.derived.a AS SELECT * FROM analytics.derived.b",
            "b": "CREATE TABLE analytics.derived.b AS SELECT * FROM analytics.derived.c",
            "c": "CREATE TABLE analytics.derived.c AS SELECT * FROM analytics.derived.a",
            "d": "CREATE TABLE analytics.derived.d AS SELECT * FROM analytics.derived.d2",
            "d2": "CREATE TABLE analytics.derived.d2 AS SELECT * FROM analytics.derived.d",
        },
    )
    cycles = build_lineage(ws).cycles()
    assert cycles == [
        ["analytics.derived.a", "analytics.derived.c", "analytics.derived.b", "analytics.derived.a"],
        ["analytics.derived.d", "analytics.derived.d2", "analytics.derived.d"],
    ]
    result = CliRunner().invoke(app, ["lineage", "check", "-w", str(ws.root)])
    assert result.exit_code == 1
    assert "analytics.derived.d -> analytics.derived.d2 -> analytics.derived.d" in result.output


def test_a_pipeline_feeding_its_own_input_is_flagged(tmp_path) -> None:
    sql = "CREATE TABLE analytics.derived.demand_features AS SELECT * FROM analytics.forecasts.demand_14d"
    ws = _workspace_with(tmp_path, {"demand_features": sql})
    problems = build_lineage(ws).self_feeding_pipelines()
    assert (
        problems and "feature_engineering" in problems[0] and "analytics.forecasts.demand_14d" in problems[0]
    )


def test_cli_formats() -> None:
    runner = CliRunner()
    mermaid = runner.invoke(
        app, ["lineage", "show", "demand_features", "-w", str(EXAMPLE), "--format", "mermaid"]
    )
    assert mermaid.exit_code == 0 and mermaid.output.startswith("flowchart LR")
    raw = runner.invoke(
        app,
        [
            "lineage",
            "show",
            "derived.demand_features",
            "-w",
            str(EXAMPLE),
            "--format",
            "json",
            "--columns",
            "--upstream",
        ],
    )
    assert raw.exit_code == 0, raw.output
    payload = json.loads(raw.output)
    assert payload["columns"]["is_low_stock"] == [f"{INV}.quantity_on_hand", f"{INV}.reorder_point"]
    assert all(e["target"] != "model:demand-forecast-daily" for e in payload["edges"])
    check = runner.invoke(app, ["lineage", "check", "-w", str(EXAMPLE)])
    assert check.exit_code == 0 and "No circular dependencies" in check.output


def test_model_versions_that_wrote_the_forecasts_are_in_the_lineage(demo_run) -> None:
    graph = build_lineage(demo_run.workspace)
    version = demo_run.forecast_version
    node = f"model:demand-forecast-daily@{version}"
    assert ("model:demand-forecast-daily", node, "version") in {
        (e.source, e.target, e.kind) for e in graph.edges
    }
    upstream = {e.source for e in graph.upstream("analytics.forecasts.demand_14d")}
    assert {node, "analytics.derived.demand_features", "source:shopify-orders"} <= upstream
