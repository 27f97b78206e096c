"""One product seen whole: its recent history, the live forecast with its interval, and how its past
forecasts compared with what it sold (the forecast explorer's data, one SQL read of each table)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from matih.exceptions import SpecError
from matih.forecast.adapt import configs_from_pipeline
from matih.forecast.archive import archive_table
from matih.forecast.batch import FORECAST_TABLE
from matih.warehouse import Engine, warehouse_of
from matih.workspace import Workspace

__all__ = ["PAST_LEADS", "find_products", "product_view"]

#: the leads whose past forecasts the explorer compares with the actuals
PAST_LEADS = (1, 7, 14)


def product_view(
    ws: Workspace, product_id: str, *, history_days: int = 56, warehouse: Engine | None = None
) -> dict[str, Any]:
    """``product_id``'s last ``history_days`` of sales (days without a row sold nothing), its live
    forecast rows and its archived forecasts at :data:`PAST_LEADS` over the same days. A server passes
    the ``warehouse`` it holds open (each read is then a cursor, not a database opened anew)."""
    train, _, configured = configs_from_pipeline(ws)
    roles = train.roles
    output = configured or FORECAST_TABLE
    wh = warehouse or warehouse_of(ws)
    params: dict[str, object] = {"product": product_id}
    sold = wh.query(
        f"""SELECT CAST("{roles.date_column}" AS DATE) AS day, sum("{roles.target_column}") AS units,
                   any_value(CAST("{roles.category_column}" AS VARCHAR)) AS category
            FROM {train.dataset} WHERE CAST("{roles.series_column}" AS VARCHAR) = $product
            GROUP BY 1 ORDER BY 1""",
        params,
    ).to_pylist()
    if not sold:
        raise SpecError(f"no product {product_id!r} in {train.dataset} ({roles.series_column})")
    last: dt.date = sold[-1]["day"]
    start = last - dt.timedelta(days=history_days - 1)
    daily = train.frequency in (None, "D")
    by_day = {r["day"]: float(r["units"] or 0) for r in sold if r["day"] >= start}
    days = [start + dt.timedelta(days=i) for i in range(history_days)] if daily else sorted(by_day)
    history = [{"date": d.isoformat(), "units": by_day.get(d, 0.0)} for d in days]
    live = []
    if wh.table_exists(output):
        live = [
            {**r, **{k: r[k].isoformat() for k in ("forecast_date", "forecast_origin")}}
            for r in wh.query(
                f"""SELECT forecast_date, horizon_days, predicted_units, prediction_interval_lower,
                           prediction_interval_upper, model, model_version, forecast_origin, interval_level
                    FROM {output} WHERE CAST(product_id AS VARCHAR) = $product ORDER BY forecast_date""",
                params,
            ).to_pylist()
        ]
    past = []
    history_table = archive_table(output)
    if wh.table_exists(history_table):
        leads = ", ".join(str(lead) for lead in PAST_LEADS)
        rows = wh.query(
            f"""SELECT forecast_date, horizon_days AS lead, predicted_units, prediction_interval_lower,
                       prediction_interval_upper, model_version
                FROM {history_table}
                WHERE CAST(product_id AS VARCHAR) = $product AND horizon_days IN ({leads})
                  AND forecast_date BETWEEN $start AND $last
                QUALIFY published_at = max(published_at) OVER (PARTITION BY forecast_origin)
                ORDER BY forecast_date, lead""",
            {**params, "start": start, "last": last},
        ).to_pylist()
        past = [{**r, "forecast_date": r["forecast_date"].isoformat()} for r in rows]
    return {
        "product_id": product_id,
        "category": sold[-1]["category"],
        "last_actual": last.isoformat(),
        "history": history,
        "forecast": live,
        "past": past,
        "output_table": output,
    }


def find_products(
    ws: Workspace, text: str = "", *, limit: int = 20, warehouse: Engine | None = None
) -> list[dict[str, Any]]:
    """Products of the live forecast table whose id or name contains ``text`` (any case), by id."""
    _, _, configured = configs_from_pipeline(ws)
    output = configured or FORECAST_TABLE
    wh = warehouse or warehouse_of(ws)
    if not wh.table_exists(output):
        return []
    rows = wh.query(
        f"""SELECT CAST(product_id AS VARCHAR) AS product_id, any_value(product_name) AS product_name,
                   any_value(category) AS category
            FROM {output}
            WHERE CAST(product_id AS VARCHAR) ILIKE $pattern OR product_name ILIKE $pattern
            GROUP BY 1 ORDER BY 1 LIMIT {int(limit)}""",
        {"pattern": f"%{text}%"},
    )
    return rows.to_pylist()
