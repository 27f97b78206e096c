"""The profile's figures against independent computations: numpy for correlations, the seed's own SQL
for history buckets, pandas for column statistics."""

from __future__ import annotations

import numpy as np

from matih.quality.profile import profile_table
from matih.warehouse import warehouse_of

FEATURES = "analytics.derived.demand_features"


def test_correlations_match_numpy(quality_ws):
    profile = profile_table(quality_ws, FEATURES)
    frame = warehouse_of(quality_ws).query(f"SELECT * FROM {FEATURES}").to_pandas()
    assert len(profile.correlations) >= 15
    for c in profile.correlations:
        both = frame[[c.feature, "units_sold"]].dropna().astype(float)
        expected = np.corrcoef(both[c.feature], both["units_sold"])[0, 1]
        assert abs(c.r - expected) < 1e-9, c.feature
    rs = [c.r for c in profile.correlations]
    assert rs == sorted(rs, reverse=True)
    notes = {c.feature: c.note for c in profile.correlations if c.note}
    assert notes["sales_rolling_7d"] == "expected -- autoregressive"
    assert notes["sales_same_day_last_year"] == "good seasonal signal"
    assert notes.get("avg_selling_price") in (None, "higher price, fewer units")


def test_history_buckets_are_the_seed_query(quality_ws):
    profile = profile_table(quality_ws, FEATURES)
    seed = warehouse_of(quality_ws).query(quality_ws.query_path("history_buckets").read_text()).to_pylist()
    assert [(b, n, p) for b, n, p in profile.history_buckets] == [
        (r["history_bucket"], r["product_count"], float(r["pct"])) for r in seed
    ]


def test_column_statistics_and_short_history(quality_ws):
    profile = profile_table(quality_ws, FEATURES, min_history_days=30)
    frame = warehouse_of(quality_ws).query(f"SELECT * FROM {FEATURES}").to_pandas()
    stats = {c.column: c for c in profile.columns}
    assert profile.rows == len(frame)
    for column in ("units_sold", "sales_rolling_7d", "avg_selling_price", "product_id", "quantity_on_hand"):
        s = stats[column]
        assert s.distinct == frame[column].nunique(), column
        assert s.null_share == frame[column].isna().mean(), column
        assert s.min == frame[column].min() and s.max == frame[column].max(), column
    assert abs(stats["units_sold"].mean - frame["units_sold"].mean()) < 1e-9
    days = frame.groupby("product_id")["sale_date"].nunique()
    assert profile.short_history == int((days < 30).sum())
    assert set(profile.short_history_sample) <= set(days[days < 30].index)
