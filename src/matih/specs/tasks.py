"""Pipeline task models: one config model per task ``type``, joined in the :data:`Task` union."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, NonNegativeFloat, PositiveInt, field_validator, model_validator

from matih.specs.common import Duration, Identifier, SpecModel, TableName, matching, raise_spec_errors

#: the most out-of-sample windows ``calibration_windows`` may ask for (each one more fit)
MAX_CALIBRATION_WINDOWS = 4

__all__ = [
    "QUERY_REF_PREFIX",
    "TASK_TYPES",
    "BatchInferenceConfig",
    "BatchInferenceTask",
    "EvaluationThresholds",
    "Hyperparameters",
    "IngestionTriggerConfig",
    "IngestionTriggerTask",
    "Metric",
    "ModelEvaluateConfig",
    "ModelEvaluateTask",
    "QualityCheckConfig",
    "QualityCheckTask",
    "RayConfig",
    "RayServeUpdateConfig",
    "RayServeUpdateTask",
    "RayTrainConfig",
    "RayTrainTask",
    "RetryPolicy",
    "SqlExecuteConfig",
    "SqlExecuteTask",
    "Task",
]

QUERY_REF_PREFIX = "analytics.queries."
Metric = Literal["mape", "rmse", "bias", "coverage", "wql"]


class RetryPolicy(SpecModel):
    """How a failed task is retried (exponential backoff)."""

    max_attempts: int = Field(default=3, ge=1)
    """Total attempts including the first one."""
    backoff_coefficient: float = Field(default=2.0, ge=1)
    """Multiplier applied to the interval after each failure."""
    initial_interval: Duration = Field(default_factory=lambda: Duration.parse("60s"))
    """Wait before the first retry, e.g. ``"60s"``."""


# ------------------------------------------------------------------------------------------------ configs


class IngestionTriggerConfig(SpecModel):
    """Sync one or more sources."""

    connections: list[str] = Field(min_length=1)
    """Source names (``sources/<name>.json`` stems) to sync."""
    wait_for_completion: bool = True
    """Block downstream tasks until every sync finished."""
    timeout: Duration | None = None
    """Give up on the syncs after this long, e.g. ``"30m"``."""


class IncrementalConfig(SpecModel):
    """Refresh only the days whose inputs changed (see :mod:`matih.query.incremental`)."""

    date_column: Identifier
    """The result's date column, e.g. ``"sale_date"``: rows are replaced by day."""
    lookback_days: Annotated[int, Field(ge=0, le=3660)]
    """Days of history read before the first changed day; at least the widest window's reach."""


JoinBuildSetting = Literal["auto", "estimated", "as_written"]
"""``sql_execute``'s ``join_build_side`` (:mod:`matih.query.join_sides` acts on it)."""


class SqlExecuteConfig(SpecModel):
    """Run a workspace query and materialise its result."""

    query_ref: Annotated[
        str,
        matching(
            r"analytics\.queries\.[A-Za-z0-9_-]+", "'analytics.queries.<name>' naming queries/<name>.sql"
        ),
    ]
    """``"analytics.queries.<name>"``, the query in ``queries/<name>.sql``."""
    target_table: TableName
    """Table the result is written to, e.g. ``"analytics.derived.demand_features"``."""
    write_mode: Literal["overwrite", "append"] = "overwrite"
    """Replace the table or append to it."""
    incremental: IncrementalConfig | None = None
    """Rebuild only the changed days (exactly what a full rebuild gives); a full rebuild when omitted."""
    join_build_side: JoinBuildSetting = "auto"
    """Which side of each hash join the engine builds its table from: the side it estimates smaller
    (``"estimated"``), the right side as the SQL writes it (``"as_written"``: the dimension of
    ``fact LEFT JOIN dimension``), or ``"auto"``: the engine's choice until a run's profile shows it
    built a join on the larger side by misjudging its size, then the written side if that run is no
    slower (docs/orchestration.md, "Join build side"). The rows are the same either way."""

    @model_validator(mode="after")
    def _incremental_overwrites(self) -> SqlExecuteConfig:
        if self.incremental is not None and self.write_mode == "append":
            raise ValueError(
                "incremental replaces the changed days of the table; it cannot be combined with "
                "write_mode 'append' (remove one of them)"
            )
        return self

    @property
    def query_name(self) -> str:
        """The query file stem: ``"analytics.queries.demand_features"`` -> ``"demand_features"``."""
        return self.query_ref.removeprefix(QUERY_REF_PREFIX)


class QualityCheckConfig(SpecModel):
    """Run an expectation suite against a table."""

    suite: str = Field(min_length=1)
    """``suite_name`` of a ``quality/*.json`` document."""
    table: TableName | None = None
    """Table to check; defaults to the table the suite was written for."""


class RayConfig(SpecModel):
    """Compute resources for training."""

    num_workers: PositiveInt = 1
    """Parallel training workers."""
    use_gpu: bool = False
    """Request a GPU per worker."""
    resources_per_worker: dict[str, NonNegativeFloat] = Field(default_factory=dict)
    """Resources per worker, e.g. ``{"CPU": 2, "memory": 4294967296}`` (memory in bytes)."""
    data_shards: PositiveInt | None = None
    """MATIH's extension: read and train the dataset in this many shards of whole categories, each a task
    that reads only its own rows (for catalogues one process cannot hold; the LightGBM family)."""


class Covariate(SpecModel):
    """A column of the training table that drives demand, and when its values are known."""

    column: str = Field(min_length=1)
    """The column's name in the training table (and in ``planned_values``)."""
    kind: Literal["price", "promotion", "advertising", "event", "other"] = "other"
    """What it is: a ``price`` enters as its level against its own recent mean; the others as they are."""
    known: Literal["future", "past"] = "past"
    """``future``: its values for the forecast periods are known in advance (a planned price, a booked
    promotion) and come from ``planned_values``; ``past``: only its history is known, so it enters at the
    forecast origin."""


class Hyperparameters(SpecModel):
    """Model settings and the column roles of the training table."""

    model_type: str = Field(min_length=1)
    """Model family, e.g. ``"lightgbm"``."""
    forecast_horizon: PositiveInt
    """Periods ahead to forecast (days for daily data; see ``frequency``)."""
    n_estimators: PositiveInt = 500
    """Boosting rounds."""
    learning_rate: float = Field(default=0.05, gt=0, le=1)
    """Boosting learning rate."""
    category_column: str | None = None
    """Column that splits products into categories."""
    per_category_models: bool = False
    """Train one model per category (needs ``category_column``) plus a global fallback."""
    series_column: str = "product_id"
    """Column identifying one time series."""
    date_column: str = "sale_date"
    """Date column of the training table."""
    target_column: str = "units_sold"
    """Column to forecast."""
    price_column: str | None = None
    """Column with the price paid (the seed's ``avg_selling_price`` when left out): its level against
    its recent mean at the forecast origin is a feature."""
    discount_column: str | None = None
    """Column with the discount or deal (the seed's ``avg_discount_pct``): its value at the origin is a
    feature."""
    static_columns: list[str] | None = None
    """Columns that describe a series and do not change (the seed's ``seasonal_flag``, ``subcategory``)."""
    closed_weekdays: list[Literal["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]] = Field(
        default_factory=list
    )
    """Weekdays the business does not trade (daily data): neither training zeros nor forecast rows."""
    closures_table: TableName | None = None
    """Table of further closed dates (a ``date`` column: holidays, stocktakes), daily data only."""
    covariates: list[Covariate] = Field(default_factory=list)
    """The user's drivers of demand: prices, promotions, advertising, events."""
    planned_values: TableName | None = None
    """Table of the known-future covariates' planned values, keyed by the series and date columns, for
    the periods a forecast covers (training and back-tests read them from the training table)."""
    missing_future: Literal["error", "last_value", "zero"] = "error"
    """A known-future covariate without a planned value for a forecast period: refuse (naming the series
    and dates), carry its last value forward, or take 0 (no promotion)."""
    feature_columns: list[str] | None = None
    """Explicit feature list; by default every other numeric column."""
    min_history_days: PositiveInt = 30
    """Series with less history are served by the fallback model."""
    interval_level: float = Field(default=0.8, gt=0, lt=1)
    """Central prediction-interval coverage, e.g. 0.8 for the 10th-90th percentile band."""
    frequency: (
        Annotated[
            str,
            matching(
                r"(?i)(D|W|W-(MON|TUE|WED|THU|FRI|SAT|SUN)|MS|ME|M)",
                "'D', 'W-<weekday>' (W-MON ... W-SUN; 'W' is W-SUN), 'MS' or 'ME'",
            ),
        ]
        | None
    ) = None
    """How often the series are observed: ``D``, ``W-<weekday>`` (weeks dated by their last day) or
    ``MS``/``ME`` (months dated by their first/last day). Inferred from the dates when left out, and
    checked against them; ``forecast_horizon`` and the holdout count in these periods."""
    negative_values: Literal["keep", "clip", "error"] = "clip"
    """What a negative target (returns beyond sales) becomes: ``clip`` counts it as 0 sold, ``keep``
    forecasts net units (forecasts may then be negative), ``error`` refuses the dataset. The training
    summary says how many there were."""
    missing_rows: Literal["zero", "unknown"] = "zero"
    """What a (series, period) without a row in the dataset means. ``zero``: it sold nothing (a table
    of sales lists only the periods that sold). ``unknown``: it was not recorded (a store's week missing
    from a scanner panel): neither a training target nor a zero in the features, and not scored."""
    objective: Literal["auto", "poisson", "tweedie", "l2"] = "auto"
    """LightGBM's loss. ``auto`` picks per model: Tweedie where most series are intermittent (they sell
    in fewer than 1 of 1.32 periods), Poisson otherwise, squared error (``l2``) for net units."""
    refit: bool = False
    """Fit the models again on every period through the last one before they forecast (LightGBM
    family). The validated fit, trained up to the calibration window, is what the gate scores on the
    unseen holdout and what the intervals are calibrated from; the refit adds two horizons of newer
    targets and doubles the tree work. It follows a shift in demand weeks sooner; on the real data
    sets it scored worse than the validated fit (benchmarks/RESULTS.md, "Refit"), so it is off unless
    asked for."""
    calibration_windows: int = Field(default=2, ge=1, le=MAX_CALIBRATION_WINDOWS)
    """Out-of-sample windows the intervals are calibrated on (LightGBM family). 1: the window between the
    validated fit's training targets and the holdout, forecast 0 to 2/3 of a horizon after its newest
    target. Each one more adds an earlier fit, trained one horizon before the window it forecasts, as the
    validated fit is one horizon before the holdout: its errors are as stale as the forecasts the gate
    scores. Each costs one more fit of every model. On orange juice one window's 80% band covered 72-75%
    of the holdout, two windows' 78-80% (benchmarks/RESULTS.md). The local families calibrate on one
    (asking one of them for more is an error)."""
    quantiles: list[Annotated[float, Field(gt=0, lt=1)]] = Field(default_factory=list)
    """Quantile levels each forecast row carries besides the interval, e.g. ``[0.1, 0.5, 0.9]``: columns
    ``p10``, ``p50``, ``p90`` of the forecast table, for inventory planning."""

    @field_validator("quantiles")
    @classmethod
    def _distinct_levels(cls, value: list[float]) -> list[float]:
        if len({quantile_column(q) for q in value}) != len(value):
            raise ValueError(f"quantile levels must be distinct to 3 decimals, got {value}")
        return sorted(value)

    @model_validator(mode="after")
    def _objective_takes_targets(self) -> Hyperparameters:
        if self.negative_values == "keep" and self.objective in ("poisson", "tweedie"):
            raise_spec_errors(
                "Hyperparameters",
                [
                    (
                        ("objective",),
                        f"{self.objective} needs targets of at least 0, but negative_values is 'keep' "
                        "(net units): use objective 'l2' or 'auto', or negative_values 'clip'",
                    )
                ],
            )
        return self

    @model_validator(mode="after")
    def _refit_is_lightgbm_s(self) -> Hyperparameters:
        if self.refit and self.model_type != "lightgbm":
            raise_spec_errors(
                "Hyperparameters",
                [
                    (
                        ("refit",),
                        f"refit fits the LightGBM models again through the last period; model_type "
                        f"{self.model_type!r} has no refit (the statistical families already fit at every "
                        "origin): remove refit or use model_type 'lightgbm'",
                    )
                ],
            )
        return self

    @model_validator(mode="after")
    def _earlier_windows_are_lightgbm_s(self) -> Hyperparameters:
        # the default (2) holds for every family; asking a local family for more than one window is an
        # error rather than a setting silently ignored
        asked = "calibration_windows" in self.model_fields_set and self.calibration_windows > 1
        if asked and self.model_type != "lightgbm":
            raise_spec_errors(
                "Hyperparameters",
                [
                    (
                        ("calibration_windows",),
                        f"earlier calibration windows come from earlier fits of the LightGBM models; "
                        f"model_type {self.model_type!r} calibrates on one window: remove "
                        "calibration_windows, set it to 1, or use model_type 'lightgbm'",
                    )
                ],
            )
        return self

    @model_validator(mode="after")
    def _category_needed(self) -> Hyperparameters:
        if self.per_category_models and not self.category_column:
            raise_spec_errors(
                "Hyperparameters",
                [
                    (
                        ("category_column",),
                        "per_category_models is true, so category_column must name a column",
                    )
                ],
            )
        return self


def quantile_column(q: float) -> str:
    """The forecast table's column for quantile level ``q``: ``p10`` for 0.1, ``p2_5`` for 0.025."""
    return "p" + f"{q * 100:.1f}".rstrip("0").rstrip(".").replace(".", "_")


class RayTrainConfig(SpecModel):
    """Train forecasting models."""

    training_script: str = Field(min_length=1)
    """Training entry point, e.g. ``"demand_forecast/train.py"``."""
    dataset: TableName
    """Training table."""
    ray_config: RayConfig = Field(default_factory=RayConfig)
    """Compute resources."""
    hyperparameters: Hyperparameters
    """Model settings."""
    mlflow_experiment: str = Field(min_length=1)
    """MLflow experiment (and registered model name) the runs are logged to."""


class EvaluationThresholds(SpecModel):
    """Limits a candidate model must meet to be promoted."""

    mape_max: float | None = Field(default=None, gt=0)
    """Highest acceptable MAPE, e.g. 0.15."""
    bias_range: tuple[float, float] | None = None
    """Accepted ``[low, high]`` relative bias, e.g. ``[-0.05, 0.05]``."""
    coverage_min: float | None = Field(default=None, gt=0, le=1)
    """Lowest acceptable prediction-interval coverage."""

    @field_validator("bias_range")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and value[0] > value[1]:
            raise ValueError(f"expected [low, high] with low <= high, got [{value[0]}, {value[1]}]")
        return value


_HOLDOUT_RE = re.compile(r"last_([1-9][0-9]*)_(days|weeks|months)")
_HOLDOUT_DAYS = {"days": 1, "weeks": 7}


class ModelEvaluateConfig(SpecModel):
    """Back-test the candidate model and gate promotion."""

    validation_window: Duration
    """Length of the back-test window, e.g. ``"14d"``."""
    metrics: list[Metric] = Field(min_length=1)
    """Metrics to compute."""
    thresholds: EvaluationThresholds = Field(default_factory=EvaluationThresholds)
    """Promotion limits."""
    fail_on_threshold_breach: bool = True
    """Fail the task (and skip deployment) when a threshold is breached."""
    holdout_split: Annotated[
        str,
        matching(
            _HOLDOUT_RE.pattern,
            "'last_<N>_days', 'last_<N>_weeks' or 'last_<N>_months', like 'last_14_days' or 'last_13_weeks'",
        ),
    ] = "last_14_days"
    """Hold-out periods, written ``"last_<N>_days"``, ``"last_<N>_weeks"`` or ``"last_<N>_months"``."""

    @property
    def holdout(self) -> tuple[int, str]:
        """(N, unit) of ``"last_N_<unit>"``; the unit is ``days``, ``weeks`` or ``months``."""
        match = _HOLDOUT_RE.fullmatch(self.holdout_split)
        assert match is not None  # guaranteed by the field pattern
        return int(match.group(1)), match.group(2)

    @property
    def holdout_days(self) -> int:
        """N of ``"last_N_days"`` (weeks count 7 days; months about 30.4)."""
        n, unit = self.holdout
        return round(n * _HOLDOUT_DAYS.get(unit, 30.4375))

    @model_validator(mode="after")
    def _window_matches_holdout(self) -> ModelEvaluateConfig:
        window = self.validation_window
        n, unit = self.holdout
        days = window.total_seconds() / 86400
        # months vary in length: any window of 28 to 31 days a month agrees with them
        fits = 28 * n <= days <= 31 * n if unit == "months" else days == self.holdout_days
        if not fits:
            same = f"'{n}w'" if unit == "weeks" else f"'{self.holdout_days}d'"
            raise_spec_errors(
                "ModelEvaluateConfig",
                [
                    (
                        ("validation_window",),
                        f"validation_window {window.text!r} and holdout_split {self.holdout_split!r} "
                        f"disagree; use the same length (e.g. {same})",
                    )
                ],
            )
        return self

    @model_validator(mode="after")
    def _thresholds_have_metrics(self) -> ModelEvaluateConfig:
        needs = {"mape_max": "mape", "bias_range": "bias", "coverage_min": "coverage"}
        raise_spec_errors(
            "ModelEvaluateConfig",
            [
                (("thresholds", field), f"thresholds.{field} needs {metric!r} in metrics")
                for field, metric in needs.items()
                if getattr(self.thresholds, field) is not None and metric not in self.metrics
            ],
        )
        return self


class RayServeUpdateConfig(SpecModel):
    """Roll the validated model out to a serving deployment."""

    deployment_name: Identifier
    """``deployment_name`` of a ``deployments/*.json`` document."""
    model_source: str = Field(default="latest_validated", min_length=1)
    """Which model version to roll out, e.g. ``"latest_validated"``."""
    rollout_strategy: Literal["blue_green"] = "blue_green"
    """How traffic moves to the new version."""
    health_check_timeout: Duration = Field(default_factory=lambda: Duration.parse("5m"))
    """How long the new version may take to become healthy."""
    rollback_on_failure: bool = True
    """Return to the previous version when the health check fails."""


class BatchInferenceConfig(SpecModel):
    """Write forecasts for every series to a table."""

    deployment_name: Identifier | None = None
    """Deployment whose models are used; defaults to the pipeline's latest validated model."""
    output_table: TableName
    """Table the forecasts are written to."""


# -------------------------------------------------------------------------------------------------- tasks


class _TaskBase(SpecModel):
    task_id: Identifier
    """Unique id within the pipeline."""
    depends_on: list[str] = Field(default_factory=list)
    """Task ids that must succeed first."""
    retry_policy: RetryPolicy | None = None
    """Retries on failure; none when omitted."""


class IngestionTriggerTask(_TaskBase):
    """Sync sources."""

    type: Literal["ingestion_trigger"]
    """Task type."""
    config: IngestionTriggerConfig
    """Task settings."""


class SqlExecuteTask(_TaskBase):
    """Materialise a query."""

    type: Literal["sql_execute"]
    """Task type."""
    config: SqlExecuteConfig
    """Task settings."""


class QualityCheckTask(_TaskBase):
    """Run an expectation suite."""

    type: Literal["quality_check"]
    """Task type."""
    config: QualityCheckConfig
    """Task settings."""


class RayTrainTask(_TaskBase):
    """Train models."""

    type: Literal["ray_train"]
    """Task type."""
    config: RayTrainConfig
    """Task settings."""


class ModelEvaluateTask(_TaskBase):
    """Gate the candidate model."""

    type: Literal["model_evaluate"]
    """Task type."""
    config: ModelEvaluateConfig
    """Task settings."""


class RayServeUpdateTask(_TaskBase):
    """Deploy the validated model."""

    type: Literal["ray_serve_update"]
    """Task type."""
    config: RayServeUpdateConfig
    """Task settings."""


class BatchInferenceTask(_TaskBase):
    """Write batch forecasts."""

    type: Literal["batch_inference"]
    """Task type."""
    config: BatchInferenceConfig
    """Task settings."""


class MonitorRunConfig(SpecModel):
    """Run production monitors (a MATIH extension: the seed schedules monitors in their own spec)."""

    monitor_name: Identifier | None = None
    """``monitor_name`` of a ``monitors/*.json`` document; every monitor spec when left out."""


class MonitorRunTask(_TaskBase):
    """Run the workspace's monitors (what a monitor's schedule runs)."""

    type: Literal["monitor_run"]
    """Task type."""
    config: MonitorRunConfig = Field(default_factory=MonitorRunConfig)
    """Task settings."""


class ExperimentRunConfig(SpecModel):
    """Run a model-family experiment (what the routing document's ``evaluation_schedule`` runs)."""

    experiment: Identifier
    """``experiment`` of an ``experiments/*.json`` document."""


class ExperimentRunTask(_TaskBase):
    """Compare the model families of an experiment document (``matih experiment run``)."""

    type: Literal["experiment_run"]
    """Task type."""
    config: ExperimentRunConfig
    """Task settings."""


Task = Annotated[
    IngestionTriggerTask
    | SqlExecuteTask
    | QualityCheckTask
    | RayTrainTask
    | ModelEvaluateTask
    | RayServeUpdateTask
    | BatchInferenceTask
    | MonitorRunTask
    | ExperimentRunTask,
    Field(discriminator="type"),
]
"""One pipeline task; ``type`` picks the config model."""

TASK_TYPES: tuple[str, ...] = (
    "ingestion_trigger",
    "sql_execute",
    "quality_check",
    "ray_train",
    "model_evaluate",
    "ray_serve_update",
    "batch_inference",
    "monitor_run",
    "experiment_run",
)
