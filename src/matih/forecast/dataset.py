"""Reading a pipeline's dataset: the dense grid and feature context training, evaluation and batch
forecasting share when they run in one process."""

from __future__ import annotations

import logging

from matih.forecast.config import TrainConfig
from matih.forecast.features import FeatureContext
from matih.forecast.grid import load_grid
from matih.warehouse import warehouse_of
from matih.workspace import Workspace

__all__ = ["load_features"]

log = logging.getLogger(__name__)


def load_features(workspace: Workspace, config: TrainConfig, *, report_gaps: bool = True) -> FeatureContext:
    """The dataset as a dense grid with its feature context. ``report_gaps`` logs how sparse the series
    are (training wants to know; a forecast does not)."""
    grid = load_grid(
        warehouse_of(workspace),
        config.dataset,
        config.roles,
        frequency=config.frequency,
        negative_values=config.negative_values,
        covariates=config.covariates,
        planned_values=config.planned_values,
        horizon=config.forecast_horizon,
        missing_future=config.missing_future,
        closed_weekdays=config.closed_weekdays,
        closures_table=config.closures_table,
    )
    for note in grid.notes:
        log.info("%s: %s", config.dataset, note)
    if report_gaps and grid.gaps and grid.gaps.warning():
        log.warning(grid.gaps.warning())
    return FeatureContext.build(grid)
