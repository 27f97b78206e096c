"""The monitors at the seed's scale: 30 days of archived forecasts for 45,291 products (19M rows).

    .venv/bin/python benchmarks/monitoring.py [--products 45291] [--days 30]

Builds a workspace whose warehouse holds a daily sales table (the products' last 400 days, zero-sales
days left out as the seed's SQL does) and an archive of ``--days`` daily batches of 14-day forecasts, as
``matih forecast`` writes them. Then times, as ``matih monitor run`` runs them:

- ``accuracy_tracking``: every matured forecast scored by day x category x lead (the grid is read from
  the sales table, as in production);
- ``feature_freshness`` over the seed's three tables (journals of 30 daily loads);
- ``prediction_quality`` on the latest batch (634K rows);
- ``automatic_retraining``'s decision;

and the Production Health report. The peer is the same accuracy table computed with pandas (a merge of
the archive with the actuals, then a groupby), in the same process on the same data.
Writes benchmarks/results/monitoring.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import pandas as pd
from results_file import write_results  # benchmarks/ is the script's folder
from rich.console import Console
from rich.table import Table

console = Console(width=120)
END = dt.date(2026, 1, 14)
H = 14
CATEGORIES = 20


def build(root: Path, products: int, days: int) -> object:
    from matih.forecast.archive import archive_table
    from matih.state import append_jsonl
    from matih.warehouse import warehouse_of
    from matih.warehouse.journal import journal_path
    from matih.workspace import Workspace

    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    shutil.copytree(
        Path(__file__).resolve().parents[1] / "examples" / "novamart" / "monitors", root / "monitors"
    )
    shutil.copytree(
        Path(__file__).resolve().parents[1] / "examples" / "novamart" / "pipelines", root / "pipelines"
    )
    (root / "queries").mkdir()
    for q in (Path(__file__).resolve().parents[1] / "examples" / "novamart" / "queries").glob("*.sql"):
        shutil.copy(q, root / "queries" / q.name)
    (root / "matih.yaml").write_text("name: monitoring-bench\n")
    ws = Workspace(root)
    wh = warehouse_of(ws)
    first = END - dt.timedelta(days=399)
    wh.run(f"""CREATE OR REPLACE TABLE analytics.derived.demand_features AS
        WITH p AS (SELECT range AS i, 'PRD-' || lpad(CAST(range AS VARCHAR), 6, '0') AS product_id,
                          'Category ' || (range % {CATEGORIES}) AS category, 1 + (hash(range) % 40) AS level
                   FROM range({products})),
             d AS (SELECT CAST(DATE '{first}' + INTERVAL (range) DAY AS DATE) AS sale_date FROM range(400))
        SELECT product_id, category, sale_date,
               CAST(floor(level * (0.5 + (hash(i, sale_date) % 1000) / 1000.0)) AS INTEGER) AS units_sold
        FROM p, d WHERE hash(i, sale_date) % 10 <> 0""")
    # the archive: one batch a day, each forecasting the 14 days after its origin
    origins = [END - dt.timedelta(days=H + days - 1 - k) for k in range(days)]
    wh.run(f"""CREATE OR REPLACE TABLE {archive_table("analytics.forecasts.demand_14d")} AS
        WITH p AS (SELECT range AS i, 'PRD-' || lpad(CAST(range AS VARCHAR), 6, '0') AS product_id,
                          'Category ' || (range % {CATEGORIES}) AS category, 1 + (hash(range) % 40) AS level
                   FROM range({products})),
             o AS (SELECT CAST(DATE '{origins[0]}' + INTERVAL (range) DAY AS DATE) AS forecast_origin
                   FROM range({days})),
             h AS (SELECT range + 1 AS horizon FROM range({H}))
        SELECT product_id, NULL::VARCHAR AS product_name, category,
               CAST(forecast_origin + INTERVAL (horizon) DAY AS DATE) AS forecast_date,
               CAST(horizon AS SMALLINT) AS horizon_days, CAST(horizon AS SMALLINT) AS horizon,
               level * 0.75::DOUBLE AS predicted_units, level * 0.45::DOUBLE AS prediction_interval_lower,
               level * 1.05::DOUBLE AS prediction_interval_upper, 'v1' AS model_version,
               'category:x' AS model,
               forecast_origin, 0.8 AS interval_level,
               CAST(forecast_origin + INTERVAL 1 DAY AS TIMESTAMPTZ) AS published_at
        FROM p, o, h""")
    wh.run(f"""CREATE OR REPLACE TABLE analytics.forecasts.demand_14d AS
        SELECT * EXCLUDE (published_at) FROM {archive_table("analytics.forecasts.demand_14d")}
        WHERE forecast_origin = DATE '{origins[-1]}'""")
    for k in range(30):  # daily loads of the three tables the seed watches
        at = dt.datetime.combine(END - dt.timedelta(days=29 - k), dt.time(3), dt.UTC).isoformat()
        for table in (
            "postgresql.shopify.order_items",
            "postgresql.inventory.inventory",
            "analytics.derived.demand_features",
        ):
            append_jsonl(
                journal_path(ws.warehouse_dir), {"table": table, "mode": "overwrite", "rows": 1, "at": at}
            )
    return ws


def pandas_accuracy(ws: object, through: dt.date) -> pd.DataFrame:
    """The peer: the accuracy table by merge and groupby."""
    from matih.warehouse import warehouse_of

    wh = warehouse_of(ws)
    f = wh.query(f"""SELECT product_id, category, forecast_date, horizon_days, predicted_units,
                            prediction_interval_lower, prediction_interval_upper
                     FROM analytics.forecasts.demand_14d_history
                     WHERE forecast_date <= DATE '{through}'""").to_pandas()
    a = wh.query(
        "SELECT product_id, sale_date AS forecast_date, units_sold FROM analytics.derived.demand_features"
    ).to_pandas()
    m = f.merge(a, on=["product_id", "forecast_date"], how="left")
    m["y"] = m["units_sold"].fillna(0.0)
    m["err"] = (m["y"] - m["predicted_units"]).abs()
    m["inside"] = (m["y"] >= m["prediction_interval_lower"]) & (m["y"] <= m["prediction_interval_upper"])
    g = m.groupby(["forecast_date", "category", "horizon_days"]).agg(
        err=("err", "sum"), y=("y", "sum"), yhat=("predicted_units", "sum"), inside=("inside", "mean")
    )
    g["mape"] = g["err"] / g["y"]
    return g


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=45_291)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--workdir", default="/tmp/matih-monitoring-bench")
    args = parser.parse_args()
    from matih.forecast.adapt import configs_from_pipeline
    from matih.forecast.dataset import load_dataset_grid
    from matih.monitoring.accuracy import track_accuracy
    from matih.monitoring.freshness import freshness
    from matih.monitoring.health import health_report
    from matih.monitoring.quality import check_batch, prediction_checks
    from matih.monitoring.retraining import decide
    from matih.monitoring.runner import monitor_specs
    from matih.specs.monitor import AutomaticRetrainingMonitor, FeatureFreshnessMonitor
    from matih.warehouse import warehouse_of

    started = time.perf_counter()
    ws = build(Path(args.workdir), args.products, args.days)
    console.print(f"built the warehouse in {time.perf_counter() - started:.1f}s")
    rows = (
        warehouse_of(ws)
        .query("SELECT count(*) FROM analytics.forecasts.demand_14d_history")
        .column(0)[0]
        .as_py()
    )
    train, _, output = configs_from_pipeline(ws)
    spec = monitor_specs(ws)["demand-forecast-production"]
    now = dt.datetime.combine(END + dt.timedelta(days=1), dt.time(8), dt.UTC)
    timings: dict[str, float] = {}

    t = time.perf_counter()
    grid = load_dataset_grid(ws, train)  # read once, as matih monitor run does for both monitors
    result = track_accuracy(
        ws, train, output or "analytics.forecasts.demand_14d", as_of=now.date(), lag_days=1, grid=grid
    )
    timings["accuracy_tracking"] = time.perf_counter() - t
    t = time.perf_counter()
    checks = [c for m in spec.monitors if isinstance(m, FeatureFreshnessMonitor) for c in m.checks]
    fresh = [freshness(ws, c.table, c.max_age_hours, now=now, period=dt.timedelta(days=30)) for c in checks]
    timings["feature_freshness"] = time.perf_counter() - t
    t = time.perf_counter()
    quality = check_batch(
        warehouse_of(ws).query("SELECT * FROM analytics.forecasts.demand_14d"), grid, prediction_checks(ws)
    )
    timings["prediction_quality"] = time.perf_counter() - t
    t = time.perf_counter()
    trigger = next(m for m in spec.monitors if isinstance(m, AutomaticRetrainingMonitor)).trigger
    decision = decide(ws, spec.monitor_name, trigger, start_pipeline=None)
    timings["automatic_retraining"] = time.perf_counter() - t
    timings["all four"] = sum(timings.values())
    t = time.perf_counter()
    report = health_report(ws, spec, [], days=30, now=now)
    report.text()
    timings["health report"] = time.perf_counter() - t
    t = time.perf_counter()
    peer = pandas_accuracy(ws, now.date() - dt.timedelta(days=1))
    timings["peer: pandas accuracy table"] = time.perf_counter() - t

    table = Table(
        title=f"Monitors over {rows:,} archived forecasts "
        f"({args.products:,} products x {H} days x {args.days} origins)"
    )
    table.add_column("step")
    table.add_column("seconds", justify="right")
    for step, seconds in timings.items():
        table.add_row(step, f"{seconds:.2f}")
    console.print(table)
    console.print(
        f"scored {result.scored_forecasts:,} forecasts into {result.rows:,} rows; "
        f"pandas grouped {len(peer):,}"
    )
    console.print(f"freshness: {[f.line() for f in fresh]}")
    console.print(f"quality: {[q.line() for q in quality]}; retraining: {decision.reason}")
    path = write_results(
        "monitoring",
        {
            "products": args.products,
            "origins": args.days,
            "archived_rows": rows,
            "scored": result.scored_forecasts,
            "seconds": {k: round(v, 3) for k, v in timings.items()},
        },
    )
    console.print(f"written to {path}")


if __name__ == "__main__":
    main()
