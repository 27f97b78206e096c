"""The seed's workspace with ``warehouse: {engine: spark}``: the same specs and SQL, from the loaded sources
through the catalog, the quality suite, training, the gate and the published forecasts, with the same
figures as on the embedded DuckDB warehouse."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from matih.catalog.tables import refresh
from matih.forecast.batch import forecast
from matih.forecast.config import GateConfig, TrainConfig
from matih.forecast.evaluation import evaluate
from matih.forecast.training import train
from matih.quality.suites import run_suite
from matih.query.service import run_sql
from matih.sandbox import load_world, save_world
from matih.warehouse import warehouse_of
from matih.warehouse.spark_warehouse import SparkWarehouse
from matih.workspace import Workspace

from .conftest import copy_example

pytestmark = pytest.mark.training

CONFIG = TrainConfig(n_estimators=40, learning_rate=0.08)


@pytest.fixture
def duck_ws(loaded_workspace, tmp_path: Path) -> Workspace:
    dest = tmp_path / "duck"
    shutil.copytree(loaded_workspace.root, dest)
    return Workspace(dest)


def test_the_seeds_stages_run_on_spark_with_duckdbs_figures(
    tmp_path: Path, small_world, spark_warehouse, duck_ws: Workspace
):
    ws = Workspace(copy_example(tmp_path / "novamart"))
    settings = (ws.root / "matih.yaml").read_text()
    # threads: 2 is the master the test session's Spark already runs (local[2]); one master per process
    (ws.root / "matih.yaml").write_text(
        settings.replace("  engine: duckdb\n", "  engine: spark\n  threads: 2\n")
    )
    ws.ensure_state()
    save_world(small_world, ws.sandbox_dir)
    wh = warehouse_of(ws)
    assert isinstance(wh, SparkWarehouse)
    load_world(ws.sandbox_dir, wh)

    # stage 3: the seed's SQL as written, through the query service the CLI and the API use
    (result,) = run_sql(wh, ws.query_path("demand_features").read_text())
    duck_rows = warehouse_of(duck_ws).query("SELECT count(*) AS n FROM analytics.derived.demand_features")
    assert (
        result.target == "analytics.derived.demand_features"
        and result.rows == duck_rows.column("n")[0].as_py()
    )
    assert not (ws.warehouse_dir / "postgresql.duckdb").exists()  # nothing went to DuckDB files

    # stage 2: the catalog lists the same tables, columns and keys
    spark_catalog, duck_catalog = refresh(ws), refresh(duck_ws)
    assert set(spark_catalog.tables) == set(duck_catalog.tables)
    for name, info in duck_catalog.tables.items():
        other = spark_catalog.tables[name]
        assert other.rows == info.rows, name
        assert [c.name for c in other.columns] == [c.name for c in info.columns], name
        assert other.primary_key == info.primary_key, name

    # the seed's quality suite, on GX's Spark engine: the same verdicts and counts
    on_spark, on_duck = (
        run_suite(ws, "demand_features_validation"),
        run_suite(duck_ws, "demand_features_validation"),
    )
    assert [(o.type, o.success, o.unexpected_count) for o in on_spark.results] == [
        (o.type, o.success, o.unexpected_count) for o in on_duck.results
    ]

    # training, the gate and the published forecasts: the models see the same data, so the same figures
    reports = []
    for workspace in (ws, duck_ws):
        train(workspace, CONFIG)
        reports.append(evaluate(workspace, CONFIG, GateConfig()))
    spark_report, duck_report = reports
    assert spark_report.overall.mape == pytest.approx(duck_report.overall.mape, rel=1e-9)
    assert spark_report.overall.bias == pytest.approx(duck_report.overall.bias, rel=1e-9, abs=1e-12)
    batch = forecast(ws, CONFIG)
    published = wh.query(f"SELECT count(*) AS n, count(DISTINCT product_id) AS p FROM {batch.table}")
    assert published.column("n")[0].as_py() == published.column("p")[0].as_py() * 14 > 0
    assert wh.table_exists(f"{batch.table}_history")
