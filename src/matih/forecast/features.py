"""Direct multi-horizon features: every value is known at the forecast origin.

Written for days below; weekly and monthly grids use the same features in their own periods (see
:class:`Cadence`).

A row is (series p, origin day t, horizon h) and its target is the units on day t + h. Windows end at t;
"same day last year" windows end by t (364 days back keeps the weekday and, for h <= 361, stays in the
past). Calendar facts about the target day (weekday, holidays) are known in advance and allowed.
Levels are divided by the series' own scale so one model serves fast and slow sellers alike; the
prediction is ``scale * model(features)``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from matih import calendar
from matih.forecast.config import CovariateRole
from matih.forecast.frequency import Frequency
from matih.forecast.grid import DenseGrid

FEATURES: tuple[str, ...] = (
    "log_scale",
    "r7",
    "r14",
    "r28",
    "r112",
    "std28",
    "zero_share28",
    "ly_target7",
    "ly_origin28",
    "ly_growth",
    "cat_growth",
    "cat_momentum",
    "same_weekday_last",
    "same_weekday_mean4",
    "price_rel90",
    "discount_origin",
    "days_since_sale",
    "age",
    "target_dow",
    "target_dom",
    "target_month",
    "target_black_friday",
    "target_xmas_ramp",
    "target_xmas_day",
    "target_valentines",
    "target_holiday_period",
    "horizon",
    "holidays_last7",
    "seasonal_flag",
    "subcategory_code",
    "category_code",
)
CATEGORICAL: tuple[str, ...] = ("subcategory_code", "category_code")
#: the smallest scale a row is divided by (a series that sold nothing lately)
MIN_SCALE = 0.1
LAST_YEAR = 364


@dataclass(frozen=True)
class Cadence:
    """The feature windows of one frequency, in its periods. Daily keeps the names above (``r7`` is the
    mean of the last 7 days); weekly and monthly name theirs by their own lengths (``r4`` is the mean of
    the last 4 weeks or months) and describe the target period by the calendar days it covers."""

    freq: Frequency
    windows: tuple[int, int, int, int]
    scale: int
    spread: int
    ly_half: int
    ly_origin: int
    cat_recent: int
    cat_base: int
    price: int
    age_cap: int

    @cached_property
    def names(self) -> tuple[str, ...]:
        if self.freq.unit == "D":
            return FEATURES
        w, sp, lo = self.windows, self.spread, self.ly_origin
        return (
            "log_scale",
            *(f"r{n}" for n in w),
            f"std{sp}",
            f"zero_share{sp}",
            f"ly_target{2 * self.ly_half + 1}",
            f"ly_origin{lo}",
            "ly_growth",
            "cat_growth",
            "cat_momentum",
            "same_period_last",
            "same_period_mean4",
            f"price_rel{self.price}",
            "discount_origin",
            "periods_since_sale",
            "age",
            "target_week" if self.freq.unit == "W" else "target_quarter",
            "target_month",
            "target_black_friday_days",
            "target_xmas_ramp",
            "target_xmas_days",
            "target_valentines_days",
            "target_holiday_days",
            "horizon",
            "holiday_days_origin",
            "seasonal_flag",
            "subcategory_code",
            "category_code",
        )


CADENCES = {
    "D": dict(
        windows=(7, 14, 28, 112),
        scale=56,
        spread=28,
        ly_half=3,
        ly_origin=28,
        cat_recent=7,
        cat_base=28,
        price=90,
        age_cap=730,
    ),
    "W": dict(
        windows=(1, 2, 4, 13),
        scale=8,
        spread=8,
        ly_half=1,
        ly_origin=4,
        cat_recent=1,
        cat_base=4,
        price=13,
        age_cap=156,
    ),
    "M": dict(
        windows=(1, 2, 3, 6),
        scale=3,
        spread=6,
        ly_half=1,
        ly_origin=3,
        cat_recent=1,
        cat_base=3,
        price=3,
        age_cap=36,
    ),
}


def cadence_of(freq: Frequency) -> Cadence:
    return Cadence(freq, **CADENCES[freq.unit])  # type: ignore[arg-type]


@dataclass(frozen=True)
class Vocabulary:
    """The codes of the categorical features: category and subcategory names, sorted, each coded by its
    position. Computed from the whole dataset's series, so a shard of it codes its series alike."""

    categories: np.ndarray
    subcategories: np.ndarray

    @classmethod
    def of(cls, category: np.ndarray | Sequence[object], subcategory: np.ndarray | None) -> Vocabulary:
        """The vocabulary of these series' categories and subcategories (one value per series)."""
        subs = np.unique(np.asarray(subcategory, dtype=str)) if subcategory is not None else np.array([], str)
        return cls(np.unique(np.asarray(category, dtype=str)), subs)

    @staticmethod
    def code(names: np.ndarray, values: np.ndarray | Sequence[object]) -> np.ndarray:
        """Each value's position in ``names`` (which holds every one of them)."""
        return np.searchsorted(names, np.asarray(values, dtype=str)).astype(np.int64)


@dataclass
class FeatureContext:
    """Cumulative sums over the grid, so any window mean is two lookups."""

    grid: DenseGrid
    cs: np.ndarray
    cs2: np.ndarray
    cn: np.ndarray
    cz: np.ndarray
    cpos: np.ndarray
    cat_index: np.ndarray
    cat_names: np.ndarray
    cat_cs: np.ndarray
    last_sale: np.ndarray
    price_ffill: np.ndarray
    discount_ffill: np.ndarray
    price_cs: np.ndarray
    price_cn: np.ndarray
    sub_code: np.ndarray
    seasonal: np.ndarray
    cadence: Cadence
    covariate_sums: dict[str, np.ndarray] = field(default_factory=dict)
    """Cumulative sums of each covariate over the data's periods (for its recent mean)."""
    lift_sums: dict[str, tuple[np.ndarray, ...]] = field(default_factory=dict)
    """Per known-future flag (:data:`LIFT_KINDS`): cumulative sales and observed periods with the flag on,
    then with it off (each series' own sales with and without it)."""

    @property
    def names(self) -> tuple[str, ...]:
        return self.cadence.names + covariate_names(self.grid.covariate_roles)

    @classmethod
    def build(cls, grid: DenseGrid, vocabulary: Vocabulary | None = None) -> FeatureContext:
        """The sums of ``grid``. ``vocabulary`` codes its categories and subcategories as a larger grid
        would (a shard of the dataset: its models must read the codes the whole dataset's grid gives)."""
        Y = grid.Y
        P, D = Y.shape
        observed = ~np.isnan(Y)
        y0 = np.where(observed, Y, 0.0)

        def csum(a: np.ndarray, dtype: type = np.float64) -> np.ndarray:
            out = np.zeros((a.shape[0], a.shape[1] + 1), dtype=dtype)
            np.cumsum(a, axis=1, dtype=dtype, out=out[:, 1:])
            return out

        words = vocabulary or Vocabulary.of(grid.category, grid.statics.get("subcategory"))
        cat_names = words.categories
        cat_index = words.code(words.categories, grid.category)
        members = np.zeros((len(cat_names), P))
        members[cat_index, np.arange(P)] = 1.0
        cat_sum = members @ y0.astype(np.float64)  # category totals per day (ufunc.at is 30x slower)
        pos = np.where(y0 > 0, np.arange(D)[None, :], -1)
        np.maximum.accumulate(pos, axis=1, out=pos)
        price = grid.price
        price_obs = ~np.isnan(price)
        disc = _ffill(grid.discount)
        sub = grid.statics.get("subcategory")
        sub_code = words.code(words.subcategories, sub) if sub is not None else np.zeros(P, dtype=np.int64)
        seasonal = grid.statics.get("seasonal_flag")
        seasonal_arr = np.asarray(seasonal, dtype=float) if seasonal is not None else np.zeros(P)
        sums: dict[str, Callable[[], np.ndarray]] = {
            "cs": lambda: csum(y0),
            "cs2": lambda: csum(y0 * y0),
            "cn": lambda: csum(observed, np.int32),
            "cz": lambda: csum(observed & (y0 == 0), np.int32),
            "cpos": lambda: csum(y0 > 0, np.int32),
            "cat_cs": lambda: csum(cat_sum),
            "price_cs": lambda: csum(np.where(price_obs, price, 0.0)),
            "price_cn": lambda: csum(price_obs, np.int32),
        }
        # numpy releases the GIL in cumsum: the sums run on every core (4.7 s -> 2.9 s at seed scale)
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            done = dict(zip(sums, pool.map(lambda make: make(), sums.values()), strict=True))
        return cls(
            grid=grid,
            cat_index=cat_index,
            cat_names=cat_names,
            last_sale=pos.astype(np.int32),
            price_ffill=price,
            discount_ffill=disc,
            sub_code=sub_code,
            seasonal=seasonal_arr,
            cadence=cadence_of(grid.frequency),
            covariate_sums={
                name: csum(np.nan_to_num(m[:, :D].astype(np.float64))) for name, m in grid.covariates.items()
            },
            lift_sums={
                role.column: _lift_sums(grid.covariates[role.column][:, :D], y0, observed, csum)
                for role in grid.covariate_roles
                if _has_lift(role)
            },
            **done,
        )

    def selling_days_until(self, p: np.ndarray, t: np.ndarray) -> np.ndarray:
        return self.cpos[p, t + 1]

    def mean(self, p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Each series' mean over its observed periods a..b (inclusive); NaN where it has none."""
        return _window(self.cs, self.cn, p, a, b)


#: known-future covariates that switch demand on and off: each series' sales with and without them are
#: features (a store's usual deal-week sales say more about its next deal week than its recent mean does)
LIFT_KINDS = ("promotion", "advertising", "event")


def _has_lift(role: CovariateRole) -> bool:
    return role.known == "future" and role.kind in LIFT_KINDS


def _lift_sums(
    m: np.ndarray, y0: np.ndarray, observed: np.ndarray, csum: Callable[..., np.ndarray]
) -> tuple[np.ndarray, ...]:
    on = np.nan_to_num(m) > 0
    off = observed & ~on
    on &= observed
    return csum(np.where(on, y0, 0.0)), csum(on, np.int32), csum(np.where(off, y0, 0.0)), csum(off, np.int32)


def promoted_cells(grid: DenseGrid, p: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Whether each (series ``p``, period ``target``) has a known-future promotion, advertising or event
    on (:data:`LIFT_KINDS`; all False when the grid declares none). Their errors are calibrated apart."""
    on = np.zeros(len(p), dtype=bool)
    for role in grid.covariate_roles:
        if _has_lift(role):
            on |= np.nan_to_num(_gather(grid.covariates[role.column], p, target)) > 0
    return on


def _ffill(m: np.ndarray) -> np.ndarray:
    D = m.shape[1]
    pos = np.where(~np.isnan(m), np.arange(D)[None, :], 0)
    np.maximum.accumulate(pos, axis=1, out=pos)
    return m[np.arange(m.shape[0])[:, None], pos]


def _window(
    cs: np.ndarray,
    cn: np.ndarray | None,
    rows: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    length: int | None = None,
) -> np.ndarray:
    """Mean of days a..b (inclusive) per row; NaN where the window holds no observed day."""
    a = np.clip(a, 0, None)
    valid = b >= a
    bb = np.clip(b, -1, cs.shape[1] - 2) + 1
    aa = np.clip(a, 0, cs.shape[1] - 1)
    total = cs[rows, bb] - cs[rows, aa]
    if cn is None:
        count = (bb - aa).astype(np.float64) if length is None else np.full(len(rows), float(length))
    else:
        count = (cn[rows, bb] - cn[rows, aa]).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(valid & (count > 0), total / np.maximum(count, 1), np.nan)
    return out


def build_features(
    ctx: FeatureContext,
    p: np.ndarray,
    t: np.ndarray,
    h: np.ndarray,
    dtype: type[np.floating] = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Feature matrix (rows x ``ctx.names``) and each row's scale, for targets on period t + h.
    ``dtype``: float32 for training's millions of rows; compiled trees read float64."""
    g = ctx.grid
    k = ctx.cadence
    daily = k.freq.unit == "D"
    n = len(p)
    cols: list[np.ndarray] = []
    r_scale = _window(ctx.cs, ctx.cn, p, t - k.scale + 1, t)
    scale = np.maximum(np.nan_to_num(r_scale, nan=0.0), MIN_SCALE)
    cols.append(np.log(scale))
    for w in k.windows:
        cols.append(_window(ctx.cs, ctx.cn, p, t - w + 1, t) / scale)
    m = _window(ctx.cs, ctx.cn, p, t - k.spread + 1, t)
    sq = _window(ctx.cs2, ctx.cn, p, t - k.spread + 1, t)
    cols.append(np.sqrt(np.clip(sq - m * m, 0, None)) / scale)
    cols.append(_window(ctx.cz.astype(np.float64), ctx.cn, p, t - k.spread + 1, t))
    target = t + h
    year = k.freq.year
    ly = target - year
    ly_t = _window(ctx.cs, ctx.cn, p, ly - k.ly_half, ly + k.ly_half)
    ly_o = _window(ctx.cs, ctx.cn, p, t - year - k.ly_origin + 1, t - year)
    cols += [ly_t / scale, ly_o / scale, (ly_t + 0.1) / (ly_o + 0.1)]
    c = ctx.cat_index[p]
    cat_t = _window(ctx.cat_cs, None, c, ly - k.ly_half, ly + k.ly_half)
    cat_o = _window(ctx.cat_cs, None, c, t - year - k.ly_origin + 1, t - year)
    cols.append((cat_t + 1.0) / (cat_o + 1.0))
    cols.append(
        (_window(ctx.cat_cs, None, c, t - k.cat_recent + 1, t) + 1.0)
        / (_window(ctx.cat_cs, None, c, t - k.cat_base + 1, t) + 1.0)
    )
    # the same point of the shortest cycle, last time round: the weekday for days, last year otherwise
    cycle = k.freq.cycle
    same = target - cycle * ((h + cycle - 1) // cycle)
    cols.append(_gather(g.Y, p, same) / scale)
    acc = np.zeros(n)
    cnt = np.zeros(n)
    for back in range(4):
        v = _gather(g.Y, p, same - cycle * back)
        ok = ~np.isnan(v)
        acc += np.where(ok, v, 0)
        cnt += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        cols.append(np.where(cnt > 0, acc / np.maximum(cnt, 1), np.nan) / scale)
    price_now = _gather(ctx.price_ffill, p, t)
    price_avg = _window(ctx.price_cs, ctx.price_cn, p, t - k.price + 1, t)
    with np.errstate(invalid="ignore", divide="ignore"):
        cols.append(price_now / price_avg)
    cols.append(_gather(ctx.discount_ffill, p, t))
    last = ctx.last_sale[p, np.clip(t, 0, g.n_days - 1)]
    cols.append(np.where(last >= 0, t - last, 999).astype(np.float64))
    # a series whose first row is among the data's first periods (the spread window's: 28 days, 8 weeks,
    # 6 months) may have sold long before them: its age
    # is unknown, at least the cap. Counted from the data's start it would be the calendar time, which
    # the trees split on like a clock and carry the latest weeks' level forward from (benchmarks/RESULTS.md)
    first = g.first[p]
    cols.append(np.where(first < k.spread, k.age_cap, np.minimum(t - first, k.age_cap)).astype(np.float64))
    cal = g.calendar
    if daily:
        target_day = g.start + target.astype("timedelta64[D]")
        cols += [
            calendar.day_of_week(target_day),
            calendar.day_of_month(target_day),
            calendar.month_of(target_day),
            cal.black_friday_weekend(target_day),
            cal.christmas_ramp(target_day),
            cal.is_christmas_day(target_day),
            cal.valentines_week(target_day),
            cal.holiday_period(target_day),
            h,
            _holidays_last7(g, t),
        ]
    else:
        cols += _period_calendar(g, target)
        cols.append(h)
        cols.append(_period_days(g, t, cal.holiday_period)[0])
    cols += [ctx.seasonal[p], ctx.sub_code[p], c]
    cols += _covariate_features(ctx, p, t, target, scale)
    X = np.empty((n, len(ctx.names)), dtype=dtype)
    for j, values in enumerate(cols):
        # float32 values whatever the dtype: the trees split on what training saw, and a float64 value
        # within a float32 step of a threshold would take the other branch
        X[:, j] = values if dtype is np.float32 else np.asarray(values, dtype=np.float32)
    return X, scale


def covariate_names(roles: Sequence[CovariateRole]) -> tuple[str, ...]:
    """The feature columns the user's covariates add (see :func:`_covariate_features`)."""
    names: list[str] = []
    for role in roles:
        base = f"cov_{role.column}"
        if role.known == "future":
            names += (
                [f"{base}_rel_target", f"{base}_rel_origin"]
                if role.kind == "price"
                else [
                    f"{base}_target",
                    f"{base}_origin",
                ]
            )
            if _has_lift(role):
                names += [f"{base}_on_mean", f"{base}_off_mean"]
        else:
            names += [f"{base}_rel_origin"] if role.kind == "price" else [f"{base}_origin", f"{base}_mean"]
    return tuple(names)


def _covariate_features(
    ctx: FeatureContext, p: np.ndarray, t: np.ndarray, target: np.ndarray, scale: np.ndarray
) -> list[np.ndarray]:
    """Known-future covariates enter at the target period (a planned price against its recent mean, a
    booked promotion) and at the origin; past-only ones at the origin and over the recent window, never
    after it."""
    g, k = ctx.grid, ctx.cadence
    cols: list[np.ndarray] = []
    for role in g.covariate_roles:
        m = g.covariates[role.column]
        cs = ctx.covariate_sums[role.column]
        at_origin = _gather(m, p, t)
        if role.kind == "price":
            recent = _window(cs, None, p, t - k.price + 1, t)
            with np.errstate(invalid="ignore", divide="ignore"):
                if role.known == "future":
                    cols.append(_gather(m, p, target) / recent)
                cols.append(at_origin / recent)
        elif role.known == "future":
            cols += [_gather(m, p, target), at_origin]
            if role.column in ctx.lift_sums:
                # over the last year up to the origin, relative to the scale the target is divided by
                on_cs, on_cn, off_cs, off_cn = ctx.lift_sums[role.column]
                year_ago = t - k.freq.year + 1
                cols += [
                    _window(on_cs, on_cn, p, year_ago, t) / scale,
                    _window(off_cs, off_cn, p, year_ago, t) / scale,
                ]
        else:
            cols += [at_origin, _window(cs, None, p, t - k.spread + 1, t)]
    return cols


def _period_days(
    grid: DenseGrid, index: np.ndarray, flag: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """(how many days of each period ``index`` the daily ``flag`` marks, the period's dates)."""
    lo, hi = int(index.min()), int(index.max())
    periods = np.arange(lo, hi + 1)
    dates = grid.date_at(periods)
    if grid.frequency.unit == "W":  # a week is dated by its last day (pandas' W-<weekday>)
        ends = dates
        starts = dates - np.timedelta64(6, "D")
    else:  # a month covers its calendar days, whichever of them dates it
        month = dates.astype("datetime64[M]")
        starts = month.astype("datetime64[D]")
        ends = (month + np.timedelta64(1, "M")).astype("datetime64[D]") - np.timedelta64(1, "D")
    first, last = starts.min(), ends.max()
    days = first + np.arange(int((last - first).astype(int)) + 1).astype("timedelta64[D]")
    cum = np.concatenate([[0.0], np.cumsum(flag(days).astype(np.float64))])
    a = (starts - first).astype(np.int64)
    b = (ends - first).astype(np.int64) + 1
    counts = cum[b] - cum[a]
    return counts[index - lo], dates[index - lo]


def special_periods(grid: DenseGrid, index: np.ndarray) -> np.ndarray:
    """Whether each period ``index`` holds a day the calendar singles out
    (:meth:`~matih.calendar.BusinessCalendar.special`): a holiday week is special, as is a holiday."""
    index = np.asarray(index, dtype=np.int64)
    if index.size == 0:
        return np.zeros(0, dtype=bool)
    unique, inverse = np.unique(index, return_inverse=True)
    if grid.frequency.unit == "D":
        flags = grid.calendar.special(grid.date_at(unique))
    else:
        flags = _period_days(grid, unique, grid.calendar.special)[0] > 0
    return np.asarray(flags, dtype=bool)[inverse]


def _period_calendar(grid: DenseGrid, target: np.ndarray) -> list[np.ndarray]:
    """What the calendar says about each target period: its week or quarter, month, and how many of its
    days are in each of the retail calendar's windows."""
    cal = grid.calendar
    bf, dates = _period_days(grid, target, cal.black_friday_weekend)
    ramp, _ = _period_days(grid, target, cal.christmas_ramp)
    xmas, _ = _period_days(grid, target, cal.is_christmas_day)
    valentines, _ = _period_days(grid, target, cal.valentines_week)
    holidays, _ = _period_days(grid, target, cal.holiday_period)
    month = calendar.month_of(dates)
    first = (calendar.day_of_year(dates) - 1) // 7 + 1 if grid.frequency.unit == "W" else (month - 1) // 3 + 1
    return [first, month, bf, ramp, xmas, valentines, holidays]


def _gather(m: np.ndarray, p: np.ndarray, day: np.ndarray) -> np.ndarray:
    ok = (day >= 0) & (day < m.shape[1])
    out = np.full(len(p), np.nan)
    out[ok] = m[p[ok], day[ok]]
    return out


def _holidays_last7(grid: DenseGrid, t: np.ndarray) -> np.ndarray:
    """How many of the 7 days ending at the origin were holiday-period days (they inflate recent means)."""
    lo, hi = int(t.min()) - 6, int(t.max())
    days = grid.start + np.arange(lo, hi + 1).astype("timedelta64[D]")
    cal = grid.calendar
    flags = (cal.holiday_period(days) | cal.black_friday_weekend(days)).astype(np.float64)
    cum = np.concatenate([[0.0], np.cumsum(flags)])
    return cum[t - lo + 1] - cum[t - lo - 6]
