"""``source-shopify``: the Shopify Admin REST API, as a custom app with an Admin API access token uses it.

Streams and tables:

- ``orders`` -> ``orders`` (one row per order) and ``order_items`` (its line items, unpacked:
  order_id, product_id, quantity, unit_price, discount). Incremental on ``updated_at`` via the API's
  ``updated_at_min``; an updated order replaces its row and all of its line items.

A sync reads the shop as it was when the sync began: Shopify's cursor pages follow the sort order over
live data, so an order edited while a sync pages moves to its new ``updated_at`` and is listed again
further on. Rows updated at or after the server's time on the first answer (its ``Date`` header) are left
for the next sync, whose ``updated_at_min`` starts at this sync's cursor; an order therefore lands once,
as its latest version.
- ``products`` -> ``products`` plus ``products__variants`` (nested variants, unpacked by dlt).
- ``inventory_levels`` -> ``inventory_levels`` (every location's levels; full refresh).

``product_id`` is the merchant's product key: the variant SKU by default (``config.product_key:
"sku"``), which is what NovaMart's inventory and analytics systems share, or Shopify's numeric id
(``"id"``). Why REST rather than GraphQL: see docs/ingestion.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import io
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import dlt
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from matih.exceptions import SourceError
from matih.sources.connector import Connector, StreamInfo, SyncContext
from matih.sources.http import ApiClient, prefetched

if TYPE_CHECKING:
    from matih.specs.source import StreamSpec

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
        on_retry=ctx.note_retry,
    )


def _pages(
    client: ApiClient,
    stream: str,
    path: str,
    key: str,
    params: dict[str, Any],
    snapshot: _Snapshot | None = None,
) -> Iterator[list[Any]]:
    """Every page of a list endpoint, following ``Link: <...>; rel="next"``; the next request is in
    flight while the current page is parsed and loaded."""
    for content in prefetched(_bodies(client, stream, path, params, key, snapshot)):
        yield orjson.loads(content)[key]


def _checked(response: Any, key: str, stream: str, source: str) -> bytes:
    """The body when it is the JSON list Shopify sends (``{"<key>": [...]}``); otherwise an error naming
    the endpoint, the status, the content type and a short excerpt. A proxy's HTML page, a truncated
    answer or ``{}`` would otherwise fail deep inside the parser, or load nothing without a word."""
    body = response.content
    kind = response.headers.get("content-type", "")
    start = body[:200].lstrip()
    if (
        "json" in kind
        and re.match(rb'\{\s*"' + key.encode() + rb'"\s*:', start)
        and body.rstrip().endswith(b"}")
    ):
        return body
    url = response.request.url.copy_with(query=None)  # the path, not the parameters
    excerpt = body[:80].decode(errors="replace").replace("\n", " ")
    raise SourceError(
        f"GET {url} answered {response.status_code} with {kind or 'no content type'}, not the "
        f'{{"{key}": [...]}} JSON Shopify sends (it starts {excerpt!r}, {len(body):,} bytes); check '
        "config.shop (or base_url) and any proxy or firewall between MATIH and the shop",
        source=source,
        stream=stream,
        transient=True,  # a proxy's error page is usually passing
    )


class _Snapshot:
    """The moment a sync reads the shop at: the server's clock on its first answer."""

    def __init__(self) -> None:
        self.at: dt.datetime | None = None

    def take(self, response: Any) -> None:
        if self.at is None and (date := response.headers.get("date")):
            with contextlib.suppress(TypeError, ValueError):
                self.at = email.utils.parsedate_to_datetime(date)

    def keeps(self, updated_at: str) -> bool:
        """Whether a row updated at ``updated_at`` belongs to this sync (see the module docstring)."""
        return self.at is None or _instant(updated_at) < self.at


def _bodies(
    client: ApiClient,
    stream: str,
    path: str,
    params: dict[str, Any],
    key: str | None = None,
    snapshot: _Snapshot | None = None,
) -> Iterator[bytes]:
    key = key or stream
    response = client.request("GET", path, stream=stream, params=params)
    if snapshot is not None:
        snapshot.take(response)
    while True:
        yield _checked(response, key, stream, client.source or "")
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
    if isinstance(value, dt.datetime):  # an instant: ISO 8601 with its offset, as the API takes it
        value = value.astimezone(dt.UTC).isoformat()
    return {"updated_at_min": value} if value else {}


def _instant(value: Any) -> Any:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value


def _latest(values: Any) -> Any:
    """The latest of ``updated_at`` values by instant. Shopify writes the shop's UTC offset, which changes
    with daylight-saving time: as text, 02:10+12:00 sorts before 02:54+13:00 though it is later."""
    return max(values, key=_instant)


def _stamps(values: list[str] | pa.Array | pa.ChunkedArray) -> pa.Array:
    text = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values, pa.string())
    return pc.cast(pc.strptime(text, "%Y-%m-%dT%H:%M:%S%z", "us"), _TIMESTAMP)


def _wall_clock(values: list[str]) -> pa.Array:
    # the shop's local date and time, as Shopify prints it: what "the day of the sale" means to the merchant
    return pc.strptime(
        pc.utf8_slice_codeunits(pa.array(values, pa.string()), 0, 19), "%Y-%m-%dT%H:%M:%S", "us"
    )


_LINE = pa.struct(
    [
        ("id", pa.int64()),
        ("product_id", pa.int64()),
        ("variant_id", pa.int64()),
        ("sku", pa.string()),
        ("title", pa.string()),
        ("quantity", pa.int64()),
        ("price", pa.string()),
        ("total_discount", pa.string()),
        ("discount_allocations", pa.list_(pa.struct([("amount", pa.string())]))),
    ]
)
_ORDER = pa.struct(
    [
        ("id", pa.int64()),
        ("name", pa.string()),
        ("created_at", pa.string()),
        ("processed_at", pa.string()),
        ("updated_at", pa.string()),
        ("currency", pa.string()),
        ("financial_status", pa.string()),
        ("total_price", pa.string()),
        ("customer", pa.struct([("id", pa.int64())])),
        ("line_items", pa.list_(_LINE)),
    ]
)
_ORDER_PAGE = pa.schema([("orders", pa.list_(_ORDER))])


def _order_batches(bodies: Iterator[bytes], rows: int, snapshot: _Snapshot) -> Iterator[pa.Table]:
    """Response bodies parsed by Arrow's JSON reader (multi-threaded, no Python objects per order), in
    batches of about ``rows`` orders of the sync's snapshot; fields the schema does not name are ignored."""
    batch: list[bytes] = []
    held = 0
    for body in bodies:
        # the reader takes one document per line: re-serialise the rare pretty-printed body
        batch.append(orjson.dumps(orjson.loads(body)) if b"\n" in body else body)
        held += max(1, len(body) // 600)  # about 600 bytes per order
        if held >= rows:
            yield _latest_versions(_parse_orders(batch), snapshot.at)
            batch, held = [], 0
    if batch:
        yield _latest_versions(_parse_orders(batch), snapshot.at)


def _latest_versions(orders: pa.Table, before: dt.datetime | None) -> pa.Table:
    """The orders of the snapshot (updated before ``before``), each once, as its latest version."""
    if before is not None:
        orders = orders.filter(pc.less(orders["updated_at_utc"], pa.scalar(before, _TIMESTAMP)))
    if pc.count_distinct(orders["id"]).as_py() == orders.num_rows:
        return orders
    # an order edited in the same second the snapshot was taken can still show twice: keep its newest
    ids = orders["id"].to_numpy()
    stamps = orders["updated_at_utc"].cast(pa.int64()).to_numpy()
    order = np.lexsort((-stamps, ids))
    first = np.ones(len(order), dtype=bool)
    first[1:] = ids[order][1:] != ids[order][:-1]
    return orders.take(np.sort(order[first]))


def _parse_orders(bodies: list[bytes]) -> pa.Table:
    options = pj.ParseOptions(explicit_schema=_ORDER_PAGE, unexpected_field_behavior="ignore")
    # a page may not straddle the reader's blocks: blocks hold at least the largest page
    reading = pj.ReadOptions(block_size=max(1 << 20, 2 * max(len(b) for b in bodies)))
    pages = pj.read_json(io.BytesIO(b"\n".join(bodies)), read_options=reading, parse_options=options)
    orders = pc.list_flatten(pages["orders"].combine_chunks())
    table = pa.Table.from_batches([pa.RecordBatch.from_struct_array(orders)])
    # the cursor: an instant, since the text carries the shop's offset (see _latest)
    return table.append_column("updated_at_utc", _stamps(table["updated_at"]))


def _money_of(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return pc.cast(pc.fill_null(values, "0"), pa.float64())


def _orders_table(orders: pa.Table) -> pa.Table:
    processed = pc.coalesce(orders["processed_at"], orders["created_at"])
    return pa.table(
        {
            "order_id": orders["id"],
            "order_number": orders["name"],
            "order_date": _wall_clock(processed),
            "customer_id": pc.struct_field(orders["customer"], "id"),
            "financial_status": orders["financial_status"],
            "currency": orders["currency"],
            "total_price": _money_of(orders["total_price"]),
            "created_at": _stamps(orders["created_at"]),
            "updated_at": orders["updated_at_utc"],
        }
    )


def _line_discounts(total_discount: pa.Array, allocations: pa.Array) -> pa.Array:
    """Each line's discount in money. Discount codes and automatic discounts reach a line as
    ``discount_allocations`` (their amounts add up) while ``total_discount`` stays "0.00"; Shopify
    recommends the allocations, so the old field counts only for a line that has none."""
    allocated = np.zeros(len(allocations))
    amounts = pc.list_flatten(allocations)
    if len(amounts):
        np.add.at(
            allocated,
            pc.list_parent_indices(allocations).to_numpy(),
            _money_of(pc.struct_field(amounts, "amount")).to_numpy(zero_copy_only=False),
        )
    has_allocations = pc.fill_null(pc.greater(pc.list_value_length(allocations), 0), False)
    return pc.if_else(has_allocations, pa.array(allocated), _money_of(total_discount))


def _items_table(orders: pa.Table, product_key: str) -> pa.Table:
    nested = orders["line_items"].combine_chunks()
    parent = pc.list_parent_indices(nested)
    lines = pc.list_flatten(nested)
    field = {name: pc.struct_field(lines, name) for name in _LINE.names}
    quantity = field["quantity"]
    price = _money_of(field["price"])
    discount = _line_discounts(field["total_discount"], field["discount_allocations"])
    gross = pc.multiply(price, pc.cast(quantity, pa.float64()))
    unit_price = pc.subtract(
        price, pc.divide(discount, pc.cast(pc.max_element_wise(quantity, 1), pa.float64()))
    )
    share = pc.if_else(pc.greater(gross, 0), pc.divide(discount, gross), 0.0)
    shopify_id = pc.cast(field["product_id"], pa.string())
    product = pc.coalesce(field["sku"], shopify_id) if product_key == "sku" else shopify_id
    return pa.table(
        {
            "order_item_id": field["id"],
            "order_id": pc.take(orders["id"], parent),
            "product_id": product,
            "shopify_product_id": field["product_id"],
            "variant_id": field["variant_id"],
            "title": field["title"],
            "quantity": quantity,
            "list_price": price,
            "unit_price": pc.round(unit_price, 2),
            "discount": pc.round(share, 4),
            "updated_at": pc.take(orders["updated_at_utc"], parent),
        }
    )


def _levels_table(levels: list[dict[str, Any]]) -> pa.Table:
    return pa.table(
        {
            "inventory_item_id": pa.array([lv["inventory_item_id"] for lv in levels], pa.int64()),
            "location_id": pa.array([lv["location_id"] for lv in levels], pa.int64()),
            "available": pa.array([lv.get("available") for lv in levels], pa.int64()),
            "updated_at": _stamps([lv["updated_at"] for lv in levels]),
        }
    )


def _as_product_row(product: dict[str, Any], product_key: str) -> None:
    """One ``products.json`` record made a ``products`` row, in place: Shopify's ``id`` becomes
    ``shopify_product_id`` beside the merchant's ``product_id`` (see the module docstring), and the
    first variant's price is the product's."""
    variants = product.get("variants") or [{}]
    first = variants[0]
    product["shopify_product_id"] = product.pop("id")
    product["product_id"] = (
        first.get("sku") if product_key == "sku" and first.get("sku") else str(product["shopify_product_id"])
    )
    product["price"] = float(first.get("price") or 0)


def _location_ids(client: ApiClient) -> str:
    """Every location's id, comma-separated: ``inventory_levels.json`` only lists levels by location."""
    response = client.request("GET", "locations.json", stream="inventory_levels")
    body = _checked(response, "locations", "inventory_levels", client.source or "")
    return ",".join(str(loc["id"]) for loc in orjson.loads(body)["locations"])


def _order_resources(ctx: SyncContext, stream: StreamSpec, product_key: str) -> list[Any]:
    """The ``orders`` stream: an unselected feed of parsed order pages, which holds the ``updated_at``
    cursor (hence ``StreamInfo.state_resource``), piped into the ``orders`` and ``order_items`` tables."""
    incremental = stream.sync_mode == "incremental"

    @dlt.resource(name="orders_feed", primary_key="id", selected=False)
    def order_feed(
        updated_at: Any = dlt.sources.incremental("updated_at_utc") if incremental else None,
    ) -> Iterator[pa.Table]:
        params = {"status": "any", "limit": PAGE_SIZE, "order": "updated_at asc", **_since(updated_at)}
        snapshot = _Snapshot()
        with _client(ctx) as client:
            bodies = prefetched(_bodies(client, "orders", "orders.json", params, snapshot=snapshot))
            yield from _order_batches(bodies, BATCH_ROWS, snapshot)

    @dlt.transformer(
        name="orders",
        primary_key="order_id",
        columns={
            "order_date": {"data_type": "timestamp", "timezone": False},
            "updated_at": {"dedup_sort": "desc"},  # should a version slip through twice, the newest wins
        },
        write_disposition="merge" if incremental else "replace",
    )
    def orders(batch: pa.Table) -> Iterator[pa.Table]:
        if batch.num_rows:
            yield _orders_table(batch)

    # an edited order may gain or lose lines: all of an order's lines are replaced together
    @dlt.transformer(  # type: ignore[call-overload]
        name="order_items",
        # the merge key alone: dlt joins on (primary key OR merge key) when given both, which DuckDB
        # can only run as a nested loop; order_item_id stays unique because whole orders are replaced
        merge_key="order_id",
        columns={"order_item_id": {"data_type": "bigint", "nullable": False, "unique": True}},
        write_disposition={"disposition": "merge", "strategy": "delete-insert"} if incremental else "replace",
    )
    def order_items(batch: pa.Table) -> Iterator[pa.Table]:
        if batch.num_rows:
            yield _items_table(batch, product_key)

    return [order_feed | orders, order_feed | order_items]


def _products_resource(ctx: SyncContext, stream: StreamSpec, product_key: str) -> Any:
    """The ``products`` stream; dlt unpacks each product's variants into ``products__variants``."""
    incremental = stream.sync_mode == "incremental"

    @dlt.resource(
        name="products",
        primary_key="product_id",
        write_disposition="merge" if incremental else "replace",
        columns={"price": {"data_type": "double"}},
    )
    def products(
        updated_at: Any = dlt.sources.incremental("updated_at", last_value_func=_latest)
        if incremental
        else None,
    ) -> Iterator[list[dict[str, Any]]]:
        params = {"limit": PAGE_SIZE, "order": "updated_at asc", **_since(updated_at)}
        snapshot = _Snapshot()
        with _client(ctx) as client:
            pages = _pages(client, "products", "products.json", "products", params, snapshot)
            for page in _batched(pages, BATCH_ROWS):
                latest = {p["id"]: p for p in page if snapshot.keeps(p["updated_at"])}
                for product in latest.values():
                    _as_product_row(product, product_key)
                yield list(latest.values())

    return products


def _inventory_levels_resource(ctx: SyncContext) -> Any:
    """The ``inventory_levels`` stream: every location's levels, replaced on each sync."""

    @dlt.resource(
        name="inventory_levels",
        primary_key=("inventory_item_id", "location_id"),
        write_disposition="replace",
    )
    def inventory_levels() -> Iterator[pa.Table]:
        with _client(ctx) as client:
            ids = _location_ids(client)
            if not ids:
                return
            params = {"location_ids": ids, "limit": PAGE_SIZE}
            pages = _pages(client, "inventory_levels", "inventory_levels.json", "inventory_levels", params)
            for batch in _batched(pages, BATCH_ROWS):
                yield _levels_table(batch)

    return inventory_levels


def _resources(ctx: SyncContext) -> list[Any]:
    """The dlt resources of the streams the spec selects."""
    wanted = {s.name: s for s in ctx.streams}
    product_key = ctx.config.get("product_key", "sku")
    resources: list[Any] = []
    if "orders" in wanted:
        resources += _order_resources(ctx, wanted["orders"], product_key)
    if "products" in wanted:
        resources.append(_products_resource(ctx, wanted["products"], product_key))
    if "inventory_levels" in wanted:
        resources.append(_inventory_levels_resource(ctx))
    return resources


CONNECTOR = Connector(
    name="source-shopify",
    streams={
        "orders": StreamInfo(
            ("orders", "order_items"),
            cursor_field="updated_at",
            custom_keys=False,
            state_resource="orders_feed",
        ),
        "products": StreamInfo(
            ("products", "products__variants"), cursor_field="updated_at", custom_keys=False
        ),
        "inventory_levels": StreamInfo(
            ("inventory_levels",), sync_modes=("full_refresh",), custom_keys=False
        ),
    },
    destination=lambda _spec, _name: ("postgresql", "shopify"),
    resources=_resources,
)

__all__ = ["CONNECTOR"]
