"""Training and validation settings: what ``ray_train`` and ``model_evaluate`` tasks ask for, as plain
values the forecast package runs on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from matih.exceptions import TrainingError
from matih.forecast.frequency import Frequency
from matih.specs.experiment import MODEL_FAMILIES
from matih.specs.tasks import MAX_CALIBRATION_WINDOWS

if TYPE_CHECKING:
    from matih.specs.tasks import ModelEvaluateConfig


@dataclass(frozen=True)
class ColumnRoles:
    """Which dataset column plays which part. Defaults are the seed's names."""

    series_column: str = "product_id"
    date_column: str = "sale_date"
    target_column: str = "units_sold"
    category_column: str = "category"
    price_column: str = "avg_selling_price"
    discount_column: str = "avg_discount_pct"
    static_columns: tuple[str, ...] = ("seasonal_flag", "subcategory")


@dataclass(frozen=True)
class CovariateRole:
    """A driver of demand (``hyperparameters.covariates``): its column, kind and when it is known."""

    column: str
    kind: str = "other"
    """price, promotion, advertising, event or other."""
    known: str = "past"
    """``future`` (planned values exist for the forecast periods) or ``past``."""


#: the model families MATIH trains (:mod:`matih.forecast.families`), the pipeline's own first
FAMILIES = MODEL_FAMILIES


@dataclass(frozen=True)
class TrainConfig:
    """What ``matih train`` does; mirrors the ``ray_train`` task's ``hyperparameters``."""

    dataset: str = "analytics.derived.demand_features"
    experiment: str = "demand-forecast-daily"
    fallback_name: str = "demand-forecast-global-fallback"
    model_type: str = "lightgbm"
    forecast_horizon: int = 14
    n_estimators: int = 500
    learning_rate: float = 0.05
    per_category_models: bool = True
    min_history_days: int = 30
    interval_level: float = 0.8
    roles: ColumnRoles = field(default_factory=ColumnRoles)
    #: cap on training rows per model; beyond it rows are drawn by their series' level ("level",
    #: matih.forecast.sampling) or uniformly ("uniform", the rule before 2026-12-04)
    max_rows_per_model: int = 100_000
    row_sampling: str = "level"
    #: days of targets used for training, counted back from the end of the training window
    train_days: int = 420
    num_threads: int = 0
    seed: int = 7
    #: the task's ray_config: parallel model fits and what each asks of a Ray cluster (used when a Ray
    #: address is configured; locally the fits run one after the other in this process)
    ray_workers: int = 1
    ray_resources: tuple[tuple[str, float], ...] = ()
    use_gpu: bool = False
    #: ray_config's data_shards: read and train the dataset in this many shards of categories, each a
    #: task of its own (matih.forecast.shards); 0 reads it whole in this process
    shards: int = 0
    #: reported, not executed: MATIH's trainer is built in
    training_script: str | None = None
    #: D, W-<weekday>, MS or ME; None infers it from the dataset's dates (matih.forecast.frequency)
    frequency: str | None = None
    #: what a negative target becomes: "clip" (0 sold), "keep" (net units), "error" (refuse the dataset)
    negative_values: str = "clip"
    #: what a (series, period) without a row means: "zero" (sold nothing) or "unknown" (not recorded)
    missing_rows: str = "zero"
    covariates: tuple[CovariateRole, ...] = ()
    #: weekdays without trading (MON .. SUN) and a table of further closed dates (daily data)
    closed_weekdays: tuple[str, ...] = ()
    closures_table: str | None = None
    #: table of planned values of the known-future covariates, keyed like the dataset
    planned_values: str | None = None
    #: a known-future covariate missing for a forecast period: "error", "last_value" or "zero"
    missing_future: str = "error"
    #: LightGBM's loss: "auto" (Poisson, or Tweedie for intermittent demand), "poisson", "tweedie", "l2"
    objective: str = "auto"
    #: quantile levels each forecast row carries as p10, p50 ... columns
    quantiles: tuple[float, ...] = ()
    #: fit the models again through the data's last period for production forecasts (LightGBM family;
    #: the gate still scores the validated fit on the holdout it never saw)
    refit: bool = False
    #: out-of-sample windows the intervals are calibrated on (LightGBM family): the validated fit's own,
    #: and one more per earlier fit, each forecasting the window before at a horizon's staleness
    calibration_windows: int = 2

    def __post_init__(self) -> None:
        if self.model_type not in FAMILIES:
            raise TrainingError(
                f"model_type {self.model_type!r} is not a model family MATIH trains; use one of "
                f"{', '.join(FAMILIES)}"
            )
        if self.forecast_horizon < 1:
            raise TrainingError(
                f"forecast_horizon must be a positive number of periods, got {self.forecast_horizon}"
            )
        if self.row_sampling not in ("level", "uniform"):
            raise TrainingError(f"row_sampling must be 'level' or 'uniform', got {self.row_sampling!r}")
        if self.missing_rows not in ("zero", "unknown"):
            raise TrainingError(f"missing_rows must be 'zero' or 'unknown', got {self.missing_rows!r}")
        if not 1 <= self.calibration_windows <= MAX_CALIBRATION_WINDOWS:
            raise TrainingError(
                f"calibration_windows must be 1 to {MAX_CALIBRATION_WINDOWS}, got {self.calibration_windows}"
            )
        if not 0.5 <= self.interval_level < 1:
            raise TrainingError(f"interval_level must be in [0.5, 1), got {self.interval_level}")

    @classmethod
    def from_task(cls, task_config: dict[str, Any], **overrides: Any) -> TrainConfig:
        """Build from a ``ray_train`` task's ``config`` dict (the seed's shape)."""
        hp = dict(task_config.get("hyperparameters", {}))
        role_names = [k for k in ColumnRoles.__dataclass_fields__ if k != "static_columns"]
        role_args: dict[str, Any] = {k: hp.pop(k) for k in role_names if k in hp}
        if "static_columns" in hp:
            role_args["static_columns"] = tuple(hp.pop("static_columns"))
        roles = ColumnRoles(**role_args)
        known = {
            k: hp[k]
            for k in (
                "model_type",
                "forecast_horizon",
                "n_estimators",
                "learning_rate",
                "per_category_models",
                "min_history_days",
                "interval_level",
                "frequency",
                "negative_values",
                "missing_rows",
                "planned_values",
                "missing_future",
                "objective",
                "refit",
                "calibration_windows",
            )
            if k in hp
        }
        if hp.get("quantiles"):
            known["quantiles"] = tuple(sorted(float(q) for q in hp["quantiles"]))
        kwargs: dict[str, Any] = {"roles": roles, **known}
        if hp.get("covariates"):
            kwargs["covariates"] = tuple(CovariateRole(**dict(c)) for c in hp["covariates"])
        if kwargs.get("planned_values") is not None:
            kwargs["planned_values"] = str(kwargs["planned_values"])
        if hp.get("closed_weekdays"):
            kwargs["closed_weekdays"] = tuple(hp["closed_weekdays"])
        if hp.get("closures_table"):
            kwargs["closures_table"] = str(hp["closures_table"])
        if "dataset" in task_config:
            kwargs["dataset"] = task_config["dataset"]
        if "mlflow_experiment" in task_config:
            kwargs["experiment"] = task_config["mlflow_experiment"]
        if "ray_config" in task_config:
            ray_config = task_config["ray_config"]
            kwargs["ray_workers"] = int(ray_config.get("num_workers", 1))
            kwargs["ray_resources"] = tuple(sorted(ray_config.get("resources_per_worker", {}).items()))
            kwargs["use_gpu"] = bool(ray_config.get("use_gpu", False))
            kwargs["shards"] = int(ray_config.get("data_shards") or 0)
        if "training_script" in task_config:
            kwargs["training_script"] = task_config["training_script"]
        kwargs.update(overrides)
        return cls(**kwargs)


@dataclass(frozen=True)
class GateConfig:
    """What ``matih evaluate`` checks; mirrors the ``model_evaluate`` task's config."""

    holdout_days: int = 14
    mape_max: float = 0.15
    #: a holdout in weeks or months as the spec wrote it, (N, "weeks" | "months"); None: holdout_days
    holdout: tuple[int, str] | None = None
    bias_range: tuple[float, float] = (-0.05, 0.05)
    #: optional floor on the prediction-interval coverage (an extension of the seed's thresholds)
    coverage_min: float | None = None
    fail_on_threshold_breach: bool = True

    @classmethod
    def from_spec(cls, config: ModelEvaluateConfig) -> GateConfig:
        """Build from a validated ``model_evaluate`` task config; thresholds it leaves out keep the
        defaults above."""
        defaults = cls()
        thresholds = config.thresholds
        lo, hi = thresholds.bias_range if thresholds.bias_range is not None else defaults.bias_range
        return cls(
            holdout_days=config.holdout_days,
            holdout=config.holdout if config.holdout[1] != "days" else None,
            mape_max=float(thresholds.mape_max if thresholds.mape_max is not None else defaults.mape_max),
            bias_range=(float(lo), float(hi)),
            coverage_min=thresholds.coverage_min,
            fail_on_threshold_breach=config.fail_on_threshold_breach,
        )

    def holdout_periods(self, freq: Frequency) -> int:
        """The holdout in periods of ``freq``; a holdout that is not a whole number of them is refused."""
        n, unit = self.holdout or (self.holdout_days, "days")
        per = {"D": {"days": 1, "weeks": 7}, "W": {"weeks": 1}, "M": {"months": 1}}[freq.unit]
        if unit in per:
            return n * per[unit]
        if unit == "days" and freq.unit == "W" and n % 7 == 0:
            return n // 7
        want = {"D": "last_<N>_days", "W": "last_<N>_weeks", "M": "last_<N>_months"}[freq.unit]
        raise TrainingError(
            f"holdout_split last_{n}_{unit} does not fit the dataset's {freq.adjective} periods "
            f"({freq.code}); write it as {want}"
        )
