"""Train, validate and forecast: the library calls behind ``matih train | evaluate | forecast``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from matih.exceptions import TrainingError, ValidationGateError
from matih.forecast import metrics as M
from matih.forecast.config import GateConfig, TrainConfig
from matih.forecast.features import FeatureContext
from matih.forecast.fitters import fitter_for, ray_address
from matih.forecast.grid import DenseGrid, load_grid
from matih.forecast.model import FALLBACK, Forecast, ForecastModel
from matih.forecast.registry import CHAMPION, RegisteredForecaster, Registry
from matih.forecast.train import Progress, TrainStats, fit_forecaster
from matih.warehouse import Warehouse, warehouse_of
from matih.workspace import Workspace

if TYPE_CHECKING:
    from matih.specs import PipelineSpec

log = logging.getLogger(__name__)
FORECAST_TABLE = "analytics.forecasts.demand_14d"
PRODUCTS_TABLE = "postgresql.shopify.products"


def configs_from_pipeline(
    workspace: Workspace, pipeline_id: str | None = None, *, n_estimators: int | None = None
) -> tuple[TrainConfig, GateConfig, str | None]:
    """Training and gate settings from the workspace's pipeline (the first ``ray_train`` and
    ``model_evaluate`` tasks), or defaults when the workspace has no pipeline."""
    from matih.specs import PipelineSpec, load_spec

    for path in workspace.spec_files("pipelines"):
        spec = load_spec(path)
        assert isinstance(spec, PipelineSpec)
        if pipeline_id and spec.pipeline_id != pipeline_id:
            continue
        return configs_from_spec(workspace, spec, n_estimators=n_estimators, file=path.name)
    if pipeline_id:
        raise TrainingError(f"no pipeline {pipeline_id!r} in {workspace.root / 'pipelines'}")
    return TrainConfig(n_estimators=n_estimators or 500), GateConfig(), _deployment_output(workspace)


def configs_from_spec(
    workspace: Workspace, spec: PipelineSpec, *, n_estimators: int | None = None, file: str | None = None
) -> tuple[TrainConfig, GateConfig, str | None]:
    """Training settings, gate and batch output table of one pipeline spec (defaults where a task is
    missing)."""
    train_task = next((t for t in spec.tasks if t.type == "ray_train"), None)
    gate_task = next((t for t in spec.tasks if t.type == "model_evaluate"), None)
    batch_task = next((t for t in spec.tasks if t.type == "batch_inference"), None)
    train = (
        TrainConfig.from_task(train_task.config.model_dump(exclude_unset=True))
        if train_task
        else TrainConfig()
    )
    hp = train_task.config.hyperparameters if train_task else None
    if hp is not None and hp.feature_columns:
        raise TrainingError(
            f"{file or spec.pipeline_id}: hyperparameters.feature_columns is not supported yet: MATIH "
            "derives its features from the target, price and calendar; remove the field"
        )
    gate = (
        GateConfig.from_task(gate_task.config.model_dump(exclude_unset=True)) if gate_task else GateConfig()
    )
    output = batch_task.config.output_table if batch_task else _deployment_output(workspace)
    if n_estimators:
        train = dataclasses.replace(train, n_estimators=n_estimators)
    return train, gate, str(output) if output else None


def _deployment_output(workspace: Workspace) -> str | None:
    """``batch_inference.output_table`` of the first deployment with batch inference enabled."""
    from matih.specs import DeploymentSpec, load_spec

    for path in workspace.spec_files("deployments"):
        spec = load_spec(path)
        if isinstance(spec, DeploymentSpec) and spec.batch_inference and spec.batch_inference.enabled:
            return str(spec.batch_inference.output_table)
    return None


# -- training ----------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    forecaster: RegisteredForecaster
    stats: TrainStats
    summary: str
    seconds: float
    grid_days: int
    series: int
    gap_warning: str | None


def load_features(workspace: Workspace, config: TrainConfig, *, report_gaps: bool = True) -> FeatureContext:
    """The dataset as a dense grid with its feature context, shared by training, evaluation and
    forecasting when they run in one process. ``report_gaps`` logs how sparse the series are (training
    wants to know; a forecast does not)."""
    grid = load_grid(warehouse_of(workspace), config.dataset, config.roles)
    if report_gaps and grid.gaps and grid.gaps.warning():
        log.warning(grid.gaps.warning())
    return FeatureContext.build(grid)


def train(
    workspace: Workspace,
    config: TrainConfig,
    *,
    progress: Progress | None = None,
    features: FeatureContext | None = None,
) -> TrainResult:
    """Fit, then log and register in MLflow; ``features`` skips re-reading the dataset."""
    started = time.perf_counter()
    ctx = features or load_features(workspace, config)
    grid = ctx.grid
    address = ray_address(workspace.settings().ray.address)
    model, stats = fit_forecaster(ctx, config, progress=progress, fitter=fitter_for(config, address))
    seconds = time.perf_counter() - started
    summary = training_summary(config, grid, stats, seconds)
    params: dict[str, Any] = {
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
    }
    metrics = {
        "train_rows": float(stats.total_rows),
        "train_seconds": seconds,
        "categories": float(len(model.boosters)),
    }
    metrics.update({f"calibration_mape.{_key(k)}": v for k, v in stats.calibration_mape.items()})
    registered = Registry(workspace).log_training(
        model,
        experiment=config.experiment,
        fallback_name=config.fallback_name,
        params=params,
        metrics=metrics,
        summary=summary,
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


def _key(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)


def training_summary(config: TrainConfig, grid: DenseGrid, stats: TrainStats, seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    lines = [
        f"Training Summary: {config.experiment}",
        "─" * 48,
        f"Training Date:    {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC",
        f"Duration:         {minutes}m {secs:02d}s",
        f"Workers:          {stats.where}"
        + (
            ""
            if stats.where.startswith("Ray")
            else f" (ray_config's {config.ray_workers} workers need ray.address)"
        ),
        f"Trainer:          MATIH built-in ({config.training_script or 'no training_script'} "
        "is not executed)",
        f"Categories:       {len(stats.rows) - 1} product categories",
        f"Models Trained:   {len(stats.rows) - 1} (per-category LightGBM) + 1 global fallback",
        f"Total Samples:    {stats.total_rows:,} rows (dense daily grid: {len(grid.series):,} series x "
        f"{grid.n_days} days)",
    ]
    return "\n".join(lines)


# -- evaluation --------------------------------------------------------------------------------------
@dataclass
class GroupMetrics:
    name: str
    mape: float
    rmse: float
    bias: float
    coverage: float
    actual_units: float
    status: str = ""


@dataclass
class EvaluationReport:
    version: int
    label: str
    holdout_start: str
    holdout_end: str
    per_category: list[GroupMetrics]
    overall: GroupMetrics
    seasonal_naive_mape: float
    noise_floor_mape: float | None
    forecastable_floor_mape: float | None
    passed: bool
    promoted: bool
    reasons: list[str] = field(default_factory=list)
    rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_version": self.label,
            "holdout": [self.holdout_start, self.holdout_end],
            "overall_mape": self.overall.mape,
            "overall_rmse": self.overall.rmse,
            "overall_bias": self.overall.bias,
            "interval_coverage": self.overall.coverage,
            "seasonal_naive_mape": self.seasonal_naive_mape,
            "noise_floor_mape": self.noise_floor_mape,
            "forecastable_floor_mape": self.forecastable_floor_mape,
            "passed": self.passed,
            "promoted": self.promoted,
            "reasons": self.reasons,
            "rows": self.rows,
            "per_category": [
                {
                    "name": g.name,
                    "mape": g.mape,
                    "rmse": g.rmse,
                    "bias": g.bias,
                    "coverage": g.coverage,
                    "status": g.status,
                }
                for g in self.per_category
            ],
        }


def report_from_dict(raw: dict[str, Any]) -> EvaluationReport:
    """The report :meth:`EvaluationReport.to_dict` wrote (as a pipeline task returns it)."""

    def group(name: str, g: dict[str, Any]) -> GroupMetrics:
        return GroupMetrics(name, g["mape"], g["rmse"], g["bias"], g["coverage"], 0.0, g.get("status", ""))

    overall = {
        "mape": raw["overall_mape"],
        "rmse": raw["overall_rmse"],
        "bias": raw["overall_bias"],
        "coverage": raw["interval_coverage"],
    }
    return EvaluationReport(
        version=int(str(raw["model_version"]).lstrip("v")),
        label=raw["model_version"],
        holdout_start=raw["holdout"][0],
        holdout_end=raw["holdout"][1],
        per_category=[group(g["name"], g) for g in raw["per_category"]],
        overall=group("Overall", overall),
        seasonal_naive_mape=raw["seasonal_naive_mape"],
        noise_floor_mape=raw["noise_floor_mape"],
        forecastable_floor_mape=raw["forecastable_floor_mape"],
        passed=raw["passed"],
        promoted=raw["promoted"],
        reasons=list(raw["reasons"]),
        rows=int(raw.get("rows", 0)),
    )


def _group(name: str, y: np.ndarray, fc: Forecast, rows: np.ndarray, gate: GateConfig) -> GroupMetrics:
    g = GroupMetrics(
        name,
        M.mape(y[rows], fc.predicted[rows]),
        M.rmse(y[rows], fc.predicted[rows]),
        M.bias(y[rows], fc.predicted[rows]),
        M.coverage(y[rows], fc.lower[rows], fc.upper[rows]),
        float(y[rows].sum()),
    )
    ok = g.mape <= gate.mape_max and gate.bias_range[0] <= g.bias <= gate.bias_range[1]
    g.status = "PASS" if ok else "FAIL"
    return g


def evaluate(
    workspace: Workspace,
    config: TrainConfig,
    gate: GateConfig,
    *,
    version: int | None = None,
    promote: bool = True,
    features: FeatureContext | None = None,
) -> EvaluationReport:
    """Score a registered version on the last ``holdout_days`` (zero-sales days included) and gate it."""
    registry = Registry(workspace)
    version = version or registry.latest_version(config.experiment)
    model = registry.load(config.experiment, version)
    if gate.holdout_days > model.horizon:
        raise TrainingError(
            f"holdout_split covers {gate.holdout_days} days but the model forecasts {model.horizon}; use "
            f"holdout_split 'last_{model.horizon}_days' or raise forecast_horizon"
        )
    ctx = features or load_features(workspace, config)
    grid = ctx.grid
    origin = grid.n_days - 1 - gate.holdout_days
    fc = model.predict(ctx, origin, horizon=gate.holdout_days)
    target = origin + fc.horizon
    y = np.nan_to_num(grid.Y[fc.series_index, target]).astype(np.float64)
    cats = np.asarray(grid.category, dtype=object)[fc.series_index].astype(str)
    per_cat = [_group(c, y, fc, cats == c, gate) for c in sorted(set(cats))]
    overall = _group("Overall", y, fc, np.ones(len(y), dtype=bool), gate)
    same_weekday = target - 7 * ((fc.horizon + 6) // 7)
    naive = np.nan_to_num(grid.Y[fc.series_index, same_weekday])
    floor, forecastable = _noise_floor(workspace, grid, fc.series_index, target, y)
    reasons = []
    if overall.mape > gate.mape_max:
        reasons.append(f"overall MAPE {overall.mape:.1%} above the {gate.mape_max:.0%} threshold")
    if not gate.bias_range[0] <= overall.bias <= gate.bias_range[1]:
        reasons.append(f"overall bias {overall.bias:+.3f} outside {list(gate.bias_range)}")
    if gate.coverage_min is not None and overall.coverage < gate.coverage_min:
        reasons.append(f"interval coverage {overall.coverage:.0%} below {gate.coverage_min:.0%}")
    passed = not reasons
    fallback_name = config.fallback_name
    registered = RegisteredForecaster(
        config.experiment,
        version,
        fallback_name,
        registry.fallback_version_of(config.experiment, version, fallback_name),
        registry.run_id(config.experiment, version),
    )
    registry.tag_version(
        config.experiment,
        version,
        {
            "validation_status": "passed" if passed else "failed",
            "holdout_mape": f"{overall.mape:.4f}",
            "holdout_bias": f"{overall.bias:.4f}",
        },
    )
    registry.log_metrics(
        registered.run_id,
        {
            "holdout_mape": overall.mape,
            "holdout_rmse": overall.rmse,
            "holdout_bias": overall.bias,
            "holdout_coverage": overall.coverage,
            # the interval bounds are quantile forecasts: score them as such
            "holdout_pinball_lower": M.pinball(y, fc.lower, (1 - model.level) / 2),
            "holdout_pinball_upper": M.pinball(y, fc.upper, (1 + model.level) / 2),
            "seasonal_naive_mape": M.mape(y, naive),
            **({"noise_floor_mape": floor} if floor is not None else {}),
            **{f"holdout_mape.{_key(g.name)}": g.mape for g in per_cat},
        },
    )
    promoted = False
    if passed and promote:
        registry.promote(registered)
        promoted = True
    report = EvaluationReport(
        version=version,
        label=f"v{version}",
        holdout_start=str(grid.start + np.timedelta64(origin + 1, "D")),
        holdout_end=str(grid.start + np.timedelta64(origin + gate.holdout_days, "D")),
        per_category=per_cat,
        overall=overall,
        seasonal_naive_mape=M.mape(y, naive),
        noise_floor_mape=floor,
        forecastable_floor_mape=forecastable,
        passed=passed,
        promoted=promoted,
        reasons=reasons,
        rows=len(y),
    )
    return report


def enforce_gate(report: EvaluationReport, gate: GateConfig) -> None:
    if not report.passed and gate.fail_on_threshold_breach:
        raise ValidationGateError(
            f"model {report.label} failed validation ({'; '.join(report.reasons)}); it stays registered but "
            "is not promoted, and the current champion keeps serving"
        )


def _noise_floor(
    workspace: Workspace, grid: DenseGrid, series: np.ndarray, target: np.ndarray, y: np.ndarray
) -> tuple[float | None, float | None]:
    """MAPE of the simulator's truth on the holdout, when the data came from the sandbox.

    The noise floor forecasts the true expected units (it knows future promotions and stock-outs); the
    forecastable floor forecasts the demand without promotion uplift or stock-outs, which is the best a
    forecaster that cannot see planned promotions or future stock-outs could hope for.
    """
    path = workspace.sandbox_dir / "world.duckdb"
    if not path.exists():
        return None, None
    import duckdb

    lo = grid.start + np.timedelta64(int(target.min()), "D")
    with duckdb.connect(str(path), read_only=True) as con:
        truth = con.execute(
            "SELECT p.product_id AS p, t.date, t.expected_units, t.baseline_demand "
            "FROM truth.expected_demand t JOIN truth.products p USING (product_idx) WHERE t.date >= ?",
            [str(lo)],
        ).to_arrow_table()
    if truth.num_rows == 0:
        return None, None
    index = {sid: i for i, sid in enumerate(grid.series)}
    p = np.array([index.get(s, -1) for s in truth.column("p").to_pylist()], dtype=np.int64)
    d = (truth.column("date").to_numpy().astype("datetime64[D]") - grid.start).astype(np.int64)
    stride = grid.n_days + 400
    key = p * stride + d
    order = np.argsort(key)
    want = series.astype(np.int64) * stride + target
    pos = np.clip(np.searchsorted(key[order], want), 0, len(order) - 1)
    hit = key[order][pos] == want

    def column(name: str) -> np.ndarray:
        return np.where(hit, truth.column(name).to_numpy()[order][pos], 0.0)

    return M.mape(y, column("expected_units")), M.mape(y, column("baseline_demand"))


# -- batch forecasts ---------------------------------------------------------------------------------
@dataclass
class BatchResult:
    table: str
    rows: int
    products: int
    model_version: str
    origin: str
    seconds: float
    by_model: dict[str, int]
    routing: dict[str, Any] = field(default_factory=dict)
    """Which model family answered which category (see :mod:`matih.forecast.routing`)."""


def forecast(
    workspace: Workspace,
    config: TrainConfig,
    *,
    output_table: str | None = None,
    version: int | str = CHAMPION,
    features: FeatureContext | None = None,
) -> BatchResult:
    """Forecast every series active at the last day of the dataset, ``horizon`` days ahead, with the
    champion (or ``version``), and replace ``output_table`` atomically."""
    table, result = predict_batch(
        workspace, config, output_table=output_table, version=version, features=features
    )
    started = time.perf_counter()
    warehouse_of(workspace).write_arrow(result.table, table)
    result.seconds += time.perf_counter() - started
    return result


def predict_batch(
    workspace: Workspace,
    config: TrainConfig,
    *,
    output_table: str | None = None,
    version: int | str = CHAMPION,
    features: FeatureContext | None = None,
) -> tuple[pa.Table, BatchResult]:
    """The forecasts :func:`forecast` writes, without writing them (a rollout checks them first)."""
    from matih.forecast.routing import predict_routed, resolve_routing

    started = time.perf_counter()
    registry = Registry(workspace)
    number = registry.resolve(config.experiment, version)
    model = registry.load(config.experiment, number)
    wh = warehouse_of(workspace)
    ctx = features or load_features(workspace, config, report_gaps=False)
    grid = ctx.grid
    origin = grid.n_days - 1
    categories = sorted({str(c) for c in grid.category if c is not None})
    routing = resolve_routing(workspace, config, categories, number, registry)
    models = {routing.default: model}
    for family, family_version in routing.versions.items():
        if family != routing.default:
            models[family] = registry.load(f"{config.experiment}-{family}", family_version)
    fc, families = predict_routed(models, routing, ctx, origin)
    labels = {f: f"v{v}" if f == routing.default else f"{f}/v{v}" for f, v in routing.versions.items()}
    table = forecast_table(
        grid,
        fc,
        model,
        f"v{number}",
        origin,
        names=_product_names(wh),
        families=(families, routing.default, labels),
    )
    by_model = {
        str(k): int(v)
        for k, v in zip(
            *np.unique(np.where(fc.model == FALLBACK, FALLBACK, "category"), return_counts=True), strict=True
        )
    }
    return table, BatchResult(
        output_table or FORECAST_TABLE,
        table.num_rows,
        len(np.unique(fc.series_index)),
        f"v{number}",
        str(grid.start + np.timedelta64(origin, "D")),
        time.perf_counter() - started,
        by_model,
        routing.summary(),
    )


def forecast_table(
    grid: DenseGrid,
    fc: Forecast,
    model: ForecastModel,
    label: str,
    origin: int,
    names: dict[str, str] | None = None,
    families: tuple[np.ndarray, str, dict[str, str]] | None = None,
) -> pa.Table:
    """The batch table's rows. ``families`` (each row's family, the default family, each family's version
    label) marks rows another family answered: their ``model`` reads ``<family>:category:<name>`` and
    their ``model_version`` ``<family>/v<n>``."""
    ids = grid.series[fc.series_index]
    # names are looked up per series (45K), not per row (630K)
    per_series = np.asarray([names.get(s) for s in grid.series] if names else [None] * len(grid.series))
    name_arr = per_series[fc.series_index]
    days = grid.start + (origin + fc.horizon).astype("timedelta64[D]")
    answered = np.where(fc.model == FALLBACK, "fallback", "category:" + fc.model.astype(str)).astype(object)
    versions = np.full(len(ids), label, dtype=object)
    if families is not None:
        family, default, labels = families
        other = family != default
        if other.any():
            answered[other] = family[other] + ":" + answered[other]
            versions[other] = np.array([labels[f] for f in family[other]], dtype=object)
    return pa.table(
        {
            "product_id": ids,
            "product_name": pa.array(name_arr, pa.string()),
            "category": pa.array(np.asarray(grid.category, dtype=object)[fc.series_index], pa.string()),
            "forecast_date": pa.array(days, pa.date32()),
            "horizon_days": pa.array(fc.horizon.astype(np.int16)),
            "predicted_units": pa.array(fc.predicted),
            "prediction_interval_lower": pa.array(fc.lower),
            "prediction_interval_upper": pa.array(fc.upper),
            "model_version": pa.array(versions, pa.string()),
            "model": pa.array(answered, pa.string()),
            "forecast_origin": pa.array(
                np.full(len(ids), grid.start + np.timedelta64(origin, "D")), pa.date32()
            ),
            "interval_level": pa.array(np.full(len(ids), model.level)),
        }
    )


def _product_names(wh: Warehouse) -> dict[str, str] | None:
    if not wh.table_exists(PRODUCTS_TABLE):
        return None
    t = wh.query(f"SELECT product_id::VARCHAR AS product_id, title FROM {PRODUCTS_TABLE}")
    return dict(zip(t.column("product_id").to_pylist(), t.column("title").to_pylist(), strict=True))
