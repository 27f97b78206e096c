"""The sandbox's Shopify Admin API speaks Shopify's shapes: auth, limits, cursor pages, filters, 429."""

from __future__ import annotations

import httpx
import pytest

from matih.sandbox import server

API = "/admin/api/2025-10"


@pytest.fixture
def shop(served):
    token = server.sandbox_secrets(served.ws)["SHOPIFY_API_KEY"]
    with httpx.Client(
        base_url=served.endpoints.shopify_url, headers={"X-Shopify-Access-Token": token}
    ) as client:
        yield client


def test_requests_without_a_valid_token_are_refused(served) -> None:
    for headers in ({}, {"X-Shopify-Access-Token": "shpat_wrong"}):
        reply = httpx.get(f"{served.endpoints.shopify_url}{API}/orders.json", headers=headers)
        assert reply.status_code == 401
        assert "Invalid API key or access token" in reply.json()["errors"]


def test_cursor_pages_cover_every_product_once(shop) -> None:
    seen: list[int] = []
    url: str | None = f"{API}/products.json?limit=120"
    pages = 0
    while url:
        reply = shop.get(url)
        assert reply.status_code == 200
        seen += [p["id"] for p in reply.json()["products"]]
        url = reply.links.get("next", {}).get("url")
        pages += 1
        if url:
            assert "page_info=" in url and "limit=120" in url
    assert pages == 3
    assert len(seen) == len(set(seen)) == 300


def test_filters_and_limits_follow_shopify_rules(shop) -> None:
    assert shop.get(f"{API}/orders.json?limit=251").status_code == 400
    first = shop.get(f"{API}/orders.json?limit=5&status=any")
    next_url = first.links["next"]["url"]
    # filters may not travel beside page_info
    assert shop.get(next_url + "&updated_at_min=2026-01-01T00:00:00Z").status_code == 400
    since = "2026-06-20T00:00:00+00:00"
    orders = shop.get(f"{API}/orders.json", params={"limit": 250, "updated_at_min": since}).json()["orders"]
    assert orders and all(o["updated_at"] >= since for o in orders)
    stamps = [o["updated_at"] for o in orders]
    assert stamps == sorted(stamps)
    line = orders[0]["line_items"][0]
    assert {"id", "product_id", "variant_id", "sku", "quantity", "price", "total_discount"} <= set(line)
    assert shop.get(f"{API}/inventory_levels.json").status_code == 422  # location_ids is required


def test_rate_limit_answers_429_with_retry_after(served, shop) -> None:
    served.shop("rate_limit", per_second=1, bucket=1)
    try:
        codes = [shop.get(f"{API}/locations.json") for _ in range(3)]
    finally:
        served.shop("rate_limit", per_second=0)
    limited = [r for r in codes if r.status_code == 429]
    assert limited
    assert float(limited[0].headers["Retry-After"]) > 0
