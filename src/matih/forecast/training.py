"""A training run, the library call behind ``matih train`` and the ``ray_train`` task: read the dataset,
fit (see :mod:`matih.forecast.fit`), then log the run to MLflow and register the model, with the summary
the seed prints."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matih.forecast.config import FAMILIES, CovariateRole, TrainConfig
from matih.forecast.dataset import business_calendar, load_features
from matih.forecast.families import REQUIREMENTS, fit_family
from matih.forecast.features import FeatureContext
from matih.forecast.fit import Progress, TrainStats, fit_of
from matih.forecast.fitters import fitter_for, ray_address
from matih.forecast.grid import DenseGrid
from matih.forecast.model import Forecaster
from matih.forecast.registry import RegisteredForecaster, Registry, metric_key
from matih.forecast.shards import (
    LocalShards,
    RayShards,
    ShardPlan,
    ShardRunner,
    fit_shards,
    plan_shards,
    remove,
)
from matih.state import utc_now
from matih.warehouse import warehouse_of
from matih.workspace import Workspace

__all__ = ["TrainResult", "train", "training_summary"]


@dataclass
class TrainResult:
    forecaster: RegisteredForecaster
    stats: TrainStats
    summary: str
    seconds: float
    grid_days: int
    series: int
    gap_warning: str | None


def train(
    workspace: Workspace,
    config: TrainConfig,
    *,
    progress: Progress | None = None,
    features: FeatureContext | None = None,
) -> TrainResult:
    """Fit, then log and register in MLflow; ``features`` skips re-reading the dataset (and so trains on
    that whole grid even with ``data_shards``: it is already in memory)."""
    started = time.perf_counter()
    address = ray_address(workspace.settings().ray.address)
    model: Forecaster
    if config.shards and features is None:
        with sharded(workspace, config, address) as (plan, runner, model_dir):
            fallback_fitter = fitter_for(config, address)
            model, stats, grid = fit_shards(
                plan, config, runner, fallback_fitter, model_dir, progress=progress
            )
    else:
        ctx = features or load_features(workspace, config)
        grid = ctx.grid
        fitter = fitter_for(config, address, grid.Y.size) if config.model_type == "lightgbm" else None
        model, stats = fit_family(ctx, config, progress=progress, fitter=fitter)
    seconds = time.perf_counter() - started
    summary = training_summary(config, grid, stats, seconds)
    registered = Registry(workspace).log_training(
        model,
        experiment=config.experiment,
        fallback_name=config.fallback_name,
        params=_params(config, model),
        metrics=_metrics(model, stats, seconds),
        summary=summary,
        requirements=REQUIREMENTS[config.model_type],
    )
    return TrainResult(
        registered,
        stats,
        summary,
        seconds,
        grid.n_days,
        len(grid.series),
        grid.gaps.warning() if grid.gaps else None,
    )


@contextmanager
def sharded(
    workspace: Workspace, config: TrainConfig, address: str | None
) -> Iterator[tuple[ShardPlan, ShardRunner, Path]]:
    """The dataset planned and exported in ``config.shards`` shards, where they run (Ray tasks with an
    address, else one after another here) and a folder for the model they share; all removed after."""
    runner: ShardRunner = RayShards(config, address) if address else LocalShards(config.num_threads)
    plan = plan_shards(warehouse_of(workspace), config, business_calendar(workspace), config.shards)
    try:
        yield plan, runner, Path(plan.folder) / "model"
    finally:
        remove(plan)


def _params(config: TrainConfig, model: Forecaster) -> dict[str, Any]:
    return {
        "model_type": config.model_type,
        "forecast_horizon": config.forecast_horizon,
        "n_estimators": config.n_estimators,
        "learning_rate": config.learning_rate,
        "category_column": config.roles.category_column,
        "per_category_models": config.per_category_models,
        "dataset": config.dataset,
        "min_history_days": config.min_history_days,
        "interval_level": config.interval_level,
        "trained_until": model.trained_until,
        "refit_until": model.meta.get("refit_until"),
        "calibration_windows": config.calibration_windows,
    }


def _metrics(model: Forecaster, stats: TrainStats, seconds: float) -> dict[str, float]:
    metrics = {
        "train_rows": float(stats.total_rows),
        "refit_rows": float(sum(stats.refit_rows.values())),
        "earlier_rows": float(sum(stats.earlier_rows.values())),
        "train_seconds": seconds,
        "categories": float(
            len(stats.rows) - 1 if model.family == "lightgbm" else len(stats.calibration_mape)
        ),
    }
    metrics.update({f"calibration_mape.{metric_key(k)}": v for k, v in stats.calibration_mape.items()})
    return metrics


def training_summary(config: TrainConfig, grid: DenseGrid, stats: TrainStats, seconds: float) -> str:
    """The seed's training summary block."""
    minutes, secs = divmod(round(seconds), 60)
    lines = [
        f"Training Summary: {config.experiment}",
        "─" * 48,
        f"Training Date:    {utc_now():%Y-%m-%d %H:%M:%S} UTC",
        f"Duration:         {minutes}m {secs:02d}s",
        f"Workers:          {stats.where}"
        + (
            ""
            if stats.where.startswith("Ray")
            else f" (ray_config's {config.ray_workers} workers need ray.address)"
        ),
        f"Trainer:          MATIH built-in ({config.training_script or 'no training_script'} "
        "is not executed)",
        *_models_lines(config, grid, stats),
        f"Total Samples:    {stats.total_rows:,} rows (dense {grid.frequency.adjective} grid: "
        f"{len(grid.series):,} series x {grid.n_days} {grid.frequency.noun}s; at most "
        f"{config.max_rows_per_model:,} per model, "
        + ("drawn by series level" if config.row_sampling == "level" else "drawn uniformly")
        + " beyond that)",
    ]
    if config.covariates:
        lines.append(f"Covariates:       {covariate_use(config.model_type, config.covariates)}")
    if grid.notes:
        lines.append("Data notes:")
        lines += [f"  - {note}" for note in grid.notes]
    return "\n".join(lines)


def covariate_use(family: str, covariates: Sequence[CovariateRole]) -> str:
    """Which of the pipeline's covariates ``family`` reads, and why not the others."""
    names = ", ".join(c.column for c in covariates)
    if family in ("lightgbm", "lstm") or family not in FAMILIES:  # a LightGBM variant reads them all
        return f"used ({names})"
    if family == "prophet":
        future = [c.column for c in covariates if c.known == "future"]
        past = [c.column for c in covariates if c.known != "future"]
        used = f"used as category regressors ({', '.join(future)})" if future else "none used"
        return used + (
            f"; not used: {', '.join(past)} (past-only: Prophet needs a regressor's future)" if past else ""
        )
    return f"not used by {family}, a univariate method ({names})"


def _models_lines(config: TrainConfig, grid: DenseGrid, stats: TrainStats) -> list[str]:
    categories = len({str(c) for c in grid.category if c is not None})
    if config.model_type == "lightgbm":
        lines = [
            f"Categories:       {len(stats.rows) - 1} product categories",
            f"Models Trained:   {len(stats.rows) - 1} (per-category LightGBM) + 1 global fallback",
        ]
        if stats.refit_rows:
            lines.append(
                f"Refit:            every model again through {grid.date_at(grid.n_days - 1)} "
                f"({sum(stats.refit_rows.values()):,} rows) for the forecasts; the gate scores the "
                "validated fit"
            )
        earlier = {fit_of(name)[0] for name in stats.earlier_rows}
        if earlier:
            fits = "1 earlier fit's" if len(earlier) == 1 else f"{len(earlier)} earlier fits'"
            lines.append(
                f"Calibration:      {len(earlier) + 1} out-of-sample windows: the validated fit's and {fits} "
                f"({sum(stats.earlier_rows.values()):,} rows), which only calibrate"
            )
        return lines
    return [
        f"Categories:       {categories} product categories",
        f"Model family:     {config.model_type} ({_DESCRIPTIONS.get(config.model_type, '')})",
    ]


_DESCRIPTIONS = {
    "lstm": "one PyTorch LSTM pooled over categories, category embeddings",
    "prophet": "Prophet per category, disaggregated to products by recent share",
    "autoets": "statsforecast AutoETS per series, refitted at each origin",
    "seasonal_naive": "statsforecast SeasonalNaive per series",
    "croston_sba": "statsforecast CrostonSBA per series, for intermittent demand",
}
