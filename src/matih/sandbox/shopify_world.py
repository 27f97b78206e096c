"""The NovaMart shop as the Shopify sandbox holds it: world tables in memory, and what the clock shows.

:class:`ShopifyWorld` reads the shop's tables from the world database once, as numpy columns already in
Shopify's terms (line-item ids, location ids, list prices and per-line discounts), so each request only
slices arrays. :meth:`ShopifyWorld.view` answers which orders and products exist at a clock cutoff and in
what order pages walk them: an order exists once it is created, and an order edited after the clock
still shows its original version. The JSON rendered from these columns lives in
:mod:`matih.sandbox.shopify_shapes`; the HTTP application in :mod:`matih.sandbox.shopify_api`.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["LINE_ITEM_ID_BASE", "LOCATION_ID_BASE", "ShopifyWorld"]

LOCATION_ID_BASE = 70_000_000
LINE_ITEM_ID_BASE = 11_000_000_000
#: sort keys count seconds from here so (seconds << 32 | id) fits an int64
_EPOCH_2000 = 946_684_800
UPDATE_LAG = 60
"""Seconds after its creation at which a never-edited order or product shows as last updated (the
payment's capture): a row created just before the clock shows ``updated_at`` up to this much after it."""


def _seconds(values: Any) -> np.ndarray:
    return np.asarray(values).astype("datetime64[s]").astype(np.int64)


@dataclass
class _ShopTables:
    """The world's shop tables as DuckDB hands them over (Arrow), plus the warehouse rows."""

    products: pa.Table
    orders: pa.Table
    items: pa.Table
    levels: pa.Table
    warehouses: list[tuple[Any, ...]]

    @classmethod
    def read(cls, world_db: Path) -> _ShopTables:
        con = duckdb.connect()
        try:
            con.execute(f"ATTACH '{world_db}' AS world (READ_ONLY)")
            products = con.execute("SELECT * FROM world.source.products").to_arrow_table()
            orders = con.execute(
                "SELECT order_id, created_at, updated_at, customer_id, total_price,"
                " financial_status = 'refunded' AS refunded FROM world.source.orders ORDER BY order_id"
            ).to_arrow_table()
            # ordered by order so each order's lines are one contiguous range (see item_ranges)
            items = con.execute(
                "SELECT order_item_id, order_id, product_id, quantity, unit_price"
                " FROM world.source.order_items"
                " ORDER BY order_id, order_item_id"
            ).to_arrow_table()
            levels = con.execute(
                "SELECT inventory_item_id, product_id, location_id, available, updated_at"
                " FROM world.source.inventory_levels"
            ).to_arrow_table()
            warehouses = con.execute("SELECT * FROM world.source.warehouses ORDER BY warehouse_id").fetchall()
        finally:
            con.close()
        return cls(products, orders, items, levels, warehouses)


@dataclass
class ShopifyWorld:
    """Columns of the world's shop tables, in memory, with a per-clock view of orders and products."""

    orders: dict[str, np.ndarray]
    items: dict[str, np.ndarray]
    products: dict[str, np.ndarray]
    levels: dict[str, np.ndarray]
    locations: list[dict[str, Any]]
    timezone: dt.tzinfo | None = None
    """The shop's time zone, in which times are written (Shopify writes the shop's UTC offset, which
    changes with daylight-saving time); ``None`` writes UTC."""
    _views: dict[tuple[str, int], dict[str, np.ndarray]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls, world_db: Path) -> ShopifyWorld:
        tables = _ShopTables.read(world_db)
        ids = tables.products["product_id"]
        # Shopify numbers locations; the world names warehouses: number them in warehouse_id order
        location_ids = {row[0]: LOCATION_ID_BASE + i + 1 for i, row in enumerate(tables.warehouses)}
        return cls(
            orders=_order_columns(tables.orders),
            items=_item_columns(tables.items, ids, tables.products["price"].to_numpy()),
            products=_product_columns(tables.products),
            levels=_level_columns(tables.levels, ids, location_ids),
            locations=[
                {
                    "id": location_ids[row[0]],
                    "name": row[1],
                    "city": row[2],
                    "country_code": "US",
                    "active": True,
                    "legacy": False,
                }
                for row in tables.warehouses
            ],
        )

    def item_ranges(self) -> tuple[np.ndarray, np.ndarray]:
        """Per order (in ``orders`` row order), the start and end of its lines in ``items``."""
        start = np.searchsorted(self.items["order"], self.orders["id"], side="left")
        end = np.searchsorted(self.items["order"], self.orders["id"], side="right")
        return start, end

    def view(self, kind: str, cutoff: int) -> dict[str, np.ndarray]:
        """Rows of ``kind`` (orders, products) visible at ``cutoff``, sorted by (shown updated_at, id)."""
        key = (kind, cutoff)
        with self._lock:
            if key not in self._views:
                # one view per kind: the clock only moves on, so older cutoffs are rarely asked again
                self._views = {k: v for k, v in self._views.items() if k[0] != kind}
                self._views[key] = self._build_view(kind, cutoff)
            return self._views[key]

    def _build_view(self, kind: str, cutoff: int) -> dict[str, np.ndarray]:
        table = self.orders if kind == "orders" else self.products
        created, updated = table["created"], table["updated"]
        rows = np.flatnonzero(created < cutoff)
        edited = updated[rows] < cutoff
        # an edit after the clock has not happened yet: the original version shows
        shown = np.where(edited, updated[rows], created[rows] + UPDATE_LAG)
        ident = rows if kind == "products" else table["id"][rows]
        sort_key = ((shown - _EPOCH_2000).astype(np.int64) << 32) | (ident.astype(np.int64) & 0xFFFFFFFF)
        order = np.argsort(sort_key, kind="stable")
        return {"rows": rows[order], "shown": shown[order], "edited": edited[order], "key": sort_key[order]}


def _order_columns(orders: pa.Table) -> dict[str, np.ndarray]:
    return {
        "id": orders["order_id"].to_numpy(),
        "created": _seconds(orders["created_at"].to_numpy()),
        "updated": _seconds(orders["updated_at"].to_numpy()),
        "customer": orders["customer_id"].to_numpy(),
        "total": orders["total_price"].to_numpy(),
        "refunded": orders["refunded"].to_numpy(zero_copy_only=False),
    }


def _item_columns(items: pa.Table, ids: pa.ChunkedArray, list_price: np.ndarray) -> dict[str, np.ndarray]:
    """Order lines by product row; Shopify shows the list price and the line's discount beside it."""
    item_product = pc.index_in(items["product_id"], value_set=ids).to_numpy(zero_copy_only=False)
    return {
        "id": LINE_ITEM_ID_BASE + items["order_item_id"].to_numpy(),
        "order": items["order_id"].to_numpy(),
        "product": item_product.astype(np.int64),
        "quantity": items["quantity"].to_numpy(),
        "price": list_price[item_product],
        "discount": np.round(
            (list_price[item_product] - items["unit_price"].to_numpy()) * items["quantity"].to_numpy(),
            2,
        ),
    }


def _product_columns(products: pa.Table) -> dict[str, np.ndarray]:
    return {
        "sku": np.asarray(products["product_id"].to_pylist(), dtype=object),
        "title": np.asarray(products["title"].to_pylist(), dtype=object),
        "vendor": np.asarray(products["vendor"].to_pylist(), dtype=object),
        "product_type": np.asarray(products["product_type"].to_pylist(), dtype=object),
        "status": np.asarray(products["status"].to_pylist(), dtype=object),
        "price": products["price"].to_numpy(),
        "created": _seconds(products["created_at"].to_numpy()),
        "updated": _seconds(products["updated_at"].to_numpy()),
    }


def _level_columns(
    levels: pa.Table, ids: pa.ChunkedArray, location_ids: dict[Any, int]
) -> dict[str, np.ndarray]:
    level_product = pc.index_in(levels["product_id"], value_set=ids).to_numpy(zero_copy_only=False)
    return {
        "inventory_item_id": levels["inventory_item_id"].to_numpy(),
        "product": level_product.astype(np.int64),
        "location": np.array([location_ids[w] for w in levels["location_id"].to_pylist()]),
        "available": levels["available"].to_numpy(),
        "updated": _seconds(levels["updated_at"].to_numpy()),
    }
