"""Batch forecasts, the library call behind ``matih forecast`` and the ``batch_inference`` task: every
active series, ``horizon`` days ahead, from the champion (or a given version, routed per category across
model families), as the rows of the forecast table, written atomically."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from matih.forecast.archive import archive, archive_shadows
from matih.forecast.config import TrainConfig
from matih.forecast.dataset import load_features
from matih.forecast.features import FeatureContext
from matih.forecast.grid import DenseGrid
from matih.forecast.groups import group_rows
from matih.forecast.model import FALLBACK, Forecast, Forecaster
from matih.forecast.registry import CHAMPION, Registry
from matih.forecast.routing import Routing, predict_routed, resolve_routing
from matih.forecast.shadow import predict_shadows
from matih.specs.tasks import quantile_column
from matih.warehouse import Engine, warehouse_of
from matih.workspace import Workspace

__all__ = [
    "FORECAST_TABLE",
    "PRODUCTS_TABLE",
    "BatchResult",
    "forecast",
    "forecast_table",
    "predict_batch",
    "publish_archives",
]

FORECAST_TABLE = "analytics.forecasts.demand_14d"
"""Where forecasts go when neither the pipeline nor the caller names a table (the seed's table)."""
PRODUCTS_TABLE = "postgresql.shopify.products"
"""Where the product names written next to each forecast come from, when the warehouse has it."""


@dataclass
class BatchResult:
    table: str
    rows: int
    products: int
    model_version: str
    origin: str
    seconds: float
    by_model: dict[str, int]
    routing: dict[str, Any] = field(default_factory=dict)
    """Which model family answered which category (see :mod:`matih.forecast.routing`)."""
    shadows: pa.Table | None = field(default=None, repr=False, compare=False)
    """Every family's forecasts at the same origin, when asked for and auto_reassign is enabled
    (:mod:`matih.forecast.shadow`); published to the shadow archive with the batch."""


def forecast(
    workspace: Workspace,
    config: TrainConfig,
    *,
    output_table: str | None = None,
    version: int | str = CHAMPION,
    features: FeatureContext | None = None,
) -> BatchResult:
    """Forecast every series active at the last day of the dataset, ``horizon`` days ahead, with the
    champion (or ``version``), replace ``output_table`` atomically and add the batch to its archive."""
    table, result = predict_batch(
        workspace, config, output_table=output_table, version=version, features=features, shadows=True
    )
    started = time.perf_counter()
    warehouse = warehouse_of(workspace)
    warehouse.write_arrow(result.table, table)
    publish_archives(warehouse, result, table)
    result.seconds += time.perf_counter() - started
    return result


def publish_archives(warehouse: Engine, result: BatchResult, table: pa.Table) -> None:
    """Add a batch just published to ``result.table`` to its archive, and its shadows to theirs."""
    archive(warehouse, result.table, table)
    if result.shadows is not None:
        archive_shadows(warehouse, result.table, result.shadows)


def predict_batch(
    workspace: Workspace,
    config: TrainConfig,
    *,
    output_table: str | None = None,
    version: int | str = CHAMPION,
    features: FeatureContext | None = None,
    shadows: bool = False,
) -> tuple[pa.Table, BatchResult]:
    """The forecasts :func:`forecast` writes, without writing them (a rollout checks them first); with
    ``shadows``, also every family's shadow forecasts when the routing spec enables auto_reassign."""
    started = time.perf_counter()
    registry = Registry(workspace)
    number = registry.resolve(config.experiment, version)
    model = registry.load(config.experiment, number)
    ctx = features or load_features(workspace, config, report_gaps=False)
    grid = ctx.grid
    origin = grid.n_days - 1
    categories = sorted({str(c) for c in grid.category if c is not None})
    routing = resolve_routing(workspace, config, categories, number, registry)
    models = {routing.default: model}
    for family, family_version in routing.versions.items():
        if family != routing.default:
            models[family] = registry.load(f"{config.experiment}-{family}", family_version)
    fc, families = predict_routed(models, routing, ctx, origin)
    names = _product_names(warehouse_of(workspace))

    def table_of(fc: Forecast, families: np.ndarray, routing: Routing) -> pa.Table:
        labels = {f: f"v{v}" if f == routing.default else f"{f}/v{v}" for f, v in routing.versions.items()}
        return forecast_table(
            grid, fc, model, f"v{number}", origin, names=names, families=(families, routing.default, labels)
        )

    table = table_of(fc, families, routing)
    shadow = None
    if shadows and routing.shadow:
        shadow = predict_shadows(
            config, routing, routing.named, registry, models, ctx, origin, table, table_of
        )
    answered_by = np.where(fc.model == FALLBACK, FALLBACK, "category")
    by_model = {str(k): int(v) for k, v in zip(*np.unique(answered_by, return_counts=True), strict=True)}
    return table, BatchResult(
        output_table or FORECAST_TABLE,
        table.num_rows,
        len(np.unique(fc.series_index)),
        f"v{number}",
        str(grid.date_at(origin)),
        time.perf_counter() - started,
        by_model,
        routing.summary(),
        shadow,
    )


def forecast_table(
    grid: DenseGrid,
    fc: Forecast,
    model: Forecaster,
    label: str,
    origin: int,
    names: dict[str, str] | None = None,
    families: tuple[np.ndarray, str, dict[str, str]] | None = None,
) -> pa.Table:
    """The batch table's rows. ``families`` (each row's family, the default family, each family's version
    label) marks rows another family answered: their ``model`` reads ``<family>:category:<name>`` and
    their ``model_version`` ``<family>/v<n>``."""
    ids = grid.series[fc.series_index]
    # names are looked up per series (45K), not per row (630K)
    per_series = np.asarray([names.get(s) for s in grid.series] if names else [None] * len(grid.series))
    name_arr = per_series[fc.series_index]
    days = grid.date_at(origin + fc.horizon)
    origin_date = grid.date_at(origin)
    # labelled per model name (21 at the seed's scale), not per row (634K)
    models, inverse = group_rows(fc.model)
    answers = np.array([FALLBACK if m == FALLBACK else f"category:{m}" for m in models], dtype=object)
    answered = answers[inverse]
    versions = np.full(len(ids), label, dtype=object)
    if families is not None:
        family, default, labels = families
        other = family != default
        if other.any():
            answered[other] = family[other] + ":" + answered[other]
            versions[other] = np.array([labels[f] for f in family[other]], dtype=object)
    quantiles = {
        quantile_column(q): pa.array(fc.quantiles[:, j]) for j, q in enumerate(model.quantile_levels)
    }
    return pa.table(
        {
            "product_id": ids,
            "product_name": pa.array(name_arr, pa.string()),
            "category": pa.array(np.asarray(grid.category, dtype=object)[fc.series_index], pa.string()),
            "forecast_date": pa.array(days, pa.date32()),
            "horizon_days": pa.array((days - origin_date).astype(np.int16)),
            # periods of the dataset's frequency (days for daily data, where the two are equal)
            "horizon": pa.array(fc.horizon.astype(np.int16)),
            "predicted_units": pa.array(fc.predicted),
            "prediction_interval_lower": pa.array(fc.lower),
            "prediction_interval_upper": pa.array(fc.upper),
            "model_version": pa.array(versions, pa.string()),
            "model": pa.array(answered, pa.string()),
            "forecast_origin": pa.array(np.full(len(ids), origin_date), pa.date32()),
            "interval_level": pa.array(np.full(len(ids), model.level)),
            **quantiles,
        }
    )


def _product_names(wh: Engine) -> dict[str, str] | None:
    """Product titles by id, from :data:`PRODUCTS_TABLE` (``None`` when the warehouse has no such table)."""
    if not wh.table_exists(PRODUCTS_TABLE):
        return None
    t = wh.query(f"SELECT product_id::VARCHAR AS product_id, title FROM {PRODUCTS_TABLE}")
    return dict(zip(t.column("product_id").to_pylist(), t.column("title").to_pylist(), strict=True))
