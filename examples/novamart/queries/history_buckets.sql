SELECT
    CASE
        WHEN day_count >= 365 THEN '12+ months'
        WHEN day_count >= 180 THEN '6-12 months'
        WHEN day_count >= 90  THEN '3-6 months'
        WHEN day_count >= 30  THEN '1-3 months'
        ELSE 'Less than 1 month'
    END AS history_bucket,
    COUNT(*) AS product_count,
    ROUND(100.0 * COUNT(*) / SUM(COUNT(*)) OVER (), 1) AS pct
FROM (
    SELECT product_id, COUNT(DISTINCT sale_date) AS day_count
    FROM analytics.derived.demand_features
    GROUP BY product_id
) t
GROUP BY 1 ORDER BY MIN(day_count) DESC;
