"""A tracked metric's baseline: the median of its own figures over the evaluated days before a day.

The accuracy monitor's relative alerts (``baseline`` on ``accuracy_tracking``) and the retraining
trigger's relative conditions (``mape[Toys] > mape_baseline[Toys] * 1.5``) both judge a day against this
figure, so a category that is always hard to forecast is not an alarm and a change in any category is.
The median, not the mean: one bad day (or the first days of a shift) barely moves it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from matih.specs.monitor import MIN_BASELINE_DAYS

__all__ = ["baseline", "baselines"]


def baseline(values: Mapping[str, float], day: str, days: int) -> float | None:
    """The median of ``values`` (ISO date -> figure) over up to ``days`` evaluated dates before ``day``;
    None while fewer than :data:`~matih.specs.monitor.MIN_BASELINE_DAYS` of them exist."""
    before = sorted(d for d in values if d < day)[-days:]
    if len(before) < min(MIN_BASELINE_DAYS, days):
        return None
    return float(np.median([values[d] for d in before]))


def baselines(values: Mapping[str, float], days: int) -> dict[str, float | None]:
    """:func:`baseline` for every date of ``values``."""
    return {day: baseline(values, day, days) for day in values}
