"""A world too large to hold in memory, generated and stored in pieces of products.

:func:`~matih.sandbox.generator.generate_world` holds every (product x day) matrix at once: about 0.1 GB
per 1,000 products, 15 GB at 200,000. Here each piece is a world of its own (its own seed, the same
days), renumbered so its products, orders, order lines, shipments and inventory items follow the
previous pieces', and appended to the store; only one piece is in memory at a time. The result is a
world of the same kind, not the same world a single pass would draw, and it keeps no truth tables (the
expected demand would be as large as the sales): it is for scaling runs, which need the shop's tables.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from matih.sandbox.generator import MIN_PRODUCTS, World, WorldConfig, generate_world, product_ids
from matih.sandbox.orders import FIRST_ORDER_ID
from matih.sandbox.store import world_path

__all__ = ["renumber", "save_world_in_pieces"]


def save_world_in_pieces(
    config: WorldConfig,
    sandbox_dir: Path,
    piece_products: int = 25_000,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Generate the world of ``config`` in pieces of at most ``piece_products`` products into the
    sandbox store (replacing any world there); the store's path."""
    sandbox_dir.mkdir(parents=True, exist_ok=True)
    path = world_path(sandbox_dir)
    tmp = path.with_suffix(".tmp.duckdb")
    tmp.unlink(missing_ok=True)
    sizes = [piece_products] * (config.products // piece_products)
    if rest := config.products % piece_products:
        if sizes and rest < MIN_PRODUCTS:  # too small for a world of its own: the last piece takes it
            sizes[-1] += rest
        else:
            sizes.append(rest)
    rows: dict[str, int] = {}
    ids = {"product": 0, "order": FIRST_ORDER_ID, "line": 1, "shipment": 1}
    with duckdb.connect(str(tmp)) as con:
        con.execute("SET preserve_insertion_order = false")
        con.execute("CREATE SCHEMA source")
        for i, size in enumerate(sizes):
            piece = generate_world(replace(config, products=size, seed=config.seed * 1_000 + i))
            piece.truth = None
            tables = renumber(piece, ids)
            if i:
                tables.pop("warehouses")  # the same five warehouses in every piece
            for name, table in tables.items():
                con.register("incoming", pa.Table.from_batches(table.to_batches(max_chunksize=1 << 20)))
                verb = (
                    f"INSERT INTO source.{name}"
                    if i and name != "warehouses"
                    else f"CREATE TABLE source.{name} AS"
                )
                con.execute(f"{verb} SELECT * FROM incoming")
                con.unregister("incoming")
                rows[name] = rows.get(name, 0) + table.num_rows
            del piece, tables
            if progress:
                progress(i + 1, len(sizes))
    tmp.replace(path)
    saved = asdict(config)
    saved.update(
        end_date=config.last_day.isoformat(),
        first_day=config.first_day.isoformat(),
        shocks=[s.to_dict() for s in config.shocks],
        pieces=sizes,
    )
    (sandbox_dir / "world.json").write_text(json.dumps({"config": saved, "rows": rows}, indent=2))
    return path


def renumber(world: World, ids: dict[str, int]) -> dict[str, pa.Table]:
    """``world``'s tables with its keys moved past those already used (``ids``: the next product index,
    order id, order line id and shipment id, advanced here)."""
    t = dict(world.tables)
    n = world.config.products
    old, new = product_ids(n), product_ids(n + ids["product"])[ids["product"] :]
    for name in ("products", "product_categories", "inventory", "inventory_levels", "supplier_shipments"):
        t[name] = _replace(t[name], "product_id", _recode(t[name].column("product_id"), old, new))
    t["inventory_levels"] = _replace(
        t["inventory_levels"],
        "inventory_item_id",
        pc.add(t["inventory_levels"].column("inventory_item_id"), ids["product"]),
    )
    shift = ids["shipment"] - 1
    t["supplier_shipments"] = _replace(
        t["supplier_shipments"], "shipment_id", pc.add(t["supplier_shipments"].column("shipment_id"), shift)
    )
    orders, items = t["orders"], t["order_items"]
    moved = ids["order"] - FIRST_ORDER_ID
    t["orders"] = _replace(orders, "order_id", pc.add(orders.column("order_id"), moved))
    items = _replace(items, "order_id", pc.add(items.column("order_id"), moved))
    items = _replace(items, "order_item_id", pc.add(items.column("order_item_id"), ids["line"] - 1))
    t["order_items"] = _replace(items, "product_id", _redictionary(items.column("product_id"), new))
    sessions = t["web_sessions"]
    pages = np.char.add("/products/", np.char.lower(new))
    sessions = _replace(sessions, "page_path", _redictionary(sessions.column("page_path"), pages))
    t["web_sessions"] = _replace(sessions, "product_id", _redictionary(sessions.column("product_id"), new))
    ids["product"] += n
    ids["order"] += orders.num_rows
    ids["line"] += items.num_rows
    ids["shipment"] += t["supplier_shipments"].num_rows
    return t


def _replace(table: pa.Table, column: str, values: pa.ChunkedArray | pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(column), column, values)


def _recode(column: pa.ChunkedArray, old: np.ndarray, new: np.ndarray) -> pa.Array:
    """A product id column with each id replaced by its renumbered one."""
    return pa.array(new[pc.index_in(column, value_set=pa.array(old)).to_numpy()])


def _redictionary(column: pa.ChunkedArray, values: np.ndarray) -> pa.ChunkedArray:
    """A dictionary-encoded column whose dictionary (the products, by index) is replaced by ``values``."""
    dictionary = pa.array(values.tolist(), pa.string())
    return pa.chunked_array(
        [pa.DictionaryArray.from_arrays(chunk.indices, dictionary) for chunk in column.chunks],
        pa.dictionary(column.type.index_type, pa.string()),
    )
