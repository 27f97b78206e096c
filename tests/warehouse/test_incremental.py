"""What the incremental planner proves from the SQL: which queries can be refreshed by days, and how."""

from __future__ import annotations

import datetime as dt

import pytest

from matih.warehouse.incremental import NotIncremental, plan_incremental

SCHEMA = {
    "postgresql": {
        "shopify": {
            "orders": {"order_id": "BIGINT", "order_date": "TIMESTAMP", "updated_at": "TIMESTAMPTZ"},
            "order_items": {"order_id": "BIGINT", "product_id": "BIGINT", "quantity": "BIGINT"},
        },
        "analytics": {"product_categories": {"product_id": "BIGINT", "category": "VARCHAR"}},
    }
}

DAILY = """
    SELECT oi.product_id, DATE(o.order_date) AS sale_date, SUM(oi.quantity) AS units
    FROM postgresql.shopify.order_items oi JOIN postgresql.shopify.orders o ON oi.order_id = o.order_id
    GROUP BY oi.product_id, DATE(o.order_date)
"""


def _with_window(window: str) -> str:
    return f"WITH d AS ({DAILY}) SELECT d.*, {window} AS w FROM d"


def test_a_date_framed_query_is_planned_with_its_reach_and_inputs() -> None:
    sql = f"""WITH d AS ({DAILY}),
        r AS (SELECT *, AVG(units) OVER (PARTITION BY product_id ORDER BY sale_date
                        RANGE BETWEEN INTERVAL 29 DAYS PRECEDING AND CURRENT ROW) AS avg_30d FROM d)
        SELECT r.*, pc.category FROM r
        LEFT JOIN postgresql.analytics.product_categories pc ON r.product_id = pc.product_id"""
    plan = plan_incremental(sql, "sale_date", 30, SCHEMA)
    assert plan.reach_days == 29
    assert {alias: str(t) for alias, t in plan.dated_tables.items()} == {
        "oi": "postgresql.shopify.order_items",
        "o": "postgresql.shopify.orders",
    }
    assert [str(t) for t in plan.other_tables] == ["postgresql.analytics.product_categories"]
    restricted = plan.restricted(dt.date(2026, 6, 30), 30)
    # inputs from 30 days before, outputs from the first changed day
    assert "CAST(o.order_date AS DATE) >= CAST('2026-05-31' AS DATE)" in restricted
    assert restricted.endswith("sale_date >= CAST('2026-06-30' AS DATE)")


@pytest.mark.parametrize(
    ("window", "said"),
    [
        ("LAG(units, 7) OVER (PARTITION BY product_id ORDER BY sale_date)", "counts rows, not days"),
        (
            "AVG(units) OVER (PARTITION BY product_id ORDER BY sale_date "
            "ROWS BETWEEN 6 PRECEDING AND CURRENT ROW)",
            "counts rows, not days",
        ),
        ("SUM(units) OVER (PARTITION BY product_id ORDER BY sale_date)", "running total"),
        ("SUM(units) OVER (PARTITION BY product_id)", "not ordered by the date"),
        (
            "AVG(units) OVER (PARTITION BY product_id ORDER BY sale_date "
            "RANGE BETWEEN CURRENT ROW AND INTERVAL 6 DAYS FOLLOWING)",
            "later days",
        ),
        (
            "AVG(units) OVER (PARTITION BY product_id ORDER BY sale_date "
            "RANGE BETWEEN INTERVAL 60 DAYS PRECEDING AND CURRENT ROW)",
            "lookback_days to at least 60",
        ),
    ],
)
def test_windows_that_reach_past_the_lookback_are_refused_with_the_fix(window: str, said: str) -> None:
    with pytest.raises(NotIncremental, match=said):
        plan_incremental(_with_window(window), "sale_date", 30, SCHEMA)


def test_the_seeds_feature_sql_is_refused_because_its_windows_count_rows() -> None:
    from matih.warehouse.statements import analyse, query_to_write, split
    from tests.conftest import EXAMPLE

    statement = split((EXAMPLE / "queries" / "demand_features.sql").read_text())[0]
    schema = {**SCHEMA}
    schema["postgresql"] = {
        **SCHEMA["postgresql"],
        "shopify": {
            "orders": {"order_id": "BIGINT", "order_date": "TIMESTAMP"},
            "order_items": {
                "order_id": "BIGINT",
                "product_id": "BIGINT",
                "quantity": "BIGINT",
                "unit_price": "DOUBLE",
                "discount": "DOUBLE",
            },
        },
        "inventory": {
            "inventory": {"product_id": "BIGINT", "quantity_on_hand": "BIGINT", "reorder_point": "BIGINT"}
        },
        "analytics": {
            "product_categories": {
                "product_id": "BIGINT",
                "category": "VARCHAR",
                "subcategory": "VARCHAR",
                "seasonal_flag": "BOOLEAN",
            }
        },
    }
    with pytest.raises(NotIncremental, match=r"ROWS BETWEEN 6 PRECEDING AND CURRENT ROW\) counts rows"):
        plan_incremental(query_to_write(statement, analyse(statement)), "sale_date", 400, schema)


@pytest.mark.parametrize(
    ("sql", "said"),
    [
        (
            f"WITH d AS ({DAILY}) SELECT product_id, SUM(units) AS total, MAX(sale_date) AS sale_date "
            "FROM d GROUP BY product_id",
            "aggregate",
        ),
        (
            f"WITH d AS ({DAILY}) SELECT product_id, sale_date, SUM(units) AS u FROM d GROUP BY product_id",
            "aggregates across days",
        ),
        (
            f"WITH d AS ({DAILY}) SELECT a.product_id, a.sale_date, b.units FROM d a JOIN d b "
            "ON a.product_id = b.product_id",
            "does not match their dates",
        ),
        (f"WITH d AS ({DAILY}) SELECT * FROM d LIMIT 10", "LIMIT"),
        (
            "SELECT o.order_id, DATE(o.order_date) AS sale_date, SUM(1) OVER (ORDER BY o.order_id "
            "RANGE BETWEEN 5 PRECEDING AND CURRENT ROW) AS w FROM postgresql.shopify.orders o",
            "not ordered by the date alone",
        ),
        (f"{DAILY} UNION ALL {DAILY}", "UNION"),
        (f"WITH d AS ({DAILY}) SELECT product_id, units FROM d", "no column 'sale_date'"),
    ],
)
def test_queries_that_mix_days_are_refused(sql: str, said: str) -> None:
    with pytest.raises(NotIncremental, match=said):
        plan_incremental(sql, "sale_date", 30, SCHEMA)


def test_a_join_of_two_dated_relations_on_their_dates_is_accepted() -> None:
    sql = (
        f"WITH d AS ({DAILY}), e AS (SELECT product_id, sale_date, units * 2 AS doubled FROM d) "
        "SELECT d.*, e.doubled FROM d JOIN e ON d.product_id = e.product_id AND d.sale_date = e.sale_date"
    )
    assert plan_incremental(sql, "sale_date", 0, SCHEMA).reach_days == 0
