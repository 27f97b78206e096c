"""Model families: every kind of forecaster ``matih train --family F`` builds, by name.

- ``lightgbm``: per-category gradient-boosted trees and a global fallback (:mod:`matih.forecast.fit`).
- ``lstm``: a pooled PyTorch sequence model with category embeddings (:mod:`.lstm`).
- ``prophet``: Prophet per category, disaggregated to products (:mod:`.prophet`).
- ``autoets``, ``seasonal_naive``, ``croston_sba``: statsforecast's baselines per series
  (:mod:`.statistical`).

All produce the same :class:`~matih.forecast.model.Forecast` rows (point, interval, quantiles) through
the :class:`~matih.forecast.model.Forecaster` interface, so evaluation, batch forecasts, routing and
serving treat them alike. A model directory's ``forecaster.json`` names its family.
"""

from __future__ import annotations

import json
from pathlib import Path

from matih.exceptions import RegistryError
from matih.forecast.config import FAMILIES, TrainConfig
from matih.forecast.families.base import LocalForecaster, Progress, fit_local
from matih.forecast.features import FeatureContext
from matih.forecast.fit import TrainStats, fit_forecaster
from matih.forecast.fitters import Fitter
from matih.forecast.model import Forecaster, ForecastModel

__all__ = ["FAMILIES", "family_class", "fit_family", "load_forecaster"]

#: what each family needs installed besides MATIH's core, for MLflow's pip requirements
REQUIREMENTS = {
    "lightgbm": ["lightgbm==4.7.0"],
    "lstm": ["torch==2.13.0"],
    "prophet": ["prophet==1.5.0"],
    "autoets": ["statsforecast==2.1.1"],
    "seasonal_naive": ["statsforecast==2.1.1"],
    "croston_sba": ["statsforecast==2.1.1"],
}


def family_class(name: str) -> type[LocalForecaster]:
    """The class of a family other than LightGBM."""
    if name == "lstm":
        from matih.forecast.families.lstm import LSTMForecaster

        return LSTMForecaster
    if name == "prophet":
        from matih.forecast.families.prophet import ProphetForecaster

        return ProphetForecaster
    from matih.forecast.families import statistical

    classes: dict[str, type[LocalForecaster]] = {
        "autoets": statistical.AutoETS,
        "seasonal_naive": statistical.SeasonalNaive,
        "croston_sba": statistical.CrostonSBA,
    }
    if name not in classes:
        raise RegistryError(f"unknown model family {name!r}; MATIH trains {', '.join(FAMILIES)}")
    return classes[name]


def fit_family(
    ctx: FeatureContext,
    config: TrainConfig,
    *,
    progress: Progress | None = None,
    fitter: Fitter | None = None,
) -> tuple[Forecaster, TrainStats]:
    """Train ``config.model_type``'s forecaster on ``ctx`` (the holdout left unseen, intervals calibrated
    on the window before it); ``fitter`` places LightGBM's fits (here or on Ray)."""
    if config.model_type == "lightgbm":
        return fit_forecaster(ctx, config, progress=progress, fitter=fitter)
    return fit_local(family_class(config.model_type), ctx, config, progress)


def load_forecaster(directory: Path) -> Forecaster:
    """The model saved in ``directory``, whichever family it is."""
    meta = json.loads((directory / "forecaster.json").read_text())
    family = meta.get("family", "lightgbm")
    if family == "lightgbm":
        return ForecastModel.load(directory)
    return family_class(family).load(directory)
