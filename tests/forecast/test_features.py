"""No feature may see past the forecast origin; windows count calendar days on the dense grid."""

from __future__ import annotations

import numpy as np
import pytest

from matih.forecast.features import FEATURES, FeatureContext, build_features
from matih.forecast.grid import DenseGrid


def _grid(P: int = 30, D: int = 900, seed: int = 0) -> DenseGrid:
    rng = np.random.default_rng(seed)
    Y = rng.poisson(
        rng.uniform(0.2, 40, P)[:, None] * (1 + 0.3 * np.sin(np.arange(D) / 9.0))[None, :]
    ).astype(np.float32)
    first = rng.integers(0, 400, P)
    Y[np.arange(D)[None, :] < first[:, None]] = np.nan
    price = np.where(np.isnan(Y), np.nan, rng.uniform(5, 50, (P, D))).astype(np.float32)
    discount = np.where(np.isnan(Y), np.nan, rng.choice([0.0, 0.2], (P, D))).astype(np.float32)
    return DenseGrid(
        series=np.array([f"S{i}" for i in range(P)]),
        category=np.array(["A", "B"] * (P // 2), dtype=object),
        start=np.datetime64("2024-01-01"),
        Y=Y,
        price=price,
        discount=discount,
        first=first,
        selling_days=(~np.isnan(Y) & (Y > 0)).sum(1),
        statics={"seasonal_flag": np.zeros(P, bool), "subcategory": np.array(["x"] * P)},
    )


def test_features_use_nothing_after_the_origin():
    grid = _grid()
    P, D = grid.Y.shape
    origin = 700
    p = np.repeat(np.arange(P), 14)
    h = np.tile(np.arange(1, 15), P)
    t = np.full(len(p), origin)
    X, scale = build_features(FeatureContext.build(grid), p, t, h)
    future = grid.Y.copy()
    rng = np.random.default_rng(1)
    future[:, origin + 1 :] = rng.poisson(500, (P, D - origin - 1))  # rewrite everything after the origin
    price = grid.price.copy()
    price[:, origin + 1 :] = 999.0
    disc = grid.discount.copy()
    disc[:, origin + 1 :] = 0.9
    changed = DenseGrid(**{**grid.__dict__, "Y": future, "price": price, "discount": disc})
    X2, scale2 = build_features(FeatureContext.build(changed), p, t, h)
    assert np.array_equal(scale, scale2)
    for j, name in enumerate(FEATURES):
        assert np.array_equal(X[:, j], X2[:, j], equal_nan=True), f"{name} sees the future"


def test_leak_check_would_catch_a_leaking_feature(monkeypatch):
    """The check above fails for a feature that peeks at the target day."""
    import matih.forecast.features as F

    original = F._gather

    def leaky(m, p, day):
        return original(m, p, day + 7)  # same-weekday feature now reads the target week

    monkeypatch.setattr(F, "_gather", leaky)
    with pytest.raises(AssertionError, match="sees the future"):
        test_features_use_nothing_after_the_origin()


def test_windows_count_calendar_days_with_zeros():
    grid = _grid(P=2, D=400)
    grid.first[:] = 0
    grid.Y[:] = 0
    grid.Y[0, 393:400:2] = 7  # sells every other day in the last week
    ctx = FeatureContext.build(grid)
    X, scale = build_features(ctx, np.array([0]), np.array([399]), np.array([1]))
    r7 = X[0, FEATURES.index("r7")] * scale[0]
    assert r7 == pytest.approx(4 * 7 / 7)  # 28 units over 7 calendar days, zero days included
    assert X[0, FEATURES.index("days_since_sale")] == 0
    zero_share = X[0, FEATURES.index("zero_share28")]
    assert zero_share == pytest.approx(24 / 28)


def test_an_age_is_counted_only_from_a_start_the_data_saw():
    """A series selling from the data's first days may be years old: its age is unknown (the cap), not
    the calendar time since the data began, which would let the trees read the date off it."""
    from matih.forecast.features import cadence_of

    grid = _grid(P=4, D=900)
    grid.first[:] = [0, 20, 500, 500]  # from the start, within the first 28 days, launched on day 500
    ctx = FeatureContext.build(grid)
    cap = cadence_of(grid.frequency).age_cap
    age = FEATURES.index("age")
    for t, launched in ((600, 100), (800, 300)):
        X, _ = build_features(ctx, np.arange(4), np.full(4, t), np.ones(4, dtype=np.int64))
        assert X[:, age].tolist() == [cap, cap, launched, launched]
