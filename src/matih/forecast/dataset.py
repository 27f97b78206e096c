"""Reading a pipeline's dataset: the dense grid and feature context training, evaluation and batch
forecasting share when they run in one process."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from matih.calendar import BusinessCalendar
from matih.exceptions import TrainingError, WorkspaceError
from matih.forecast.config import TrainConfig
from matih.forecast.features import FeatureContext
from matih.forecast.grid import DenseGrid, load_grid
from matih.warehouse import Engine, warehouse_of
from matih.workspace import Workspace

__all__ = ["business_calendar", "load_dataset_grid", "load_features", "read_grid"]

log = logging.getLogger(__name__)


def load_features(workspace: Workspace, config: TrainConfig, *, report_gaps: bool = True) -> FeatureContext:
    """The dataset as a dense grid with its feature context. ``report_gaps`` logs how sparse the series
    are (training wants to know; a forecast does not)."""
    grid = load_dataset_grid(workspace, config)
    for note in grid.notes:
        log.info("%s: %s", config.dataset, note)
    if report_gaps and grid.gaps and grid.gaps.warning():
        log.warning(grid.gaps.warning())
    return FeatureContext.build(grid)


def load_dataset_grid(workspace: Workspace, config: TrainConfig) -> DenseGrid:
    """The dataset as a dense grid alone (what monitors compare forecasts with: no features needed)."""
    return read_grid(warehouse_of(workspace), config, business_calendar(workspace))


def read_grid(source: Engine, config: TrainConfig, calendar: BusinessCalendar, **fixed: Any) -> DenseGrid:
    """``config.dataset`` read from ``source`` with the pipeline's settings; ``fixed`` overrides some
    (a shard's grid spans the whole dataset's ``start``, ``end`` and ``frequency``)."""
    settings: dict[str, Any] = {
        "frequency": config.frequency,
        "negative_values": config.negative_values,
        "missing_rows": config.missing_rows,
        "covariates": config.covariates,
        "planned_values": config.planned_values,
        "horizon": config.forecast_horizon,
        "missing_future": config.missing_future,
        "closed_weekdays": config.closed_weekdays,
        "closures_table": config.closures_table,
    }
    grid = load_grid(source, config.dataset, config.roles, **(settings | fixed))
    grid.calendar = calendar
    return grid


def business_calendar(workspace: Workspace) -> BusinessCalendar:
    """matih.yaml's ``calendar``, with the dates of its ``events_table`` read from the warehouse."""
    settings = workspace.settings().calendar
    events: tuple[str, ...] = ()
    if settings.events_table:
        wh = warehouse_of(workspace)
        if not wh.table_exists(settings.events_table):
            raise TrainingError(
                f"matih.yaml: calendar.events_table {settings.events_table} does not exist; create it (a "
                "'date' column) or remove the setting"
            )
        table = wh.query(f"SELECT DISTINCT CAST(date AS DATE) AS d FROM {settings.events_table} ORDER BY d")
        events = tuple(str(d) for d in table.column("d").to_pylist())
    calendar = BusinessCalendar(settings.retail_events, settings.country, settings.subdivision, events)
    try:  # an unknown country fails here, before any training
        calendar.public_holidays(np.array(["2024-01-01"], dtype="datetime64[D]"))
    except ValueError as err:
        raise WorkspaceError(str(err)) from None
    return calendar
