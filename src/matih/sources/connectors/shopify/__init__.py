"""``source-shopify``: the Shopify Admin REST API, as a custom app with an Admin API access token uses it.

Streams and tables:

- ``orders`` -> ``orders`` (one row per order) and ``order_items`` (its line items, unpacked:
  order_id, product_id, quantity, unit_price, discount). Incremental on ``updated_at`` via the API's
  ``updated_at_min``; an updated order replaces its row and all of its line items.
- ``products`` -> ``products`` plus ``products__variants`` (nested variants, unpacked by dlt).
- ``inventory_levels`` -> ``inventory_levels`` (every location's levels; full refresh).

``product_id`` is the merchant's product key: the variant SKU by default (``config.product_key:
"sku"``), which is what NovaMart's inventory and analytics systems share, or Shopify's numeric id
(``"id"``). Why REST rather than GraphQL: see docs/ingestion.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dlt
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from matih.sources.connector import Connector, StreamInfo, SyncContext
from matih.sources.http import ApiClient

API_VERSION = "2025-10"
PAGE_SIZE = 250
BATCH_ROWS = 20_000
_TIMESTAMP = pa.timestamp("us", tz="UTC")


def _explain(shop: str) -> Any:
    def explain(status: int, body: str) -> str:
        if status == 401:
            return (
                f"Shopify rejected the access token for {shop} (401). Check that the variable named in "
                "credentials.api_password holds the custom app's Admin API access token (shpat_...)"
            )
        if status == 403:
            return (
                f"the app installed on {shop} lacks an access scope (403): grant read_orders, read_products "
                "and read_inventory in the app's Admin API scopes"
            )
        return f"{shop} answered 404 Not Found: check config.shop (e.g. 'novamart.myshopify.com')"

    return explain


def _client(ctx: SyncContext) -> ApiClient:
    config = ctx.config
    shop = config["shop"]
    base = (config.get("base_url") or f"https://{shop}").rstrip("/")
    return ApiClient(
        f"{base}/admin/api/{API_VERSION}/",
        headers={
            "X-Shopify-Access-Token": config["credentials"]["api_password"],
            "Accept": "application/json",
        },
        policy=ctx.policy,
        source=ctx.source,
        explain=_explain(shop),
    )


def _pages(
    client: ApiClient, stream: str, path: str, key: str, params: dict[str, Any]
) -> Iterator[list[Any]]:
    """Every page of a list endpoint, following ``Link: <...>; rel="next"``."""
    response = client.request("GET", path, stream=stream, params=params)
    while True:
        yield orjson.loads(response.content)[key]
        following = response.links.get("next", {}).get("url")
        if not following:
            return
        response = client.request("GET", following, stream=stream)


def _batched(pages: Iterator[list[Any]], rows: int) -> Iterator[list[Any]]:
    """Pages joined into batches of about ``rows`` records: dlt's per-batch cost is then negligible."""
    batch: list[Any] = []
    for page in pages:
        batch.extend(page)
        if len(batch) >= rows:
            yield batch
            batch = []
    if batch:
        yield batch


def _since(incremental: Any) -> dict[str, str]:
    value = incremental.last_value if incremental is not None else None
    return {"updated_at_min": value} if value else {}


def _stamps(values: list[str]) -> pa.Array:
    return pc.cast(pc.strptime(pa.array(values, pa.string()), "%Y-%m-%dT%H:%M:%S%z", "us"), _TIMESTAMP)


def _wall_clock(values: list[str]) -> pa.Array:
    # the shop's local date and time, as Shopify prints it: what "the day of the sale" means to the merchant
    return pc.strptime(
        pc.utf8_slice_codeunits(pa.array(values, pa.string()), 0, 19), "%Y-%m-%dT%H:%M:%S", "us"
    )


def _money(values: list[Any]) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def _orders_table(orders: list[dict[str, Any]]) -> pa.Table:
    return pa.table(
        {
            "order_id": pa.array([o["id"] for o in orders], pa.int64()),
            "order_number": pa.array([o.get("name") for o in orders], pa.string()),
            "order_date": _wall_clock([o.get("processed_at") or o["created_at"] for o in orders]),
            "customer_id": pa.array([(o.get("customer") or {}).get("id") for o in orders], pa.int64()),
            "financial_status": pa.array([o.get("financial_status") for o in orders], pa.string()),
            "currency": pa.array([o.get("currency") for o in orders], pa.string()),
            "total_price": pa.array(_money([o.get("total_price") or 0 for o in orders])),
            "created_at": _stamps([o["created_at"] for o in orders]),
            "updated_at": _stamps([o["updated_at"] for o in orders]),
        }
    )


def _items_table(orders: list[dict[str, Any]], product_key: str) -> pa.Table:
    lines = [(o["id"], o["updated_at"], line) for o in orders for line in o.get("line_items") or ()]
    quantity = np.asarray([line["quantity"] for _, _, line in lines], dtype=np.int64)
    price = _money([line.get("price") or 0 for _, _, line in lines])
    discount = _money([line.get("total_discount") or 0 for _, _, line in lines])
    gross = price * quantity
    product = (
        [line.get("sku") or str(line.get("product_id") or "") for _, _, line in lines]
        if product_key == "sku"
        else [str(line.get("product_id") or "") for _, _, line in lines]
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        unit_price = np.where(quantity > 0, price - discount / np.maximum(quantity, 1), price)
        share = np.where(gross > 0, discount / gross, 0.0)
    return pa.table(
        {
            "order_item_id": pa.array([line["id"] for _, _, line in lines], pa.int64()),
            "order_id": pa.array([oid for oid, _, _ in lines], pa.int64()),
            "product_id": pa.array(product, pa.string()),
            "shopify_product_id": pa.array([line.get("product_id") for _, _, line in lines], pa.int64()),
            "variant_id": pa.array([line.get("variant_id") for _, _, line in lines], pa.int64()),
            "title": pa.array([line.get("title") for _, _, line in lines], pa.string()),
            "quantity": pa.array(quantity),
            "list_price": pa.array(price),
            "unit_price": pa.array(np.round(unit_price, 2)),
            "discount": pa.array(np.round(share, 4)),
            "updated_at": _stamps([stamp for _, stamp, _ in lines]),
        }
    )


def _resources(ctx: SyncContext) -> list[Any]:
    wanted = {s.name: s for s in ctx.streams}
    product_key = ctx.config.get("product_key", "sku")
    resources: list[Any] = []

    if "orders" in wanted:
        incremental = wanted["orders"].sync_mode == "incremental"

        @dlt.resource(name="orders_feed", primary_key="id", selected=False)
        def order_feed(
            updated_at: Any = dlt.sources.incremental("updated_at") if incremental else None,
        ) -> Iterator[list[dict[str, Any]]]:
            params = {"status": "any", "limit": PAGE_SIZE, "order": "updated_at asc", **_since(updated_at)}
            with _client(ctx) as client:
                yield from _batched(_pages(client, "orders", "orders.json", "orders", params), BATCH_ROWS)

        @dlt.transformer(
            name="orders",
            primary_key="order_id",
            columns={"order_date": {"data_type": "timestamp", "timezone": False}},
            write_disposition="merge" if incremental else "replace",
        )
        def orders(page: list[dict[str, Any]]) -> Iterator[pa.Table]:
            if page:
                yield _orders_table(page)

        # an edited order may gain or lose lines: all of an order's lines are replaced together
        @dlt.transformer(  # type: ignore[call-overload]
            name="order_items",
            primary_key="order_item_id",
            merge_key="order_id",
            write_disposition={"disposition": "merge", "strategy": "delete-insert"}
            if incremental
            else "replace",
        )
        def order_items(page: list[dict[str, Any]]) -> Iterator[pa.Table]:
            if page:
                yield _items_table(page, product_key)

        resources += [order_feed | orders, order_feed | order_items]

    if "products" in wanted:
        incremental = wanted["products"].sync_mode == "incremental"

        @dlt.resource(
            name="products",
            primary_key="product_id",
            write_disposition="merge" if incremental else "replace",
            columns={"price": {"data_type": "double"}},
        )
        def products(
            updated_at: Any = dlt.sources.incremental("updated_at") if incremental else None,
        ) -> Iterator[list[dict[str, Any]]]:
            params = {"limit": PAGE_SIZE, "order": "updated_at asc", **_since(updated_at)}
            with _client(ctx) as client:
                for page in _batched(
                    _pages(client, "products", "products.json", "products", params), BATCH_ROWS
                ):
                    for product in page:
                        variants = product.get("variants") or [{}]
                        first = variants[0]
                        product["shopify_product_id"] = product.pop("id")
                        product["product_id"] = (
                            first.get("sku")
                            if product_key == "sku" and first.get("sku")
                            else str(product["shopify_product_id"])
                        )
                        product["price"] = float(first.get("price") or 0)
                    yield page

        resources.append(products)

    if "inventory_levels" in wanted:

        @dlt.resource(
            name="inventory_levels",
            primary_key=("inventory_item_id", "location_id"),
            write_disposition="replace",
        )
        def inventory_levels() -> Iterator[list[dict[str, Any]]]:
            with _client(ctx) as client:
                locations = orjson.loads(
                    client.request("GET", "locations.json", stream="inventory_levels").content
                )["locations"]
                ids = ",".join(str(loc["id"]) for loc in locations)
                if not ids:
                    return
                params = {"location_ids": ids, "limit": PAGE_SIZE}
                for page in _pages(
                    client, "inventory_levels", "inventory_levels.json", "inventory_levels", params
                ):
                    for level in page:
                        level.pop("admin_graphql_api_id", None)
                    yield page

        resources.append(inventory_levels)
    return resources


def _sandbox(endpoints: Any) -> dict[str, Any]:
    return {"base_url": endpoints.shopify_url}


CONNECTOR = Connector(
    name="source-shopify",
    streams={
        "orders": StreamInfo(
            ("orders", "order_items"), ("order_id",), "updated_at", state_resource="orders_feed"
        ),
        "products": StreamInfo(("products", "products__variants"), ("product_id",), "updated_at"),
        "inventory_levels": StreamInfo(
            ("inventory_levels",), ("inventory_item_id", "location_id"), None, ("full_refresh",)
        ),
    },
    destination=lambda _spec, _name: ("postgresql", "shopify"),
    resources=_resources,
    sandbox=_sandbox,
)
