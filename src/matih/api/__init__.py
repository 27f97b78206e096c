"""The HTTP API: one FastAPI app over the core library (catalog, lineage, SQL, online forecasts).

Layering: this package sits above :mod:`matih.serving` and may import it; serving never imports the API
(Ray Serve replicas receive :func:`matih.api.forecast.forecast_app` as a parameter instead).
"""

from matih.api.app import create_app

__all__ = ["create_app"]
