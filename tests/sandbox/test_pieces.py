"""A world generated in pieces of products: keys continue from piece to piece, and the warehouse's
feature SQL reads it as one catalogue."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb

from matih.sandbox import WorldConfig, load_world
from matih.sandbox.pieces import save_world_in_pieces
from matih.sandbox.store import world_path
from matih.warehouse import Warehouse

from ..conftest import EXAMPLE


def test_a_world_in_pieces_has_one_key_per_product_order_line_and_shipment(tmp_path: Path):
    config = WorldConfig(products=330, seed=5, end_date=dt.date(2026, 3, 31), days=200)
    done: list[tuple[int, int]] = []
    save_world_in_pieces(config, tmp_path, piece_products=150, progress=lambda i, n: done.append((i, n)))
    assert done == [(1, 2), (2, 2)]  # 150 + 180: a 30-product rest joins the last piece
    assert json.loads((tmp_path / "world.json").read_text())["config"]["pieces"] == [150, 180]
    with duckdb.connect(str(world_path(tmp_path)), read_only=True) as con:

        def one(sql: str) -> tuple:
            row = con.execute(sql).fetchone()
            assert row is not None
            return row

        assert one("SELECT count(*), count(DISTINCT product_id) FROM source.products") == (330, 330)
        assert one("SELECT min(product_id), max(product_id) FROM source.products") == (
            "PRD-10000",
            "PRD-10329",
        )
        for table, key in (
            ("orders", "order_id"),
            ("order_items", "order_item_id"),
            ("supplier_shipments", "shipment_id"),
            ("inventory_levels", "inventory_item_id"),
        ):
            total, distinct = one(f"SELECT count(*), count(DISTINCT {key}) FROM source.{table}")
            assert total == distinct, table
        # every line names an order and a product that exist; every page a product's own
        assert one(
            "SELECT count(*) FROM source.order_items i ANTI JOIN source.orders o USING (order_id)"
        ) == (0,)
        assert one(
            "SELECT count(*) FROM source.order_items i ANTI JOIN source.products p USING (product_id)"
        ) == (0,)
        assert one(
            "SELECT count(*) FROM source.web_sessions WHERE page_path <> '/products/' || lower(product_id)"
        ) == (0,)
        assert one("SELECT count(*) FROM source.warehouses") == (5,)
        # both pieces sell: the second piece's products are not empty shells
        assert one(
            "SELECT count(DISTINCT product_id) > 100 FROM source.order_items WHERE product_id >= 'PRD-10150'"
        ) == (True,)

    wh = Warehouse(tmp_path / "wh", threads=2, memory_limit="1GB")
    load_world(tmp_path, wh)
    wh.run((EXAMPLE / "queries" / "demand_features.sql").read_text())
    assert (
        wh.query("SELECT count(DISTINCT product_id) AS n FROM analytics.derived.demand_features")
        .column("n")[0]
        .as_py()
        > 300
    )
