"""The NovaMart store as the Shopify Admin REST API serves it (version ``2025-10``).

Shapes follow Shopify's documentation: ``/admin/api/{version}/orders.json`` with ``status``,
``updated_at_min``, ``order=updated_at asc`` and ``limit`` (at most 250); cursor pagination through the
``Link`` response header (``page_info``); the ``X-Shopify-Access-Token`` header; a leaky-bucket rate
limit answered with 429 and ``Retry-After``; Shopify's error bodies (``{"errors": ...}``).

The store shows the world as of the sandbox clock: an order exists once it is created, and an order
edited after the clock still shows its original version (``financial_status: paid``). Moving the clock
on a day therefore brings new orders and updated ones, as a live shop would.
"""

from __future__ import annotations

import base64
import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow.compute as pc
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

API_VERSION = "2025-10"
MAX_LIMIT = 250
PRODUCT_ID_BASE = 7_000_000_000
VARIANT_ID_BASE = 8_000_000_000
LOCATION_ID_BASE = 70_000_000
LINE_ITEM_ID_BASE = 11_000_000_000
_EPOCH_2000 = 946_684_800


def _seconds(values: Any) -> np.ndarray:
    return np.asarray(values).astype("datetime64[s]").astype(np.int64)


def _iso(seconds: np.ndarray) -> list[str]:
    text = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    return [f"{t}+00:00" for t in text.tolist()]


def _money(values: np.ndarray) -> list[str]:
    return [f"{v:.2f}" for v in values.tolist()]


@dataclass
class ShopifyWorld:
    """Columns of the world's shop tables, in memory, with a per-clock view of orders and products."""

    orders: dict[str, np.ndarray]
    items: dict[str, np.ndarray]
    products: dict[str, np.ndarray]
    levels: dict[str, np.ndarray]
    locations: list[dict[str, Any]]
    _views: dict[tuple[str, int], dict[str, np.ndarray]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls, world_db: Path) -> ShopifyWorld:
        con = duckdb.connect()
        try:
            con.execute(f"ATTACH '{world_db}' AS world (READ_ONLY)")
            products = con.execute("SELECT * FROM world.source.products").to_arrow_table()
            ids = products["product_id"]
            orders = con.execute(
                "SELECT order_id, created_at, updated_at, customer_id, total_price,"
                " financial_status = 'refunded' AS refunded FROM world.source.orders ORDER BY order_id"
            ).to_arrow_table()
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
        location_ids = {row[0]: LOCATION_ID_BASE + i + 1 for i, row in enumerate(warehouses)}
        item_product = pc.index_in(items["product_id"], value_set=ids).to_numpy(zero_copy_only=False)
        level_product = pc.index_in(levels["product_id"], value_set=ids).to_numpy(zero_copy_only=False)
        list_price = products["price"].to_numpy()
        return cls(
            orders={
                "id": orders["order_id"].to_numpy(),
                "created": _seconds(orders["created_at"].to_numpy()),
                "updated": _seconds(orders["updated_at"].to_numpy()),
                "customer": orders["customer_id"].to_numpy(),
                "total": orders["total_price"].to_numpy(),
                "refunded": orders["refunded"].to_numpy(zero_copy_only=False),
            },
            items={
                "id": LINE_ITEM_ID_BASE + items["order_item_id"].to_numpy(),
                "order": items["order_id"].to_numpy(),
                "product": item_product.astype(np.int64),
                "quantity": items["quantity"].to_numpy(),
                "price": list_price[item_product],
                "discount": np.round(
                    (list_price[item_product] - items["unit_price"].to_numpy())
                    * items["quantity"].to_numpy(),
                    2,
                ),
            },
            products={
                "sku": np.asarray(ids.to_pylist(), dtype=object),
                "title": np.asarray(products["title"].to_pylist(), dtype=object),
                "vendor": np.asarray(products["vendor"].to_pylist(), dtype=object),
                "product_type": np.asarray(products["product_type"].to_pylist(), dtype=object),
                "status": np.asarray(products["status"].to_pylist(), dtype=object),
                "price": list_price,
                "created": _seconds(products["created_at"].to_numpy()),
                "updated": _seconds(products["updated_at"].to_numpy()),
            },
            levels={
                "inventory_item_id": levels["inventory_item_id"].to_numpy(),
                "product": level_product.astype(np.int64),
                "location": np.array([location_ids[w] for w in levels["location_id"].to_pylist()]),
                "available": levels["available"].to_numpy(),
                "updated": _seconds(levels["updated_at"].to_numpy()),
            },
            locations=[
                {
                    "id": location_ids[row[0]],
                    "name": row[1],
                    "city": row[2],
                    "country_code": "US",
                    "active": True,
                    "legacy": False,
                }
                for row in warehouses
            ],
        )

    def item_ranges(self) -> tuple[np.ndarray, np.ndarray]:
        start = np.searchsorted(self.items["order"], self.orders["id"], side="left")
        end = np.searchsorted(self.items["order"], self.orders["id"], side="right")
        return start, end

    def view(self, kind: str, cutoff: int) -> dict[str, np.ndarray]:
        """Rows of ``kind`` (orders, products) visible at ``cutoff``, sorted by (shown updated_at, id)."""
        key = (kind, cutoff)
        with self._lock:
            if key not in self._views:
                self._views = {k: v for k, v in self._views.items() if k[0] != kind}
                self._views[key] = self._build_view(kind, cutoff)
            return self._views[key]

    def _build_view(self, kind: str, cutoff: int) -> dict[str, np.ndarray]:
        table = self.orders if kind == "orders" else self.products
        created, updated = table["created"], table["updated"]
        rows = np.flatnonzero(created < cutoff)
        edited = updated[rows] < cutoff
        # an edit after the clock has not happened yet: the original version shows
        shown = np.where(edited, updated[rows], created[rows] + 60)
        ident = rows if kind == "products" else table["id"][rows]
        sort_key = ((shown - _EPOCH_2000).astype(np.int64) << 32) | (ident.astype(np.int64) & 0xFFFFFFFF)
        order = np.argsort(sort_key, kind="stable")
        return {"rows": rows[order], "shown": shown[order], "edited": edited[order], "key": sort_key[order]}


@dataclass
class RateLimiter:
    """Shopify's leaky bucket: ``bucket`` requests of burst, drained at ``per_second``; 0 disables it."""

    per_second: float = 0.0
    bucket: int = 40
    _level: dict[str, float] = field(default_factory=dict)
    _at: dict[str, float] = field(default_factory=dict)

    def take(self, token: str) -> tuple[bool, float, int]:
        """(allowed, seconds to wait when not, current level)."""
        if self.per_second <= 0:
            return True, 0.0, 1
        now = time.monotonic()
        level = max(0.0, self._level.get(token, 0.0) - (now - self._at.get(token, now)) * self.per_second)
        self._at[token] = now
        if level + 1 > self.bucket:
            self._level[token] = level
            return False, max(1.0 / self.per_second, (level + 1 - self.bucket) / self.per_second), int(level)
        self._level[token] = level + 1
        return True, 0.0, int(level + 1)


@dataclass
class Fault:
    """A scripted failure: ``status`` on ``resource`` from page ``from_page`` on, ``times`` times."""

    resource: str
    status: int
    from_page: int = 1
    times: int = 1_000_000


class ShopifySandbox:
    """The HTTP application over a :class:`ShopifyWorld`."""

    def __init__(
        self,
        world: ShopifyWorld,
        *,
        shop: str,
        access_token: str,
        clock: Any,
        rate_limit: float = 0.0,
        bucket: int = 40,
    ) -> None:
        self.world = world
        self.shop = shop
        self.access_token = access_token
        self.clock = clock
        self.limiter = RateLimiter(rate_limit, bucket)
        self.faults: list[Fault] = []
        self.requests: dict[str, int] = {}
        self.throttled = 0
        self.ranges = world.item_ranges()
        prefix = f"/admin/api/{API_VERSION}"
        self.app = Starlette(
            routes=[
                Route(f"{prefix}/orders.json", self.orders),
                Route(f"{prefix}/products.json", self.products),
                Route(f"{prefix}/locations.json", self.locations),
                Route(f"{prefix}/inventory_levels.json", self.inventory_levels),
                Route("/_sandbox/faults", self.set_faults, methods=["POST", "DELETE"]),
                Route("/_sandbox/stats", self.stats),
                Route("/_sandbox/rate_limit", self.set_rate_limit, methods=["POST"]),
                Route("/healthz", lambda _r: Response(b"ok")),
            ]
        )

    # -- plumbing -----------------------------------------------------------------------------------
    @staticmethod
    def _error(status: int, message: Any, headers: dict[str, str] | None = None) -> Response:
        return Response(
            orjson.dumps({"errors": message}), status, headers=headers, media_type="application/json"
        )

    def _guard(self, request: Request, resource: str, page: int) -> Response | None:
        self.requests[resource] = self.requests.get(resource, 0) + 1
        token = request.headers.get("x-shopify-access-token")
        if not token or token != self.access_token:
            return self._error(
                401, "[API] Invalid API key or access token (unrecognized login or wrong password)"
            )
        allowed, wait, level = self.limiter.take(token)
        if not allowed:
            self.throttled += 1
            return self._error(
                429,
                "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted"
                " service.",
                {
                    "Retry-After": f"{wait:.1f}",
                    "X-Shopify-Shop-Api-Call-Limit": f"{level}/{self.limiter.bucket}",
                },
            )
        for fault in self.faults:
            if fault.resource == resource and page >= fault.from_page and fault.times > 0:
                fault.times -= 1
                return self._error(fault.status, "Internal Server Error" if fault.status >= 500 else "Error")
        return None

    def _page(
        self, request: Request, resource: str, payload: dict[str, Any], next_info: str | None
    ) -> Response:
        headers = {"X-Shopify-Shop-Api-Call-Limit": f"1/{self.limiter.bucket}"}
        if next_info:
            url = request.url.replace_query_params(
                limit=request.query_params.get("limit", "50"), page_info=next_info
            )
            headers["Link"] = f'<{url}>; rel="next"'
        return Response(orjson.dumps(payload), headers=headers, media_type="application/json")

    @staticmethod
    def _limit(request: Request) -> int | Response:
        raw = request.query_params.get("limit", "50")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            return ShopifySandbox._error(400, {"limit": [f"must be between 1 and {MAX_LIMIT}"]})
        return int(raw)

    @staticmethod
    def _decode(info: str) -> dict[str, Any]:
        return dict(orjson.loads(base64.urlsafe_b64decode(info.encode())))

    @staticmethod
    def _encode(state: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(state)).decode()

    def _window(
        self, request: Request, kind: str
    ) -> tuple[dict[str, np.ndarray], int, int, dict[str, Any]] | Response:
        """The view, the slice start and the filter state (from the query or from ``page_info``)."""
        params = request.query_params
        cutoff = int(self.clock.cutoff_seconds())
        if "page_info" in params:
            # Shopify forbids filters beside page_info: they travel inside the cursor
            extra = set(params) - {"page_info", "limit", "fields"}
            if extra:
                return self._error(400, {"page_info": [f"cannot be combined with {sorted(extra)}"]})
            try:
                cursor = self._decode(params["page_info"])
            except ValueError:
                return self._error(400, {"page_info": ["is invalid"]})
            view = self.world.view(kind, int(cursor["cutoff"]))
            start = int(np.searchsorted(view["key"], int(cursor["after"]), side="right"))
            return view, start, int(cursor["page"]) + 1, cursor
        order = params.get("order", "updated_at asc")
        if order not in ("updated_at asc", "id asc"):
            return self._error(400, {"order": ["only 'updated_at asc' is supported by the sandbox"]})
        state: dict[str, Any] = {"cutoff": cutoff, "max": None}
        view = self.world.view(kind, cutoff)
        start = 0
        for name, bound in (("updated_at_min", "min"), ("updated_at_max", "max")):
            if name in params:
                try:
                    moment = dt.datetime.fromisoformat(params[name].replace("Z", "+00:00"))
                except ValueError:
                    return self._error(400, {name: ["is not a valid ISO 8601 time"]})
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=dt.UTC)
                seconds = int(moment.timestamp())
                if bound == "min":
                    start = int(np.searchsorted(view["shown"], seconds, side="left"))
                else:
                    state["max"] = seconds
        return view, start, 1, state

    # -- resources ----------------------------------------------------------------------------------
    async def orders(self, request: Request) -> Response:
        return self._list(request, "orders")

    async def products(self, request: Request) -> Response:
        return self._list(request, "products")

    def _list(self, request: Request, kind: str) -> Response:
        limit = self._limit(request)
        if isinstance(limit, Response):
            return limit
        window = self._window(request, kind)
        if isinstance(window, Response):
            return window
        view, start, page, state = window
        if (denied := self._guard(request, kind, page)) is not None:
            return denied
        stop = start + limit
        if state.get("max") is not None:
            stop = min(stop, int(np.searchsorted(view["shown"], int(state["max"]), side="right")))
        chunk = slice(start, max(start, stop))
        rows, shown, edited = view["rows"][chunk], view["shown"][chunk], view["edited"][chunk]
        body = self._orders(rows, shown, edited) if kind == "orders" else self._products(rows, shown)
        more = stop < len(view["rows"]) and (
            state.get("max") is None or view["shown"][stop] <= int(state["max"])
        )
        next_info = None
        if more and len(rows):
            next_info = self._encode({**state, "after": int(view["key"][stop - 1]), "page": page})
        return self._page(request, kind, {kind: body}, next_info)

    def _orders(self, rows: np.ndarray, shown: np.ndarray, edited: np.ndarray) -> list[dict[str, Any]]:
        o, it, p = self.world.orders, self.world.items, self.world.products
        starts, ends = self.ranges[0][rows], self.ranges[1][rows]
        counts = ends - starts
        item_rows = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        product = it["product"][item_rows]
        lines = [
            {
                "id": line_id,
                "product_id": PRODUCT_ID_BASE + prod,
                "variant_id": VARIANT_ID_BASE + prod,
                "sku": sku,
                "title": title,
                "quantity": qty,
                "price": price,
                "total_discount": discount,
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
        created = _iso(o["created"][rows])
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
                    "updated_at": None,
                    "currency": "USD",
                    "financial_status": status[i],
                    "total_price": total,
                    "customer": {"id": customer},
                    "line_items": lines[offset : offset + count],
                }
            )
            offset += count
        for order, stamp in zip(body, _iso(shown), strict=True):
            order["updated_at"] = stamp
        return body

    def _products(self, rows: np.ndarray, shown: np.ndarray) -> list[dict[str, Any]]:
        p = self.world.products
        created = _iso(p["created"][rows])
        updated = _iso(shown)
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
                        "inventory_item_id": 40_000_000 + idx,
                    }
                ],
            }
            for i, idx in enumerate(rows.tolist())
        ]

    async def locations(self, request: Request) -> Response:
        if (denied := self._guard(request, "locations", 1)) is not None:
            return denied
        return self._page(request, "locations", {"locations": self.world.locations}, None)

    async def inventory_levels(self, request: Request) -> Response:
        limit = self._limit(request)
        if isinstance(limit, Response):
            return limit
        params = request.query_params
        if "page_info" in params:
            state = self._decode(params["page_info"])
        else:
            if "location_ids" not in params and "inventory_item_ids" not in params:
                return self._error(422, {"base": ["location_ids or inventory_item_ids is required"]})
            wanted = [int(x) for x in params.get("location_ids", "").split(",") if x.strip().isdigit()]
            state = {"locations": wanted, "after": -1, "page": 0}
        page = int(state["page"]) + 1
        if (denied := self._guard(request, "inventory_levels", page)) is not None:
            return denied
        lv = self.world.levels
        rows = np.flatnonzero(
            np.isin(lv["location"], state["locations"]) & (np.arange(len(lv["location"])) > state["after"])
        )
        rows = rows[:limit]
        body = [
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
                _iso(np.minimum(lv["updated"][rows], self.clock.cutoff_seconds() - 3600)),
                strict=True,
            )
        ]
        more = len(rows) == limit and bool(
            np.any(np.isin(lv["location"][rows[-1] + 1 :], state["locations"]))
        )
        next_info = self._encode({**state, "after": int(rows[-1]), "page": page}) if more else None
        return self._page(request, "inventory_levels", {"inventory_levels": body}, next_info)

    # -- sandbox controls (not part of Shopify's API) -------------------------------------------------
    async def set_faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.clear()
        else:
            self.faults.append(Fault(**orjson.loads(await request.body())))
        return Response(orjson.dumps({"faults": len(self.faults)}), media_type="application/json")

    async def set_rate_limit(self, request: Request) -> Response:
        raw = orjson.loads(await request.body())
        self.limiter = RateLimiter(float(raw["per_second"]), int(raw.get("bucket", 40)))
        return Response(b"{}", media_type="application/json")

    async def stats(self, _request: Request) -> Response:
        body = {"requests": self.requests, "throttled": self.throttled}
        return Response(orjson.dumps(body), media_type="application/json")
