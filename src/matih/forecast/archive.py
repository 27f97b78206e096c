"""The forecast archive: every published batch, kept so that any forecast can be scored once its actuals
arrive (the live table only ever holds the latest batch).

The archive of ``analytics.forecasts.demand_14d`` is ``analytics.forecasts.demand_14d_history``: the live
table's columns plus ``published_at``, one row per (product, forecast origin, forecast date, model
version; the version label names the family, ``lstm/v2``). Publishing the same origin with the same
version again replaces those rows, so a re-run never counts a forecast twice.

Beside it, ``analytics.forecasts.demand_14d_shadow`` keeps the shadow forecasts
(:mod:`matih.forecast.shadow`): what each model family's champion forecast for every product at the same
origin, whether or not it served, with a ``family`` column; one batch per (origin, family).
"""

from __future__ import annotations

import pyarrow as pa

from matih.state import utc_now
from matih.warehouse import Engine

__all__ = ["ARCHIVE_KEY", "SHADOW_KEY", "archive", "archive_shadows", "archive_table", "shadow_table"]

#: rows sharing these with a new batch are replaced by it
ARCHIVE_KEY = ("forecast_origin", "model_version")
#: a family's shadow batch replaces its earlier one for the same origin
SHADOW_KEY = ("forecast_origin", "family")


def archive_table(output_table: str) -> str:
    """Where the batches published to ``output_table`` are kept."""
    return f"{output_table}_history"


def archive(warehouse: Engine, output_table: str, batch: pa.Table) -> int:
    """Append a published ``batch`` to its archive; the archive's row count after."""
    return _stamped(warehouse, archive_table(output_table), batch, ARCHIVE_KEY)


def _stamped(warehouse: Engine, name: str, rows: pa.Table, by: tuple[str, ...]) -> int:
    """Append ``rows`` to ``name`` with the time they were published, replacing what shares ``by``."""
    stamp = pa.array([utc_now()] * rows.num_rows, pa.timestamp("us", tz="UTC"))
    return warehouse.replace_partitions(name, rows.append_column("published_at", stamp), by=by)


def shadow_table(output_table: str) -> str:
    """Where the shadow forecasts published beside ``output_table``'s batches are kept."""
    return f"{output_table}_shadow"


def archive_shadows(warehouse: Engine, output_table: str, shadows: pa.Table) -> int:
    """Append one origin's shadow forecasts (every family) to their archive; its row count after."""
    return _stamped(warehouse, shadow_table(output_table), shadows, SHADOW_KEY)
