"""The simulator's properties: the structure a forecaster should find is really there."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from matih.exceptions import SandboxError
from matih.sandbox import WorldConfig, generate_world
from matih.sandbox.categories import CATEGORY_NAMES


def _daily(world) -> pd.DataFrame:
    """Units per product per day from the order lines and orders, as the warehouse would see them."""
    items = world.tables["order_items"].to_pandas()
    orders = world.tables["orders"].to_pandas()[["order_id", "order_date"]]
    df = items.merge(orders, on="order_id")
    df["date"] = df["order_date"].dt.normalize()
    df["product_id"] = df["product_id"].astype(str)
    cats = world.tables["product_categories"].to_pandas()[["product_id", "category"]]
    daily = df.groupby(["product_id", "date"], as_index=False)["quantity"].sum()
    return daily.merge(cats, on="product_id")


def test_same_seed_same_world_other_seed_other_world():
    a = generate_world(WorldConfig(products=120, seed=11, end_date=dt.date(2025, 12, 15), days=200))
    b = generate_world(WorldConfig(products=120, seed=11, end_date=dt.date(2025, 12, 15), days=200))
    c = generate_world(WorldConfig(products=120, seed=12, end_date=dt.date(2025, 12, 15), days=200))
    for name in a.tables:
        assert a.tables[name].equals(b.tables[name]), name
    assert not a.tables["order_items"].equals(c.tables["order_items"])


@pytest.mark.parametrize("products", [99, 1_000_001])
def test_product_count_is_bounded(products):
    with pytest.raises(SandboxError, match="between 100 and 1,000,000"):
        WorldConfig(products=products)


def test_catalog_shape(small_world):
    cats = small_world.tables["product_categories"].to_pandas()
    assert set(cats["category"]) == set(CATEGORY_NAMES)
    assert cats["product_id"].is_unique and cats["product_id"].str.match(r"^PRD-\d{5}$").all()
    assert (cats["last_modified_by"].str.endswith("@novamart.com")).all()
    seasonal = cats.groupby("category")["seasonal_flag"].first()
    assert seasonal[["Swimwear", "Holiday Decor", "Garden (Seasonal)", "Outdoor Furniture"]].all()
    assert not seasonal["Electronics"]
    products = small_world.tables["products"].to_pandas()
    assert products["title"].str.len().min() > 3
    inv = small_world.tables["inventory"].to_pandas()
    assert len(inv) == len(cats) and (inv["quantity_on_hand"] >= 0).all() and (inv["reorder_point"] > 0).all()


def test_orders_and_lines_agree(small_world):
    items = small_world.tables["order_items"].to_pandas()
    orders = small_world.tables["orders"].to_pandas()
    assert orders["order_id"].is_unique
    assert set(items["order_id"]) <= set(orders["order_id"])
    totals = (items["quantity"] * items["unit_price"]).groupby(items["order_id"]).sum()
    merged = orders.set_index("order_id")["total_price"].loc[totals.index]
    assert np.allclose(merged.to_numpy(), totals.to_numpy(), atol=0.011)
    assert (items["quantity"] > 0).all() and (items["unit_price"] > 0).all()
    assert items["discount"].between(0, 0.5).all()


def test_realised_units_follow_the_truth(small_world):
    truth = small_world.truth.to_pandas()
    daily = _daily(small_world)
    assert daily["quantity"].sum() == pytest.approx(truth["expected_units"].sum(), rel=0.01)


def test_weekly_and_yearly_seasonality(small_world):
    daily = _daily(small_world)
    daily["dow"] = daily["date"].dt.dayofweek
    office = daily[daily["category"] == "Office Supplies"].groupby("dow")["quantity"].sum()
    assert office[[0, 1, 2]].mean() > 1.6 * office[[5, 6]].mean()  # a weekday category
    daily["month"] = daily["date"].dt.month
    swim = daily[daily["category"] == "Swimwear"].groupby("month")["quantity"].sum()
    assert swim[[6, 7]].mean() > 5 * swim[[12, 1]].mean()
    steady = daily[daily["category"] == "Pet Supplies"].groupby("month")["quantity"].sum()
    assert steady.max() < 3 * steady.min()


def test_black_friday_lifts_electronics(small_world):
    daily = _daily(small_world)
    elec = daily[daily["category"] == "Electronics"].groupby("date")["quantity"].sum()
    bf = elec.loc["2025-11-28":"2025-12-01"].mean()
    before = elec.loc["2025-11-07":"2025-11-20"].mean()
    assert bf > 2.0 * before


def test_promotions_stockouts_and_traffic(small_world):
    truth = small_world.truth.to_pandas()
    promo = truth["discount"] > 0
    assert truth.loc[promo, "demand"].mean() > 1.2 * truth.loc[~promo, "demand"].mean()
    out = ~truth["in_stock"]
    assert out.mean() < 0.05 and out.any()
    assert (truth.loc[out, "expected_units"] <= 0.051 * truth.loc[out, "demand"]).all()
    sessions = small_world.tables["web_sessions"].to_pandas()
    per_day = sessions.groupby("date")["sessions"].sum()
    demand = truth.groupby("date")["demand"].sum()
    lead = per_day.corr(demand.shift(-2).reindex(per_day.index))
    lag = per_day.corr(demand.shift(2).reindex(per_day.index))
    assert lead > lag and lead > 0.95


def test_launches_spread_like_the_seed(small_world):
    daily = _daily(small_world)
    days = daily.groupby("product_id")["date"].nunique()
    buckets = pd.cut(days, [0, 29, 89, 179, 364, 10_000], labels=["<1", "1-3", "3-6", "6-12", "12+"])
    share = buckets.value_counts(normalize=True)
    assert 0.5 < share["12+"] < 0.72
    assert 0.1 < share["6-12"] < 0.32
    assert 0.0 < share["<1"] < 0.06


def test_volumes_resemble_the_seed(small_world):
    daily = _daily(small_world)
    per_product = daily.groupby("product_id")["quantity"].mean()
    assert 100 < per_product.max() < 2_000  # top products: a few hundred units a day
    assert (per_product < 3).mean() > 0.08  # a long tail of slow sellers
    assert daily["quantity"].max() < 10_000  # the seed's quality bound
