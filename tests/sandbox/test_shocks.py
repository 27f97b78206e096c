"""Shocks: parsed with clear errors, and injected so the world before them is the unshocked world's."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from matih.exceptions import SandboxError
from matih.sandbox import WorldConfig, generate_world
from matih.sandbox.shocks import OUTAGE_SELL_THROUGH, Shock, parse_shock

FIRST = dt.date(2026, 9, 16)
END = dt.date(2026, 10, 15)


def test_shocks_are_read_from_their_short_form():
    level = parse_shock("level:Electronics:+30%@10", FIRST)
    assert level == Shock("level", "Electronics", dt.date(2026, 9, 25), 0.3, None)
    assert level.factor == pytest.approx(1.3)
    down = parse_shock("level:Home & Garden:-25%@1+14", FIRST)
    assert (down.category, down.start, down.change, down.days) == ("Home & Garden", FIRST, -0.25, 14)
    outage = parse_shock("outage:Beauty@12+7", FIRST)
    assert (outage.kind, outage.factor, outage.days) == ("outage", OUTAGE_SELL_THROUGH, 7)
    assert "supplier outage" in outage.describe()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("surge:Electronics:+30%@10", "unknown shock kind 'surge'"),
        ("level:Gadgets:+30%@10", "shock category 'Gadgets' is not NovaMart's"),
        ("level:Electronics@10", "needs its change"),
        ("outage:Beauty:+10%@3", "an outage takes no change"),
        ("level:Electronics:+30%@0", "days count from 1"),
        ("level:Electronics:-120%@3", "above -100%"),
        ("outage:Beauty@3+0", "at least one day"),
        ("Electronics +30%", "write it as KIND:CATEGORY"),
    ],
)
def test_a_malformed_shock_says_what_to_write(text, says):
    with pytest.raises(SandboxError, match=says):
        parse_shock(text, FIRST)


def _units(world) -> pd.DataFrame:
    """Units sold per (product, day) as the shop's order lines hold them, with the product's category."""
    items = world.tables["order_items"].to_pandas()
    orders = world.tables["orders"].to_pandas()[["order_id", "created_at"]]
    lines = items.merge(orders, on="order_id")
    lines["day"] = lines["created_at"].dt.normalize()
    lines["product_id"] = lines["product_id"].astype(str)
    cats = world.tables["product_categories"].to_pandas().set_index("product_id")["category"]
    units = lines.groupby(["product_id", "day"])["quantity"].sum().rename("units").reset_index()
    units["category"] = units["product_id"].map(cats)
    return units


def test_a_level_shock_moves_its_category_from_its_day_and_leaves_the_past_alone():
    shock = parse_shock("level:Electronics:+30%@10", FIRST)
    start = pd.Timestamp(shock.start)
    config = WorldConfig(products=300, seed=11, end_date=END, days=200)
    plain, shocked = (
        generate_world(config),
        generate_world(WorldConfig(**{**vars(config), "shocks": (shock,)})),
    )
    a, b = plain.truth.to_pandas(), shocked.truth.to_pandas()
    assert a[["product_idx", "date"]].equals(b[["product_idx", "date"]])
    cats = plain.tables["product_categories"].column("category").to_numpy(zero_copy_only=False)
    in_cat = cats[a["product_idx"]] == "Electronics"
    after = (a["date"] >= shock.start).to_numpy()
    ratio = b["expected_units"] / a["expected_units"].where(a["expected_units"] > 0)
    assert np.allclose(ratio[in_cat & after].dropna(), 1.3, rtol=1e-5)
    assert np.allclose(ratio[~(in_cat & after)].dropna(), 1.0)
    # units sold: identical before the shock and outside its category, about 30% more inside it
    ua, ub = _units(plain), _units(shocked)
    joined = ua.merge(ub, on=["product_id", "day", "category"], how="outer", suffixes=("_a", "_b")).fillna(0)
    before = joined[joined["day"] < start]
    assert (before["units_a"] == before["units_b"]).all()
    others = joined[(joined["day"] >= start) & (joined["category"] != "Electronics")]
    assert (others["units_a"] == others["units_b"]).all()
    hit = joined[(joined["day"] >= start) & (joined["category"] == "Electronics")]
    assert hit["units_b"].sum() / hit["units_a"].sum() == pytest.approx(1.3, rel=0.05)
    # web traffic leads sales by two days: unchanged before then and in every other category
    sa, sb = (_sessions(w) for w in (plain, shocked))
    both = sa.merge(sb, on=["product_id", "date"], how="outer", suffixes=("_a", "_b")).fillna(0)
    both["category"] = both["product_id"].map(dict(zip(ua["product_id"], ua["category"], strict=False)))
    moved = (both["category"] == "Electronics") & (both["date"] >= start - pd.Timedelta(days=2))
    assert (both.loc[~moved, "sessions_a"] == both.loc[~moved, "sessions_b"]).all()
    assert both.loc[moved, "sessions_b"].sum() / both.loc[moved, "sessions_a"].sum() == pytest.approx(
        1.3, rel=0.05
    )


def _sessions(world) -> pd.DataFrame:
    table = world.tables["web_sessions"].to_pandas()
    table["product_id"] = table["product_id"].astype(str)
    table["date"] = pd.to_datetime(table["date"])
    return table[["product_id", "date", "sessions"]]


def test_an_outage_empties_its_category_for_its_days():
    shock = parse_shock("outage:Electronics@5+7", FIRST)
    start, end = pd.Timestamp(shock.start), pd.Timestamp(shock.start + dt.timedelta(days=7))
    config = WorldConfig(products=300, seed=11, end_date=END, days=200, shocks=(shock,))
    units = _units(generate_world(config))
    plain = _units(generate_world(WorldConfig(products=300, seed=11, end_date=END, days=200)))
    window = lambda u: u[  # noqa: E731
        (u["category"] == "Electronics") & (u["day"] >= start) & (u["day"] < end)
    ]["units"].sum()
    assert window(units) < 0.1 * window(plain)
    later = lambda u: u[(u["category"] == "Electronics") & (u["day"] >= end)]  # noqa: E731
    assert later(units)["units"].sum() == later(plain)["units"].sum()
