"""The main job end to end at a few hundred products: the report says what the issue promises."""

from __future__ import annotations

import json
from pathlib import Path

from matih.warehouse import warehouse_of


def test_demo_report(demo_run):
    report = json.loads(Path(demo_run.report_path).read_text())
    for key in (
        "overall_mape",
        "overall_bias",
        "noise_floor_mape",
        "seasonal_naive_mape",
        "interval_coverage",
        "per_category",
        "forecast_rows",
        "timings",
    ):
        assert key in report, key
    tasks = {"sync_sources", "feature_engineering", "model_training", "model_validation", "model_deployment"}
    assert set(report["timings"]) == {"generate", "ingest", "pipeline", "quality", "profile", *tasks}
    # Stage 5: the seed's suite passes on the clean world; the profile's correlations are there
    assert report["quality"]["success"] and len(report["quality"]["results"]) == 4
    assert report["correlations"]["sales_rolling_7d"] > 0.8
    # the seed's pipeline ran on Temporal: five tasks, each once
    assert report["pipeline_status"] == "succeeded"
    assert {k: (v["state"], v["attempts"]) for k, v in report["tasks"].items()} == {
        t: ("succeeded", 1) for t in tasks
    }
    # every row of the world reached the warehouse through the connectors
    world, ingested = report["world_rows"], report["ingested_rows"]
    for table, target in (
        ("orders", "postgresql.shopify.orders"),
        ("order_items", "postgresql.shopify.order_items"),
        ("products", "postgresql.shopify.products"),
        ("inventory", "postgresql.inventory.inventory"),
        ("supplier_shipments", "postgresql.inventory.supplier_shipments"),
        ("product_categories", "postgresql.analytics.product_categories"),
    ):
        assert ingested[target] == world[table], target
    assert len(report["per_category"]) == 20
    assert {c["status"] for c in report["per_category"]} <= {"PASS", "FAIL"}
    # accuracy: under the gate, clearly better than seasonal naive, within 2x of the noise floor and
    # close to the best a forecaster blind to future promotions and stock-outs could do
    assert report["overall_mape"] < 0.15
    assert report["overall_mape"] < 0.85 * report["seasonal_naive_mape"]
    assert report["overall_mape"] < 2.0 * report["noise_floor_mape"]
    assert report["noise_floor_mape"] < report["forecastable_floor_mape"] < report["overall_mape"] * 1.05
    assert report["overall_mape"] < 1.4 * report["forecastable_floor_mape"]
    assert abs(report["overall_bias"]) < 0.05
    assert 0.70 <= report["interval_coverage"] <= 0.90
    assert report["passed"] and report["promoted"]


def test_demo_writes_the_seed_forecast_table(demo_run):
    wh = warehouse_of(demo_run.workspace)
    t = wh.query("SELECT * FROM analytics.forecasts.demand_14d").to_pandas()
    for col in (
        "product_id",
        "product_name",
        "category",
        "forecast_date",
        "predicted_units",
        "prediction_interval_lower",
        "prediction_interval_upper",
        "model_version",
    ):
        assert col in t.columns
    products = t["product_id"].nunique()
    assert len(t) == products * 14 and demo_run.forecast_rows == len(t)
    assert (t["predicted_units"] >= 0).all()
    assert (t["prediction_interval_lower"] <= t["predicted_units"] + 1e-9).all()
    assert (t["predicted_units"] <= t["prediction_interval_upper"] + 1e-9).all()
    assert t["model_version"].unique().tolist() == [demo_run.evaluation.label]
    assert t["product_name"].notna().all()
    assert demo_run.top_forecasts is not None and demo_run.top_forecasts.num_rows == 5
