"""The NovaMart store as the Shopify Admin REST API serves it (version ``2025-10``): the HTTP application.

This module owns the protocol: routes, the ``limit`` and filter rules, cursor pages, auth, the rate
limit, errors, and the sandbox's own control routes (``/_sandbox/...``). Shapes follow Shopify's
documentation: ``/admin/api/{version}/orders.json`` with ``status``, ``updated_at_min``,
``order=updated_at asc`` and ``limit`` (at most 250); cursor pagination through the ``Link`` response
header (``page_info``); the ``X-Shopify-Access-Token`` header; a leaky-bucket rate limit answered with
429 and ``Retry-After``; Shopify's error bodies (``{"errors": ...}``).

The store shows the world as of the sandbox clock: an order exists once it is created, and an order
edited after the clock still shows its original version (``financial_status: paid``). Moving the clock
on a day therefore brings new orders and updated ones, as a live shop would. What the clock shows is
:mod:`matih.sandbox.shopify_world`'s business; the JSON bodies are :mod:`matih.sandbox.shopify_shapes`'.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from matih.sandbox.shopify_shapes import inventory_level_bodies, order_bodies, product_bodies
from matih.sandbox.shopify_world import ShopifyWorld

__all__ = ["API_VERSION", "MAX_LIMIT", "Fault", "RateLimiter", "ShopifySandbox", "Tick"]

API_VERSION = "2025-10"
MAX_LIMIT = 250


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
class Tick:
    """The clock moved on to ``cutoff`` (a UTC ISO time on day ``as_of``) once page ``after_page`` of
    ``resource`` is served: the shop changes under a client that is still paging."""

    resource: str
    after_page: int
    as_of: str
    cutoff: str


@dataclass
class Fault:
    """A scripted failure: ``status`` on ``resource`` from page ``from_page`` on, ``times`` times. A
    ``status`` of 200 answers an empty list (``{"locations": []}``): the success that says nothing; with
    ``body``, that text instead (a proxy's HTML page, truncated JSON), as ``content_type``."""

    resource: str
    status: int
    from_page: int = 1
    times: int = 1_000_000
    body: str | None = None
    content_type: str = "application/json"


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
        self.ticks: list[Tick] = []
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
                Route("/_sandbox/timezone", self.set_timezone, methods=["POST"]),
                Route("/_sandbox/ticks", self.set_ticks, methods=["POST", "DELETE"]),
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
        """The refusal for this request (auth, rate limit, a scripted fault), or ``None`` to serve it."""
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
                if fault.status == 200 and fault.body is not None:
                    return Response(fault.body.encode(), 200, media_type=fault.content_type)
                if fault.status == 200:
                    return self._page(request, resource, {resource: []}, None)
                return self._error(fault.status, "Internal Server Error" if fault.status >= 500 else "Error")
        return None

    def _page(
        self, request: Request, resource: str, payload: dict[str, Any], next_info: str | None
    ) -> Response:
        """A 200 page; with ``next_info``, a ``Link: <...>; rel="next"`` header carrying the cursor."""
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

    # page_info is opaque to clients: base64 of the JSON state the next page resumes from
    @staticmethod
    def _decode(info: str) -> dict[str, Any]:
        return dict(orjson.loads(base64.urlsafe_b64decode(info.encode())))

    @staticmethod
    def _encode(state: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(state)).decode()

    def _window(
        self, request: Request, kind: str
    ) -> tuple[dict[str, np.ndarray], int, int, dict[str, Any]] | Response:
        """The view, the slice start, the page number and the filter state (from the query or from
        ``page_info``)."""
        cutoff = int(self.clock.cutoff_seconds())
        if "page_info" in request.query_params:
            return self._resume(request, kind, cutoff)
        return self._first_window(request, kind, cutoff)

    def _resume(
        self, request: Request, kind: str, cutoff: int
    ) -> tuple[dict[str, np.ndarray], int, int, dict[str, Any]] | Response:
        """The window after a ``page_info`` cursor: its first page's filters over the shop as it is now.
        Like Shopify's, a cursor is a position in the sort order, not a snapshot: an order edited while a
        client pages moves to its new ``updated_at``, and shows again further on."""
        params = request.query_params
        # Shopify forbids filters beside page_info: they travel inside the cursor
        extra = set(params) - {"page_info", "limit", "fields"}
        if extra:
            return self._error(400, {"page_info": [f"cannot be combined with {sorted(extra)}"]})
        try:
            cursor = self._decode(params["page_info"])
        except ValueError:
            return self._error(400, {"page_info": ["is invalid"]})
        view = self.world.view(kind, cutoff)
        start = int(np.searchsorted(view["key"], int(cursor["after"]), side="right"))
        return view, start, int(cursor["page"]) + 1, cursor

    def _first_window(
        self, request: Request, kind: str, cutoff: int
    ) -> tuple[dict[str, np.ndarray], int, int, dict[str, Any]] | Response:
        """The first page's window: the view at ``cutoff``, cut by ``updated_at_min`` / ``updated_at_max``."""
        params = request.query_params
        order = params.get("order", "updated_at asc")
        if order not in ("updated_at asc", "id asc"):
            return self._error(400, {"order": ["only 'updated_at asc' is supported by the sandbox"]})
        state: dict[str, Any] = {"max": None}
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
        if kind == "orders":
            body = order_bodies(self.world, self.ranges, rows, shown, edited)
        else:
            body = product_bodies(self.world, rows, shown)
        more = stop < len(view["rows"]) and (
            state.get("max") is None or view["shown"][stop] <= int(state["max"])
        )
        next_info = None
        if more and len(rows):
            next_info = self._encode({**state, "after": int(view["key"][stop - 1]), "page": page})
        self._tick(kind, page)
        return self._page(request, kind, {kind: body}, next_info)

    def _tick(self, resource: str, page: int) -> None:
        for tick in [t for t in self.ticks if t.resource == resource and t.after_page == page]:
            self.ticks.remove(tick)
            self.clock.set(dt.date.fromisoformat(tick.as_of), cutoff=dt.datetime.fromisoformat(tick.cutoff))

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
        body = inventory_level_bodies(self.world, rows, self.clock.cutoff_seconds())
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

    async def set_ticks(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.ticks.clear()
        else:
            self.ticks.append(Tick(**orjson.loads(await request.body())))
        return Response(orjson.dumps({"ticks": len(self.ticks)}), media_type="application/json")

    async def set_rate_limit(self, request: Request) -> Response:
        raw = orjson.loads(await request.body())
        self.limiter = RateLimiter(float(raw["per_second"]), int(raw.get("bucket", 40)))
        return Response(b"{}", media_type="application/json")

    async def set_timezone(self, request: Request) -> Response:
        """``{"name": "America/New_York"}`` writes times in that zone from now on; ``"UTC"`` goes back."""
        name = orjson.loads(await request.body())["name"]
        self.world.timezone = None if name == "UTC" else ZoneInfo(name)
        return Response(b"{}", media_type="application/json")

    async def stats(self, _request: Request) -> Response:
        body = {"requests": self.requests, "throttled": self.throttled}
        return Response(orjson.dumps(body), media_type="application/json")
