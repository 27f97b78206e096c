"""Which training rows a model fits on when its series offer more rows than its budget.

Each row's loss is weighted by its series' scale (``build_features``): a product selling 500 a day
weighs 5,000 times one selling 0.1 a day. Drawn uniformly, most of the budget goes to rows that barely
move the loss. So rows are drawn with a probability that grows with their series' level (capped at 1:
the best sellers keep every row), mixed with a uniform share so that no series is left out, and each
drawn row's weight is divided by the probability it had (Horvitz and Thompson's estimator). The expected
loss is that of all the candidate rows, as with a uniform draw; for the same budget its variance is
smaller. At the seed's scale 100,000 rows per model drawn this way fit as well as 200,000 drawn
uniformly, in half the time (benchmarks/RESULTS.md, "Rows per model").
"""

from __future__ import annotations

import numpy as np

#: share of the budget drawn uniformly: a floor under every series' probability, so that a slow seller's
#: drawn row never carries more than 1 / (UNIFORM_SHARE x the uniform rate) of its weight
UNIFORM_SHARE = 0.2


def inclusion_probabilities(
    counts: np.ndarray, level: np.ndarray, budget: int, uniform_share: float = UNIFORM_SHARE
) -> np.ndarray:
    """Per series, the probability each of its ``counts`` candidate rows is drawn, so that ``budget``
    rows are expected: ``uniform_share`` of them uniformly, the rest in proportion to ``level`` (> 0)
    with no probability above 1. All ones when the candidates fit in the budget."""
    counts = np.asarray(counts, dtype=np.float64)
    level = np.asarray(level, dtype=np.float64)
    total = counts.sum()
    if total <= budget:
        return np.ones(len(counts))
    if np.any(level <= 0):
        raise ValueError("levels must be positive")
    # the proportional part: min(1, c * level) summing to the budget; c by bisection on a log scale
    # (the sum is increasing in c), keeping the lower end so the expected rows never exceed the budget
    low, high = budget / float((counts * level).sum()), budget / float(counts[counts > 0].min() * level.min())
    for _ in range(60):
        mid = np.sqrt(low * high)
        if float((counts * np.minimum(1.0, mid * level)).sum()) > budget:
            high = mid
        else:
            low = mid
    proportional = np.minimum(1.0, low * level)
    return (1 - uniform_share) * proportional + uniform_share * (budget / total)
