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
