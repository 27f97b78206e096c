"""Shadow forecasts: what each model family's champion would publish if it answered every category.

When the routing spec's ``auto_reassign`` is enabled, every published batch (a scheduled
``batch_inference``, a rollout) also forecasts every active product with each family that has a champion,
exactly as the batch would if the routing sent every category to that family (the same fallback for the
products a family cannot answer). These rows are archived beside the live batch
(:func:`~matih.forecast.archive.archive_shadows`), the accuracy monitor scores them on the same actuals
as the live ones, and :mod:`matih.monitoring.reassign` compares the families per category.

A family whose shadow would equal the live batch (the routing already sends every category to it) reuses
the live rows instead of forecasting again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from matih.forecast.config import FAMILIES, TrainConfig
from matih.forecast.features import FeatureContext
from matih.forecast.model import Forecast, Forecaster
from matih.forecast.registry import CHAMPION, Registry
from matih.forecast.routing import Routing, predict_routed

__all__ = ["SHADOW_FAMILY_COLUMN", "predict_shadows", "shadow_families"]

SHADOW_FAMILY_COLUMN = "family"


def shadow_families(
    train: TrainConfig, routing: Routing, named: list[str], registry: Registry
) -> dict[str, int]:
    """Family -> champion version, for the pipeline's family, every family MATIH trains and every family
    the routing spec names (``named``), that has a champion."""
    found = dict(routing.versions)
    for family in sorted({*FAMILIES, *named} - set(found)):
        version = registry.alias_version(f"{train.experiment}-{family}", CHAMPION)
        if version is not None:
            found[family] = version
    return found


def predict_shadows(
    train: TrainConfig,
    routing: Routing,
    named: list[str],
    registry: Registry,
    models: dict[str, Forecaster],
    ctx: FeatureContext,
    origin: int,
    live: pa.Table,
    table_of: Callable[[Forecast, np.ndarray, Routing], pa.Table],
) -> pa.Table | None:
    """Every family's shadow batch at ``origin`` (``None`` when fewer than two families have a
    champion: there is nothing to compare). ``models`` holds the families the live batch loaded and gets
    the others; ``table_of(fc, families, routing)`` builds batch rows as the live batch does."""
    versions = shadow_families(train, routing, named, registry)
    if len(versions) < 2:
        return None
    categories = sorted({str(c) for c in ctx.grid.category if c is not None})
    parts = []
    for family, version in sorted(versions.items()):
        if family not in models:
            models[family] = registry.load(f"{train.experiment}-{family}", version)
        everywhere = {} if family == routing.default else dict.fromkeys(categories, family)
        scenario = dataclasses.replace(
            routing,
            categories=everywhere,
            versions={f: versions[f] for f in {routing.default, routing.fallback, family}},
        )
        if everywhere == routing.categories:
            rows = live
        else:
            fc, answered = predict_routed(models, scenario, ctx, origin)
            rows = table_of(fc, answered, scenario)
        label = pa.array(np.full(rows.num_rows, family), pa.string())
        parts.append(rows.append_column(SHADOW_FAMILY_COLUMN, label))
    return pa.concat_tables(parts)
