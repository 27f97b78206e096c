"""Production monitoring (the seed's Stage 7). The public calls, by the module that owns them:

* :mod:`~matih.monitoring.runner`: a monitor spec's monitors, executed as written (``matih monitor run``);
* :mod:`~matih.monitoring.accuracy`: archived forecasts scored against their actuals;
* :mod:`~matih.monitoring.freshness`: table ages and SLA shares from the journals;
* :mod:`~matih.monitoring.quality`: the prediction-quality checks a batch passes before it goes live;
* :mod:`~matih.monitoring.retraining`: the retraining trigger's decisions;
* :mod:`~matih.monitoring.health`: the Production Health report (``matih health``).

The modules are imported by name; this package re-exports nothing, so importing one check does not load
the others.
"""

__all__: list[str] = []
