"""The paired bootstrap finds a real improvement and does not find one in noise."""

from __future__ import annotations

import numpy as np

from matih.experiment.significance import paired_bootstrap


def _rows(series: int = 200, leads: int = 14, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(series), leads)
    level = np.repeat(rng.gamma(2.0, 5.0, series), leads)
    actual = rng.poisson(level).astype(float)
    return rng, ids, level, actual


def test_a_better_forecast_is_significant():
    rng, ids, level, actual = _rows()
    baseline = level * rng.choice([0.6, 1.4], len(level))  # biased both ways: 40% off
    better = level * rng.choice([0.85, 1.15], len(level))
    test = paired_bootstrap(ids, actual, baseline, better, resamples=1000)
    assert test.improvement > 0.2
    assert test.significant(0.05)
    assert test.low > 0


def test_noise_is_not_significant():
    rng, ids, level, actual = _rows(seed=1)
    one = level * rng.choice([0.8, 1.2], len(level))
    two = level * rng.choice([0.8, 1.2], len(level))  # the same quality, different draws
    test = paired_bootstrap(ids, actual, one, two, resamples=1000)
    assert not test.significant(0.05)
    assert test.low < 0 < test.high


def test_a_worse_challenger_is_never_significant():
    _, ids, level, actual = _rows(seed=2)
    test = paired_bootstrap(ids, actual, level, level * 1.5, resamples=500)
    assert test.improvement < 0 and not test.significant(0.05) and test.p_value > 0.9


def test_a_route_needs_the_win_on_most_cutoffs_not_only_a_pooled_one():
    """A win significant over the pooled rows but made on one cutoff of two does not route (OJ's brand 5:
    the LSTM lost the first cutoff and won the second by 38%)."""
    from matih.experiment.runner import ExperimentReport
    from matih.specs.experiment import RouteRule

    won = {"family": "lstm", "significant": True, "improvement": 0.2, "p_value": 0.001}
    report = ExperimentReport(
        experiment="x",
        baseline="lightgbm",
        families=["lightgbm", "lstm"],
        cutoffs=["2026-01-01", "2026-01-15"],
        holdout_periods=14,
        categories=["A", "B"],
        matrix={},
        overall={},
        winners={},
        wins={},
        significance={"A": {**won, "cutoffs_won": 1}, "B": {**won, "cutoffs_won": 2}},
        per_cutoff={},
        fit_seconds={},
        predict_seconds={},
        ensemble={},
    )
    assert report.routes() == {"B": "lstm"}
    report.cutoffs_won = "any"
    assert report.routes() == {"A": "lstm", "B": "lstm"}
    rule = RouteRule()
    assert [rule.consistent(k, 3) for k in range(4)] == [False, False, True, True]
    assert not RouteRule(cutoffs_won="all").consistent(2, 3)
