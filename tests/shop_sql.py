"""A small shop in SQL whose feature query has the seed's shape: a daily aggregate by an expression (DuckDB
1.5 estimates it at a few thousand rows; it holds 60,000), used twice, then LEFT JOINed to 3,000
products. DuckDB builds that join on the aggregate: what ``join_build_side`` is about."""

from __future__ import annotations

from pathlib import Path

from matih.warehouse import Warehouse

SHOP_TABLES = (
    "CREATE TABLE shopdb.shop.orders AS SELECT i AS order_id, TIMESTAMP '2025-01-01' + "
    "to_seconds(i * 37 % (86400 * 100)) AS order_date FROM range(60000) t(i);"
    "CREATE TABLE shopdb.shop.items AS SELECT i % 60000 AS order_id, (i * 7919) % 3000 AS product_id, "
    "1 + i % 3 AS quantity FROM range(120000) t(i);"
    "CREATE TABLE shopdb.shop.products AS SELECT i AS product_id, 'c' || (i % 7) AS category "
    "FROM range(3000) t(i)"
)
DAILY = """
    SELECT oi.product_id, DATE(o.order_date) AS day, SUM(oi.quantity) AS units
    FROM shopdb.shop.items oi JOIN shopdb.shop.orders o ON oi.order_id = o.order_id
    GROUP BY oi.product_id, DATE(o.order_date)
"""
FEATURES = f"""
WITH daily AS ({DAILY}),
rolled AS (
    SELECT product_id, day, units,
           AVG(units) OVER (
               PARTITION BY product_id ORDER BY day ROWS BETWEEN 6 PRECEDING AND CURRENT ROW
           ) AS r7
    FROM daily
),
season AS (SELECT product_id, day, EXTRACT(DOW FROM day) AS dow FROM rolled)
SELECT r.*, s.dow, d.category
FROM rolled r
JOIN season s ON r.product_id = s.product_id AND r.day = s.day
LEFT JOIN shopdb.shop.products d ON r.product_id = d.product_id
"""


def shop_warehouse(directory: Path) -> Warehouse:
    """A warehouse in ``directory`` holding the shop's orders, items and products."""
    wh = Warehouse(directory)
    wh.run(SHOP_TABLES)
    return wh
