SELECT product_id, product_name, category, forecast_date,
       predicted_units, prediction_interval_lower, prediction_interval_upper,
       model_version
FROM analytics.forecasts.demand_14d
WHERE forecast_date = CURRENT_DATE + INTERVAL '1' DAY
ORDER BY predicted_units DESC
LIMIT 5;
