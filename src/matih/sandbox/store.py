"""Where a generated world lives, and how it reaches the warehouse.

The world is kept in ``.matih/sandbox/world.duckdb`` (schema ``source`` for what the store's systems
hold, ``truth`` for the expected demand). The demo ingests it through the connectors from the sandbox's
servers (``matih.sandbox.server``); ``load_world`` is the shortcut that copies the source tables straight
into the warehouse under the same names (``sandbox generate --load``, and tests that need no servers).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from matih.sandbox.generator import World, product_ids
from matih.warehouse import Engine

#: world table -> (warehouse table, SELECT list)
WAREHOUSE_TABLES: dict[str, tuple[str, str]] = {
    "orders": ("postgresql.shopify.orders", "*"),
    "order_items": ("postgresql.shopify.order_items", "*"),
    "products": ("postgresql.shopify.products", "*"),
    "inventory_levels": ("postgresql.shopify.inventory_levels", "*"),
    "inventory": ("postgresql.inventory.inventory", "*"),
    "supplier_shipments": ("postgresql.inventory.supplier_shipments", "*"),
    "warehouses": ("postgresql.inventory.warehouses", "*"),
    "product_categories": ("postgresql.analytics.product_categories", "*"),
    "web_sessions": (
        "google_analytics.ga4.pages",
        "date, page_path AS page_url, sessions, page_views AS screen_page_views, unique_visitors",
    ),
}


def world_path(sandbox_dir: Path) -> Path:
    return sandbox_dir / "world.duckdb"


def save_world(world: World, sandbox_dir: Path) -> Path:
    """Write the world's tables and truth to the sandbox store, replacing any previous world."""
    sandbox_dir.mkdir(parents=True, exist_ok=True)
    path = world_path(sandbox_dir)
    tmp = path.with_suffix(".tmp.duckdb")
    tmp.unlink(missing_ok=True)
    with duckdb.connect(str(tmp)) as con:
        con.execute("SET preserve_insertion_order = false")
        con.execute("CREATE SCHEMA source; CREATE SCHEMA truth")
        for name, table in world.tables.items():
            # DuckDB scans Arrow in parallel per record batch: one giant batch would load on one core
            con.register("incoming", pa.Table.from_batches(table.to_batches(max_chunksize=1 << 20)))
            con.execute(f"CREATE TABLE source.{name} AS SELECT * FROM incoming")
            con.unregister("incoming")
        if world.truth is not None:
            con.register("incoming", pa.Table.from_batches(world.truth.to_batches(max_chunksize=1 << 20)))
            con.execute("CREATE TABLE truth.expected_demand AS SELECT * FROM incoming")
            con.unregister("incoming")
            ids = pa.table(
                {
                    "product_idx": pa.array(range(world.config.products), pa.int32()),
                    "product_id": product_ids(world.config.products),
                }
            )
            con.register("incoming", ids)
            con.execute("CREATE TABLE truth.products AS SELECT * FROM incoming")
            con.unregister("incoming")
    tmp.replace(path)
    # reference data the merchandising team keeps as a file: ingested by a source-file connector
    files = sandbox_dir / "files"
    files.mkdir(exist_ok=True)
    if "product_categories" in world.tables:
        pq.write_table(world.tables["product_categories"], files / "product_categories.parquet")
    config = asdict(world.config)
    config["end_date"] = world.config.last_day.isoformat()
    config["first_day"] = world.config.first_day.isoformat()
    config["shocks"] = [shock.to_dict() for shock in world.config.shocks]
    (sandbox_dir / "world.json").write_text(
        json.dumps({"config": config, "rows": world.row_counts()}, indent=2)
    )
    return path


def load_world(sandbox_dir: Path, warehouse: Engine) -> dict[str, int]:
    """Copy the stored world into the warehouse (each table replaced atomically, streamed in batches so
    a seed-scale world never sits in memory whole)."""
    path = world_path(sandbox_dir)
    counts: dict[str, int] = {}
    with duckdb.connect(str(path), read_only=True) as con:
        for source, (target, columns) in WAREHOUSE_TABLES.items():
            reader = con.execute(f"SELECT {columns} FROM source.{source}").to_arrow_reader(1_000_000)
            counts[target] = warehouse.write_arrow(target, reader)
    return counts
