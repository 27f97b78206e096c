from __future__ import annotations

import numpy as np
import pytest

from matih.forecast import metrics as M


def test_mape_is_volume_weighted_and_defined_with_zero_days():
    y = np.array([0.0, 10.0, 100.0])
    yhat = np.array([1.0, 12.0, 90.0])
    assert M.mape(y, yhat) == pytest.approx((1 + 2 + 10) / 110)
    assert M.bias(y, yhat) == pytest.approx((103 - 110) / 110)
    assert M.rmse(y, yhat) == pytest.approx(np.sqrt((1 + 4 + 100) / 3))
    assert M.coverage(y, yhat - 1.5, yhat + 1.5) == pytest.approx(1 / 3)
    assert np.isnan(M.mape(np.zeros(3), np.ones(3)))


def test_weighted_quantile_loss():
    y = np.array([0.0, 10.0, 100.0])
    yhat = np.array([1.0, 12.0, 90.0])
    # quantiles all at the point forecast: over levels symmetric about the median, wQL is the WAPE
    assert M.wql(y, np.repeat(yhat[:, None], 9, axis=1)) == pytest.approx(M.wape(y, yhat))
    # a band that holds the actual loses less than the point forecast alone
    band = np.stack([yhat + (q - 0.5) * 30 for q in M.WQL_LEVELS], axis=1)
    assert M.wql(y, band) < M.wape(y, yhat)
    assert M.wql(y, np.repeat(y[:, None], 9, axis=1)) == 0.0


def test_hyperparameters_name_quantile_columns_and_refuse_impossible_objectives():
    from pydantic import ValidationError

    from matih.specs.tasks import Hyperparameters, quantile_column

    base = {"model_type": "lightgbm", "forecast_horizon": 14}
    hp = Hyperparameters.model_validate({**base, "quantiles": [0.9, 0.025, 0.5]})
    assert [quantile_column(q) for q in hp.quantiles] == ["p2_5", "p50", "p90"]
    with pytest.raises(ValidationError, match="distinct"):
        Hyperparameters.model_validate({**base, "quantiles": [0.5, 0.5]})
    with pytest.raises(ValidationError, match="quantiles"):
        Hyperparameters.model_validate({**base, "quantiles": [1.5]})
    with pytest.raises(ValidationError, match="objective") as refused:
        Hyperparameters.model_validate({**base, "negative_values": "keep", "objective": "poisson"})
    assert "'l2'" in str(refused.value)


def test_gate_config_reads_the_seed_task():
    from matih.forecast.config import GateConfig
    from matih.specs.tasks import ModelEvaluateConfig

    seed = ModelEvaluateConfig.model_validate(
        {
            "validation_window": "14d",
            "metrics": ["mape", "rmse", "bias"],
            "thresholds": {"mape_max": 0.15, "bias_range": [-0.05, 0.05]},
            "fail_on_threshold_breach": True,
            "holdout_split": "last_14_days",
        }
    )
    assert GateConfig.from_spec(seed) == GateConfig(holdout_days=14, mape_max=0.15, bias_range=(-0.05, 0.05))
    # the spec parses holdout_split once; thresholds it leaves out keep the gate's defaults
    weekly = ModelEvaluateConfig.model_validate(
        {
            "validation_window": "7d",
            "metrics": ["coverage"],
            "thresholds": {"coverage_min": 0.75},
            "holdout_split": "last_7_days",
            "fail_on_threshold_breach": False,
        }
    )
    assert weekly.holdout_days == 7
    assert GateConfig.from_spec(weekly) == GateConfig(
        holdout_days=7, coverage_min=0.75, fail_on_threshold_breach=False
    )
