"""Shopify's JSON shapes for the NovaMart shop: orders with line items, products with variants, and
inventory levels, rendered from the columns of a :class:`~matih.sandbox.shopify_world.ShopifyWorld`.

Each function renders one page of rows; which rows, and the paging around them, are the HTTP
application's business (:mod:`matih.sandbox.shopify_api`). Money is a string with two decimals and
times are ISO 8601 with ``+00:00``, as Shopify writes them. NovaMart's promotions reach a line the way a
discount code does in Shopify: the reduction is in ``line_items[].discount_allocations`` (pointing at the
order's ``discount_applications``), and the line's ``total_discount`` stays ``"0.00"``. Columns are
converted to Python lists in one go per page: per-cell numpy access would cost more than the rendering
itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from matih.sandbox.shopify_world import ShopifyWorld

__all__ = [
    "INVENTORY_ITEM_ID_BASE",
    "PRODUCT_ID_BASE",
    "VARIANT_ID_BASE",
    "inventory_level_bodies",
    "order_bodies",
    "product_bodies",
]

PRODUCT_ID_BASE = 7_000_000_000
VARIANT_ID_BASE = 8_000_000_000
#: the generator numbers inventory items the same way (``inventory_levels.inventory_item_id``)
INVENTORY_ITEM_ID_BASE = 40_000_000


def _iso(seconds: np.ndarray, tz: dt.tzinfo | None = None) -> list[str]:
    if tz is None:  # the common case, vectorised
        text = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
        return [f"{t}+00:00" for t in text.tolist()]
    return [dt.datetime.fromtimestamp(s, tz).isoformat() for s in seconds.tolist()]


def _money(values: np.ndarray) -> list[str]:
    return [f"{v:.2f}" for v in values.tolist()]


def order_bodies(
    world: ShopifyWorld,
    ranges: tuple[np.ndarray, np.ndarray],
    rows: np.ndarray,
    shown: np.ndarray,
    edited: np.ndarray,
) -> list[dict[str, Any]]:
    """Orders at ``rows`` of ``world.orders``, as shown at the clock (``shown`` updated_at, ``edited``).

    ``ranges`` is :meth:`ShopifyWorld.item_ranges`, computed once per application.
    """
    o = world.orders
    starts, ends = ranges[0][rows], ranges[1][rows]
    counts = ends - starts
    # the page's line rows, order after order: each order's range laid end to end
    item_rows = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
    lines = _line_items(world, item_rows)
    created = _iso(o["created"][rows], world.timezone)
    updated = _iso(shown, world.timezone)
    # a refund is an edit: before the clock reaches it, the order still shows as paid
    status = np.where(edited & o["refunded"][rows], "refunded", "paid").tolist()
    body = []
    offset = 0
    for i, (oid, count, customer, total) in enumerate(
        zip(
            o["id"][rows].tolist(),
            counts.tolist(),
            o["customer"][rows].tolist(),
            _money(o["total"][rows]),
            strict=True,
        )
    ):
        body.append(
            {
                "id": oid,
                "name": f"#{oid}",
                "created_at": created[i],
                "processed_at": created[i],
                "updated_at": updated[i],
                "currency": "USD",
                "financial_status": status[i],
                "total_price": total,
                "customer": {"id": customer},
                "discount_applications": _applications(lines[offset : offset + count]),
                "line_items": lines[offset : offset + count],
            }
        )
        offset += count
    return body


def _line_items(world: ShopifyWorld, item_rows: np.ndarray) -> list[dict[str, Any]]:
    it, p = world.items, world.products
    product = it["product"][item_rows]
    return [
        {
            "id": line_id,
            "product_id": PRODUCT_ID_BASE + prod,
            "variant_id": VARIANT_ID_BASE + prod,
            "sku": sku,
            "title": title,
            "quantity": qty,
            "price": price,
            "total_discount": "0.00",
            "discount_allocations": _allocations(discount),
            "fulfillable_quantity": 0,
        }
        for line_id, prod, sku, title, qty, price, discount in zip(
            it["id"][item_rows].tolist(),
            product.tolist(),
            p["sku"][product].tolist(),
            p["title"][product].tolist(),
            it["quantity"][item_rows].tolist(),
            _money(it["price"][item_rows]),
            _money(it["discount"][item_rows]),
            strict=True,
        )
    ]


#: the one discount application of a promoted order (Shopify lists an order's discounts once, and each
#: line's allocations point at them by index)
PROMOTION = {
    "type": "discount_code",
    "code": "NOVAPROMO",
    "value": "0.0",
    "value_type": "fixed_amount",
    "allocation_method": "each",
    "target_selection": "entitled",
    "target_type": "line_item",
}


def _allocations(amount: str) -> list[dict[str, Any]]:
    if amount == "0.00":
        return []
    money = {"amount": amount, "currency_code": "USD"}
    return [
        {
            "amount": amount,
            "amount_set": {"shop_money": money, "presentment_money": money},
            "discount_application_index": 0,
        }
    ]


def _applications(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [PROMOTION] if any(line["discount_allocations"] for line in lines) else []


def product_bodies(world: ShopifyWorld, rows: np.ndarray, shown: np.ndarray) -> list[dict[str, Any]]:
    """Products at ``rows`` of ``world.products``, each with its one variant, as shown at the clock."""
    p = world.products
    created = _iso(p["created"][rows], world.timezone)
    updated = _iso(shown, world.timezone)
    prices = _money(p["price"][rows])
    return [
        {
            "id": PRODUCT_ID_BASE + idx,
            "title": p["title"][idx],
            "vendor": p["vendor"][idx],
            "product_type": p["product_type"][idx],
            "status": p["status"][idx],
            "created_at": created[i],
            "updated_at": updated[i],
            "tags": "",
            "variants": [
                {
                    "id": VARIANT_ID_BASE + idx,
                    "product_id": PRODUCT_ID_BASE + idx,
                    "sku": p["sku"][idx],
                    "price": prices[i],
                    "inventory_item_id": INVENTORY_ITEM_ID_BASE + idx,
                }
            ],
        }
        for i, idx in enumerate(rows.tolist())
    ]


def inventory_level_bodies(world: ShopifyWorld, rows: np.ndarray, cutoff: int) -> list[dict[str, Any]]:
    """Inventory levels at ``rows`` of ``world.levels``, seen from the clock's ``cutoff`` (seconds)."""
    lv = world.levels
    # the world's snapshot is stamped at its end: never show a level updated after the clock
    updated = np.minimum(lv["updated"][rows], cutoff - 3600)
    return [
        {
            "inventory_item_id": item,
            "location_id": loc,
            "available": avail,
            "updated_at": stamp,
            "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{loc}?inventory_item_id={item}",
        }
        for item, loc, avail, stamp in zip(
            lv["inventory_item_id"][rows].tolist(),
            lv["location"][rows].tolist(),
            lv["available"][rows].tolist(),
            _iso(updated, world.timezone),
            strict=True,
        )
    ]
