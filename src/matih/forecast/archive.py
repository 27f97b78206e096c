"""The forecast archive: every published batch, kept so that any forecast can be scored once its actuals
arrive (the live table only ever holds the latest batch).

The archive of ``analytics.forecasts.demand_14d`` is ``analytics.forecasts.demand_14d_history``: the live
table's columns plus ``published_at``, one row per (product, forecast origin, forecast date, model
version; the version label names the family, ``lstm/v2``). Publishing the same origin with the same
version again replaces those rows, so a re-run never counts a forecast twice.
"""

from __future__ import annotations

import pyarrow as pa

from matih.state import utc_now
from matih.warehouse import Warehouse

__all__ = ["ARCHIVE_KEY", "archive", "archive_table"]

#: rows sharing these with a new batch are replaced by it
ARCHIVE_KEY = ("forecast_origin", "model_version")


def archive_table(output_table: str) -> str:
    """Where the batches published to ``output_table`` are kept."""
    return f"{output_table}_history"


def archive(warehouse: Warehouse, output_table: str, batch: pa.Table) -> int:
    """Append a published ``batch`` to its archive; the archive's row count after."""
    stamp = pa.array([utc_now()] * batch.num_rows, pa.timestamp("us", tz="UTC"))
    return warehouse.replace_partitions(
        archive_table(output_table), batch.append_column("published_at", stamp), by=ARCHIVE_KEY
    )
