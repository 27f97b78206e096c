"""Every model family: the same forecast rows, nothing after the origin, a faithful save and load."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from matih.exceptions import SpecError, TrainingError
from matih.forecast.config import FAMILIES, TrainConfig
from matih.forecast.families import fit_family, load_forecaster
from matih.forecast.features import FeatureContext
from matih.forecast.fit import split_points
from matih.forecast.grid import DenseGrid
from matih.forecast.model import FALLBACK
from matih.forecast.routing import family_config

pytestmark = pytest.mark.training


def _grid(P: int = 24, D: int = 420, seed: int = 3) -> DenseGrid:
    rng = np.random.default_rng(seed)
    weekly = np.array([0.8, 0.9, 1.0, 1.0, 1.1, 1.4, 1.2])
    level = rng.gamma(1.5, 4.0, P)
    t = np.arange(D)
    Y = rng.poisson(level[:, None] * weekly[(t + 0) % 7][None, :]).astype(np.float32)
    first = np.where(np.arange(P) < P - 2, rng.integers(0, 60, P), D - 20)  # two newcomers
    Y[t[None, :] < first[:, None]] = np.nan
    return DenseGrid(
        series=np.array([f"S{i}" for i in range(P)]),
        category=np.array(["Alpha", "Beta", "Gamma"] * (P // 3), dtype=object),
        start=np.datetime64("2024-01-01"),
        Y=Y,
        price=np.where(np.isnan(Y), np.nan, 10.0).astype(np.float32),
        discount=np.where(np.isnan(Y), np.nan, 0.0).astype(np.float32),
        first=first,
        selling_days=(~np.isnan(Y) & (Y > 0)).sum(1),
        statics={"seasonal_flag": np.zeros(P, bool), "subcategory": np.array(["x"] * P)},
    )


def _config(family: str) -> TrainConfig:
    return TrainConfig(model_type=family, n_estimators=30, learning_rate=0.1, quantiles=(0.1, 0.5, 0.9))


@pytest.fixture(scope="module")
def trained() -> dict[str, tuple[object, FeatureContext]]:
    ctx = FeatureContext.build(_grid())
    return {family: (fit_family(ctx, _config(family))[0], ctx) for family in FAMILIES}


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_gives_the_same_rows(family, trained):
    model, ctx = trained[family]
    H = 14
    _, origin = split_points(ctx.grid.n_days, H)
    fc = model.predict(ctx, origin)
    started = np.nonzero(ctx.grid.first <= origin)[0]
    assert len(fc) == len(started) * H
    assert np.array_equal(np.unique(fc.series_index), started)
    assert (fc.predicted >= 0).all() and np.isfinite(fc.predicted).all()
    assert (fc.lower <= fc.predicted + 1e-9).all() and (fc.predicted <= fc.upper + 1e-9).all()
    assert fc.quantiles.shape == (len(fc), 3)
    assert (np.diff(fc.quantiles, axis=1) >= -1e-9).all()
    # every category's model calibrated its own interval on the window before the holdout
    assert {"Alpha", "Beta", "Gamma"} <= set(model.conformal)
    assert model.family == family
    # a product with too little history is marked for the routed ensemble's fallback
    assert set(np.unique(fc.model)) <= {"Alpha", "Beta", "Gamma", FALLBACK}
    y = np.nan_to_num(ctx.grid.Y[fc.series_index, origin + fc.horizon])
    wape = np.abs(y - fc.predicted).sum() / y.sum()
    assert wape < 0.6, f"{family} is far off a plain weekly pattern: WAPE {wape:.2f}"


@pytest.mark.parametrize("family", FAMILIES)
def test_no_family_sees_past_the_origin(family, trained):
    """Rewrite every sale after the origin: the forecast from the origin must not move."""
    model, ctx = trained[family]
    grid = ctx.grid
    _, origin = split_points(grid.n_days, 14)
    before = model.predict(ctx, origin)
    Y = grid.Y.copy()
    rng = np.random.default_rng(0)
    Y[:, origin + 1 :] = rng.poisson(500, Y[:, origin + 1 :].shape)
    changed = FeatureContext.build(dataclasses.replace(grid, Y=Y))
    after = model.predict(changed, origin)
    assert np.array_equal(before.predicted, after.predicted), f"{family} reads the future"
    assert np.array_equal(before.upper, after.upper)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_saved_family_forecasts_the_same(family, trained, tmp_path):
    model, ctx = trained[family]
    origin = ctx.grid.n_days - 1
    model.save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "forecaster.json").read_text())["family"] == family
    again = load_forecaster(tmp_path / "m")
    a, b = model.predict(ctx, origin), again.predict(ctx, origin)
    assert np.allclose(a.predicted, b.predicted, rtol=1e-9, atol=1e-9)
    assert np.allclose(a.quantiles, b.quantiles, rtol=1e-9, atol=1e-9)


def test_lstm_is_deterministic_with_its_seed():
    ctx = FeatureContext.build(_grid(P=12, D=300))
    one, _ = fit_family(ctx, _config("lstm"))
    two, _ = fit_family(ctx, _config("lstm"))
    origin = ctx.grid.n_days - 1
    assert np.array_equal(one.predict(ctx, origin).predicted, two.predict(ctx, origin).predicted)


def test_family_config_builds_the_family_and_refuses_unknown_kinds():
    base = TrainConfig()
    lstm = family_config(base, "lstm")
    assert (lstm.model_type, lstm.experiment) == ("lstm", "demand-forecast-daily-lstm")
    variant = family_config(base, "lightgbm-deep")
    assert variant.model_type == "lightgbm" and variant.experiment.endswith("-lightgbm-deep")
    with pytest.raises(SpecError, match="does not train 'xgboost'"):
        family_config(base, "xgboost")
    with pytest.raises(TrainingError, match="not a model family"):
        TrainConfig(model_type="arima")


def _promoted_grid(P: int = 24, D: int = 420, H: int = 14, seed: int = 5) -> DenseGrid:
    """Sales that triple on promotion days (planned: known for the horizon too), beside a past-only
    covariate that is pure noise."""
    from matih.forecast.config import CovariateRole

    grid = _grid(P, D, seed)
    rng = np.random.default_rng(seed)
    promo = (rng.random((P, D + H)) < 0.15).astype(np.float32)
    Y = np.where(np.isnan(grid.Y), np.nan, rng.poisson(np.nan_to_num(grid.Y) * (1 + 2 * promo[:, :D]) + 0.5))
    noise = rng.random((P, D)).astype(np.float32)
    return dataclasses.replace(
        grid,
        Y=Y.astype(np.float32),
        covariates={"promo": promo, "noise": noise},
        covariate_roles=(
            CovariateRole("promo", "promotion", "future"),
            CovariateRole("noise", "other", "past"),
        ),
    )


@pytest.mark.parametrize("family", ["lstm", "prophet"])
def test_families_that_can_read_covariates_read_planned_ones_and_no_past_ones_future(family):
    grid = _promoted_grid()
    ctx = FeatureContext.build(grid)
    model, _ = fit_family(ctx, _config(family))
    origin = grid.n_days - 1
    H = 14

    def at_lead(promo_at: int | None) -> np.ndarray:
        promo = grid.covariates["promo"].copy()
        promo[:, origin + 1 :] = 0.0
        if promo_at is not None:
            promo[:, origin + promo_at] = 1.0
        changed = FeatureContext.build(
            dataclasses.replace(grid, covariates={**grid.covariates, "promo": promo})
        )
        fc = model.predict(changed, origin)
        return np.array([fc.predicted[fc.horizon == h].sum() for h in range(1, H + 1)])

    plain, promoted = at_lead(None), at_lead(5)
    assert promoted[4] > 1.5 * plain[4], (
        f"{family} ignores a planned promotion: {promoted[4]:.0f} vs {plain[4]:.0f}"
    )
    # a past-only covariate is never read after the origin
    inner = grid.n_days - 30
    before = model.predict(ctx, inner)
    noise = grid.covariates["noise"].copy()
    noise[:, inner + 1 :] = 50.0
    rewritten = FeatureContext.build(
        dataclasses.replace(grid, covariates={**grid.covariates, "noise": noise})
    )
    assert np.array_equal(before.predicted, model.predict(rewritten, inner).predicted)
    # a planned value missing for the horizon is refused, as LightGBM refuses it
    promo = grid.covariates["promo"].copy()
    promo[3, origin + 2] = np.nan
    gap = FeatureContext.build(dataclasses.replace(grid, covariates={**grid.covariates, "promo": promo}))
    with pytest.raises(TrainingError, match="'promo' is known in the future but has no planned value"):
        model.predict(gap, origin)
