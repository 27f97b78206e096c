"""The user's covariates: only declared known-future ones look past the origin; a planned promotion
raises the forecast (Dominick's orange juice); a missing planned value is a clear error."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from matih.exceptions import TrainingError
from matih.forecast.config import CovariateRole
from matih.forecast.features import FeatureContext, build_features
from matih.forecast.grid import DenseGrid
from tests.forecast.test_features import _grid

# the shared real data sets (../shared/data beside the repository; MATIH_REAL_DATA points elsewhere)
OJ = (
    Path(os.environ.get("MATIH_REAL_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
    / "dominicks_oj_weekly.parquet"
)
ROLES = (
    CovariateRole("promo", "promotion", "future"),
    CovariateRole("shelf_price", "price", "future"),
    CovariateRole("weather", "event", "past"),
    CovariateRole("competitor_price", "price", "past"),
)


def _with_covariates(grid: DenseGrid, horizon: int, seed: int = 3) -> DenseGrid:
    rng = np.random.default_rng(seed)
    P, D = grid.Y.shape
    covariates = {}
    for role in ROLES:
        width = D + (horizon if role.known == "future" else 0)
        values = rng.uniform(1, 5, (P, width)) if role.kind == "price" else rng.integers(0, 2, (P, width))
        covariates[role.column] = values.astype(np.float32)
    return DenseGrid(**{**grid.__dict__, "covariates": covariates, "covariate_roles": ROLES})


def test_only_known_future_covariates_look_past_the_origin():
    grid = _with_covariates(_grid(), horizon=14)
    P = grid.Y.shape[0]
    origin = 700
    p = np.repeat(np.arange(P), 14)
    h = np.tile(np.arange(1, 15), P)
    t = np.full(len(p), origin)
    ctx = FeatureContext.build(grid)
    X, _ = build_features(ctx, p, t, h)
    changed = {name: m.copy() for name, m in grid.covariates.items()}
    for m in changed.values():
        m[:, origin + 1 :] = 7.0  # rewrite every covariate after the origin
    future = grid.Y.copy()
    future[:, origin + 1 :] = 500.0  # and the sales (the promotion's lift features read them)
    X2, _ = build_features(
        FeatureContext.build(DenseGrid(**{**grid.__dict__, "Y": future, "covariates": changed})), p, t, h
    )
    moved = {
        name for j, name in enumerate(ctx.names) if not np.array_equal(X[:, j], X2[:, j], equal_nan=True)
    }
    # exactly the target-period features of the known-future covariates may change
    assert moved == {"cov_promo_target", "cov_shelf_price_rel_target"}


def test_a_promotion_brings_each_series_own_sales_with_and_without_it():
    """A known-future promotion adds the series' mean sales on promoted and on other periods over the
    last year up to the origin, in units of its scale; a past-only flag or a price adds none."""
    grid = _with_covariates(_grid(P=4, D=900), horizon=14)
    ctx = FeatureContext.build(grid)
    assert [n for n in ctx.names if n.endswith(("_on_mean", "_off_mean"))] == [
        "cov_promo_on_mean",
        "cov_promo_off_mean",
    ]
    origin, series = 800, 2
    X, scale = build_features(ctx, np.array([series]), np.array([origin]), np.array([3]))
    year = slice(origin - grid.frequency.year + 1, origin + 1)
    y, on = grid.Y[series, year], grid.covariates["promo"][series, year] > 0
    assert X[0, ctx.names.index("cov_promo_on_mean")] == pytest.approx(y[on].mean() / scale[0], rel=1e-5)
    assert X[0, ctx.names.index("cov_promo_off_mean")] == pytest.approx(y[~on].mean() / scale[0], rel=1e-5)


def test_a_forecast_past_the_data_needs_planned_values_unless_told_otherwise():
    from matih.forecast.grid import _fill_future

    grid = _with_covariates(_grid(P=4, D=500), horizon=7)
    D = grid.n_days
    for role in ROLES:
        if role.known == "future":
            grid.covariates[role.column][1, D + 2] = np.nan  # series S1 has no plan for one week
    with pytest.raises(TrainingError, match=r"no planned value for 1 series \(e.g. S1\)") as refused:
        grid.require_planned(np.arange(4), D + 6)
    assert str(grid.date_at(D + 2)) in str(refused.value) and "missing_future" in str(refused.value)
    grid.require_planned(np.arange(4), D - 1)  # a back-test inside the data needs no plan
    _fill_future(grid.covariates, ROLES, D, "last_value")
    grid.require_planned(np.arange(4), D + 6)


# -- Dominick's orange juice: deals raise demand, and the model learns it from the declared covariate ----


@pytest.fixture
def oj_workspace(tmp_path):
    if not OJ.is_file():
        pytest.skip(f"the real data set is not at {OJ}")
    from matih.warehouse import warehouse_of
    from matih.workspace import Workspace

    ws = Workspace(tmp_path / "oj")
    ws.root.mkdir()
    (ws.root / "matih.yaml").write_text("name: oj\n")
    wh = warehouse_of(ws)
    # four brands in the stores numbered below 80: enough deal weeks to learn from, small enough for a test
    wh.run(f"""CREATE TABLE analytics.derived.oj AS
        SELECT store || '-' || brand AS series, 'brand ' || brand AS brand, CAST(week_start AS DATE) AS week,
               units, own_price, deal, feat
        FROM read_parquet('{OJ}') WHERE brand IN (1, 2, 5, 9) AND store < 80""")
    return ws


@pytest.mark.training
def test_a_planned_deal_raises_the_forecast_on_orange_juice(oj_workspace):
    from matih.forecast.batch import predict_batch
    from matih.forecast.config import ColumnRoles, TrainConfig
    from matih.forecast.training import train
    from matih.warehouse import warehouse_of

    covariates = (
        CovariateRole("own_price", "price", "future"),
        CovariateRole("deal", "promotion", "future"),
        CovariateRole("feat", "advertising", "future"),
    )
    config = TrainConfig(
        dataset="analytics.derived.oj",
        experiment="oj",
        fallback_name="oj-fallback",
        forecast_horizon=4,
        n_estimators=80,
        learning_rate=0.1,
        roles=ColumnRoles(
            series_column="series", date_column="week", target_column="units", category_column="brand"
        ),
        covariates=covariates,
        planned_values="analytics.planning.oj_plan",
    )
    version = train(oj_workspace, config).forecaster.version
    wh = warehouse_of(oj_workspace)

    def forecast_with(deal: int) -> float:
        # next four weeks at each series' last price, with or without a deal
        wh.run(f"""CREATE OR REPLACE TABLE analytics.planning.oj_plan AS
            WITH last AS (SELECT series, arg_max(own_price, week) AS own_price FROM analytics.derived.oj
                          GROUP BY series)
            SELECT series, (SELECT max(week) FROM analytics.derived.oj) + 7 * CAST(k AS INTEGER) AS week,
                   own_price, {deal} AS deal, 0.0 AS feat
            FROM last, range(1, 5) r(k)""")
        table, _ = predict_batch(oj_workspace, config, version=version)
        return float(np.mean(table.column("predicted_units").to_numpy()))

    with_deal, without = forecast_with(1), forecast_with(0)
    assert with_deal > 1.2 * without, (with_deal, without)
    shutil.rmtree(oj_workspace.root / ".matih" / "mlflow", ignore_errors=True)
