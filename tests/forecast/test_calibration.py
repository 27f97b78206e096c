"""Conformal intervals and quantiles per model and lead time; the objective each model fits."""

from __future__ import annotations

import numpy as np
import pytest

from matih.calendar import BusinessCalendar
from matih.forecast.calibration import LEVELS, MAX_SPECIAL_FACTOR, Conformal, special_factor_of
from matih.forecast.config import TrainConfig
from matih.forecast.features import special_periods
from matih.forecast.fit import objective_for
from matih.forecast.frequency import parse_frequency
from matih.forecast.grid import DenseGrid


def _errors(rng: np.random.Generator, n: int, horizon: int) -> tuple[np.ndarray, ...]:
    """Forecasts of count data whose noise grows with the level and, linearly, with the lead."""
    yhat = rng.gamma(2.0, 20.0, n)
    lead = rng.integers(1, horizon + 1, n)
    noise = rng.standard_t(6, n) * np.sqrt(yhat + 1) * (0.5 + lead / horizon)
    return np.clip(yhat + noise, 0, None), yhat, lead


def test_intervals_cover_the_nominal_level_at_every_lead():
    rng = np.random.default_rng(3)
    H = 14
    y, yhat, lead = _errors(rng, 20_000, H)
    dist = Conformal.fit(y, yhat, lead, H, level=0.8)
    assert dist is not None
    # the lead factor grows: a forecast 14 days out gets a wider band than tomorrow's
    assert dist.lead_factor[-1] > 1.5 * dist.lead_factor[0]
    y2, yhat2, lead2 = _errors(rng, 20_000, H)
    lo, hi = dist.interval(yhat2, lead2)
    inside = (y2 >= lo) & (y2 <= hi)
    assert 0.78 <= inside.mean() <= 0.82
    for far in (lead2 <= 3, lead2 >= 12):  # and not by trading short leads against long ones
        assert 0.76 <= inside[far].mean() <= 0.84

    # pooled over leads without the factor, the first days' bands would be far too wide
    flat = Conformal.fit(y, yhat, np.ones_like(lead), H, level=0.8)
    assert flat is not None
    lo, hi = flat.interval(yhat2, np.ones_like(lead2))
    assert ((y2 >= lo) & (y2 <= hi))[lead2 <= 3].mean() > 0.9


def test_quantiles_are_ordered_and_match_the_interval():
    rng = np.random.default_rng(5)
    y, yhat, lead = _errors(rng, 5_000, 7)
    dist = Conformal.fit(y, yhat, lead, 7, level=0.8)
    assert dist is not None
    qs = np.stack([dist.quantile(q, yhat, lead) for q in (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)])
    assert (np.diff(qs, axis=0) >= 0).all()
    lo, hi = dist.interval(yhat, lead)
    # the interval's bounds are the 10% and 90% quantiles, up to split conformal's finite-sample step
    assert np.allclose(lo, qs[1], rtol=0.02, atol=0.5) and np.allclose(hi, qs[5], rtol=0.02, atol=0.5)
    below = [(y < dist.quantile(q, yhat, lead)).mean() for q in (0.1, 0.5, 0.9)]
    assert below == pytest.approx([0.1, 0.5, 0.9], abs=0.01)
    assert Conformal.from_dict(dist.to_dict()) == dist
    assert len(dist.values) == len(LEVELS)


def test_too_few_errors_calibrate_nothing():
    assert Conformal.fit(np.ones(10), np.ones(10), np.ones(10, dtype=int), 14, 0.8) is None
    # what such a model falls back to still honours the interval level
    from matih.forecast.calibration import uncalibrated

    assert uncalibrated(0.8).upper == pytest.approx(1.2816, abs=1e-3)
    assert uncalibrated(0.95).upper == pytest.approx(1.96, abs=1e-3)


def _marked_errors(
    rng: np.random.Generator, n: int, H: int, *, share: float, widen: float
) -> tuple[np.ndarray, ...]:
    """Out-of-sample errors of which ``share``, marked, are ``widen`` times larger."""
    y, yhat, lead = _errors(rng, n, H)
    marked = rng.random(n) < share
    return np.clip(yhat + np.where(marked, widen, 1.0) * (y - yhat), 0, None), yhat, lead, marked


def test_special_periods_widen_by_their_factor_and_keep_coverage():
    """Holidays err more: their errors are normalised by the special factor at calibration and their
    bands widened by it, so both kinds of day keep the nominal coverage."""
    rng = np.random.default_rng(11)
    H = 14
    y, yhat, lead, special = _marked_errors(rng, 20_000, H, share=0.15, widen=1.6)
    factor = special_factor_of(np.abs(y - yhat) / np.sqrt(yhat + 1), special)
    assert 1.4 < factor < 1.8
    dist = Conformal.fit(y, yhat, lead, H, 0.8, special, factor)
    assert dist is not None and dist.special_factor == factor
    y2, yhat2, lead2, special2 = _marked_errors(rng, 20_000, H, share=0.15, widen=1.6)
    lo, hi = dist.interval(yhat2, lead2, special2)
    inside = (y2 >= lo) & (y2 <= hi)
    assert 0.77 <= inside[special2].mean() <= 0.83 and 0.77 <= inside[~special2].mean() <= 0.83
    # without the factor the holidays under-cover
    plain = Conformal.fit(y, yhat, lead, H, 0.8)
    assert plain is not None
    lo, hi = plain.interval(yhat2, lead2)
    assert ((y2 >= lo) & (y2 <= hi))[special2].mean() < 0.72
    # saved and loaded; a model saved before the factor existed loads with none
    assert Conformal.from_dict(dist.to_dict()) == dist
    old = {k: v for k, v in dist.to_dict().items() if k != "special_factor"}
    assert Conformal.from_dict(old).special_factor == 1.0


def test_promoted_periods_are_measured_on_the_window_and_keep_coverage():
    """A deal week's error grows with its lift: the promoted forecasts' factor is measured on the
    calibration window's own errors, so promoted and ordinary periods both keep the nominal coverage."""
    rng = np.random.default_rng(12)
    H = 12
    y, yhat, lead, promoted = _marked_errors(rng, 20_000, H, share=0.4, widen=2.0)
    dist = Conformal.fit(y, yhat, lead, H, 0.8, promoted=promoted)
    assert dist is not None and 1.7 < dist.promoted_factor < 2.3 and dist.special_factor == 1.0
    y2, yhat2, lead2, promoted2 = _marked_errors(rng, 20_000, H, share=0.4, widen=2.0)
    lo, hi = dist.interval(yhat2, lead2, promoted=promoted2)
    inside = (y2 >= lo) & (y2 <= hi)
    assert 0.77 <= inside[promoted2].mean() <= 0.83 and 0.77 <= inside[~promoted2].mean() <= 0.83
    plain = Conformal.fit(y, yhat, lead, H, 0.8)
    assert plain is not None
    lo, hi = plain.interval(yhat2, lead2)
    assert ((y2 >= lo) & (y2 <= hi))[promoted2].mean() < 0.72  # one band for both under-covers deals
    assert Conformal.from_dict(dist.to_dict()) == dist
    old = {k: v for k, v in dist.to_dict().items() if k != "promoted_factor"}
    assert Conformal.from_dict(old).promoted_factor == 1.0


def test_the_special_factor_needs_enough_of_both_and_is_bounded():
    abs_r = np.ones(1000)
    few = np.zeros(1000, dtype=bool)
    few[:50] = True
    assert special_factor_of(abs_r * np.where(few, 5, 1), few) == 1.0  # 50 special errors: not measured
    many = np.arange(1000) < 500
    assert special_factor_of(np.where(many, 0.5, 1.0), many) == 1.0  # calmer holidays keep the band
    assert special_factor_of(np.where(many, 50.0, 1.0), many) == MAX_SPECIAL_FACTOR


def test_special_periods_follow_the_calendar_and_the_frequency():
    days = _grid(np.zeros((1, 10)), start="2025-11-24")
    # Black Friday 2025 is the 28th: its weekend through Cyber Monday, then December's Christmas ramp
    assert special_periods(days, np.arange(10)).tolist() == [False] * 4 + [True] * 6
    days.calendar = BusinessCalendar(retail_events="none", country="GB")
    assert not special_periods(days, np.arange(10)).any()
    # a week is special when one of its days is: the week ending Sunday 2025-12-28 holds Christmas
    weeks = _grid(np.zeros((1, 4)), start="2025-12-14", frequency="W-SUN")
    weeks.calendar = BusinessCalendar(retail_events="none", country="GB")
    assert special_periods(weeks, np.array([0, 1, 2, 3, 1])).tolist() == [False, False, True, True, False]


def _grid(Y: np.ndarray, start: str = "2025-01-01", frequency: str = "D") -> DenseGrid:
    P, D = Y.shape
    return DenseGrid(
        series=np.array([f"s{i}" for i in range(P)]),
        category=np.array(["c"] * P, dtype=object),
        start=np.datetime64(start),
        Y=Y.astype(np.float32),
        price=np.full((P, D), np.nan),
        discount=np.full((P, D), np.nan),
        first=np.zeros(P, dtype=np.int64),
        selling_days=(Y > 0).sum(axis=1),
        frequency=parse_frequency(frequency),
    )


def test_the_objective_follows_the_demand_pattern():
    rng = np.random.default_rng(1)
    smooth = _grid(rng.poisson(6.0, (50, 400)))
    lumpy = _grid(rng.poisson(6.0, (50, 400)) * (rng.random((50, 400)) < 0.2))
    everyone = np.arange(50)
    auto = TrainConfig()
    assert objective_for(auto, smooth, everyone, 399) == "poisson"
    assert objective_for(auto, lumpy, everyone, 399) == "tweedie"  # sells on 1 day in 5
    assert objective_for(TrainConfig(negative_values="keep"), smooth, everyone, 399) == "l2"
    assert objective_for(TrainConfig(objective="l2"), lumpy, everyone, 399) == "l2"
    # a small boosting budget keeps squared error: the log-link losses would not converge in it
    assert objective_for(TrainConfig(n_estimators=40), lumpy, everyone, 399) == "l2"
    assert objective_for(TrainConfig(n_estimators=40, objective="tweedie"), lumpy, everyone, 399) == "tweedie"


@pytest.mark.training
def test_a_model_measures_its_special_factor_and_widens_those_days():
    """Event days (the business's own calendar) as noisy as a promotion nobody announced: the model's
    special factor says so, and a forecast for an event day gets the wider band."""
    from matih.forecast.features import FeatureContext
    from matih.forecast.fit import fit_forecaster

    rng = np.random.default_rng(4)
    P, D = 120, 700
    events = np.zeros(D, dtype=bool)
    events[rng.choice(D, D // 12, replace=False)] = True
    noise = np.where(events, rng.gamma(1.5, 1 / 1.5, (P, D)), 1.0)
    grid = _grid(rng.poisson(20.0 * noise))
    dates = grid.start + np.nonzero(events)[0].astype("timedelta64[D]")
    grid.calendar = BusinessCalendar(retail_events="none", events=tuple(str(d) for d in dates))
    model, _ = fit_forecaster(FeatureContext.build(grid), TrainConfig(n_estimators=30, learning_rate=0.1))
    dist = model.conformal["c"]
    assert dist.special_factor > 1.3
    fc = model.predict(FeatureContext.build(grid), D - 15)
    width = fc.upper - fc.lower
    special = special_periods(grid, D - 15 + fc.horizon)
    assert special.any() and (~special).any()
    assert np.median(width[special]) > 1.25 * np.median(width[~special])

    # a calendar that singles out no day measures nothing
    grid.calendar = BusinessCalendar(retail_events="none")
    plain, _ = fit_forecaster(FeatureContext.build(grid), TrainConfig(n_estimators=30, learning_rate=0.1))
    assert plain.conformal["c"].special_factor == 1.0
