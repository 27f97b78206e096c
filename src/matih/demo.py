"""The main job end to end on the embedded default: world, sandbox, then the seed's pipeline on Temporal.

The pipeline ``demand-forecast-daily`` runs as written (sync, feature SQL, training, validation,
blue-green deployment) as a Temporal workflow on the embedded dev server, with a worker inside this
process. Sources the pipeline does not sync (the product-categories file) are synced first.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from matih.exceptions import OrchestrationError
from matih.forecast.adapt import configs_from_pipeline
from matih.forecast.batch import FORECAST_TABLE
from matih.forecast.config import GateConfig
from matih.forecast.evaluation import EvaluationReport, report_from_dict
from matih.orchestrate import plan as P
from matih.quality.profile import Profile
from matih.quality.suites import SuiteRun
from matih.sandbox import WorldConfig, generate_world, save_world
from matih.state import utc_stamp, write_json_atomic
from matih.warehouse import warehouse_of
from matih.workspace import Workspace

PIPELINE = "demand-forecast-daily"
SUITE = "demand_features_validation"
FEATURE_TABLE = "analytics.derived.demand_features"
StageHook = Callable[[str, str, float | None], None]


@dataclass
class DemoResult:
    workspace: Workspace
    timings: dict[str, float] = field(default_factory=dict)
    world_rows: dict[str, int] = field(default_factory=dict)
    feature_rows: int = 0
    history_buckets: pa.Table | None = None
    run: P.RunResult | None = None
    training_summary: str = ""
    gap_warning: str | None = None
    evaluation: EvaluationReport | None = None
    forecast_rows: int = 0
    forecast_table: str | None = None
    forecast_version: str | None = None
    top_forecasts: pa.Table | None = None
    gate: GateConfig | None = None
    quality: SuiteRun | None = None
    profile: Profile | None = None
    report_path: str = ""
    ingested: dict[str, int] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        """The evaluation's figures plus what the demo adds: the run, forecasts, row counts, timings."""
        assert self.evaluation is not None and self.run is not None
        return {
            **self.evaluation.to_dict(),
            "pipeline_run": self.run.run_id,
            "pipeline_status": self.run.status,
            "tasks": {
                t.task_id: {"state": t.state, "attempts": t.attempts, "seconds": t.seconds}
                for t in self.run.tasks
            },
            "quality": self.quality.to_dict() if self.quality else None,
            "correlations": {c.feature: c.r for c in self.profile.correlations} if self.profile else None,
            "forecast_rows": self.forecast_rows,
            "forecast_version": self.forecast_version,
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
    """Generate NovaMart, serve it, run the seed's pipeline on Temporal; write the report."""
    workspace.ensure_state()
    result = DemoResult(workspace)
    stage = Stages(result.timings, on_stage)
    with stage("generate", f"Generating NovaMart ({products:,} products, {days} days)"):
        world = generate_world(WorldConfig(products=products, seed=seed, end_date=end_date, days=days))
        save_world(world, workspace.sandbox_dir)
        result.world_rows = world.row_counts()
        del world
    journal_from = utc_stamp()
    run = _run_pipeline(workspace, stage, n_estimators)
    result.run = run
    if run.status == P.RUN_FAILED:
        raise OrchestrationError(f"pipeline run {run.run_id} failed: {run.message}")
    result.ingested = _ingested_since(workspace, journal_from)
    _inspect(workspace, result, run, stage)
    path = workspace.reports_dir / "demo.json"
    write_json_atomic(path, result.report(), default=str)
    result.report_path = str(path)
    return result


class Stages:
    """Times the demo's stages into the result and tells the caller's hook as each starts and ends;
    the pipeline's tasks are reported as stages too, from the run's progress."""

    def __init__(self, timings: dict[str, float], on_stage: StageHook | None) -> None:
        self.timings = timings
        self.on_stage = on_stage
        self._seen: dict[str, str] = {}

    @contextmanager
    def __call__(self, key: str, label: str) -> Iterator[None]:
        if self.on_stage:
            self.on_stage(key, label, None)
        started = time.perf_counter()
        yield
        self.timings[key] = round(time.perf_counter() - started, 3)
        if self.on_stage:
            self.on_stage(key, label, self.timings[key])

    def progress(self, run: P.RunResult) -> None:
        """``run_pipeline``'s progress callback: each task starts once and ends once, even when a poll
        misses its running state."""
        for task in run.tasks:
            label = f"Temporal task {task.task_id} ({task.type})"
            if task.state == P.RUNNING and task.task_id not in self._seen:
                self._seen[task.task_id] = P.RUNNING
                if self.on_stage:
                    self.on_stage(task.task_id, label, None)
            elif task.state not in (P.PENDING, P.RUNNING) and self._seen.get(task.task_id) != "done":
                if task.task_id not in self._seen and self.on_stage:
                    self.on_stage(task.task_id, label, None)
                self._seen[task.task_id] = "done"
                self.timings[task.task_id] = task.seconds or 0.0
                if self.on_stage:
                    self.on_stage(task.task_id, f"{label}: {task.state}", task.seconds or 0.0)


def _run_pipeline(workspace: Workspace, stage: Stages, n_estimators: int | None) -> P.RunResult:
    """Serve the world, sync the sources the pipeline does not, and run the pipeline on Temporal."""
    from matih.sandbox import server

    with server.start(workspace):
        return bootstrap(workspace, stage, n_estimators)


def bootstrap(
    workspace: Workspace, stage: Stages, n_estimators: int | None, *, trigger: str = "demo"
) -> P.RunResult:
    """With the sandbox serving: sync the sources the pipeline does not sync (the product-categories
    file), then run the pipeline on Temporal with every source read afresh (the world was just built)."""
    from matih.orchestrate.client import pipeline_spec
    from matih.orchestrate.runner import run_pipeline
    from matih.sources import source_names, sync

    spec = pipeline_spec(workspace, PIPELINE)
    in_pipeline = {
        name for task in spec.tasks if task.type == "ingestion_trigger" for name in task.config.connections
    }
    others = [name for name in source_names(workspace) if name not in in_pipeline]
    if others:
        with stage("ingest", f"Syncing the sources the pipeline does not sync ({', '.join(others)})"):
            for name in others:
                sync(workspace, name, full_refresh=True)
    options: dict[str, Any] = {"trigger": trigger, "full_refresh": True}
    if n_estimators:
        options["n_estimators"] = n_estimators
    started = time.perf_counter()
    run = run_pipeline(workspace, PIPELINE, options=options, on_progress=stage.progress)
    stage.timings["pipeline"] = round(time.perf_counter() - started, 3)
    return run


def _inspect(workspace: Workspace, result: DemoResult, run: P.RunResult, stage: Stages) -> None:
    """What the report shows besides the run: the features' quality and profile, the tasks' own
    reports, and the forecasts the deployment wrote."""
    from matih.quality.profile import profile_table
    from matih.quality.suites import run_suite

    train_cfg, result.gate, _ = configs_from_pipeline(workspace, PIPELINE)
    wh = warehouse_of(workspace)
    result.feature_rows = int(run.task("feature_engineering").metrics.get("rows", 0))
    result.history_buckets = wh.query(workspace.query_path("history_buckets").read_text())
    if (workspace.root / "quality" / f"{SUITE}.json").is_file():
        with stage("quality", f"Running the expectation suite {SUITE} (Great Expectations)"):
            result.quality = run_suite(workspace, SUITE, table=FEATURE_TABLE)
    with stage("profile", f"Profiling {FEATURE_TABLE}"):
        result.profile = profile_table(workspace, FEATURE_TABLE, min_history_days=train_cfg.min_history_days)
    if (trained := run.of_type("ray_train")) is not None:
        result.training_summary = str(trained.details.get("training_summary", ""))
        result.gap_warning = trained.details.get("gap_warning")
    evaluated = run.of_type("model_evaluate")
    if evaluated is not None and evaluated.details.get("report"):
        result.evaluation = report_from_dict(evaluated.details["report"])
    deployed = run.of_type("ray_serve_update")
    table = (deployed.details.get("output_table") if deployed else None) or FORECAST_TABLE
    if wh.table_exists(table):
        result.forecast_table = table
        counts = wh.query(f"SELECT count(*) AS n, min(model_version) AS v FROM {table}")
        result.forecast_rows = int(counts.column("n")[0].as_py())
        result.forecast_version = counts.column("v")[0].as_py()
        result.top_forecasts = top_forecasts(workspace, table)


def _ingested_since(workspace: Workspace, since: str) -> dict[str, int]:
    """Rows per destination table of the syncs since ``since`` (the demo's own)."""
    from matih.sources.runs import history

    rows: dict[str, int] = {}
    for run in history(workspace):
        if run.started_at >= since and run.status == "succeeded":
            for stream in run.streams:
                for table, n in stream.tables.items():
                    rows[f"{run.destination}.{table}"] = n
    return rows


def top_forecasts(workspace: Workspace, table: str) -> pa.Table:
    """The seed's Stage 6 sample query, as written; when the data does not end yesterday (so nothing is
    forecast for tomorrow) the same query for the first forecast day."""
    wh = warehouse_of(workspace)
    sample = workspace.root / "queries" / "forecast_sample.sql"
    if sample.exists() and table == FORECAST_TABLE:
        found = wh.query(sample.read_text())
        if found.num_rows:
            return found
    return wh.query(f"""
        SELECT product_id, product_name, category, forecast_date,
               predicted_units, prediction_interval_lower, prediction_interval_upper, model_version
        FROM {table}
        WHERE forecast_date = (SELECT min(forecast_date) + INTERVAL '1' DAY FROM {table})
        ORDER BY predicted_units DESC LIMIT 5""")
