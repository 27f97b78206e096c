"""The catalog of the demo's warehouse: exact row counts, the seed's key roles, owners and tags."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from matih.catalog.tables import annotate, load_catalog, refresh
from matih.cli.main import app
from matih.sources import sync
from matih.warehouse import warehouse_of

runner = CliRunner()


def test_row_counts_equal_count_star(demo_run) -> None:
    ws = demo_run.workspace
    catalog = refresh(ws)
    wh = warehouse_of(ws)
    assert len(catalog.tables) >= 12
    for name, info in catalog.tables.items():
        assert info.rows == wh.query(f"SELECT count(*) AS n FROM {name}")["n"][0].as_py(), name
        assert not any(c.name.startswith("_dlt") for c in info.columns)
    assert not any(name.split(".")[1].endswith("_staging") for name in catalog.tables)


def test_key_roles_of_the_seed_search_table(demo_run) -> None:
    catalog = refresh(demo_run.workspace)
    roles = {t.name: t.column("product_id").role for t in catalog.search("product_id")}  # type: ignore[union-attr]
    assert roles["postgresql.shopify.products"] == "PK"
    for name in (
        "postgresql.shopify.order_items",
        "postgresql.inventory.inventory",
        "postgresql.analytics.product_categories",
        "postgresql.inventory.supplier_shipments",
    ):
        assert roles[name] == "FK", name
    items = catalog.get("postgresql.shopify.order_items")
    assert items.column("product_id").references == "postgresql.shopify.products.product_id"  # type: ignore[union-attr]
    assert items.origin and "shopify-orders" in items.origin and items.updated_at
    # the BI team's table names its owner in the data
    assert catalog.get("product_categories").owner in {"sofia@novamart.com", "bi-team@novamart.com"}

    result = runner.invoke(app, ["catalog", "search", "product_id", "-w", str(demo_run.workspace.root)])
    assert result.exit_code == 0, result.output
    assert re.search(r"products\s+│\s+postgresql\.shopify\s+│\s+PK\s+│\s+300", result.output)
    assert re.search(r"order_items\s+│\s+postgresql\.shopify\s+│\s+FK", result.output)


def test_owner_and_tags_survive_syncs_and_refreshes(demo_run) -> None:
    ws = demo_run.workspace
    refresh(ws)
    annotate(ws, "product_categories", owner="bi-team@novamart.com", add_tags=["reference", "pii-free"])
    annotate(ws, "product_categories", remove_tags=["pii-free"], description="Category hierarchy per product")
    sync(ws, "product-categories", endpoints="production")
    info = refresh(ws).get("postgresql.analytics.product_categories")
    assert (info.owner, info.tags, info.description) == (
        "bi-team@novamart.com",
        ["reference"],
        "Category hierarchy per product",
    )
    assert load_catalog(ws).get("product_categories").tags == ["reference"]
    card = runner.invoke(
        app,
        ["catalog", "show", "postgresql.analytics.product_categories", "-w", str(ws.root)],
        terminal_width=200,
    )
    assert card.exit_code == 0, card.output
    for text in (
        "bi-team@novamart.com",
        "reference",
        "lineage in:  source:product-categories",
        "analytics.derived.demand_features",
        "PRD-",
    ):
        assert text in card.output, text


def test_unknown_table_is_a_clear_error(demo_run) -> None:
    result = runner.invoke(app, ["catalog", "show", "no_such_table", "-w", str(demo_run.workspace.root)])
    assert result.exit_code == 1 and "no table 'no_such_table'" in result.output
