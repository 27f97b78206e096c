"""Is a family's lower MAPE real? A paired bootstrap over series.

Volume-weighted MAPE is ``sum |error| / sum actual``; two families scored on the same rows share the
denominator, so the difference is carried by each series' summed absolute errors. A resample draws
series with replacement and keeps each one's every cutoff and lead together (errors of one series at
nearby leads and origins are correlated; series are closer to independent), then recomputes both MAPEs.
The one-sided p-value is the share of resamples in which the challenger is not better. Resampling whole
series rather than rows keeps the test honest about how many independent units there are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Comparison", "paired_bootstrap"]


@dataclass(frozen=True)
class Comparison:
    baseline_mape: float
    challenger_mape: float
    improvement: float
    """Relative: 1 - challenger / baseline (0.15 is 15% lower MAPE)."""
    p_value: float
    low: float
    high: float
    """A 90% bootstrap interval of the improvement."""
    series: int

    def significant(self, alpha: float) -> bool:
        return self.p_value < alpha and self.improvement > 0


def paired_bootstrap(
    series: np.ndarray,
    actual: np.ndarray,
    baseline: np.ndarray,
    challenger: np.ndarray,
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Compare two forecasts of the same rows (``series`` names each row's series)."""
    ids, index = np.unique(series, return_inverse=True)
    n = len(ids)
    y = np.bincount(index, weights=np.abs(actual), minlength=n)
    eb = np.bincount(index, weights=np.abs(actual - baseline), minlength=n)
    ec = np.bincount(index, weights=np.abs(actual - challenger), minlength=n)
    base = eb.sum() / y.sum() if y.sum() > 0 else float("nan")
    chal = ec.sum() / y.sum() if y.sum() > 0 else float("nan")
    if n < 2 or not np.isfinite(base) or base == 0:
        return Comparison(base, chal, 0.0, 1.0, float("nan"), float("nan"), n)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(resamples, n))
    yb = y[draws].sum(axis=1)
    ok = yb > 0
    gain = 1.0 - ec[draws].sum(axis=1)[ok] / np.maximum(eb[draws].sum(axis=1)[ok], 1e-12)
    p = float((np.sum(gain <= 0) + 1) / (len(gain) + 1))
    low, high = np.quantile(gain, [0.05, 0.95])
    return Comparison(float(base), float(chal), float(1 - chal / base), p, float(low), float(high), n)
