"""Fit the per-category forecaster on a dense grid.

Time is split from the end of the data backwards::

    ... training targets ... | calibration (H days) | holdout (H days) |
                                                   ^ calibration origin  ^ holdout origin

Models learn from targets before the calibration window; conformal intervals and quantiles are measured
on the calibration window, forecast from its origin and from origins inside it (exactly as production
forecasts are made, :mod:`matih.forecast.calibration`), and the holdout is left untouched for the
validation gate. With ``calibration_windows`` above 1 (the default is 2), earlier fits add windows::

    ... targets of earlier fit 1 ... | gap (H) | its window (H) | calibration (H) | holdout (H) |

Earlier fit ``j`` learns from targets up to ``j + 1`` horizons before the calibration origin and
forecasts the window ``j`` horizons before it, a horizon after its newest target, as the validated fit
forecasts the holdout a horizon after its own. One window's errors are measured 0 to 2/3 of a horizon
after the fit's newest target and share that window's shocks: on orange juice its 80% band covered
72-75% of the holdout; with the earlier fit's window pooled in, 78-80%. The earlier fits only calibrate:
they are not kept.

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
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np

from matih.exceptions import TrainingError
from matih.forecast.calibration import MIN_SPECIAL, special_factor_of, spread
from matih.forecast.config import TrainConfig
from matih.forecast.features import (
    MIN_SCALE,
    FeatureContext,
    build_features,
    promoted_cells,
    special_periods,
)
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
    earlier_rows: dict[str, int] = field(default_factory=dict)
    """Rows of each earlier fit's models (:func:`earlier_prefix`), which only calibrate."""
    shard_pids: set[int] = field(default_factory=set)
    """The processes that fitted the shards (sharded training only)."""

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


#: how the fitter names a model's refit (beside the validated fit of the same model)
REFIT = "refit:"


def earlier_prefix(j: int) -> str:
    """How the fitter names the models of earlier fit ``j`` (1-based; :func:`fit_ends`)."""
    return f"earlier{j}:"


def fit_ends(config: TrainConfig, grid: DenseGrid) -> dict[str, int]:
    """The last training target of every fit the fitter makes, by the prefix of its models' names: the
    validated fit (``""``), its refit (:data:`REFIT`, with ``refit``) and the earlier fits that calibrate
    (:func:`earlier_prefix`, ``calibration_windows - 1`` of them; one whose targets would end before
    :func:`min_history` is left out)."""
    H = config.forecast_horizon
    cal_origin, _ = split_points(grid.n_days, H, grid.frequency)
    ends = {"": cal_origin}
    if config.refit:
        ends[REFIT] = grid.n_days - 1
    for j in range(1, config.calibration_windows):
        last = cal_origin - (j + 1) * H
        if last < min_history(grid.frequency):
            break
        ends[earlier_prefix(j)] = last
    return ends


def fit_streams(config: TrainConfig, ends: dict[str, int], *shard: int) -> dict[str, np.random.Generator]:
    """Each fit's own stream of random draws (``shard``: a shard's index, which has streams of its own), so
    the validated fit's rows are the same whichever other fits are made."""
    seed = config.seed
    streams = {
        "": np.random.default_rng([seed, 2, *shard] if shard else seed),
        REFIT: np.random.default_rng([seed, 3, *shard] if shard else [seed, 1]),
    }
    for j in range(1, config.calibration_windows):
        streams[earlier_prefix(j)] = np.random.default_rng([seed, 10 + j, *shard])
    return {prefix: streams[prefix] for prefix in ends}


def split_points(n_periods: int, horizon: int, freq: Frequency = DAILY) -> tuple[int, int]:
    """(calibration origin, holdout origin) as period indices of the grid."""
    holdout_origin = n_periods - 1 - horizon
    calibration_origin = holdout_origin - horizon  # one horizon; more windows come from earlier fits
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
    return objective_of(config, lambda: intermittent_share(*intermittent_counts(grid, series, last)))


def objective_of(config: TrainConfig, share: Callable[[], float]) -> str:
    """The objective of a model whose series are intermittent in the ``share()`` measured (only when
    ``auto`` needs it)."""
    if config.objective != "auto":
        return config.objective
    if config.negative_values == "keep":  # net units: only squared error takes negative targets
        return "l2"
    if config.n_estimators * config.learning_rate < LOG_LINK_BUDGET:
        return "l2"
    return "tweedie" if share() > 0.5 else "poisson"


def intermittent_counts(grid: DenseGrid, series: np.ndarray, last: int) -> tuple[int, int]:
    """How many of ``series`` are intermittent over their last year of trading periods up to ``last``,
    and how many traded at all in it."""
    Y = grid.Y[series, max(0, last + 1 - grid.frequency.year) : last + 1]
    periods = np.sum(~np.isnan(Y), axis=1)
    selling = np.sum(np.nan_to_num(Y) > 0, axis=1)
    active = periods > 0
    adi = periods[active] / np.maximum(selling[active], 1)
    return int(np.sum(adi > INTERMITTENT_ADI)), int(active.sum())


def intermittent_share(intermittent: int, active: int) -> float:
    return intermittent / active if active else 0.0


def candidate_targets(
    ctx: FeatureContext, series: np.ndarray, last_target: int, config: TrainConfig, min_age: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each series' first target a training row may have, and how many it may have up to ``last_target``."""
    first = ctx.grid.first[series]
    # weeks and months are few: they train on all of their history, not the last train_days
    window = config.train_days if ctx.grid.frequency.unit == "D" else last_target + 1
    lo = np.maximum(first + min_age + 1, last_target - window + 1)
    return lo, np.clip(last_target - lo + 1, 0, None)


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
    lo, counts = candidate_targets(ctx, series, last_target, config, min_age)
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
    # an unobserved period (NaN) is no target: a closed day, when the business sold nothing to learn
    # from, or a period without a row under missing_rows: unknown
    ok = (t - ctx.grid.first[p] >= min_age) & ~np.isnan(ctx.grid.Y[p, target])
    return p[ok], t[ok], h[ok], inverse[ok]


#: fewer training rows than this and a model is not fitted (its series use the fallback)
MIN_ROWS = 200


@dataclass
class ModelRows:
    """One model's training rows: features, targets (in units of each series' scale) and loss weights;
    only ``count`` when there are too few to fit (then no features are built)."""

    count: int
    X: np.ndarray | None = None
    y: np.ndarray | None = None
    w: np.ndarray | None = None
    candidates: int = 0
    """The rows it was drawn from."""
    rate: float = 1.0
    """The budget's share of the candidates (1 when they all fit): the weights are relative to it."""


def model_rows(
    ctx: FeatureContext,
    config: TrainConfig,
    series: np.ndarray,
    upto: int,
    rng: np.random.Generator,
    min_age: int,
) -> ModelRows:
    """The rows of a model of ``series`` whose targets end at period ``upto``, with their features."""
    p, t, h, inverse = training_rows(ctx, series, upto, config, rng, min_age)
    candidates = int(candidate_targets(ctx, series, upto, config, min_age)[1].sum())
    rate = min(1.0, config.max_rows_per_model / candidates) if candidates else 1.0
    if len(p) < MIN_ROWS:
        return ModelRows(len(p), candidates=candidates, rate=rate)
    X, scale = build_features(ctx, p, t, h)
    y = np.nan_to_num(ctx.grid.Y[p, t + h]) / scale
    return ModelRows(len(p), X, y, scale * inverse, candidates, rate)


def fit_categories(
    ctx: FeatureContext,
    config: TrainConfig,
    fitter: Fitter,
    stats: TrainStats,
    rngs: dict[str, np.random.Generator],
    *,
    progress: Progress | None = None,
    steps: int = 0,
) -> None:
    """Build each category model's rows for every fit (:func:`fit_ends`: the validated fit, its refit
    and the earlier fits) and hand them to ``fitter``; ``rngs`` (:func:`fit_streams`) draw each fit's
    rows. Categories with too few rows for the validated fit are left to the fallback."""
    grid = ctx.grid
    ends = fit_ends(config, grid)
    cal_origin = ends[""]
    min_age = periods(config.min_history_days, grid.frequency)
    cats = np.asarray(grid.category, dtype=object)
    names = sorted({str(c) for c in cats if c is not None}) if config.per_category_models else []
    for i, name in enumerate(names):
        if progress:
            progress(f"training {name}", i, steps or len(names) + 1)
        started = time.perf_counter()
        series = np.nonzero(cats == name)[0]
        f0 = time.perf_counter()
        rows = model_rows(ctx, config, series, cal_origin, rngs[""], min_age)
        stats.feature_seconds += time.perf_counter() - f0
        if rows.X is None:
            log.warning(
                "category %s has only %d training rows; its products use the fallback", name, rows.count
            )
            continue
        stats.objectives[name] = objective_for(config, grid, series, cal_origin)
        submit(fitter, name, rows, stats.objectives[name], ctx.names)
        stats.rows[name] = rows.count
        for prefix, last in ends.items():
            if prefix:
                again = model_rows(ctx, config, series, last, rngs[prefix], min_age)
                if again.X is not None:
                    submit(fitter, prefix + name, again, stats.objectives[name], ctx.names)
                count_rows(stats, prefix, name, again.count)
        stats.seconds[name] = time.perf_counter() - started


def count_rows(stats: TrainStats, prefix: str, name: str, count: int) -> None:
    """Record the rows of model ``name`` of the fit named by ``prefix`` (a refit or an earlier fit)."""
    if prefix == REFIT:
        stats.refit_rows[name] = count
    else:
        stats.earlier_rows[prefix + name] = count


_EARLIER = re.compile(r"earlier\d+:")


def fit_of(name: str) -> tuple[str, str]:
    """(the prefix of the fit a booster's name says it belongs to, its model name)."""
    if name.startswith(REFIT):
        return REFIT, name.removeprefix(REFIT)
    match = _EARLIER.match(name)
    return ("", name) if match is None else (match.group(), name[match.end() :])


def submit(fitter: Fitter, name: str, rows: ModelRows, objective: str, names: tuple[str, ...]) -> None:
    """Hand a model's rows to ``fitter`` (the fallback's with the category as a feature)."""
    assert rows.X is not None and rows.y is not None and rows.w is not None
    model_name = fit_of(name)[1]
    fitter.submit(name, rows.X, rows.y, rows.w, model_name == FALLBACK, names, OBJECTIVES[objective])


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
    freq = grid.frequency
    cal_origin, holdout_origin = split_points(grid.n_days, config.forecast_horizon, freq)
    min_age = periods(config.min_history_days, freq)
    ends = fit_ends(config, grid)
    # every fit draws its rows from its own stream: the validated fit is the same whatever else is fitted
    rngs = fit_streams(config, ends)
    rng = rngs[""]
    stats = TrainStats()
    names = {str(c) for c in grid.category if c is not None} if config.per_category_models else set()
    steps = len(names) + 1
    fit_categories(ctx, config, fitter, stats, rngs, progress=progress, steps=steps)
    if progress:
        progress("training fallback", len(names), steps)
    started = time.perf_counter()
    everyone = np.arange(len(grid.series))
    f0 = time.perf_counter()
    rows = model_rows(ctx, config, everyone, cal_origin, rng, min(3, min_age))
    stats.feature_seconds += time.perf_counter() - f0
    if rows.X is None:
        raise TrainingError(
            f"only {rows.count} usable training rows in {config.dataset}; the fallback needs {MIN_ROWS}+"
        )
    stats.objectives[FALLBACK] = objective_for(config, grid, everyone, cal_origin)
    submit(fitter, FALLBACK, rows, stats.objectives[FALLBACK], ctx.names)
    stats.rows[FALLBACK] = rows.count
    for prefix, last in ends.items():
        if prefix:
            again = model_rows(ctx, config, everyone, last, rngs[prefix], min(3, min_age))
            if again.X is not None:
                submit(fitter, prefix + FALLBACK, again, stats.objectives[FALLBACK], ctx.names)
            count_rows(stats, prefix, FALLBACK, again.count)
    boosters = fitter.results()
    stats.seconds[FALLBACK] = time.perf_counter() - started
    stats.where = fitter.where
    model = assemble_model(grid, config, boosters)
    earlier = earlier_models(grid, config, boosters)
    calibrate_forecaster(ctx, model, cal_origin, holdout_origin, stats, rng, earlier=earlier)
    model.meta = model_meta(grid, config, model, stats)
    if progress:
        progress("done", steps, steps)
    return model, stats


def assemble_model(grid: DenseGrid, config: TrainConfig, boosters: dict[str, lgb.Booster]) -> ForecastModel:
    """The forecaster of fitted ``boosters`` (category models, the fallback, and their refits), not yet
    calibrated; the earlier fits' boosters are left out (:func:`earlier_models`)."""
    cal_origin, _ = split_points(grid.n_days, config.forecast_horizon, grid.frequency)
    fits = boosters_by_fit(boosters)
    model = forecaster_of(grid, config, fits[""], cal_origin)
    again = fits.get(REFIT, {})
    if again:
        last = grid.n_days - 1
        model.refit = Refit(
            boosters={n: again[n] for n in model.boosters},
            fallback=again[FALLBACK],
            until=str(grid.date_at(last)),
        )
    return model


def boosters_by_fit(boosters: dict[str, lgb.Booster]) -> dict[str, dict[str, lgb.Booster]]:
    """The fitter's ``boosters`` by the fit they belong to (:func:`fit_of`), each by model name."""
    fits: dict[str, dict[str, lgb.Booster]] = {}
    for name, booster in boosters.items():
        prefix, model_name = fit_of(name)
        fits.setdefault(prefix, {})[model_name] = booster
    return fits


def earlier_models(
    grid: DenseGrid, config: TrainConfig, boosters: dict[str, lgb.Booster]
) -> list[ForecastModel]:
    """The earlier fits among the fitter's ``boosters``, in order (one without a fallback, for too few
    rows, is left out): forecasters that only calibrate the validated fit (:func:`calibration_residuals`)."""
    ends = fit_ends(config, grid)
    fits = boosters_by_fit(boosters)
    out = []
    for j in range(1, config.calibration_windows):
        models = fits.get(earlier_prefix(j), {})
        if FALLBACK in models:
            out.append(forecaster_of(grid, config, models, ends[earlier_prefix(j)]))
            out[-1].meta = {"window": j}
    return out


def forecaster_of(
    grid: DenseGrid, config: TrainConfig, boosters: dict[str, lgb.Booster], until: int
) -> ForecastModel:
    """One fit's forecaster: its category models and fallback (``boosters``, by model name), trained on
    targets up to period ``until``; not yet calibrated."""
    models = dict(boosters)
    fallback = models.pop(FALLBACK)
    return ForecastModel(
        horizon=config.forecast_horizon,
        min_history_days=periods(config.min_history_days, grid.frequency),
        level=config.interval_level,
        boosters=models,
        fallback=fallback,
        trained_until=str(grid.date_at(until)),
        frequency=grid.frequency.code,
        nonnegative=config.negative_values != "keep",
        covariates=grid.covariate_roles,
        calendar=grid.calendar.describe(),
        quantile_levels=config.quantiles,
    )


def model_meta(
    grid: DenseGrid, config: TrainConfig, model: ForecastModel, stats: TrainStats
) -> dict[str, object]:
    """What a trained model records of how it was trained."""
    cal_origin, holdout_origin = split_points(grid.n_days, config.forecast_horizon, grid.frequency)
    return {
        "calibration_origin": str(grid.date_at(cal_origin)),
        "holdout_origin": str(grid.date_at(holdout_origin)),
        "frequency": grid.frequency.code,
        "dataset": config.dataset,
        "n_estimators": config.n_estimators,
        "learning_rate": config.learning_rate,
        "objectives": dict(stats.objectives),
        "refit_until": model.refit.until if model.refit else None,
    }


#: out-of-sample forecasts per extra calibration origin, at most (series are sampled beyond it)
CALIBRATION_ROWS = 100_000
#: the same at the window's first origin, which also gives each model's calibration MAPE: at the seed's
#: scale (634K forecasts) scoring them all took 13 s of a 185 s training for no steadier interval
FIRST_CALIBRATION_ROWS = 300_000


def calibration_offsets(horizon: int) -> list[int]:
    """Calibration origins, as periods after the first: every third of a horizon into the window."""
    return sorted({k * horizon // 3 for k in range(3)})


@dataclass
class Residuals:
    """A model's out-of-sample forecasts over the calibration window: what its intervals are fitted to."""

    y: np.ndarray
    yhat: np.ndarray
    lead: np.ndarray
    answered: np.ndarray
    """The model name that made each forecast."""
    special: np.ndarray
    first: np.ndarray
    """Forecasts from the window's first origin (each model's calibration MAPE is measured on them)."""
    factors: dict[str, float]
    """:func:`special_factors`, by model name, pooled over every model under ``""``."""
    promoted: np.ndarray
    """Forecasts for a period with a declared promotion on (:func:`promoted_cells`)."""
    everyone: tuple[np.ndarray, ...] | None = None
    """The fallback's own forecasts for every series from the window's origin (y, yhat, lead, special,
    promoted), made when too few series were routed to it (or when asked)."""


def calibration_residuals(
    ctx: FeatureContext,
    model: Forecaster,
    origin: int,
    end: int,
    rng: np.random.Generator,
    *,
    fallback_everyone: bool = False,
    share: float = 1.0,
    earlier: Sequence[ForecastModel] = (),
) -> Residuals:
    """Forecast the calibration window from its origin and from origins inside it, each no further than
    the window's end; each of the ``earlier`` fits (:func:`earlier_models`) forecasts its own window,
    ``j`` horizons before, the same way. The fallback also forecasts every series from the origin when
    too few were routed to it, or with ``fallback_everyone``. ``share``: the part of the dataset ``ctx``
    holds (a shard's), which gets that part of the forecasts the whole dataset would."""
    H = model.horizon
    parts: list[tuple[np.ndarray, ...]] = []
    # (the fit, how many horizons before the calibration window its window starts)
    windows: list[tuple[Forecaster, int]] = [(model, 0)]
    windows += [(fit, int(fit.meta["window"])) for fit in earlier]  # type: ignore[call-overload]
    for forecaster, j in windows:
        start = origin - j * H
        for k in calibration_offsets(H):
            at = start + k
            ahead = min(H, end - j * H - at)
            series = np.nonzero(ctx.grid.first <= at)[0]
            cap = max(ahead, int((CALIBRATION_ROWS if k else FIRST_CALIBRATION_ROWS) * share))
            if len(series) * ahead > cap:
                series = np.sort(rng.choice(series, cap // ahead, replace=False))
            if not len(series):
                continue
            fc, y = forecaster.predict(ctx, at, series=series, horizon=ahead).recorded(ctx.grid.Y, at)
            # each model's calibration MAPE: the validated fit's, from its window's first origin
            first = np.full(len(y), k == 0 and j == 0)
            parts.append((y, fc.predicted, fc.horizon, fc.model, at + fc.horizon, first, fc.series_index))
    y, yhat, lead, answered, target, first, p = (
        np.concatenate(column) for column in zip(*parts, strict=True)
    )
    special = special_periods(ctx.grid, target)
    factors = special_factors(ctx, model, origin, rng, share)
    res = Residuals(y, yhat, lead, answered, special, first, factors, promoted_cells(ctx.grid, p, target))
    if isinstance(model, ForecastModel) and (fallback_everyone or (answered == FALLBACK).sum() < MIN_ROWS):
        everyone = [
            _fallback_everyone(ctx, fit, origin - j * H)
            for fit, j in windows
            if isinstance(fit, ForecastModel)
        ]
        res.everyone = tuple(np.concatenate(column) for column in zip(*everyone, strict=True))
    return res


def _fallback_everyone(ctx: FeatureContext, model: ForecastModel, origin: int) -> tuple[np.ndarray, ...]:
    H = model.horizon
    everyone = np.nonzero(ctx.grid.first <= origin)[0]
    p = np.repeat(everyone, H)
    h = np.tile(np.arange(1, H + 1), len(everyone))
    y = ctx.grid.Y[p, origin + h]
    observed = ~np.isnan(y)  # a closed day, or a period without a row under missing_rows: unknown
    p, h, y = p[observed], h[observed], y[observed]
    X, scale = build_features(ctx, p, np.full(len(p), origin), h)
    yhat = np.asarray(model.fallback.predict(X)) * scale
    if model.nonnegative:
        yhat = np.clip(yhat, 0, None)
    return y, yhat, h, special_periods(ctx.grid, origin + h), promoted_cells(ctx.grid, p, origin + h)


def calibration_mape(res: Residuals) -> dict[str, float]:
    """Each model's WAPE on its forecasts from the calibration window's first origin."""
    names, inverse = group_rows(res.answered[res.first])
    y, yhat = res.y[res.first], res.yhat[res.first]
    return {str(name): wape(y[inverse == i], yhat[inverse == i]) for i, name in enumerate(names)}


def apply_calibration(model: Forecaster, res: Residuals, only: set[str] | None = None) -> None:
    """Calibrate every model that answered in ``res`` (or ``only`` those) on its own forecasts' errors.
    The fallback also answers categories it was not routed to at calibration time: with too few series
    routed to it, it is calibrated on its own forecasts for everyone."""
    pooled = res.factors.get("", 1.0)
    names, inverse = group_rows(res.answered)
    for i, name in enumerate(names):
        if only is not None and str(name) not in only:
            continue
        rows = inverse == i
        factor = res.factors.get(str(name), pooled)
        model.calibrate(
            str(name),
            res.y[rows],
            res.yhat[rows],
            res.lead[rows],
            res.special[rows],
            factor,
            res.promoted[rows],
        )
    if (only is not None and FALLBACK not in only) or (res.answered == FALLBACK).sum() >= MIN_ROWS:
        return
    if not isinstance(model, ForecastModel):  # a family answers its fallback rows with its own method
        model.calibrate(FALLBACK, res.y, res.yhat, res.lead, res.special, pooled, res.promoted)
        return
    assert res.everyone is not None
    y, yhat, h, special, promoted = res.everyone
    model.calibrate(FALLBACK, y, yhat, h, special, pooled, promoted)


def calibrate_forecaster(
    ctx: FeatureContext,
    model: Forecaster,
    origin: int,
    end: int,
    stats: TrainStats,
    rng: np.random.Generator,
    *,
    earlier: Sequence[ForecastModel] = (),
) -> None:
    """Forecast the calibration window, and the ``earlier`` fits' windows (:func:`calibration_residuals`),
    and calibrate every model on its own forecasts' errors."""
    res = calibration_residuals(ctx, model, origin, end, rng, earlier=earlier)
    stats.calibration_mape.update(calibration_mape(res))
    apply_calibration(model, res)


#: forecasts over the year before the calibration window that measure the special factors, at most
SPECIAL_ROWS = 100_000


def special_factors(
    ctx: FeatureContext, model: Forecaster, origin: int, rng: np.random.Generator, share: float = 1.0
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
    per_origin = max(1, int(SPECIAL_ROWS * share) // (len(origins) * H))
    parts = []
    for at in origins:
        series = np.nonzero(grid.first <= at)[0]
        if len(series) > per_origin:
            series = np.sort(rng.choice(series, per_origin, replace=False))
        if not len(series):
            continue
        fc, y = model.predict(ctx, at, series=series).recorded(grid.Y, at)
        abs_r = np.abs(y - fc.predicted) / spread(fc.predicted)
        parts.append((abs_r, special[at + fc.horizon], fc.model))
    if not parts:
        return {}
    abs_r, marked, answered = (np.concatenate(column) for column in zip(*parts, strict=True))
    factors = {"": special_factor_of(abs_r, marked)}
    names, inverse = group_rows(answered)
    for i, name in enumerate(names):
        rows = inverse == i
        if marked[rows].sum() >= MIN_SPECIAL:
            factors[str(name)] = special_factor_of(abs_r[rows], marked[rows])
    return factors
