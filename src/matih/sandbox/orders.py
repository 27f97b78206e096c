"""Orders and order lines of the NovaMart world, cut from its realised units.

Every selling product-day becomes one or two order lines whose quantities add up to the day's units
exactly, so the truth and the shop's sales agree to the unit. Consecutive lines of a day are grouped
into orders; a few orders are edited later (refunds), which moves their ``updated_at`` on as a live
shop's would. The draws below come from the generator's random stream in a fixed order: reordering them
would change every world.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from matih.sandbox.draws import approx_binomial, day_major

__all__ = ["FIRST_ORDER_ID", "order_tables"]

FIRST_ORDER_ID = 1_000_001


def order_tables(
    rng: np.random.Generator,
    units: np.ndarray,
    discount: np.ndarray,
    list_price: np.ndarray,
    days: np.ndarray,
    product_ids: pa.Array,
) -> dict[str, pa.Table]:
    """``orders`` and ``order_items`` for the (products x days) ``units`` sold at ``discount``.

    ``list_price`` is per product, ``days`` the world's dates and ``product_ids`` the product keys (the
    dictionary of ``order_items.product_id``).
    """
    line_p, line_d, line_q = _split_lines(rng, units)
    # orders group consecutive lines of the same day
    new_day = np.r_[True, line_d[1:] != line_d[:-1]]
    starts = new_day | (rng.random(len(line_d)) < 0.6)
    order_no = np.cumsum(starts) - 1
    n_orders = int(order_no[-1]) + 1 if len(order_no) else 0
    disc = discount[line_p, line_d]
    list_p = list_price[line_p]
    unit_price = np.round(list_p * (1.0 - disc), 2)
    order_ids = FIRST_ORDER_ID + np.arange(n_orders, dtype=np.int64)
    totals = np.bincount(order_no, weights=line_q * unit_price, minlength=n_orders)
    order_items = pa.table(
        {
            "order_item_id": pa.array(np.arange(1, len(line_p) + 1, dtype=np.int64)),
            "order_id": pa.array(order_ids[order_no]),
            "product_id": pa.DictionaryArray.from_arrays(pa.array(line_p.astype(np.int32)), product_ids),
            "quantity": pa.array(line_q.astype(np.int32)),
            "unit_price": pa.array(unit_price),
            "discount": pa.array(disc.astype(np.float64).round(2)),
        }
    )
    orders = _orders_table(rng, order_ids, days[line_d[starts]], totals)
    return {"orders": orders, "order_items": order_items}


def _split_lines(rng: np.random.Generator, units: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(product, day, quantity) of each order line, day by day."""
    p, d = day_major(units)
    y = units[p, d]
    # one or two lines per selling product-day; the split keeps the day's total exact
    two = (y >= 2) & (rng.random(len(y)) < 0.4)
    first_q = np.where(two, approx_binomial(rng, y, 0.5, low=1, high=y - 1), y)
    per_cell = 1 + two.astype(np.int64)
    first_line = np.cumsum(per_cell) - per_cell
    line_p = np.repeat(p, per_cell)
    line_d = np.repeat(d, per_cell)
    line_q = np.empty(len(line_p), dtype=np.int64)
    line_q[first_line] = first_q
    line_q[first_line[two] + 1] = (y - first_q)[two]
    return line_p, line_d, line_q


def _orders_table(
    rng: np.random.Generator, order_ids: np.ndarray, order_day: np.ndarray, totals: np.ndarray
) -> pa.Table:
    """The order headers: a time of day, a customer, and for a few a later edit (some of them refunds)."""
    n_orders = len(order_ids)
    seconds = rng.integers(6 * 3600, 23 * 3600, n_orders)
    order_ts = order_day.astype("datetime64[s]") + seconds.astype("timedelta64[s]")
    # a few orders are edited a day or two later (refunds, address changes): updated_at moves on
    edited = rng.random(n_orders) < 0.05
    updated = order_ts + np.where(edited, rng.integers(3600, 2 * 86400, n_orders), 60).astype(
        "timedelta64[s]"
    )
    return pa.table(
        {
            "order_id": pa.array(order_ids),
            "order_date": pa.array(order_ts, pa.timestamp("s")),
            "customer_id": pa.array(rng.integers(1, max(1000, n_orders // 3), n_orders)),
            "financial_status": pa.DictionaryArray.from_arrays(
                pa.array((edited & (rng.random(n_orders) < 0.3)).astype(np.int8)),
                pa.array(["paid", "refunded"]),
            ),
            "total_price": pa.array(np.round(totals, 2)),
            "created_at": pa.array(order_ts, pa.timestamp("s")),
            "updated_at": pa.array(updated, pa.timestamp("s")),
        }
    )
