"""What each pipeline task ``type`` does: plain library calls, run by the ``run_task`` activity.

Each runner takes the parsed task, the workspace and a :class:`TaskContext`, and returns a one-line
summary plus the metrics downstream tasks and notifications use. Runners raise MatihError subclasses;
their ``transient`` flag decides whether Temporal retries them.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matih.exceptions import SpecError
from matih.forecast.config import TrainConfig
from matih.forecast.features import FeatureContext
from matih.specs import PipelineSpec
from matih.specs.tasks import (
    BatchInferenceTask,
    ExperimentRunTask,
    IngestionTriggerTask,
    ModelEvaluateTask,
    MonitorRunTask,
    QualityCheckTask,
    RayServeUpdateTask,
    RayTrainTask,
    SqlExecuteTask,
)
from matih.workspace import Workspace

if TYPE_CHECKING:
    from matih.warehouse import Engine

log = logging.getLogger(__name__)


@dataclass
class TaskContext:
    """What a runner may use besides its spec."""

    pipeline: PipelineSpec
    run_id: str
    time_scale: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)
    upstream: dict[str, dict[str, Any]] = field(default_factory=dict)
    progress: dict[str, Any] = field(default_factory=dict)
    """Kept across attempts (it travels in Temporal heartbeats): a retry resumes where one stopped."""
    cancel_hooks: list[Callable[[], None]] = field(default_factory=list)

    def on_cancel(self, hook: Callable[[], None]) -> None:
        self.cancel_hooks.append(hook)

    def train_config(self, ws: Workspace) -> TrainConfig:
        from matih.forecast.adapt import configs_from_spec

        train, _gate, _out = configs_from_spec(
            ws, self.pipeline, n_estimators=self.options.get("n_estimators")
        )
        return train


@dataclass
class Outcome:
    summary: str
    metrics: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


Runner = Callable[[Any, Workspace, TaskContext], Outcome]


# -- ingestion ---------------------------------------------------------------------------------------
def ingestion_trigger(task: IngestionTriggerTask, ws: Workspace, ctx: TaskContext) -> Outcome:
    """Sync each connection in turn; connections a failed attempt already synced are not synced again."""
    from matih.sources import sync

    done: dict[str, int] = ctx.progress.setdefault("synced", {})
    for name in task.config.connections:
        if name in done:
            continue
        run = sync(ws, name, full_refresh=bool(ctx.options.get("full_refresh")))
        done[name] = run.rows
    total = sum(done.values())
    return Outcome(
        f"synced {len(done)} source(s), {total:,} rows",
        {"rows": total, **{f"rows.{k}": v for k, v in done.items()}},
    )


# -- SQL ---------------------------------------------------------------------------------------------
def sql_execute(task: SqlExecuteTask, ws: Workspace, ctx: TaskContext) -> Outcome:
    """Run ``query_ref`` into ``target_table`` in one transaction (overwrite or append)."""
    from matih.query.join_sides import run_into
    from matih.sources.live import live_warehouse

    cfg = task.config
    path = ws.root / "queries" / f"{cfg.query_name}.sql"
    if not path.is_file():
        raise SpecError(
            f"query_ref {cfg.query_ref!r} names queries/{cfg.query_name}.sql, which does not exist",
            file=f"pipelines/{ctx.pipeline.pipeline_id}.json",
            path=f"tasks[{task.task_id}].config.query_ref",
        )
    wh = live_warehouse(ws)

    def cancel() -> None:
        wh.interrupt()

    ctx.on_cancel(cancel)
    started = time.perf_counter()
    if cfg.incremental is not None:
        return _sql_refresh(task, ws, ctx, wh, path)
    result, joins = run_into(
        ws,
        wh,
        path.read_text(),
        str(cfg.target_table),
        write_mode=cfg.write_mode,
        join_build_side=cfg.join_build_side,
    )
    rows = int(result.rows or 0)
    said = f"{cfg.write_mode} {cfg.target_table}: {rows:,} rows in {time.perf_counter() - started:.1f}s"
    return Outcome(
        f"{said}; {joins}" if joins else said,
        {"rows": rows, "table": str(cfg.target_table)},
        {"join_sides": joins} if joins else {},
    )


def _sql_refresh(task: SqlExecuteTask, ws: Workspace, ctx: TaskContext, wh: Engine, path: Path) -> Outcome:
    """``sql_execute`` with ``incremental``: only the changed days, when that is exact."""
    from matih.query.incremental import refresh
    from matih.query.join_sides import side_for
    from matih.warehouse.incremental import NotIncremental

    cfg = task.config
    assert cfg.incremental is not None
    sql = path.read_text()
    try:
        done = refresh(
            ws,
            wh,
            sql,
            str(cfg.target_table),
            date_column=cfg.incremental.date_column,
            lookback_days=cfg.incremental.lookback_days,
            join_build_side=side_for(ws, wh, sql, cfg.join_build_side),
        )
    except NotIncremental as err:
        raise SpecError(
            f"queries/{cfg.query_name}.sql cannot be refreshed by days: {err.message}",
            file=f"pipelines/{ctx.pipeline.pipeline_id}.json",
            path=f"tasks[{task.task_id}].config.incremental",
        ) from None
    return Outcome(
        done.describe(str(cfg.target_table)),
        {"rows": done.rows, "table": str(cfg.target_table)},
        {"refresh": done.mode, "reason": done.reason, "first_day": str(done.first_day or "")},
    )


# -- training, evaluation, serving -------------------------------------------------------------------
class _FeatureCache:
    """The last dataset read, kept while its table is unchanged: training, validation and deployment
    in one worker then read the feature table once, as the in-process demo did."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._value: FeatureContext | None = None

    def get(self, ws: Workspace, config: TrainConfig) -> FeatureContext:
        from matih.forecast.dataset import load_features
        from matih.warehouse import warehouse_of

        journal = warehouse_of(ws).writes_path
        stamp = journal.stat().st_mtime_ns if journal.exists() else 0
        key = (str(ws.root), config.dataset, config.roles, stamp)
        with self._lock:
            if self._key != key or self._value is None:
                self._value = None  # free the old grid before reading the new one
                self._value = load_features(ws, config)
                self._key = key
            return self._value


FEATURES = _FeatureCache()


def ray_train(task: RayTrainTask, ws: Workspace, ctx: TaskContext) -> Outcome:
    """Train with the task's hyperparameters; log and register in MLflow."""
    from matih.forecast.training import train

    config = TrainConfig.from_task(task.config.model_dump(exclude_unset=True))
    if n := ctx.options.get("n_estimators"):
        config = dataclasses.replace(config, n_estimators=int(n))
    # sharded training reads each shard in its own task: the whole grid is never read here
    result = train(ws, config, features=None if config.shards else FEATURES.get(ws, config))
    version = result.forecaster.version
    return Outcome(
        f"trained {result.forecaster.name} v{version} on {result.stats.total_rows:,} rows "
        f"({len(result.stats.rows) - 1} categories + fallback) in {result.seconds:.1f}s",
        {
            "model_version": version,
            "train_rows": result.stats.total_rows,
            "series": result.series,
            "train_seconds": round(result.seconds, 3),
        },
        {"training_summary": result.summary, "gap_warning": result.gap_warning},
    )


def _trained_version(ctx: TaskContext) -> int | None:
    """The version a ``ray_train`` task of this run registered, if one ran before."""
    for other in ctx.pipeline.tasks:
        if other.type == "ray_train" and "model_version" in ctx.upstream.get(other.task_id, {}):
            return int(ctx.upstream[other.task_id]["model_version"])
    return None


def model_evaluate(task: ModelEvaluateTask, ws: Workspace, ctx: TaskContext) -> Outcome:
    """Back-test the version trained in this run (else the latest) and gate it; passing promotes it."""
    from matih.forecast.config import GateConfig
    from matih.forecast.evaluation import enforce_gate, evaluate

    config = ctx.train_config(ws)
    gate = GateConfig.from_spec(task.config)
    report = evaluate(ws, config, gate, version=_trained_version(ctx), features=FEATURES.get(ws, config))
    ctx.progress["details"] = {"report": report.to_dict()}
    enforce_gate(report, gate)
    return Outcome(
        f"{report.label}: MAPE {report.overall.mape:.1%}, bias {report.overall.bias:+.3f}, "
        f"{'promoted to champion' if report.promoted else 'not promoted'}",
        {
            "model_version": report.version,
            "mape": round(report.overall.mape, 6),
            "rmse": round(report.overall.rmse, 6),
            "bias": round(report.overall.bias, 6),
            "coverage": round(report.overall.coverage, 6),
            "wql": round(report.overall.wql, 6),
            "passed": report.passed,
            "promoted": report.promoted,
        },
        {"report": report.to_dict()},
    )


def ray_serve_update(task: RayServeUpdateTask, ws: Workspace, ctx: TaskContext) -> Outcome:
    """Blue-green rollout of the validated model to the deployment (see :mod:`matih.serving`)."""
    from matih.serving.deployments import rollout

    config = ctx.train_config(ws)
    cfg = task.config
    result = rollout(
        ws,
        cfg.deployment_name,
        config,
        model_source=cfg.model_source,
        health_check_timeout=cfg.health_check_timeout.total_seconds() * ctx.time_scale,
        features=FEATURES.get(ws, config),
    )
    return Outcome(
        f"{result.deployment}: {result.version} live (was {result.previous or 'nothing'}); "
        f"{result.rows:,} forecast rows"
        + (f" in {result.output_table}" if result.output_table else "")
        + "".join(f"; routing: {note}" for note in result.routing.get("notes", [])),
        {
            "model_version": result.version,
            "previous_version": result.previous,
            "rows": result.rows,
            "products": result.products,
            "health_seconds": result.health_seconds,
        },
        {
            "output_table": result.output_table,
            "forecast_origin": result.forecast_origin,
            "routing": result.routing,
        },
    )


def rollback_serve_update(task: RayServeUpdateTask, ws: Workspace, ctx: TaskContext) -> Outcome:
    from matih.serving.deployments import rollback

    return Outcome(rollback(ws, task.config.deployment_name, ctx.train_config(ws)))


def batch_inference(task: BatchInferenceTask, ws: Workspace, ctx: TaskContext) -> Outcome:
    """Forecast every active product into ``output_table`` atomically, with the deployment's live
    version when ``deployment_name`` is given (else the champion)."""
    from matih.forecast.batch import forecast
    from matih.forecast.registry import CHAMPION

    config = ctx.train_config(ws)
    version: int | str = CHAMPION
    if task.config.deployment_name:
        from matih.serving.deployments import load_state

        live = load_state(ws, task.config.deployment_name).live
        if live:
            version = int(str(live["version"]).lstrip("v"))
    result = forecast(
        ws,
        config,
        output_table=str(task.config.output_table),
        version=version,
        features=FEATURES.get(ws, config),
    )
    return Outcome(
        f"{result.rows:,} forecast rows for {result.products:,} products with {result.model_version} "
        f"into {result.table}",
        {"rows": result.rows, "products": result.products, "model_version": result.model_version},
        {"output_table": result.table, "forecast_origin": result.origin},
    )


def quality_check(task: QualityCheckTask, ws: Workspace, ctx: TaskContext) -> Outcome:
    """Run the expectation suite; a failing error-level expectation fails the task (not retried) with the
    suite's results attached, so the tasks after it (training) never see the data."""
    from matih.quality.suites import run_suite, suite_failed

    cfg = task.config
    run = run_suite(ws, cfg.suite, table=str(cfg.table) if cfg.table else None)
    report = run.to_dict()
    ctx.progress["details"] = {"quality": report}
    if not run.success:
        raise suite_failed(run)
    warned = [r for r in run.results if not r.success]
    return Outcome(
        f"{run.suite} passed on {run.table}: {len(run.results)} expectations"
        + (f", {len(warned)} warning(s)" if warned else ""),
        {"expectations": len(run.results), "warnings": len(warned), "table": run.table},
        {"quality": report},
    )


def monitors_of_workspace(ws: Workspace, names: list[str] | None) -> list[str]:
    """Run monitor specs (``None``: all), retraining through Temporal, alerts to Slack; one line per
    monitor. What a ``monitor_run`` task and the monitors after a publishing run both do."""
    from matih.orchestrate.monitors import monitor_lines, run_workspace_monitors

    return monitor_lines(run_workspace_monitors(ws, names))


def monitor_run(task: MonitorRunTask, ws: Workspace, ctx: TaskContext) -> Outcome:
    """Run the monitors: an alert is reported (and sent), it does not fail the task."""
    name = task.config.monitor_name
    lines = monitors_of_workspace(ws, [name] if name else None)
    alerts = sum(": ALERT " in line for line in lines)
    return Outcome(
        f"{len(lines)} monitor(s) ran, {alerts} alerting",
        {"monitors": len(lines), "alerts": alerts},
        {"monitors": lines},
    )


def experiment_run(task: ExperimentRunTask, ws: Workspace, ctx: TaskContext) -> Outcome:
    """Run the experiment; its report and results table are what ``matih experiment route`` reads. A
    run's ``n_estimators`` option sets the tree count here as it does for training."""
    from matih.experiment import run_experiment

    trees = ctx.options.get("n_estimators")
    report = run_experiment(ws, task.config.experiment, n_estimators=int(trees) if trees else None)
    winners = ", ".join(f"{f} {n}" for f, n in report.wins.items() if n)
    significant = sorted(c for c, t in report.significance.items() if t["significant"])
    return Outcome(
        f"{report.experiment}: {len(report.families)} families x {len(report.cutoffs)} cutoffs; "
        f"wins: {winners}; significant: {', '.join(significant) or 'none'}",
        {"rows": report.rows, "seconds": report.seconds, "significant": len(significant)},
        {"experiment": {"report": str(report.experiment), "run_id": report.run_id}},
    )


RUNNERS: dict[str, Runner] = {
    "ingestion_trigger": ingestion_trigger,
    "sql_execute": sql_execute,
    "quality_check": quality_check,
    "ray_train": ray_train,
    "model_evaluate": model_evaluate,
    "ray_serve_update": ray_serve_update,
    "batch_inference": batch_inference,
    "monitor_run": monitor_run,
    "experiment_run": experiment_run,
}
ROLLBACKS: dict[str, Runner] = {"ray_serve_update": rollback_serve_update}


def run(task: Any, ws: Workspace, ctx: TaskContext, *, rollback: bool = False) -> Outcome:
    """Dispatch ``task`` (a parsed task model) by its ``type``."""
    table = ROLLBACKS if rollback else RUNNERS
    runner = table.get(task.type)
    if runner is None:
        if rollback:
            raise SpecError(f"task {task.task_id}: rollback_to_previous is only defined for ray_serve_update")
        raise SpecError(f"task {task.task_id}: unknown task type {task.type!r}")
    return runner(task, ws, ctx)
