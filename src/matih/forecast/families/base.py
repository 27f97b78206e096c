"""What the families other than LightGBM share: routing, the forecast rows, calibration and persistence.

A family here computes a point forecast matrix (series x horizon) from the grid up to the origin; this
module turns it into the rows every part of MATIH reads (:class:`~matih.forecast.model.Forecast`), with
the same split-conformal intervals and quantiles the LightGBM family has, calibrated the same way on the
window before the holdout (:func:`~matih.forecast.fit.calibrate_forecaster`).
"""

from __future__ import annotations

import json
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from matih.exceptions import RegistryError, TrainingError
from matih.forecast.calibration import FALLBACK, Calibrated, Conformal
from matih.forecast.config import TrainConfig
from matih.forecast.features import FeatureContext, promoted_cells, special_periods
from matih.forecast.fit import TrainStats, calibrate_forecaster, periods, split_points
from matih.forecast.model import Forecast

Progress = Callable[[str, int, int], None]


def require_frequency(model_frequency: str, ctx: FeatureContext) -> None:
    if ctx.grid.frequency.code != model_frequency:
        raise TrainingError(
            f"the model counts in {model_frequency} periods but the dataset's dates are "
            f"{ctx.grid.frequency.code}: retrain it on this dataset, or set hyperparameters.frequency"
        )


def history(ctx: FeatureContext, series: np.ndarray, origin: int, window: int) -> np.ndarray:
    """The last ``window`` periods up to and including ``origin`` (series x window), unobserved periods
    (before a series starts, closed days) as 0."""
    lo = origin + 1 - window
    Y = ctx.grid.Y[series, max(0, lo) : origin + 1]
    out = np.nan_to_num(Y.astype(np.float64))
    if lo < 0:
        out = np.concatenate([np.zeros((len(series), -lo)), out], axis=1)
    return out


def covariate_at(ctx: FeatureContext, column: str, series: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Covariate ``column`` of ``series`` (n) at periods ``index`` (n x k), NaN where it has no value
    (before the data, past the planned periods)."""
    grid = ctx.grid
    if column not in grid.covariates:
        raise TrainingError(
            f"the model was trained with covariate {column!r}, which this dataset does not declare: add it "
            "to hyperparameters.covariates again, or retrain the model"
        )
    m = grid.covariates[column]
    inside = (index >= 0) & (index < m.shape[1])
    return np.where(inside, m[series[:, None], np.clip(index, 0, m.shape[1] - 1)], np.nan).astype(np.float64)


def covariate_level(
    ctx: FeatureContext, column: str, series: np.ndarray, origin: np.ndarray, window: int
) -> np.ndarray:
    """Each series' mean of ``column`` over the ``window`` periods up to its origin (NaN without any):
    the level a price is read against, known at the origin."""
    steps = origin[:, None] - window + 1 + np.arange(window)[None, :]
    past = covariate_at(ctx, column, series, steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a series with no value yet: all-NaN mean
        return np.asarray(np.nanmean(past, axis=1), dtype=np.float64)


@dataclass
class LocalForecaster(Calibrated, ABC):
    """A family whose forecast at an origin is computed from each series' (or category's) history up to
    that origin. Subclasses implement :meth:`point` and keep their settings in :attr:`params`."""

    horizon: int
    min_history_days: int
    level: float
    frequency: str = "D"
    nonnegative: bool = True
    quantile_levels: tuple[float, ...] = ()
    conformal: dict[str, Conformal] = field(default_factory=dict)
    trained_until: str = ""
    meta: dict[str, object] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    categories: tuple[str, ...] = ()

    family: ClassVar[str] = ""
    reads_planned: ClassVar[bool] = False
    """Whether the family reads known-future covariates' planned values (a forecast without them is
    refused as the LightGBM family refuses it, ``missing_future: error``)."""

    # -- what a subclass provides --------------------------------------------------------------------
    @abstractmethod
    def point(self, ctx: FeatureContext, series: np.ndarray, origin: int, horizon: int) -> np.ndarray:
        """Point forecasts, ``len(series)`` x ``horizon``, from data up to ``origin`` only."""

    def save_state(self, directory: Path) -> None:
        """Write what :meth:`load_state` reads back (nothing, for a method refitted at each origin)."""

    def load_state(self, directory: Path) -> None:
        """Read what :meth:`save_state` wrote."""

    # -- routing and prediction ----------------------------------------------------------------------
    def route(self, ctx: FeatureContext, series: np.ndarray, origin: int) -> np.ndarray:
        """Each series' category, or :data:`FALLBACK` for one with too little history (a routed
        ensemble sends those to its fallback family; alone, the family answers them itself)."""
        cats = np.asarray(ctx.grid.category, dtype=object)[series].astype(str)
        selling = ctx.selling_days_until(series, np.full(len(series), origin))
        return np.where(selling >= self.min_history_days, cats, FALLBACK).astype(object)  # as LightGBM's

    def predict(
        self, ctx: FeatureContext, origin: int, series: np.ndarray | None = None, horizon: int | None = None
    ) -> Forecast:
        H = horizon or self.horizon
        require_frequency(self.frequency, ctx)
        if series is None:
            series = np.nonzero(ctx.grid.first <= origin)[0]
        routes = self.route(ctx, series, origin)
        if self.reads_planned:
            ctx.grid.require_planned(series, origin + H)
        point = self.point(ctx, series, origin, H) if len(series) else np.zeros((0, H))
        p = np.repeat(series, H)
        h = np.tile(np.arange(1, H + 1), len(series))
        yhat = np.nan_to_num(point.reshape(-1).astype(np.float64))
        model_of = np.repeat(routes, H)
        trading = ctx.grid.is_open(origin + h)
        if not trading.all():
            p, h, yhat, model_of = p[trading], h[trading], yhat[trading], model_of[trading]
        if self.nonnegative:
            yhat = np.clip(yhat, 0.0, None)
        special = special_periods(ctx.grid, origin + np.arange(1, H + 1))[h - 1]  # per period, not row
        promoted = promoted_cells(ctx.grid, p, origin + h)
        lower, upper, quantiles = self.uncertainty(yhat, model_of, h, special=special, promoted=promoted)
        return Forecast(p, h, yhat, lower, upper, model_of, quantiles)

    # -- persistence ---------------------------------------------------------------------------------
    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "family": self.family,
            "horizon": self.horizon,
            "min_history_days": self.min_history_days,
            "level": self.level,
            "frequency": self.frequency,
            "nonnegative": self.nonnegative,
            "quantile_levels": list(self.quantile_levels),
            "conformal": {name: dist.to_dict() for name, dist in self.conformal.items()},
            "trained_until": self.trained_until,
            "params": self.params,
            "categories": list(self.categories),
            "meta": self.meta,
        }
        (directory / "forecaster.json").write_text(json.dumps(meta, indent=2, default=str))
        self.save_state(directory)
        return directory

    @classmethod
    def load(cls, directory: Path) -> LocalForecaster:
        meta = json.loads((directory / "forecaster.json").read_text())
        if meta.get("family") != cls.family:
            raise RegistryError(f"{directory} holds a {meta.get('family')!r} model, not {cls.family!r}")
        model = cls(
            horizon=meta["horizon"],
            min_history_days=meta["min_history_days"],
            level=meta["level"],
            frequency=meta["frequency"],
            nonnegative=meta["nonnegative"],
            quantile_levels=tuple(meta["quantile_levels"]),
            conformal={name: Conformal.from_dict(raw) for name, raw in meta["conformal"].items()},
            trained_until=meta["trained_until"],
            meta=meta["meta"],
            params=meta["params"],
            categories=tuple(meta["categories"]),
        )
        model.load_state(directory)
        return model

    # -- training ------------------------------------------------------------------------------------
    @classmethod
    def defaults(cls, config: TrainConfig, ctx: FeatureContext) -> dict[str, Any]:
        """The family's settings for this dataset (window lengths, seasons ...)."""
        return {}

    def train(self, ctx: FeatureContext, config: TrainConfig, until: int, progress: Progress | None) -> int:
        """Learn from targets up to period ``until`` (the calibration origin); returns the training rows
        (series for a method refitted at each origin)."""
        return int(np.sum(ctx.grid.first <= until))


def fit_local(
    cls: type[LocalForecaster],
    ctx: FeatureContext,
    config: TrainConfig,
    progress: Progress | None = None,
) -> tuple[LocalForecaster, TrainStats]:
    """Train (where the family learns anything ahead of time) on targets before the calibration window,
    calibrate its intervals on that window, and leave the holdout unseen, as the LightGBM family does."""
    grid = ctx.grid
    H = config.forecast_horizon
    cal_origin, holdout_origin = split_points(grid.n_days, H, grid.frequency)
    model = cls(
        horizon=H,
        min_history_days=periods(config.min_history_days, grid.frequency),
        level=config.interval_level,
        frequency=grid.frequency.code,
        nonnegative=config.negative_values != "keep",
        quantile_levels=config.quantiles,
        trained_until=str(grid.date_at(cal_origin)),
        params=cls.defaults(config, ctx),
        categories=tuple(sorted({str(c) for c in grid.category if c is not None})),
    )
    stats = TrainStats(where="local process")
    started = time.perf_counter()
    if progress:
        progress(f"training {cls.family}", 0, 2)
    stats.rows[cls.family] = model.train(ctx, config, cal_origin, progress)
    stats.seconds[cls.family] = time.perf_counter() - started
    if progress:
        progress(f"calibrating {cls.family}", 1, 2)
    rng = np.random.default_rng(config.seed)
    calibrate_forecaster(ctx, model, cal_origin, holdout_origin, stats, rng)
    model.meta = {
        "calibration_origin": str(grid.date_at(cal_origin)),
        "holdout_origin": str(grid.date_at(holdout_origin)),
        "frequency": grid.frequency.code,
        "dataset": config.dataset,
        **{k: v for k, v in model.params.items() if isinstance(v, int | float | str)},
    }
    if progress:
        progress("done", 2, 2)
    return model, stats
