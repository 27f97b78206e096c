"""source-shopify against the sandbox's Shopify Admin API: incremental merge, failures, 429, auth."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections.abc import Iterator

import duckdb
import httpx
import pytest

from matih.exceptions import SourceError
from matih.sandbox import server
from matih.sources import history, stream_status, sync
from matih.workspace import Workspace
from tests.conftest import EXAMPLE

SOURCE = "shopify-orders"
EXAMPLE_SOURCES = EXAMPLE / "sources"


def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time())
    return start, start + dt.timedelta(days=1)


def _changed_on(served, day: dt.date) -> tuple[int, int]:
    """(orders, line items) that a sync after ``day`` must load: created that day, or edited that day."""
    start, cut = _day_bounds(day)
    where = (
        "(o.created_at >= $s AND o.created_at < $c)"
        " OR (o.updated_at >= $s AND o.updated_at < $c AND o.created_at < $s)"
    )
    (orders,) = served.world(f"SELECT count(*) FROM source.orders o WHERE {where}", {"s": start, "c": cut})[0]
    (items,) = served.world(
        f"SELECT count(*) FROM source.order_items i JOIN source.orders o USING (order_id) WHERE {where}",
        {"s": start, "c": cut},
    )[0]
    return orders, items


def _visible(served, day: dt.date) -> tuple[int, int, int]:
    _, cut = _day_bounds(day)
    return served.world(
        "SELECT count(DISTINCT o.order_id), count(*), sum(i.quantity) FROM source.orders o"
        " JOIN source.order_items i USING (order_id) WHERE o.created_at < $c",
        {"c": cut},
    )[0]


def _warehouse_orders(served) -> tuple[int, int, int]:
    return served.warehouse(
        "SELECT (SELECT count(*) FROM shopify.orders), count(*), sum(quantity) FROM shopify.order_items"
    )[0]


def _cursor(served) -> str | None:
    return next(s.cursor for s in stream_status(served.ws) if s.source == SOURCE and s.stream == "orders")


def test_incremental_sync_loads_only_new_and_updated_orders(served) -> None:
    sync(served.ws, SOURCE, full_refresh=True)
    day = served.clock()
    assert _warehouse_orders(served) == _visible(served, day)
    ids = served.warehouse("SELECT count(*), count(DISTINCT order_item_id) FROM shopify.order_items")[0]
    assert ids[0] == ids[1]

    server.advance(served.ws)
    new_day = served.clock()
    assert new_day == day + dt.timedelta(days=1)
    want_orders, want_items = _changed_on(served, new_day)
    assert want_orders > 0
    run = sync(served.ws, SOURCE)
    orders = next(s for s in run.streams if s.name == "orders")
    assert orders.tables == {"orders": want_orders, "order_items": want_items}
    # merged, not appended: the warehouse equals the shop as of the new day, without duplicates
    assert _warehouse_orders(served) == _visible(served, new_day)
    assert served.warehouse("SELECT count(*) - count(DISTINCT order_id) FROM shopify.orders")[0][0] == 0
    # an order refunded on the new day now shows its new version
    start, cut = _day_bounds(new_day)
    refunded = served.world(
        "SELECT order_id FROM source.orders WHERE updated_at >= $s AND updated_at < $c AND created_at < $s"
        " AND financial_status = 'refunded'",
        {"s": start, "c": cut},
    )
    for (order_id,) in refunded:
        assert served.warehouse(
            f"SELECT financial_status FROM shopify.orders WHERE order_id = {order_id}"
        ) == [("refunded",)]
    # the seed's names resolve and the line items carry the seed's columns
    cols = {r[0] for r in served.warehouse("DESCRIBE shopify.order_items")}
    assert {"order_id", "product_id", "quantity", "unit_price", "discount"} <= cols


def test_failed_sync_keeps_tables_and_cursor_then_rerun_is_exact(served) -> None:
    sync(served.ws, SOURCE)
    before, cursor = _warehouse_orders(served), _cursor(served)
    served.shop("faults", resource="orders", status=500, from_page=3)
    try:
        with pytest.raises(SourceError) as failure:
            sync(served.ws, SOURCE, full_refresh=True)
    finally:
        httpx.delete(f"{served.endpoints.shopify_url}/_sandbox/faults")
    assert failure.value.transient and "500" in str(failure.value)
    assert _warehouse_orders(served) == before
    # what the failed run extracted is deleted, not left to pile up under dlt's working folder
    working = served.ws.state / "sources" / "dlt"
    left = [p for p in working.rglob("*") if p.is_file() and "normalize" in p.parts and p.name != ".version"]
    assert left == []
    assert _cursor(served) == cursor
    assert history(served.ws, SOURCE)[-1].status == "failed"

    server.advance(served.ws)
    want = _changed_on(served, served.clock())
    run = sync(served.ws, SOURCE)
    assert next(s for s in run.streams if s.name == "orders").tables == {
        "orders": want[0],
        "order_items": want[1],
    }
    assert _warehouse_orders(served) == _visible(served, served.clock())


def test_rate_limited_sync_waits_for_retry_after_and_completes(served) -> None:
    served.shop("rate_limit", per_second=5, bucket=1)
    try:
        throttled = served.shop("stats")["throttled"]
        run = sync(served.ws, SOURCE)
        assert served.shop("stats")["throttled"] > throttled
    finally:
        served.shop("rate_limit", per_second=0)
    assert run.status == "succeeded" and run.retries > 0
    assert served.warehouse("SELECT count(*) FROM shopify.inventory_levels")[0][0] == 300


def test_wrong_token_fails_fast_naming_stream_and_fix_without_the_token(
    served, tmp_path, monkeypatch
) -> None:
    ws = Workspace.at(tmp_path / "prod")
    (ws.root / "sources").mkdir()
    spec = json.loads((served.ws.root / "sources" / f"{SOURCE}.json").read_text())
    spec["config"]["base_url"] = served.endpoints.shopify_url
    (ws.root / "sources" / f"{SOURCE}.json").write_text(json.dumps(spec))
    token = "shpat_not_the_right_token_4711"
    monkeypatch.setenv("SHOPIFY_API_KEY", token)
    requests = sum(served.shop("stats")["requests"].values())
    started = time.perf_counter()
    with pytest.raises(SourceError) as failure:
        sync(ws, SOURCE)
    assert time.perf_counter() - started < 10
    message = str(failure.value)
    assert "orders" in message and "credentials.api_password" in message and "401" in message
    assert not failure.value.transient
    assert token not in message
    assert sum(served.shop("stats")["requests"].values()) == requests + 1  # no retries on a 401
    for path in ws.state.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_tables_made_by_sandbox_generate_load_are_replaced(
    served, tmp_path, small_world, monkeypatch
) -> None:
    """`matih sandbox generate` (which loads the world directly) followed by a sync must just work."""
    from matih.sandbox import load_world, save_world
    from matih.warehouse import warehouse_of
    from tests.conftest import copy_example

    ws = Workspace(copy_example(tmp_path / "ws"))
    ws.ensure_state()
    save_world(small_world, ws.sandbox_dir)
    load_world(ws.sandbox_dir, warehouse_of(ws))
    spec = json.loads((ws.root / "sources" / f"{SOURCE}.json").read_text())
    spec["config"]["base_url"] = served.endpoints.shopify_url
    (ws.root / "sources" / f"{SOURCE}.json").write_text(json.dumps(spec))
    monkeypatch.setenv("SHOPIFY_API_KEY", server.sandbox_secrets(served.ws)["SHOPIFY_API_KEY"])
    run = sync(ws, SOURCE, endpoints="production")
    assert next(s for s in run.streams if s.name == "products").tables["products"] == 300
    with duckdb.connect(str(ws.warehouse_dir / "postgresql.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM shopify.products__variants").fetchone() == (300,)


def test_code_discounts_in_discount_allocations_make_the_price_paid(served) -> None:
    """The sandbox shows promotions as Shopify shows a discount code: the amount in the line's
    ``discount_allocations``, ``total_discount`` "0.00". ``unit_price`` is the price paid."""
    sync(served.ws, SOURCE, full_refresh=True)
    base = 11_000_000_000  # the sandbox's line-item ids: LINE_ITEM_ID_BASE + the world's order_item_id
    truth = dict(served.world("SELECT order_item_id, unit_price FROM source.order_items"))
    loaded = served.warehouse(f"SELECT order_item_id - {base}, unit_price, discount FROM shopify.order_items")
    assert len(loaded) == _visible(served, served.clock())[1]  # every line the shop shows, once
    off = [(i, paid, truth[i]) for i, paid, _ in loaded if abs(paid - truth[i]) > 0.011]
    assert off == []
    discounted = sum(1 for *_, share in loaded if share > 0)
    assert discounted > 0.02 * len(loaded)  # NovaMart runs promotions: a share of lines is discounted


def test_line_discounts_read_allocations_first_and_total_discount_otherwise() -> None:
    """Pages shaped as Shopify's documentation shows them, independent of the sandbox."""
    from matih.sources.connectors.shopify import _items_table, _parse_orders

    def line(line_id: int, total_discount: str, allocations: list[str] | None) -> dict:
        found = {
            "id": line_id,
            "product_id": 1,
            "variant_id": 2,
            "sku": "SKU-1",
            "title": "Buds",
            "quantity": 2,
            "price": "10.00",
            "total_discount": total_discount,
        }
        if allocations is not None:
            found["discount_allocations"] = [
                {
                    "amount": a,
                    "amount_set": {"shop_money": {"amount": a, "currency_code": "USD"}},
                    "discount_application_index": k,
                }
                for k, a in enumerate(allocations)
            ]
        return found

    order = {
        "id": 1,
        "name": "#1",
        "created_at": "2024-11-03T01:10:00-04:00",
        "processed_at": "2024-11-03T01:10:00-04:00",
        "updated_at": "2024-11-03T01:10:00-04:00",
        "currency": "USD",
        "financial_status": "paid",
        "total_price": "30.00",
        "customer": {"id": 5},
        "line_items": [
            line(10, "0.00", ["3.00", "1.00"]),  # a code and an automatic discount on one line
            line(11, "2.00", None),  # an older API answer: the legacy field only
            line(12, "0.00", []),  # no discount
        ],
    }
    items = _items_table(_parse_orders([json.dumps({"orders": [order]}).encode()]), "sku")
    assert items["unit_price"].to_pylist() == [8.0, 9.0, 10.0]
    assert items["discount"].to_pylist() == [0.2, 0.1, 0.0]


def test_a_batch_keeps_each_order_once_as_its_latest_version_before_the_snapshot() -> None:
    """Pages as Shopify shows them (offsets of two zones): the same order twice keeps its later
    version, compared as instants; versions at or after the server's first Date are left out."""
    from matih.sources.connectors.shopify import _latest_versions, _parse_orders

    def order(oid: int, updated: str, status: str) -> dict:
        return {"id": oid, "updated_at": updated, "created_at": updated, "financial_status": status}

    pages = [
        {
            "orders": [
                order(1, "2024-11-03T01:50:00-04:00", "paid"),
                order(2, "2024-11-03T01:55:00-04:00", "paid"),
            ]
        },
        # 01:10-05:00 is 06:10 UTC: later than 01:50-04:00 (05:50 UTC), though it sorts first as text
        {
            "orders": [
                order(1, "2024-11-03T01:10:00-05:00", "refunded"),
                order(3, "2024-11-03T01:20:00-05:00", "paid"),
            ]
        },
    ]
    batch = _parse_orders([json.dumps(p).encode() for p in pages])
    kept = _latest_versions(batch, None)
    assert sorted(zip(kept["id"].to_pylist(), kept["financial_status"].to_pylist(), strict=True)) == [
        (1, "refunded"),
        (2, "paid"),
        (3, "paid"),
    ]
    snapshot = dt.datetime(2024, 11, 3, 6, 20, tzinfo=dt.UTC)  # 01:20-05:00: order 3 is not before it
    assert sorted(_latest_versions(batch, snapshot)["id"].to_pylist()) == [1, 2]


@contextlib.contextmanager
def _streams_allowed_to_shrink(served, *streams: str) -> Iterator[None]:
    """The source spec with ``"max_shrink": 1`` on ``streams`` for the block."""
    path = served.ws.root / "sources" / f"{SOURCE}.json"
    original = path.read_text()
    spec = json.loads(original)
    for stream in spec["streams"]:
        if stream["name"] in streams:
            stream["max_shrink"] = 1
    path.write_text(json.dumps(spec))
    try:
        yield
    finally:
        path.write_text(original)


def test_an_empty_answer_does_not_wipe_a_full_refresh_table(served) -> None:
    """Shopify answers 200 with no locations (a proxy's stub, a passing fault): the full refresh would
    replace every inventory level with nothing. It is refused, the table stays, the error says why and
    how to allow it; a spec that allows it (``max_shrink: 1``) gets what it asked for."""
    sync(served.ws, SOURCE)
    before = served.warehouse("SELECT count(*) FROM shopify.inventory_levels")[0][0]
    assert before > 0
    served.shop("faults", resource="locations", status=200)
    try:
        with pytest.raises(SourceError) as failure:
            sync(served.ws, SOURCE)
        message = str(failure.value)
        assert f"{before:,} rows with 0" in message and '"max_shrink": 1' in message
        assert "sources/shopify-orders.json" in message and failure.value.transient
        assert served.warehouse("SELECT count(*) FROM shopify.inventory_levels")[0][0] == before
        assert history(served.ws, SOURCE)[-1].status == "failed"

        with _streams_allowed_to_shrink(served, "inventory_levels"):
            sync(served.ws, SOURCE)
            assert served.warehouse("SELECT count(*) FROM shopify.inventory_levels")[0][0] == 0
    finally:
        httpx.delete(f"{served.endpoints.shopify_url}/_sandbox/faults")
        sync(served.ws, SOURCE)
    assert served.warehouse("SELECT count(*) FROM shopify.inventory_levels")[0][0] == before


def test_orders_changed_in_the_repeated_hour_when_daylight_saving_ends_are_loaded(served) -> None:
    """Shopify writes times with the shop's UTC offset. When daylight-saving time ends, the shop's wall
    clock repeats an hour: in Auckland on 2025-04-06, 02:00-02:59 passes first at +13:00 (13:xx UTC),
    then at +12:00 (14:xx UTC). A cursor of 02:54+13:00 is an earlier instant than 02:10+12:00, though
    not as text. A sync inside the first pass, then one after the second, must load every order."""
    from matih.sandbox.clock import SandboxClock

    clock = SandboxClock(served.ws.sandbox_dir / "clock.json")
    as_of = clock.as_of
    naive = dt.datetime(2025, 4, 5, 13, 0)  # 02:00 NZDT, the repeated hour's first pass (UTC, naive)
    (last_first_pass,) = served.world(
        "SELECT max(created_at) FROM source.orders WHERE created_at >= $a AND created_at < $b",
        {"a": naive, "b": naive + dt.timedelta(hours=1)},
    )[0]
    first = (last_first_pass + dt.timedelta(seconds=1)).replace(tzinfo=dt.UTC)
    second = (naive + dt.timedelta(hours=2)).replace(tzinfo=dt.UTC)  # 03:00 NZST, after the second pass
    # orders of the second pass whose wall-clock time sorts before the cursor's: the ones text loses
    (lost_as_text,) = served.world(
        "SELECT count(*) FROM source.orders WHERE created_at >= $a AND created_at < $b",
        {
            "a": naive + dt.timedelta(hours=1),
            "b": naive + dt.timedelta(hours=1, minutes=last_first_pass.minute),
        },
    )[0]
    assert lost_as_text > 0
    # the clock goes back a year: the shop "loses" rows, which these full refreshes may then drop
    with _streams_allowed_to_shrink(served, "orders", "products", "inventory_levels"):
        served.shop("timezone", name="Pacific/Auckland")
        try:
            clock.set(dt.date(2025, 4, 5), cutoff=first)
            sync(served.ws, SOURCE, full_refresh=True)
            assert "13:" in (_cursor(served) or "")  # inside the first pass (13:xx UTC)
            clock.set(dt.date(2025, 4, 5), cutoff=second)
            sync(served.ws, SOURCE)
            expected = served.world(
                "SELECT count(*) FROM source.orders WHERE created_at < $c", {"c": second.replace(tzinfo=None)}
            )[0][0]
            assert served.warehouse("SELECT count(*) FROM shopify.orders")[0][0] == expected
        finally:
            served.shop("timezone", name="UTC")
            clock.set(as_of)
            sync(served.ws, SOURCE, full_refresh=True)


def _shop_at(served, moment: dt.datetime) -> dict[int, str]:
    """Each order's financial status as the shop shows it at ``moment`` (a refund is an edit: before
    the clock reaches it, the order still shows as paid)."""
    rows = served.world(
        "SELECT order_id, CASE WHEN updated_at < $t THEN financial_status::VARCHAR ELSE 'paid' END"
        " FROM source.orders WHERE created_at < $t",
        {"t": moment.replace(tzinfo=None)},
    )
    return dict(rows)


def _warehouse_shop(served) -> dict[int, str]:
    return dict(served.warehouse("SELECT order_id, financial_status FROM shopify.orders"))


def _warehouse_lines_exact(served) -> None:
    """order_items holds each line of each order in shopify.orders once, with the shop's quantities."""
    count, distinct, units = served.warehouse(
        "SELECT count(*), count(DISTINCT order_item_id), sum(quantity) FROM shopify.order_items"
    )[0]
    assert count == distinct
    ids = list(_warehouse_shop(served))
    (want_lines, want_units) = served.world(
        "SELECT count(*), sum(quantity) FROM source.order_items WHERE order_id IN (SELECT unnest($ids))",
        {"ids": ids},
    )[0]
    assert (count, units) == (want_lines, want_units)


def test_orders_edited_while_a_sync_pages_land_once_as_their_latest_version(served) -> None:
    """Shopify's cursor pages run over live data: an order refunded while a sync pages moves to its new
    updated_at and is listed again further on. The sync must read the shop as it was when it began (so
    nothing lands twice and no stale copy wins), and the next sync must bring the edits."""
    from matih.sandbox.clock import SandboxClock

    clock = SandboxClock(served.ws.sandbox_dir / "clock.json")
    as_of = clock.as_of
    start, middle, end = as_of - dt.timedelta(days=6), as_of - dt.timedelta(days=3), as_of
    at = {
        day: dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        for day in (start, middle, end)
    }
    # the orders a stale copy could be loaded for: edited after the sync begins, shown before it
    (edited,) = served.world(
        "SELECT count(*) FROM source.orders WHERE updated_at >= $m AND updated_at < $e AND created_at < $m",
        {"m": at[middle].replace(tzinfo=None), "e": at[end].replace(tzinfo=None)},
    )[0]
    assert edited > 0
    with _streams_allowed_to_shrink(served, "orders", "products", "inventory_levels"):
        try:
            clock.set(start)
            sync(served.ws, SOURCE, full_refresh=True)
            clock.set(middle)
            # three days of orders make three pages; once the second is served, three days pass
            served.shop(
                "ticks", resource="orders", after_page=2, as_of=end.isoformat(), cutoff=at[end].isoformat()
            )
            sync(served.ws, SOURCE)
            assert clock.as_of == end  # the shop did change under the sync
            # the sync read the shop as it was when it began: each order once, none stale, none newer;
            # an order edited before the sync reached it is left whole for the next sync
            loaded, shown = _warehouse_shop(served), _shop_at(served, at[middle])
            assert loaded == {order: shown[order] for order in loaded}
            left = set(shown) - set(loaded)
            assert left <= {
                order
                for (order,) in served.world(
                    "SELECT order_id FROM source.orders WHERE updated_at >= $m AND updated_at < $e",
                    {"m": at[middle].replace(tzinfo=None), "e": at[end].replace(tzinfo=None)},
                )
            }
            _warehouse_lines_exact(served)
            # the next sync brings what changed since, the edits made while the first one paged included
            sync(served.ws, SOURCE)
            assert _warehouse_shop(served) == _shop_at(served, at[end])
            _warehouse_lines_exact(served)
        finally:
            httpx.delete(f"{served.endpoints.shopify_url}/_sandbox/ticks")
            clock.set(as_of)
            sync(served.ws, SOURCE, full_refresh=True)


@pytest.mark.parametrize(
    ("body", "content_type", "shown"),
    [
        ("<html><body>502 Bad Gateway</body></html>", "text/html", "text/html"),
        ('{"orders": [{"id": 1, "name": "#1"', "application/json", "application/json"),
        ("{}", "application/json", "application/json"),
    ],
    ids=["proxy-html", "truncated", "empty-object"],
)
def test_a_200_that_is_not_shopifys_json_is_a_clear_error(served, body, content_type, shown) -> None:
    sync(served.ws, SOURCE)
    before, cursor = _warehouse_orders(served), _cursor(served)
    served.shop("faults", resource="orders", status=200, body=body, content_type=content_type)
    try:
        with pytest.raises(SourceError) as failure:
            sync(served.ws, SOURCE, full_refresh=True)
    finally:
        httpx.delete(f"{served.endpoints.shopify_url}/_sandbox/faults")
    message = str(failure.value)
    assert "/orders.json answered 200 with " + shown in message, message
    assert body[:20] in message and "check config.shop" in message
    assert "PipelineStepFailed" not in message and "ResourceExtractionError" not in message
    assert _warehouse_orders(served) == before and _cursor(served) == cursor


def test_a_refused_connection_names_the_address_and_shows_each_retry(tmp_path, monkeypatch, caplog) -> None:
    from matih.processes import free_port

    ws = Workspace.at(tmp_path / "prod")
    (ws.root / "matih.yaml").write_text("name: prod\nsources: {max_attempts: 3, backoff_seconds: 0.05}\n")
    (ws.root / "sources").mkdir()
    spec = json.loads((EXAMPLE_SOURCES / f"{SOURCE}.json").read_text())
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    spec["config"]["base_url"] = dead
    (ws.root / "sources" / f"{SOURCE}.json").write_text(json.dumps(spec))
    monkeypatch.setenv("SHOPIFY_API_KEY", "shpat_x")
    with caplog.at_level("WARNING"), pytest.raises(SourceError) as failure:
        sync(ws, SOURCE)
    message = str(failure.value)
    assert f"cannot reach {dead}/admin/api/" in message and "gave up after 3 attempts" in message
    assert "shopify-orders" in message and failure.value.transient
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 2 and all(dead in r for r in retries)
