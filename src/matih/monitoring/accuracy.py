"""``accuracy_tracking``: every archived forecast scored against its actuals once they are complete.

A forecast for date ``d`` is scored once ``d`` is at least ``evaluation_lag_days`` before the evaluation
day and the dataset holds actuals through ``d`` (a day the data does not reach yet is never read). When
several batches were published for one origin, the last one counts: it is the one that was live.

Shadow forecasts (every family's champion on every category, :mod:`matih.forecast.shadow`) are scored
the same way into :data:`FAMILY_ACCURACY_TABLE`, per (forecast date, family, category).

Results go to :data:`ACCURACY_TABLE`, one row per (forecast date, category, lead), plus the rows of each
date over all categories (``category = 'ALL'``) and over all leads (``lead_days = 0``), so a day's
overall figure, a category's trend and the error by lead time are each one ``WHERE`` away. Metrics are
MATIH's (:mod:`matih.forecast.metrics`): volume-weighted MAPE, bias, RMSE, interval coverage, and MASE
(each error divided by the product's mean absolute day-to-day change over the 28 days before its
origin; Hyndman and Koehler 2006).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from matih.forecast.archive import archive_table, shadow_table
from matih.forecast.config import TrainConfig
from matih.forecast.dataset import load_dataset_grid
from matih.forecast.grid import DenseGrid
from matih.warehouse import warehouse_of
from matih.workspace import Workspace

__all__ = [
    "ACCURACY_TABLE",
    "ALL",
    "FAMILY_ACCURACY_TABLE",
    "AccuracyResult",
    "score_archive",
    "track_accuracy",
    "track_family_accuracy",
]

ACCURACY_TABLE = "analytics.monitoring.forecast_accuracy"
FAMILY_ACCURACY_TABLE = "analytics.monitoring.family_accuracy"
"""The shadow forecasts scored: one row per (forecast date, family, category), every lead pooled."""
ALL = "ALL"
#: days before the origin the MASE scale is measured over
SCALE_DAYS = 28


@dataclass
class AccuracyResult:
    table: str
    rows: int
    scored_forecasts: int
    last_scored: str | None
    """The latest forecast date scored (None: nothing has matured yet)."""
    daily: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per category (and ``ALL``), the chosen metric per forecast date, oldest first."""


def score_archive(
    archive: pa.Table, grid: DenseGrid, *, through: dt.date, carry: tuple[str, ...] = ()
) -> pa.Table:
    """One row per archived forecast whose date is on or before ``through`` and whose actual the grid
    holds: (forecast_date, category, lead_days, actual, predicted, lower, upper, scale), plus the
    archive's ``carry`` columns (a shadow's ``family``)."""
    if archive.num_rows == 0:
        empty = _scored(np.empty(0, "datetime64[D]"), pa.array([], pa.string()), *(np.empty(0),) * 6)
        return _carried(empty, archive, carry, pa.array([], pa.bool_()))
    dates = archive.column("forecast_date").to_numpy().astype("datetime64[D]")
    origins = archive.column("forecast_origin").to_numpy().astype("datetime64[D]")
    product = series_rows(grid, archive.column("product_id"))
    target = grid.frequency.indices(grid.start, dates)
    origin = grid.frequency.indices(grid.start, origins)
    ok = (product >= 0) & (target >= 0) & (target < grid.n_days) & (dates <= np.datetime64(through))
    y = np.full(len(ok), np.nan)
    y[ok] = grid.Y[product[ok], target[ok]]
    ok &= ~np.isnan(y)  # before the product's first row, a closed day or an unrecorded one: nothing to score
    scale = _mase_scale(grid, product[ok], origin[ok])
    keep = pa.array(ok)
    scored = _scored(
        dates[ok],
        archive.column("category").filter(keep),
        _floats(archive, "horizon_days")[ok],
        y[ok],
        _floats(archive, "predicted_units")[ok],
        _floats(archive, "prediction_interval_lower")[ok],
        _floats(archive, "prediction_interval_upper")[ok],
        scale,
    )
    return _carried(scored, archive, carry, keep)


def _carried(scored: pa.Table, archive: pa.Table, carry: tuple[str, ...], keep: pa.Array) -> pa.Table:
    for name in carry:
        scored = scored.append_column(name, archive.column(name).filter(keep))
    return scored


def _floats(table: pa.Table, column: str) -> np.ndarray:
    return np.asarray(table.column(column).cast(pa.float64()).to_numpy(), dtype=np.float64)


def series_rows(grid: DenseGrid, ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Each id's row in the grid, -1 where the grid has no such series. The ids are dictionary-encoded
    first (in Arrow's C++), so only the distinct ones are looked up: 19M ids in about a second."""
    encoded = pc.dictionary_encode(ids.cast(pa.string()))
    if isinstance(encoded, pa.ChunkedArray):
        encoded = (
            encoded.unify_dictionaries().combine_chunks()
            if encoded.num_chunks
            else pa.array([], pa.dictionary(pa.int32(), pa.string()))
        )
    lookup = pd.Index(grid.series).get_indexer(encoded.dictionary.to_pandas())
    return np.asarray(lookup, dtype=np.int64)[encoded.indices.to_numpy(zero_copy_only=False)]


def _scored(
    dates: np.ndarray,
    category: pa.Array | pa.ChunkedArray,
    lead: np.ndarray,
    y: np.ndarray,
    yhat: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    scale: np.ndarray,
) -> pa.Table:
    return pa.table(
        {
            "forecast_date": pa.array(dates, pa.date32()),
            "category": category.cast(pa.string()),
            "lead_days": pa.array(lead.astype(np.int32)),
            "actual": pa.array(y, pa.float64()),
            "predicted": pa.array(yhat, pa.float64()),
            "lower": pa.array(lower, pa.float64()),
            "upper": pa.array(upper, pa.float64()),
            "scale": pa.array(scale, pa.float64()),
        }
    )


def _mase_scale(grid: DenseGrid, product: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Mean absolute period-to-period change of each product over the SCALE_DAYS before its origin."""
    Y = np.nan_to_num(grid.Y)
    steps = np.abs(np.diff(Y, axis=1))
    cum = np.zeros((Y.shape[0], Y.shape[1]), dtype=np.float64)
    np.cumsum(steps, axis=1, out=cum[:, 1:])
    hi = np.clip(origin, 0, grid.n_days - 1)
    lo = np.clip(hi - SCALE_DAYS, 0, None)
    span = np.maximum(hi - lo, 1)
    return (cum[product, hi] - cum[product, lo]) / span


# DuckDB aggregates the scored rows: one statement computes every grouping the table holds
_METRICS = """count(*) AS forecasts,
       sum(actual) AS actual_units,
       sum(predicted) AS predicted_units,
       CASE WHEN sum(abs(actual)) > 0 THEN sum(abs(actual - predicted)) / sum(abs(actual)) END AS mape,
       CASE WHEN sum(actual) > 0 THEN (sum(predicted) - sum(actual)) / sum(actual) END AS bias,
       sqrt(avg((actual - predicted) ^ 2)) AS rmse,
       avg(abs(actual - predicted) / scale) FILTER (WHERE scale > 0) AS mase,
       avg(CASE WHEN actual BETWEEN lower AND upper THEN 1.0 ELSE 0.0 END) AS coverage"""
_AGGREGATE = f"""
SELECT forecast_date,
       CASE WHEN grouping(category) = 1 THEN '{ALL}' ELSE category END AS category,
       CASE WHEN grouping(lead_days) = 1 THEN 0 ELSE lead_days END AS lead_days,
       {_METRICS}
FROM scored
GROUP BY GROUPING SETS ((forecast_date, category, lead_days), (forecast_date, category),
                        (forecast_date, lead_days), (forecast_date))
ORDER BY forecast_date, category, lead_days
"""


# per family, every lead pooled: what auto_reassign compares
_AGGREGATE_FAMILIES = f"""
SELECT forecast_date, family,
       CASE WHEN grouping(category) = 1 THEN '{ALL}' ELSE category END AS category,
       {_METRICS}
FROM scored
GROUP BY GROUPING SETS ((forecast_date, family, category), (forecast_date, family))
ORDER BY forecast_date, family, category
"""


def aggregate(scored: pa.Table, *, families: bool = False) -> pa.Table:
    """The accuracy table's rows from :func:`score_archive`'s (``families``: the family accuracy
    table's, from scored shadow forecasts)."""
    with duckdb.connect() as con:
        con.register("scored", scored)
        return con.execute(_AGGREGATE_FAMILIES if families else _AGGREGATE).to_arrow_table()


def track_accuracy(
    ws: Workspace,
    train: TrainConfig,
    output_table: str,
    *,
    as_of: dt.date,
    lag_days: int,
    metric: str = "mape",
    grid: DenseGrid | None = None,
) -> AccuracyResult:
    """Score the archive of ``output_table`` up to ``as_of - lag_days`` and replace :data:`ACCURACY_TABLE`."""
    wh = warehouse_of(ws)
    history = archive_table(output_table)
    if not wh.table_exists(history):
        return AccuracyResult(ACCURACY_TABLE, 0, 0, None)
    grid = grid or load_dataset_grid(ws, train)
    last_actual: dt.date = grid.date_at(grid.n_days - 1).item()
    through: dt.date = min(as_of - dt.timedelta(days=lag_days), last_actual)
    # the batch that was live for each origin: the last one published for it
    archive = wh.query(
        f"""SELECT product_id, category, forecast_date, forecast_origin, horizon_days, predicted_units,
                   prediction_interval_lower, prediction_interval_upper
            FROM {history} WHERE forecast_date <= DATE '{through.isoformat()}'
            QUALIFY published_at = max(published_at) OVER (PARTITION BY forecast_origin)"""
    )
    scored = score_archive(archive, grid, through=through)
    table = aggregate(scored)
    wh.write_arrow(ACCURACY_TABLE, table)
    if wh.table_exists(shadow_table(output_table)):
        track_family_accuracy(ws, output_table, grid, through=through)
    daily: dict[str, dict[str, float]] = {}
    overall_leads = [
        (str(d), c, v)
        for d, c, lead, v in zip(
            table.column("forecast_date").to_pylist(),
            table.column("category").to_pylist(),
            table.column("lead_days").to_pylist(),
            table.column(metric).to_pylist(),
            strict=True,
        )
        if lead == 0 and v is not None
    ]
    for day, category, value in overall_leads:
        daily.setdefault(category, {})[day] = float(value)
    last = max((d for d, _, _ in overall_leads), default=None)
    return AccuracyResult(ACCURACY_TABLE, table.num_rows, scored.num_rows, last, daily)


def track_family_accuracy(ws: Workspace, output_table: str, grid: DenseGrid, *, through: dt.date) -> int:
    """Score the shadow forecasts of ``output_table`` (every family, the last batch per origin and
    family) up to ``through`` and replace :data:`FAMILY_ACCURACY_TABLE`; its row count."""
    wh = warehouse_of(ws)
    shadows = wh.query(
        f"""SELECT product_id, category, family, forecast_date, forecast_origin, horizon_days,
                   predicted_units, prediction_interval_lower, prediction_interval_upper
            FROM {shadow_table(output_table)} WHERE forecast_date <= DATE '{through.isoformat()}'
            QUALIFY published_at = max(published_at) OVER (PARTITION BY forecast_origin, family)"""
    )
    table = aggregate(score_archive(shadows, grid, through=through, carry=("family",)), families=True)
    wh.write_arrow(FAMILY_ACCURACY_TABLE, table)
    return table.num_rows
