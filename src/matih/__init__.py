"""MATIH: demand forecasting from raw sources to production forecasts."""

__version__ = "0.1.0"
