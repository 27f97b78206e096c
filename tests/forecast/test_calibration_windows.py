"""Calibration on more than one out-of-sample window: earlier fits, each trained one horizon before the
window it forecasts, only calibrate the validated fit (they never see a target of their window)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from matih.exceptions import TrainingError
from matih.forecast.config import TrainConfig
from matih.forecast.features import FeatureContext
from matih.forecast.fit import (
    REFIT,
    calibration_residuals,
    earlier_models,
    earlier_prefix,
    fit_ends,
    fit_forecaster,
    fit_of,
    split_points,
)
from matih.forecast.fitters import LocalFitter
from tests.forecast.test_features import _grid

CONFIG = TrainConfig(n_estimators=30, learning_rate=0.1)


def _trees(booster) -> str:
    return booster.model_to_string().split("\nparameters:")[0]


def test_two_windows_by_default_and_a_spec_setting():
    from matih.exceptions import SpecError
    from matih.specs.tasks import Hyperparameters

    assert TrainConfig().calibration_windows == 2
    assert TrainConfig.from_task({"hyperparameters": {"calibration_windows": 1}}).calibration_windows == 1
    settings = {"model_type": "lightgbm", "forecast_horizon": 14}
    assert Hyperparameters.model_validate(settings).calibration_windows == 2
    for bad in (0, 5):
        with pytest.raises((SpecError, ValueError), match="calibration_windows"):
            Hyperparameters.model_validate({**settings, "calibration_windows": bad})
        with pytest.raises(TrainingError, match="calibration_windows must be 1 to 4"):
            TrainConfig(calibration_windows=bad)
    # a local family calibrates on one window: asking it for more is refused, not ignored
    autoets = {**settings, "model_type": "autoets"}
    assert Hyperparameters.model_validate(autoets).calibration_windows == 2
    assert Hyperparameters.model_validate({**autoets, "calibration_windows": 1}).calibration_windows == 1
    with pytest.raises((SpecError, ValueError), match="model_type 'autoets' calibrates on one window"):
        Hyperparameters.model_validate({**autoets, "calibration_windows": 3})


def test_each_earlier_fit_ends_a_horizon_before_the_window_it_forecasts():
    grid = _grid(P=10, D=700)
    H = CONFIG.forecast_horizon
    cal, _ = split_points(grid.n_days, H, grid.frequency)
    assert fit_ends(dataclasses.replace(CONFIG, calibration_windows=1), grid) == {"": cal}
    three = dataclasses.replace(CONFIG, calibration_windows=3, refit=True)
    assert fit_ends(three, grid) == {
        "": cal,
        REFIT: grid.n_days - 1,
        earlier_prefix(1): cal - 2 * H,
        earlier_prefix(2): cal - 3 * H,
    }
    # a dataset too short for an earlier fit's history calibrates on the windows it has
    short = _grid(P=10, D=2 * H + 90)
    four = dataclasses.replace(CONFIG, calibration_windows=4)
    assert list(fit_ends(four, short)) == ["", earlier_prefix(1)]
    # booster names: a category's own name may hold a colon
    assert fit_of("earlier2:fallback") == ("earlier2:", "fallback")
    assert fit_of("refit:A") == (REFIT, "A")
    assert fit_of("dairy: chilled") == ("", "dairy: chilled")


@pytest.mark.training
def test_the_earlier_fit_sees_no_target_after_its_end_and_leaves_the_validated_fit_alone():
    """Rewrite every target after the earlier fit's end: its trees are the same (no leak), the
    validated fit's change. And the validated fit's trees are the same with one window or two. (The
    objective is fixed: the earlier fit takes the validated fit's, as the same method.)"""
    grid = _grid(P=30, D=700, seed=5)
    config = dataclasses.replace(CONFIG, objective="poisson")
    end = fit_ends(config, grid)[earlier_prefix(1)]

    def boosters(g, config=config):
        fitter = LocalFitter(config)
        model, stats = fit_forecaster(FeatureContext.build(g), config, fitter=fitter)
        return model, stats, dict(fitter.results())

    model, stats, fitted = boosters(grid)
    rewritten = dataclasses.replace(grid, Y=grid.Y.copy())
    rewritten.Y[:, end + 1 :] = np.where(np.isnan(grid.Y[:, end + 1 :]), np.nan, 3 * grid.Y[:, end + 1 :] + 7)
    _, _, again = boosters(rewritten)
    earlier = [n for n in fitted if n.startswith(earlier_prefix(1))]
    assert sorted(earlier) == sorted(earlier_prefix(1) + n for n in [*model.boosters, "fallback"])
    for name in earlier:
        assert _trees(fitted[name]) == _trees(again[name]), name
    assert _trees(fitted["fallback"]) != _trees(again["fallback"])
    assert all(stats.earlier_rows[n] > 0 for n in earlier)
    from matih.forecast.training import training_summary

    summary = training_summary(config, grid, stats, 1.0)
    rows = sum(stats.earlier_rows.values())
    assert f"2 out-of-sample windows: the validated fit's and 1 earlier fit's ({rows:,} rows)" in summary

    one, _, _ = boosters(grid, dataclasses.replace(config, calibration_windows=1))
    for name, booster in model.boosters.items():
        assert _trees(booster) == _trees(one.boosters[name])
    # the earlier window's errors are pooled in: about twice as many for every model
    for name, dist in model.conformal.items():
        assert dist.errors > 1.5 * one.conformal[name].errors, name


@pytest.mark.training
def test_the_earlier_window_is_forecast_a_horizon_after_the_earlier_fits_newest_target():
    grid = _grid(P=30, D=700, seed=6)
    ctx = FeatureContext.build(grid)
    fitter = LocalFitter(CONFIG)
    model, _ = fit_forecaster(ctx, CONFIG, fitter=fitter)
    (earlier,) = earlier_models(grid, CONFIG, fitter.results())
    H = CONFIG.forecast_horizon
    cal, holdout = split_points(grid.n_days, H, grid.frequency)
    assert earlier.trained_until == str(grid.date_at(cal - 2 * H))
    alone = calibration_residuals(ctx, model, cal, holdout, np.random.default_rng(0))
    both = calibration_residuals(ctx, model, cal, holdout, np.random.default_rng(0), earlier=[earlier])
    n = len(alone.y)
    assert np.array_equal(both.y[:n], alone.y) and np.array_equal(both.yhat[:n], alone.yhat)
    # the rest are the earlier fit's forecasts of the window before, its calibration MAPE not among them
    assert len(both.y) > 1.5 * n and not both.first[n:].any()
    assert both.lead[n:].max() == H
