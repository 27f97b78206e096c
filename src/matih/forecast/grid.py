"""A dense daily grid of every series, built from a dataset table that may skip zero-sales days.

The seed's ``daily_sales`` CTE keeps only days with sales, so its ROWS windows and LAGs count selling
days, not calendar days. Training on those rows would teach a model that a sparse product sold every
day. The grid puts every calendar day back (zero units where the dataset has no row) and the features
are recomputed on it; ``gap_report`` measures how far the dataset's ROWS windows drift.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from matih.calendar import BusinessCalendar
from matih.exceptions import TrainingError
from matih.forecast.config import ColumnRoles, CovariateRole
from matih.forecast.frequency import DAILY, Frequency, frequency_of
from matih.warehouse import Engine

log = logging.getLogger(__name__)


@dataclass
class GapReport:
    """How many series skip calendar days, and how far a 7-row window stretches on them."""

    series: int
    gappy_series: int
    missing_days: int
    #: median calendar span covered by the last 7 rows of a gappy series
    median_span_of_7_rows: float

    @property
    def gappy_share(self) -> float:
        return self.gappy_series / self.series if self.series else 0.0

    noun: str = "day"
    """The grid's period (``day``, ``week``, ``month``)."""
    adjective: str = "daily"
    zero_filled: bool = True
    """Whether a period without a row is a zero (``missing_rows: zero``) or unknown."""

    def warning(self) -> str | None:
        if not self.gappy_series:
            return None
        n, adjective = self.noun, self.adjective
        filled = "zero-filled" if self.zero_filled else "periods without a row unknown"
        return (
            f"{self.gappy_series:,} of {self.series:,} series ({self.gappy_share:.0%}) skip "
            f"{self.missing_days:,} calendar {n}s; ROWS-based windows in the dataset span a median "
            f"{self.median_span_of_7_rows:.0f} calendar {n}s per 7 rows. MATIH trains on a dense "
            f"{adjective} grid ({filled}) and recomputes windows in calendar {n}s, so these columns are "
            "not used as features."
        )


@dataclass
class DenseGrid:
    """Series x days matrices. Day 0 is ``start``; ``Y`` is NaN before a series' first row."""

    series: np.ndarray
    category: np.ndarray
    start: np.datetime64
    Y: np.ndarray
    price: np.ndarray
    discount: np.ndarray
    first: np.ndarray
    selling_days: np.ndarray
    statics: dict[str, np.ndarray] = field(default_factory=dict)
    present: np.ndarray | None = None
    """Days with a dataset row, per series (what the gap report reads)."""
    frequency: Frequency = DAILY
    """What a column of the matrices is: a day, a week or a month (see :mod:`matih.forecast.frequency`)."""
    notes: list[str] = field(default_factory=list)
    """What reading the dataset did about its oddities (summed duplicates, negative targets, series that
    never sold or stopped early): the training summary prints them."""
    covariates: dict[str, np.ndarray] = field(default_factory=dict)
    """The user's covariates, series x periods; a known-future one runs ``horizon`` periods past the
    data with its planned values (NaN where none was planned: see :meth:`require_planned`)."""
    covariate_roles: tuple[CovariateRole, ...] = ()
    missing_future: str = "error"
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)
    """The holidays and events the features may know in advance (matih.yaml's ``calendar``)."""
    missing_rows: str = "zero"
    """What a period without a row is: ``zero`` (sold nothing) or ``unknown`` (NaN in ``Y``)."""
    closed: np.ndarray | None = None
    """Per period from the start (the data's and ``horizon`` more): True where the business does not
    trade. Closed periods are unobserved (NaN) in ``Y``, never targets, never forecast."""

    def is_open(self, index: np.ndarray) -> np.ndarray:
        """Whether each period index is a trading period (every period, without a trading calendar)."""
        if self.closed is None:
            return np.ones(np.shape(index), dtype=bool)
        inside = (index >= 0) & (index < len(self.closed))
        return ~np.where(inside, self.closed[np.clip(index, 0, len(self.closed) - 1)], False)

    @property
    def n_days(self) -> int:
        """Periods in the grid (days, for a daily grid: the name predates weekly and monthly grids)."""
        return int(self.Y.shape[1])

    def date_at(self, index: np.ndarray | int) -> np.ndarray:
        """The date of period ``index`` (a column of the matrices)."""
        return self.frequency.date_at(self.start, index)

    def require_planned(self, series: np.ndarray, last: int) -> None:
        """Refuse a forecast reaching period ``last`` when a known-future covariate has no planned value
        for one of ``series`` (``missing_future: error``), naming the series and dates."""
        for role in self.covariate_roles:
            if role.known != "future" or last < self.n_days:
                continue
            future = self.covariates[role.column][series, self.n_days : last + 1]
            gaps = np.isnan(future)
            if gaps.any():
                rows, cols = np.nonzero(gaps)
                names = sorted({str(self.series[series[r]]) for r in rows[:50]})[:5]
                dates = sorted({str(self.date_at(int(self.n_days + c))) for c in cols})
                raise TrainingError(
                    f"covariate {role.column!r} is known in the future but has no planned value for "
                    f"{len(set(rows.tolist())):,} series (e.g. {', '.join(names)}) on {', '.join(dates[:5])}"
                    f"{' ...' if len(dates) > 5 else ''}. Add them to the planned_values "
                    "table, or set missing_future to 'last_value' or 'zero'"
                )

    def until(self, end: int) -> DenseGrid:
        """The grid as it was when period ``end`` was the last with data: what a backtest from an earlier
        origin may know (known-future covariates and the trading calendar keep their planned periods)."""
        if not 0 <= end < self.n_days:
            raise TrainingError(f"cannot cut the grid at period {end}: it has {self.n_days}")
        keep = end + 1
        Y = self.Y[:, :keep]
        extra = {name: m[:, : keep + max(0, m.shape[1] - self.n_days)] for name, m in self.covariates.items()}
        closed = None
        if self.closed is not None:
            closed = self.closed[: keep + max(0, len(self.closed) - self.n_days)]
        present = self.present[:, :keep] if self.present is not None else None
        return dataclasses.replace(
            self,
            Y=Y,
            price=self.price[:, :keep],
            discount=self.discount[:, :keep],
            selling_days=(np.nan_to_num(Y) > 0).sum(axis=1),
            present=present,
            covariates=extra,
            closed=closed,
            notes=list(self.notes),
        )

    @cached_property
    def gaps(self) -> GapReport | None:
        """Computed on first use: a forecast-only load never needs it (1.5 s at seed scale)."""
        if self.present is None:
            return None
        report = _gap_report(self.present, self.first, self.selling_days, self.n_days)
        report.noun, report.adjective = self.frequency.noun, self.frequency.adjective
        report.zero_filled = self.missing_rows == "zero"
        return report


def load_grid(
    warehouse: Engine,
    dataset: str,
    roles: ColumnRoles,
    *,
    end: np.datetime64 | None = None,
    start: np.datetime64 | None = None,
    frequency: str | None = None,
    negative_values: str = "clip",
    missing_rows: str = "zero",
    covariates: Sequence[CovariateRole] = (),
    planned_values: str | None = None,
    horizon: int = 0,
    missing_future: str = "error",
    closed_weekdays: Sequence[str] = (),
    closures_table: str | None = None,
) -> DenseGrid:
    """Read ``dataset`` from the warehouse into a dense grid (one value per series and period: rows that
    share a period are summed by DuckDB). ``frequency`` is checked against the dates, or inferred.
    ``negative_values`` (``keep``, ``clip`` to 0, or ``error``) says what a negative target (returns
    exceeding sales) becomes; ``missing_rows`` whether a period without a row sold nothing (``zero``)
    or is unknown (``unknown``: NaN, as before a series' first row). Each oddity met is described in
    :attr:`DenseGrid.notes`. ``start`` and ``end`` fix the grid's first and last period (a shard of
    the dataset spans the whole dataset's)."""
    warehouse.require_table(dataset)
    columns = _columns(warehouse, dataset)
    r = roles
    missing = [c for c in (r.series_column, r.date_column, r.target_column) if c not in columns]
    if missing:
        raise TrainingError(
            f"dataset {dataset} has no column(s) {missing}; it has {sorted(columns)}. Set the column roles "
            "(series_column, date_column, target_column) in the ray_train task's hyperparameters"
        )
    absent = [c.column for c in covariates if c.column not in columns]
    if absent:
        raise TrainingError(
            f"dataset {dataset} has no covariate column(s) {absent}; it has {sorted(columns)}. Check "
            "hyperparameters.covariates"
        )
    price = r.price_column if r.price_column in columns else None
    disc = r.discount_column if r.discount_column in columns else None
    s, d = quoted(r.series_column), quoted(r.date_column)
    where = f"WHERE {d} <= DATE '{np.datetime_as_string(end, 'D')}'" if end is not None else ""

    # Rows are read as they are; when a (series, day) repeats, they are read again aggregated by DuckDB
    # (5x slower at seed scale, so only when needed). Series ids are ranked in Arrow (a hash, not a sort).
    def rows_sql(aggregate: bool) -> str:
        def agg(fn: str, column: str | None) -> str:
            if column is None:
                return "NULL"
            return f"{fn}({quoted(column)})" if aggregate else quoted(column)

        extra = "".join(
            f", CAST({agg('avg', c.column)} AS DOUBLE) AS {quoted('cov:' + c.column)}" for c in covariates
        )
        return f"""
        SELECT CAST({s} AS VARCHAR) AS sid, CAST({d} AS DATE) AS day,
               CAST({agg("sum", r.target_column)} AS DOUBLE) AS y,
               {agg("avg", price)} AS price, {agg("avg", disc)} AS discount {extra}
        FROM {dataset} {where} {"GROUP BY ALL" if aggregate else ""}"""

    statics = [c for c in r.static_columns if c in columns]
    with warehouse.cursor() as con:
        meta = con.execute(series_meta_sql(dataset, roles, columns, where)).to_arrow_table()
        rows = con.execute(rows_sql(aggregate=False)).to_arrow_table()
        if rows.num_rows == 0:
            raise TrainingError(f"dataset {dataset} has no rows to train on")
        dates = np.unique(rows.column("day").to_numpy().astype("datetime64[D]"))
        _refuse_future(dataset, r.date_column, dates)
        freq = frequency_of(frequency, dates)
        idx, day, start = _positions(rows, meta, freq, start)
        P = meta.num_rows
        D = int(day.max()) + 1 if end is None else freq.index_of(start, end) + 1
        present = np.zeros((P, D), dtype=bool)
        present[idx, day] = True
        notes: list[str] = []
        if (cells := int(present.sum())) != rows.num_rows:  # some (series, period) has several rows
            notes.append(
                f"{rows.num_rows - cells:,} rows shared a series and {freq.noun} with another row: their "
                f"{r.target_column} were summed (and prices averaged) into {cells:,} {freq.noun}s"
            )
            rows = con.execute(rows_sql(aggregate=True)).to_arrow_table()
            idx, day, start = _positions(rows, meta, freq, start)
    Y = np.zeros((P, D), dtype=np.float32)
    Y[idx, day] = _targets(rows, freq, negative_values, notes, r.target_column)
    first = present.argmax(axis=1).astype(np.int64)  # every series has a row (ufunc.at is 30x slower)
    Y[np.arange(D)[None, :] < first[:, None]] = np.nan
    if missing_rows == "unknown":
        unrecorded = ~present & (np.arange(D)[None, :] > first[:, None])
        Y[unrecorded] = np.nan
        if count := int(unrecorded.sum()):
            notes.append(
                f"{count:,} periods without a row are unknown, not zeros (missing_rows: unknown): "
                "they are neither training targets nor scored"
            )
    closed = _closed_periods(warehouse, closures_table, closed_weekdays, freq, start, D + horizon)
    if closed is not None:
        sold = int(np.count_nonzero(np.nan_to_num(Y[:, closed[:D]])))
        Y[:, closed[:D]] = np.nan
        notes.append(
            f"{int(closed[:D].sum()):,} closed days are not training zeros"
            + (f" ({sold:,} series-days with sales on them were dropped)" if sold else "")
        )
    selling = present.sum(axis=1)
    price_m = _ffill_matrix(P, D, idx, day, rows.column("price").to_numpy(zero_copy_only=False), first)
    disc_vals = rows.column("discount").to_numpy(zero_copy_only=False)
    discount = np.full((P, D), np.nan, dtype=np.float32)
    discount[idx, day] = disc_vals
    static_values = {c: meta.column(c).to_numpy(zero_copy_only=False) for c in statics}
    covariate_values = _covariates(rows, idx, day, P, D, first, covariates, horizon)
    if planned_values and any(c.known == "future" for c in covariates):
        where_next = (start, freq, D, horizon)
        _planned(warehouse, planned_values, roles, meta, where_next, covariates, covariate_values)
    _fill_future(covariate_values, covariates, D, missing_future)
    return DenseGrid(
        series=meta.column("sid").to_numpy(zero_copy_only=False).astype(str),
        category=np.asarray(meta.column("category").to_pylist(), dtype=object),
        start=start,
        Y=Y,
        price=price_m,
        discount=discount,
        first=first,
        selling_days=selling,
        statics=static_values,
        present=present,
        frequency=freq,
        notes=notes + _series_notes(Y, present, freq),
        covariates=covariate_values,
        covariate_roles=tuple(covariates),
        missing_future=missing_future,
        missing_rows=missing_rows,
        closed=closed,
    )


_WEEKDAY_NAMES = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


def _closed_periods(
    warehouse: Engine,
    table: str | None,
    weekdays: Sequence[str],
    freq: Frequency,
    start: np.datetime64,
    periods: int,
) -> np.ndarray | None:
    """The trading calendar: closed weekdays and the dates of ``table`` (a ``date`` column)."""
    if not weekdays and not table:
        return None
    if freq.unit != "D":
        raise TrainingError(
            f"closed_weekdays and closures_table describe days, but the dataset is {freq.adjective}; "
            "remove them (a week or month with closed days is still one period)"
        )
    days = start + np.arange(periods).astype("timedelta64[D]")
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
    closed = np.isin(weekday, [_WEEKDAY_NAMES.index(w) for w in weekdays])
    if table:
        if not warehouse.table_exists(table):
            raise TrainingError(f"closures_table {table} does not exist; create it or remove the setting")
        if "date" not in _columns(warehouse, table):
            raise TrainingError(f"closures_table {table} needs a 'date' column of closed dates")
        dates = warehouse.query(f"SELECT DISTINCT CAST(date AS DATE) AS d FROM {table}")
        shut = dates.column("d").to_numpy().astype("datetime64[D]")
        closed |= np.isin(days, shut)
    return closed


def _covariates(
    rows: pa.Table,
    idx: np.ndarray,
    day: np.ndarray,
    P: int,
    D: int,
    first: np.ndarray,
    roles: Sequence[CovariateRole],
    horizon: int,
) -> dict[str, np.ndarray]:
    """Each covariate as series x periods. Between rows a price holds (carried forward); a promotion,
    an advertisement or an event did not happen (0). Known-future ones get ``horizon`` more periods."""
    out = {}
    for role in roles:
        values = rows.column("cov:" + role.column).to_numpy(zero_copy_only=False).astype(np.float64)
        width = D + (horizon if role.known == "future" else 0)
        if role.kind == "price":
            m = np.full((P, width), np.nan, dtype=np.float32)
            m[:, :D] = _ffill_matrix(P, D, idx, day, values, first)
        else:
            m = np.zeros((P, width), dtype=np.float32)
            m[:, D:] = np.nan
            ok = ~np.isnan(values)
            m[idx[ok], day[ok]] = values[ok]
        out[role.column] = m
    return out


def _planned(
    warehouse: Engine,
    table: str,
    roles: ColumnRoles,
    meta: pa.Table,
    where_next: tuple[np.datetime64, Frequency, int, int],
    covariates: Sequence[CovariateRole],
    out: dict[str, np.ndarray],
) -> None:
    """Planned values of the known-future covariates for the ``horizon`` periods after the data
    (``where_next``: the grid's first date, frequency, periods and the horizon)."""
    start, freq, D, horizon = where_next
    if not warehouse.table_exists(table):
        return  # training needs no plan; a forecast past the data will say what is missing
    known = [c.column for c in covariates if c.known == "future"]
    have = _columns(warehouse, table)
    needed = [roles.series_column, roles.date_column, *known]
    if missing := [c for c in needed if c not in have]:
        raise TrainingError(f"planned_values table {table} has no column(s) {missing}; it needs {needed}")
    s, d = quoted(roles.series_column), quoted(roles.date_column)
    picked = ", ".join(f"CAST(avg({quoted(c)}) AS DOUBLE) AS {quoted(c)}" for c in known)
    planned = warehouse.query(
        f"SELECT CAST({s} AS VARCHAR) AS sid, CAST({d} AS DATE) AS day, {picked} FROM {table} GROUP BY ALL"
    )
    if planned.num_rows == 0:
        return
    index = pd.Index(meta.column("sid").to_pylist()).get_indexer(planned.column("sid").to_pylist())
    days = planned.column("day").to_numpy().astype("datetime64[D]")
    period = np.array([freq.index_of(start, x) for x in days], dtype=np.int64)
    ok = (index >= 0) & (period >= D) & (period < D + horizon)
    for column in known:
        values = planned.column(column).to_numpy(zero_copy_only=False).astype(np.float64)
        out[column][index[ok], period[ok]] = values[ok]


def _fill_future(
    covariates: dict[str, np.ndarray], roles: Sequence[CovariateRole], D: int, missing_future: str
) -> None:
    """Fill unplanned future values as ``missing_future`` says (``error`` leaves them for
    :meth:`DenseGrid.require_planned` to refuse, when a forecast needs them)."""
    if missing_future == "error":
        return
    for role in roles:
        m = covariates[role.column]
        if role.known != "future" or m.shape[1] == D:
            continue
        future = m[:, D:]
        fill = m[:, D - 1 : D] if missing_future == "last_value" else np.zeros((m.shape[0], 1))
        m[:, D:] = np.where(np.isnan(future), fill, future)


def _refuse_future(dataset: str, column: str, dates: np.ndarray) -> None:
    """A dataset of history has no dates after today: they would be taken for sales already made."""
    today = np.datetime64(dt.datetime.now(dt.UTC).date(), "D")
    ahead = dates[dates > today]
    if len(ahead):
        raise TrainingError(
            f"dataset {dataset} has {len(ahead):,} dates after today ({today}) in {column}, from {ahead[0]} "
            f"to {ahead[-1]}: the training table holds what happened. Keep planned values (prices, "
            "promotions) in their own table, or filter the rows with a WHERE clause in the query"
        )


def _targets(
    rows: pa.Table,
    freq: Frequency,
    negative_values: str,
    notes: list[str],
    target: str,
) -> np.ndarray:
    """The rows' targets, with negative values kept, clipped or refused as the spec says."""
    y = rows.column("y").to_numpy(zero_copy_only=False).astype(np.float32)
    negative = np.nan_to_num(y) < 0
    if not negative.any():
        return y
    count = int(negative.sum())
    first = int(np.argmax(negative))
    series = rows.column("sid")[first].as_py()
    when = rows.column("day")[first].as_py()
    if negative_values == "error":
        raise TrainingError(
            f"{count:,} {freq.noun}s have a negative {target} (e.g. series {series!r} on {when}: "
            f"{y[first]:g}), and negative_values is 'error'. Set hyperparameters.negative_values to "
            "'clip' (count them as 0 sold) or 'keep' (forecast net units, which may be negative)"
        )
    if negative_values == "keep":
        notes.append(f"{count:,} negative {target} values kept (negative_values: keep): net units")
        return y
    notes.append(
        f"{count:,} negative {target} values (e.g. series {series!r} on {when}) counted as 0 sold "
        "(negative_values: clip; 'keep' forecasts net units, 'error' refuses them)"
    )
    return np.maximum(y, 0.0)


def _series_notes(Y: np.ndarray, present: np.ndarray, freq: Frequency) -> list[str]:
    """Series the model can say little about: one row, never sold, or stopped well before the end."""
    notes = []
    D = Y.shape[1]
    rows = present.sum(axis=1)
    if single := int((rows == 1).sum()):
        notes.append(f"{single:,} series have a single row: the fallback model forecasts them")
    sold = np.nansum(np.clip(Y, 0, None), axis=1)
    if never := int((sold == 0).sum()):
        notes.append(f"{never:,} series never sold: their forecasts are about 0")
    last = D - 1 - np.argmax(present[:, ::-1], axis=1)
    quiet = max(2 * freq.cycle, 4) if freq.unit == "D" else 4
    if ended := int(((D - 1 - last) >= quiet).sum()):
        notes.append(
            f"{ended:,} series have no row in the last {quiet} {freq.noun}s (ended before the others, or "
            "sell rarely): they are forecast from their recent zeros"
        )
    return notes


def _positions(
    rows: pa.Table, meta: pa.Table, freq: Frequency, start: np.datetime64 | None = None
) -> tuple[np.ndarray, np.ndarray, np.datetime64]:
    """Each row's series index (in ``meta``'s order) and period offset, and the first period's date
    (``start`` when given: a shard's grid counts from the whole dataset's first period)."""
    encoded = pc.dictionary_encode(rows.column("sid")).combine_chunks()
    names = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    order = pd.Index(meta.column("sid").to_pylist()).get_indexer(names)
    idx = order[encoded.indices.to_numpy()].astype(np.int64)
    days = rows.column("day").to_numpy().astype("datetime64[D]")
    if start is not None:
        return idx, freq.indices(start, days), start
    periods, first = freq.positions(days)
    return idx, periods, first


def series_meta_sql(dataset: str, roles: ColumnRoles, columns: set[str], where: str = "") -> str:
    """One row per series: its id, its latest category and static values, ordered by id (the grid's
    row order)."""
    s, d = quoted(roles.series_column), quoted(roles.date_column)
    cat = roles.category_column if roles.category_column in columns else None
    statics = [c for c in roles.static_columns if c in columns]
    # categories are names whatever their column's type (a store number is a category too)
    return f"""
        SELECT CAST({s} AS VARCHAR) AS sid,
               {f"CAST(arg_max({quoted(cat)}, {d}) AS VARCHAR)" if cat else "NULL"} AS category
               {"".join(f", arg_max({quoted(c)}, {d}) AS {quoted(c)}" for c in statics)}
        FROM {dataset} {where} GROUP BY ALL ORDER BY sid"""


def quoted(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _columns(warehouse: Engine, dataset: str) -> set[str]:
    return {column for column, _ in warehouse.columns(dataset)}


def _ffill_matrix(
    P: int, D: int, idx: np.ndarray, day: np.ndarray, values: np.ndarray, first: np.ndarray
) -> np.ndarray:
    """Carry the last observed value forward along each row (the price holds between sales)."""
    out = np.full((P, D), np.nan, dtype=np.float32)
    ok = ~np.isnan(values.astype(np.float64))
    out[idx[ok], day[ok]] = values[ok]
    mask = np.isnan(out)
    pos = np.where(~mask, np.arange(D)[None, :], 0)
    np.maximum.accumulate(pos, axis=1, out=pos)
    filled = out[np.arange(P)[:, None], pos]
    return filled.astype(np.float32)


def _gap_report(present: np.ndarray, first: np.ndarray, selling: np.ndarray, D: int) -> GapReport:
    P = present.shape[0]
    calendar_days = D - first
    missing = calendar_days - selling
    gappy = missing > 0
    s_idx, s_day = np.nonzero(present)  # memory order: by series, then day (no sort needed)
    same = s_idx[6:] == s_idx[:-6]
    spans = (s_day[6:] - s_day[:-6] + 1)[same]
    gappy_rows = gappy[s_idx[6:][same]]
    median = float(np.median(spans[gappy_rows])) if gappy_rows.any() else 7.0
    return GapReport(
        series=P,
        gappy_series=int(gappy.sum()),
        missing_days=int(missing[gappy].sum()),
        median_span_of_7_rows=median,
    )
