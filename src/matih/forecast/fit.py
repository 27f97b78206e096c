"""Fit the per-category forecaster on a dense grid.

Time is split from the end of the data backwards::

    ... training targets ... | calibration (H days) | holdout (H days) |
                                                   ^ calibration origin  ^ holdout origin

Models learn from targets before the calibration window; conformal intervals and quantiles are measured
on the calibration window, forecast from its origin and from origins inside it (exactly as production
forecasts are made, :mod:`matih.forecast.calibration`), and the holdout is left untouched for the
validation gate.

Each model's LightGBM objective follows its demand: Poisson for series that sell most periods, Tweedie
(a point mass at zero plus lumpy sizes) where most series are intermittent in Syntetos, Boylan and
Croston's sense (an average interval between sales above 1.32 periods). Squared error chased the
occasional huge order or deal week: on Dominick's orange juice it scored 0.575 WAPE against Poisson's
0.452 (benchmarks/RESULTS.md, "Objectives"). The log-link losses need about twice the boosting of
squared error, so a small budget (trees x learning rate under 10) keeps squared error: at 40 trees x 0.05
on NovaMart, Poisson scored 20.8% MAPE and squared error 15.1%.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from matih.exceptions import TrainingError
from matih.forecast.calibration import MIN_SPECIAL, special_factor, spread
from matih.forecast.config import TrainConfig
from matih.forecast.features import MIN_SCALE, FeatureContext, build_features, special_periods
from matih.forecast.fitters import Fitter, local_fitter
from matih.forecast.frequency import DAILY, Frequency
from matih.forecast.grid import DenseGrid
from matih.forecast.groups import group_rows
from matih.forecast.metrics import wape
from matih.forecast.model import FALLBACK, Forecaster, ForecastModel, Refit
from matih.forecast.sampling import inclusion_probabilities

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]


@dataclass
class TrainStats:
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    calibration_mape: dict[str, float] = field(default_factory=dict)
    objectives: dict[str, str] = field(default_factory=dict)
    feature_seconds: float = 0.0
    where: str = "local process"
    refit_rows: dict[str, int] = field(default_factory=dict)
    """Rows of each model's refit through the data's last period (none without ``refit``)."""

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


#: how the fitter names a model's refit (beside the validated fit of the same model)
REFIT = "refit:"

#: the calibration window's length, in horizons
CALIBRATION_WINDOWS = 1


def split_points(n_periods: int, horizon: int, freq: Frequency = DAILY) -> tuple[int, int]:
    """(calibration origin, holdout origin) as period indices of the grid."""
    holdout_origin = n_periods - 1 - horizon
    calibration_origin = holdout_origin - CALIBRATION_WINDOWS * horizon
    least = min_history(freq)
    if calibration_origin < least:
        noun = freq.noun
        raise TrainingError(
            f"the dataset spans {n_periods} {noun}s; training needs at least {least + 2 * horizon + 1} "
            f"(history, a {horizon}-{noun} calibration window and a {horizon}-{noun} holdout)"
        )
    return calibration_origin, holdout_origin


def min_history(freq: Frequency) -> int:
    """Periods of history before the first calibration origin: about two months."""
    return max(3, int(np.ceil(60 / freq.days)))


def periods(days: int, freq: Frequency) -> int:
    """A setting given in days (``min_history_days``, ``train_days``) in periods of ``freq``."""
    return days if freq.unit == "D" else max(1, int(np.ceil(days / freq.days)))


#: Syntetos, Boylan and Croston (2005): an average inter-demand interval above this is intermittent
INTERMITTENT_ADI = 1.32
OBJECTIVES = {"poisson": "poisson", "tweedie": "tweedie", "l2": "regression"}
#: trees x learning rate below which ``auto`` keeps squared error (log-link losses converge slower)
LOG_LINK_BUDGET = 10.0


def objective_for(config: TrainConfig, grid: DenseGrid, series: np.ndarray, last: int) -> str:
    """The objective a model of ``series`` fits (``config.objective`` unless it is ``auto``)."""
    if config.objective != "auto":
        return config.objective
    if config.negative_values == "keep":  # net units: only squared error takes negative targets
        return "l2"
    if config.n_estimators * config.learning_rate < LOG_LINK_BUDGET:
        return "l2"
    return "tweedie" if intermittent_share(grid, series, last) > 0.5 else "poisson"


def intermittent_share(grid: DenseGrid, series: np.ndarray, last: int) -> float:
    """Share of ``series`` whose last year of trading periods up to ``last`` is intermittent."""
    Y = grid.Y[series, max(0, last + 1 - grid.frequency.year) : last + 1]
    periods = np.sum(~np.isnan(Y), axis=1)
    selling = np.sum(np.nan_to_num(Y) > 0, axis=1)
    active = periods > 0
    if not active.any():
        return 0.0
    adi = periods[active] / np.maximum(selling[active], 1)
    return float(np.mean(adi > INTERMITTENT_ADI))


def training_rows(
    ctx: FeatureContext,
    series: np.ndarray,
    last_target: int,
    config: TrainConfig,
    rng: np.random.Generator,
    min_age: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sample (series, origin, horizon) rows whose targets end at ``last_target``; one horizon per target.

    Beyond ``config.max_rows_per_model`` candidates, rows are drawn by their series' level
    (:mod:`matih.forecast.sampling`; ``row_sampling: uniform`` draws them uniformly). The fourth array
    is each row's weight for having been drawn: the uniform rate over its probability (1 for a uniform
    draw), by which its loss weight is multiplied."""
    first = ctx.grid.first[series]
    freq = ctx.grid.frequency
    # weeks and months are few: they train on all of their history, not the last train_days
    window = config.train_days if freq.unit == "D" else last_target + 1
    lo = np.maximum(first + min_age + 1, last_target - window + 1)
    counts = np.clip(last_target - lo + 1, 0, None)
    total = int(counts.sum())
    if total == 0:
        return (np.empty(0, np.int64),) * 3 + (np.empty(0),)  # type: ignore[return-value]
    p = np.repeat(series, counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    target = np.repeat(lo, counts) + offsets
    inverse = np.ones(total)  # the candidates all fit: every row drawn, weights unchanged
    if total > config.max_rows_per_model:
        rate = config.max_rows_per_model / total
        if config.row_sampling == "level":
            mean = ctx.mean(series, lo, np.full(len(series), last_target))  # over its candidate targets
            level = np.maximum(np.nan_to_num(mean), MIN_SCALE)
            per_series = inclusion_probabilities(counts, level, config.max_rows_per_model)
        else:
            per_series = np.full(len(series), rate)
        q = np.repeat(per_series, counts)
        pick = rng.random(total) < q
        # Horvitz-Thompson, relative to a uniform draw: the weights stay on the scale LightGBM's
        # regularisation (lambda_l2, min_sum_hessian_in_leaf) was set for
        p, target, inverse = p[pick], target[pick], rate / q[pick]
    h = rng.integers(1, config.forecast_horizon + 1, len(p))
    t = target - h
    # a closed day is no target: the business did not trade, so it sold nothing to learn from
    ok = (t - ctx.grid.first[p] >= min_age) & ctx.grid.is_open(target)
    return p[ok], t[ok], h[ok], inverse[ok]


def fit_forecaster(
    ctx: FeatureContext,
    config: TrainConfig,
    *,
    progress: Progress | None = None,
    fitter: Fitter | None = None,
) -> tuple[ForecastModel, TrainStats]:
    """Train every category model and the fallback; calibrate intervals; leave the holdout unseen.

    Rows and features are built here; ``fitter`` does the fits (default: here, one after another)."""
    grid = ctx.grid
    fitter = fitter or local_fitter(config, grid.Y.size)
    H = config.forecast_horizon
    freq = grid.frequency
    cal_origin, holdout_origin = split_points(grid.n_days, H, freq)
    min_age = periods(config.min_history_days, freq)
    rng = np.random.default_rng(config.seed)
    stats = TrainStats()
    cats = np.asarray(grid.category, dtype=object)
    names = sorted({str(c) for c in cats if c is not None}) if config.per_category_models else []
    steps = len(names) + 1
    last = grid.n_days - 1
    # the refit's rows come from their own stream, so the validated fit is the same with or without it
    refit_rng = np.random.default_rng([config.seed, 1])

    def submit(name: str, series: np.ndarray, upto: int, rows_rng: np.random.Generator, age: int) -> int:
        """Build ``name``'s rows with targets up to period ``upto`` and hand them to the fitter."""
        p, t, h, inverse = training_rows(ctx, series, upto, config, rows_rng, age)
        if len(p) < 200:
            return len(p)
        f0 = time.perf_counter()
        X, scale = build_features(ctx, p, t, h)
        y = np.nan_to_num(grid.Y[p, t + h]) / scale
        stats.feature_seconds += time.perf_counter() - f0
        model_name = name.removeprefix(REFIT)
        if model_name not in stats.objectives:
            stats.objectives[model_name] = objective_for(config, grid, series, cal_origin)
        objective = OBJECTIVES[stats.objectives[model_name]]
        fitter.submit(name, X, y, scale * inverse, model_name == FALLBACK, ctx.names, objective)
        return len(p)

    for i, name in enumerate(names):
        if progress:
            progress(f"training {name}", i, steps)
        started = time.perf_counter()
        series = np.nonzero(cats == name)[0]
        rows = submit(name, series, cal_origin, rng, min_age)
        if rows < 200:
            log.warning("category %s has only %d training rows; its products use the fallback", name, rows)
            continue
        stats.rows[name] = rows
        if config.refit:
            stats.refit_rows[name] = submit(REFIT + name, series, last, refit_rng, min_age)
        stats.seconds[name] = time.perf_counter() - started
    if progress:
        progress("training fallback", len(names), steps)
    started = time.perf_counter()
    everyone = np.arange(len(grid.series))
    rows = submit(FALLBACK, everyone, cal_origin, rng, min(3, min_age))
    if rows < 200:
        raise TrainingError(f"only {rows} usable training rows in {config.dataset}; the fallback needs 200+")
    stats.rows[FALLBACK] = rows
    if config.refit:
        stats.refit_rows[FALLBACK] = submit(REFIT + FALLBACK, everyone, last, refit_rng, min(3, min_age))
    boosters = fitter.results()
    again = {n.removeprefix(REFIT): boosters.pop(n) for n in list(boosters) if n.startswith(REFIT)}
    fallback = boosters.pop(FALLBACK)
    stats.seconds[FALLBACK] = time.perf_counter() - started
    stats.where = fitter.where
    model = ForecastModel(
        horizon=H,
        min_history_days=min_age,
        level=config.interval_level,
        boosters=boosters,
        fallback=fallback,
        trained_until=str(grid.date_at(cal_origin)),
        frequency=freq.code,
        nonnegative=config.negative_values != "keep",
        covariates=grid.covariate_roles,
        calendar=grid.calendar.describe(),
        quantile_levels=config.quantiles,
    )
    if again:
        model.refit = Refit(
            boosters={n: again[n] for n in boosters}, fallback=again[FALLBACK], until=str(grid.date_at(last))
        )
    calibrate_forecaster(ctx, model, cal_origin, holdout_origin, stats, rng)
    model.meta = {
        "calibration_origin": str(grid.date_at(cal_origin)),
        "holdout_origin": str(grid.date_at(holdout_origin)),
        "frequency": freq.code,
        "dataset": config.dataset,
        "n_estimators": config.n_estimators,
        "learning_rate": config.learning_rate,
        "objectives": dict(stats.objectives),
        "refit_until": model.refit.until if model.refit else None,
    }
    if progress:
        progress("done", steps, steps)
    return model, stats


#: out-of-sample forecasts per extra calibration origin, at most (series are sampled beyond it)
CALIBRATION_ROWS = 100_000
#: the same at the window's first origin, which also gives each model's calibration MAPE: at the seed's
#: scale (634K forecasts) scoring them all took 13 s of a 185 s training for no steadier interval
FIRST_CALIBRATION_ROWS = 300_000


def calibration_offsets(horizon: int) -> list[int]:
    """Calibration origins, as periods after the first: every third of a horizon into the window."""
    return sorted({k * horizon // 3 for k in range(3 * CALIBRATION_WINDOWS)})


def calibrate_forecaster(
    ctx: FeatureContext,
    model: Forecaster,
    origin: int,
    end: int,
    stats: TrainStats,
    rng: np.random.Generator,
) -> None:
    """Forecast the calibration window from its origin and from origins inside it, each no further than
    the window's end, and calibrate every model on its own forecasts' errors."""
    H = model.horizon
    parts: list[tuple[np.ndarray, ...]] = []
    for k in calibration_offsets(H):
        at = origin + k
        ahead = min(H, end - at)
        series = np.nonzero(ctx.grid.first <= at)[0]
        cap = CALIBRATION_ROWS if k else FIRST_CALIBRATION_ROWS
        if len(series) * ahead > cap:
            series = np.sort(rng.choice(series, cap // ahead, replace=False))
        fc = model.predict(ctx, at, series=series, horizon=ahead)
        y = np.nan_to_num(ctx.grid.Y[fc.series_index, at + fc.horizon])
        parts.append((y, fc.predicted, fc.horizon, fc.model, at + fc.horizon))
        if k == 0:
            names, inverse = group_rows(fc.model)
            for i, name in enumerate(names):
                rows = inverse == i
                stats.calibration_mape[str(name)] = wape(y[rows], fc.predicted[rows])
    y, yhat, lead, answered, target = (np.concatenate(column) for column in zip(*parts, strict=True))
    special = special_periods(ctx.grid, target)
    factors = special_factors(ctx, model, origin, rng)
    pooled = factors.get("", 1.0)
    names, inverse = group_rows(answered)
    for i, name in enumerate(names):
        rows = inverse == i
        factor = factors.get(str(name), pooled)
        model.calibrate(str(name), y[rows], yhat[rows], lead[rows], special[rows], factor)
    # the fallback also answers categories it was not routed to at calibration time; when too few
    # series were routed to it, calibrate it on its own predictions for everyone
    if (answered == FALLBACK).sum() >= 200:
        return
    if not isinstance(model, ForecastModel):  # a family answers its fallback rows with its own method
        model.calibrate(FALLBACK, y, yhat, lead, special, pooled)
        return
    everyone = np.nonzero(ctx.grid.first <= origin)[0]
    p = np.repeat(everyone, H)
    h = np.tile(np.arange(1, H + 1), len(everyone))
    trading = ctx.grid.is_open(origin + h)
    p, h = p[trading], h[trading]
    X, scale = build_features(ctx, p, np.full(len(p), origin), h)
    yhat = np.asarray(model.fallback.predict(X)) * scale
    if model.nonnegative:
        yhat = np.clip(yhat, 0, None)
    y = np.nan_to_num(ctx.grid.Y[p, origin + h])
    model.calibrate(FALLBACK, y, yhat, h, special_periods(ctx.grid, origin + h), pooled)


#: forecasts over the year before the calibration window that measure the special factors, at most
SPECIAL_ROWS = 100_000


def special_factors(
    ctx: FeatureContext, model: Forecaster, origin: int, rng: np.random.Generator
) -> dict[str, float]:
    """How much more each model errs on the calendar's special periods than on ordinary ones
    (:mod:`matih.forecast.calibration`), keyed by model name, and pooled over every model under ``""``
    (for a model with too few special forecasts of its own). Measured on forecasts from origins every
    half horizon over the year before the calibration ``origin`` whose horizon holds a special period,
    for targets no later than it.

    Only the LightGBM family measures it: its forecasts from a past origin are one predict, whereas
    the local families (AutoETS, Prophet) would refit at every origin."""
    if not isinstance(model, ForecastModel):
        return {}
    grid = ctx.grid
    H = model.horizon
    first = max(min_history(grid.frequency), origin - grid.frequency.year)
    special = special_periods(grid, np.arange(origin + 1))
    # only origins whose horizon holds a special period: its ordinary periods are the comparison
    origins = [
        int(at) for at in range(first, origin - H + 1, max(1, H // 2)) if special[at + 1 : at + H + 1].any()
    ]
    if not origins:
        return {}
    per_origin = max(1, SPECIAL_ROWS // (len(origins) * H))
    parts = []
    for at in origins:
        series = np.nonzero(grid.first <= at)[0]
        if len(series) > per_origin:
            series = np.sort(rng.choice(series, per_origin, replace=False))
        if not len(series):
            continue
        fc = model.predict(ctx, at, series=series)
        y = np.nan_to_num(grid.Y[fc.series_index, at + fc.horizon])
        abs_r = np.abs(y - fc.predicted) / spread(fc.predicted)
        parts.append((abs_r, special[at + fc.horizon], fc.model))
    if not parts:
        return {}
    abs_r, marked, answered = (np.concatenate(column) for column in zip(*parts, strict=True))
    factors = {"": special_factor(abs_r, marked)}
    names, inverse = group_rows(answered)
    for i, name in enumerate(names):
        rows = inverse == i
        if marked[rows].sum() >= MIN_SPECIAL:
            factors[str(name)] = special_factor(abs_r[rows], marked[rows])
    return factors
