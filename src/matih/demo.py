"""The main job end to end on the embedded default: world, warehouse, SQL, training, gate, forecasts."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from matih.exceptions import RegistryError
from matih.forecast.config import GateConfig
from matih.forecast.service import (
    BatchResult,
    EvaluationReport,
    TrainResult,
    configs_from_pipeline,
    evaluate,
    forecast,
    load_features,
    train,
    warehouse_of,
)
from matih.sandbox import WorldConfig, generate_world, load_world, save_world
from matih.workspace import Workspace

FEATURE_TABLE = "analytics.derived.demand_features"
StageHook = Callable[[str, str, float | None], None]


@dataclass
class DemoResult:
    workspace: Workspace
    timings: dict[str, float] = field(default_factory=dict)
    world_rows: dict[str, int] = field(default_factory=dict)
    feature_rows: int = 0
    history_buckets: pa.Table | None = None
    training: TrainResult | None = None
    evaluation: EvaluationReport | None = None
    batch: BatchResult | None = None
    top_forecasts: pa.Table | None = None
    gate: GateConfig | None = None
    report_path: str = ""
    ingested: dict[str, int] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        """The evaluation's figures plus what the demo adds: forecasts, row counts, timings."""
        assert self.evaluation is not None
        batch = self.batch
        return {
            **self.evaluation.to_dict(),
            "forecast_rows": batch.rows if batch else 0,
            "forecast_products": batch.products if batch else 0,
            "forecast_origin": batch.origin if batch else None,
            "feature_rows": self.feature_rows,
            "world_rows": self.world_rows,
            "ingested_rows": self.ingested,
            "timings": self.timings,
        }


def run_demo(
    workspace: Workspace,
    *,
    products: int = 2_000,
    seed: int = 7,
    end_date: dt.date | None = None,
    days: int = 730,
    n_estimators: int | None = None,
    on_stage: StageHook | None = None,
) -> DemoResult:
    """Generate NovaMart, load it, run the seed's SQL, train, validate, forecast; write the report."""
    workspace.ensure_state()
    result = DemoResult(workspace)
    wh = warehouse_of(workspace)

    @contextmanager
    def stage(key: str, label: str) -> Iterator[None]:
        if on_stage:
            on_stage(key, label, None)
        started = time.perf_counter()
        yield
        result.timings[key] = round(time.perf_counter() - started, 3)
        if on_stage:
            on_stage(key, label, result.timings[key])

    with stage("generate", f"Generating NovaMart ({products:,} products, {days} days)"):
        world = generate_world(WorldConfig(products=products, seed=seed, end_date=end_date, days=days))
        save_world(world, workspace.sandbox_dir)
        result.world_rows = world.row_counts()
        del world
    with stage("ingest", "Ingesting through the connectors (Shopify, PostgreSQL, GA4, files)"):
        result.ingested = ingest_world(workspace)
    with stage("feature_sql", "Running queries/demand_features.sql"):
        out = wh.run(workspace.query_path("demand_features").read_text())
        result.feature_rows = int(out[-1].rows or 0)
    result.history_buckets = wh.query(workspace.query_path("history_buckets").read_text())
    train_cfg, gate_cfg, output_table = configs_from_pipeline(workspace, n_estimators=n_estimators)
    result.gate = gate_cfg
    with stage("train", f"Training per-category LightGBM ({train_cfg.n_estimators} trees)"):
        features = load_features(workspace, train_cfg)  # read once, shared by the next three stages
        result.training = train(workspace, train_cfg, features=features)
    with stage("evaluate", "Validating on the 14-day holdout"):
        result.evaluation = evaluate(workspace, train_cfg, gate_cfg, features=features)
    with stage("forecast", "Writing batch forecasts with the champion"):
        try:
            result.batch = forecast(workspace, train_cfg, output_table=output_table, features=features)
        except RegistryError:
            result.batch = None  # the gate failed and no earlier champion exists: nothing to serve
    if result.batch is not None:
        result.top_forecasts = top_forecasts(workspace, result.batch.table)
    path = workspace.reports_dir / "demo.json"
    path.write_text(json.dumps(result.report(), indent=2, default=str))
    result.report_path = str(path)
    return result


def ingest_world(workspace: Workspace) -> dict[str, int]:
    """Serve the stored world through the sandbox and sync every source of the workspace from it.

    Each sync is a full refresh: the world was just rebuilt, so earlier cursors mean nothing. A
    workspace without sources gets the world copied straight into the warehouse.
    """
    from matih.sandbox import server
    from matih.sources import source_names, sync

    names = source_names(workspace)
    if not names:
        return load_world(workspace.sandbox_dir, warehouse_of(workspace))
    rows: dict[str, int] = {}
    with server.start(workspace):
        for name in names:
            run = sync(workspace, name, full_refresh=True, endpoints="sandbox")
            for stream in run.streams:
                for table, n in stream.tables.items():
                    rows[f"{run.destination}.{table}"] = n
    return rows


def top_forecasts(workspace: Workspace, table: str) -> pa.Table:
    """The seed's Stage 6 sample query, as written; when the data does not end yesterday (so nothing is
    forecast for tomorrow) the same query for the first forecast day."""
    wh = warehouse_of(workspace)
    sample = workspace.root / "queries" / "forecast_sample.sql"
    if sample.exists() and table == "analytics.forecasts.demand_14d":
        found = wh.query(sample.read_text())
        if found.num_rows:
            return found
    return wh.query(f"""
        SELECT product_id, product_name, category, forecast_date,
               predicted_units, prediction_interval_lower, prediction_interval_upper, model_version
        FROM {table}
        WHERE forecast_date = (SELECT min(forecast_date) + INTERVAL '1' DAY FROM {table})
        ORDER BY predicted_units DESC LIMIT 5""")
