"""Vectorised helpers the NovaMart generator uses on its (products x days) matrices.

They are shared by the cutting of order lines (:mod:`matih.sandbox.orders`) and the web sessions
(:mod:`matih.sandbox.generator`); both run over tens of millions of cells at seed scale, so each helper
trades exactness nobody could see for a large constant factor.
"""

from __future__ import annotations

import numpy as np

__all__ = ["approx_binomial", "day_major"]


def day_major(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(product, day) of the non-zero cells, ordered by day then product.

    ``nonzero`` walks memory order, so it runs on a day-major copy: one transpose is far cheaper than
    sorting tens of millions of cells afterwards.
    """
    d, p = np.nonzero(np.ascontiguousarray(matrix.T))
    return p, d


def approx_binomial(
    rng: np.random.Generator, n: np.ndarray, p: float, *, low: np.ndarray | int, high: np.ndarray | int
) -> np.ndarray:
    """Binomial(n, p) by its normal approximation, clipped to [low, high]: ten times faster than exact
    draws on tens of millions of cells, and indistinguishable at these counts."""
    z = rng.standard_normal(len(n), dtype=np.float32)
    draw = np.rint(n * p + np.sqrt(n * p * (1 - p)) * z)
    return np.clip(draw, low, high).astype(np.int32)
