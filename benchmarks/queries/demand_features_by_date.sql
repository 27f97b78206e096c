-- The seed's demand_features with every window framed by date instead of by row, so that a day's features
-- depend only on a bounded number of earlier days (what an incremental refresh needs). The lags read the
-- units sold exactly 7, 14 and 365 days before (NULL when nothing sold that day), where the seed's LAG
-- reads the 7th, 14th and 365th earlier day that had sales. The benchmark fills in the table name and
-- keeps or drops the year-ago lag (benchmarks/incremental.py).
CREATE TABLE analytics.derived.{table} AS
WITH daily_sales AS (
    SELECT
        oi.product_id,
        DATE(o.order_date) AS sale_date,
        SUM(oi.quantity) AS units_sold,
        SUM(oi.quantity * oi.unit_price) AS revenue,
        COUNT(DISTINCT o.order_id) AS num_orders,
        AVG(oi.unit_price) AS avg_selling_price,
        AVG(oi.discount) AS avg_discount_pct
    FROM postgresql.shopify.order_items oi
    JOIN postgresql.shopify.orders o ON oi.order_id = o.order_id
    WHERE o.order_date >= DATE '2024-01-01'
    GROUP BY oi.product_id, DATE(o.order_date)
),
rolling_features AS (
    SELECT
        product_id,
        sale_date,
        units_sold,
        revenue,
        avg_selling_price,
        avg_discount_pct,
        -- Rolling aggregates
        AVG(units_sold) OVER (
            PARTITION BY product_id ORDER BY sale_date
            RANGE BETWEEN INTERVAL 6 DAYS PRECEDING AND CURRENT ROW
        ) AS sales_rolling_7d,
        AVG(units_sold) OVER (
            PARTITION BY product_id ORDER BY sale_date
            RANGE BETWEEN INTERVAL 13 DAYS PRECEDING AND CURRENT ROW
        ) AS sales_rolling_14d,
        AVG(units_sold) OVER (
            PARTITION BY product_id ORDER BY sale_date
            RANGE BETWEEN INTERVAL 29 DAYS PRECEDING AND CURRENT ROW
        ) AS sales_rolling_30d,
        STDDEV(units_sold) OVER (
            PARTITION BY product_id ORDER BY sale_date
            RANGE BETWEEN INTERVAL 29 DAYS PRECEDING AND CURRENT ROW
        ) AS sales_volatility_30d,
        -- Lag features
        SUM(units_sold) OVER (
            PARTITION BY product_id ORDER BY sale_date
            RANGE BETWEEN INTERVAL 7 DAYS PRECEDING AND INTERVAL 7 DAYS PRECEDING
        ) AS sales_lag_7d,
        SUM(units_sold) OVER (
            PARTITION BY product_id ORDER BY sale_date
            RANGE BETWEEN INTERVAL 14 DAYS PRECEDING AND INTERVAL 14 DAYS PRECEDING
        ) AS sales_lag_14d{lag_year}
    FROM daily_sales
),
seasonality AS (
    SELECT
        product_id,
        sale_date,
        EXTRACT(DOW FROM sale_date) AS day_of_week,
        EXTRACT(MONTH FROM sale_date) AS month,
        CASE
            WHEN EXTRACT(DOW FROM sale_date) IN (0, 6) THEN 1 ELSE 0
        END AS is_weekend,
        CASE
            WHEN sale_date BETWEEN DATE '2025-11-28' AND DATE '2025-12-02' THEN 1  -- Black Friday
            WHEN sale_date BETWEEN DATE '2025-12-20' AND DATE '2025-12-26' THEN 1  -- Holiday
            WHEN sale_date = DATE '2025-02-14' THEN 1  -- Valentine's
            ELSE 0
        END AS is_holiday_period
    FROM rolling_features
)
SELECT
    rf.*,
    s.day_of_week,
    s.month,
    s.is_weekend,
    s.is_holiday_period,
    pc.category,
    pc.subcategory,
    pc.seasonal_flag,
    inv.quantity_on_hand,
    inv.reorder_point,
    CASE WHEN inv.quantity_on_hand <= inv.reorder_point THEN 1 ELSE 0 END AS is_low_stock
FROM rolling_features rf
JOIN seasonality s ON rf.product_id = s.product_id AND rf.sale_date = s.sale_date
LEFT JOIN postgresql.inventory.inventory inv ON rf.product_id = inv.product_id
LEFT JOIN postgresql.analytics.product_categories pc ON rf.product_id = pc.product_id
WHERE rf.sale_date >= DATE '2024-02-01';  -- Need 30 days for rolling features
