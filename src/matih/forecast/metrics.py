"""One definition of every metric (DESIGN.md): errors are weighted by volume, never per row.

``mape`` is sum|y - yhat| / sum|y| over a group: per-row percentage errors are undefined on the zero-sales
days a dense grid contains, and would let slow sellers dominate.
"""

from __future__ import annotations

import numpy as np


def wape(y: np.ndarray, yhat: np.ndarray) -> float:
    """Weighted absolute percentage error; MATIH's ``mape``."""
    denom = float(np.abs(y).sum())
    return float(np.abs(y - yhat).sum() / denom) if denom > 0 else float("nan")


mape = wape


def rmse(y: np.ndarray, yhat: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - yhat) ** 2))) if len(y) else float("nan")


def bias(y: np.ndarray, yhat: np.ndarray) -> float:
    """(sum(yhat) - sum(y)) / sum(y): positive means over-forecasting."""
    denom = float(np.sum(y))
    return float((np.sum(yhat) - denom) / denom) if denom > 0 else float("nan")


def coverage(y: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    return float(np.mean((y >= lower) & (y <= upper))) if len(y) else float("nan")


def pinball(y: np.ndarray, q_pred: np.ndarray, q: float) -> float:
    diff = y - q_pred
    return float(np.mean(np.maximum(q * diff, (q - 1) * diff)))


#: the quantile levels the gate scores a forecast's distribution at (GluonTS' mean wQL uses the same)
WQL_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def wql(y: np.ndarray, quantiles: np.ndarray, levels: tuple[float, ...] = WQL_LEVELS) -> float:
    """Weighted quantile loss, averaged over ``levels``: 2 * sum of pinball losses / sum|y| per level
    (``quantiles`` is rows x levels). 0 is perfect; a point forecast scores its WAPE at the median."""
    denom = float(np.abs(y).sum())
    if denom == 0 or not len(levels):
        return float("nan")
    diff = y[:, None] - quantiles
    q = np.asarray(levels)[None, :]
    loss = np.maximum(q * diff, (q - 1) * diff).sum(axis=0)
    return float(np.mean(2 * loss / denom))
