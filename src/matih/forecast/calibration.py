"""Split-conformal uncertainty: each model's residual distribution, by lead time.

A model's out-of-sample errors are measured on the calibration window (periods the model never trained
on, forecast from origins inside the window exactly as production forecasts are made). Each error is
normalised twice before its quantiles are taken:

- by ``sqrt(|forecast| + 1)``: count noise grows with the level, so a big seller's error is worth less;
- by a lead-time factor: forecasts further ahead err more. The factor is a straight line in the lead,
  fitted to the mean normalised error per lead and never decreasing; a line, because one window holds
  too few errors per lead for a free curve (per-lead quantiles measured alone made coverage worse).

- on the calendar's special periods (holidays, retail events: :meth:`BusinessCalendar.special`), by the
  model's special factor: how much more it errs on them than on ordinary periods. A calibration window
  rarely holds a holiday, so the factor is measured on the model's forecasts over the year before it.
  Those forecasts are in sample, so only the ratio of their errors is used, not their size. In sample
  the ratio understates: on the NovaMart demo it is about 1.1 pooled, against 1.34 on the holdout's
  Black Friday and Christmas-ramp days.

Quantiles are then pooled over every lead, so each is estimated from the whole window. A forecast's
quantile ``q`` is ``forecast + Q(q) * sqrt(|forecast| + 1) * factor(lead) * special``, where
``special`` is the special factor on a special period and 1 otherwise; the interval's bounds use the
finite-sample correction of split conformal prediction (Vovk et al.; Lei et al. 2018), so on
exchangeable data they cover at least the nominal level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from matih.forecast.groups import group_rows

#: the quantile levels every model stores; any other level in between is interpolated
LEVELS = np.round(np.arange(1, 100) / 100, 2)
#: fewer out-of-sample errors than this and a model borrows the fallback's distribution
MIN_ERRORS = 20
#: fewer forecasts for special periods (or ordinary ones) than this and no special factor is measured
MIN_SPECIAL = 200
#: a special factor beyond this would say more about a few outliers than about the calendar
MAX_SPECIAL_FACTOR = 3.0


def spread(yhat: np.ndarray) -> np.ndarray:
    return np.sqrt(np.abs(yhat) + 1.0)


@dataclass(frozen=True)
class Conformal:
    """One model's calibrated residual distribution."""

    lower: float
    upper: float
    """The interval's bounds as normalised residuals (finite-sample corrected)."""
    values: tuple[float, ...]
    """Normalised residual quantiles at :data:`LEVELS`."""
    lead_factor: tuple[float, ...]
    """Spread multiplier per lead (1-based), mean 1 over the horizon."""
    errors: int = 0
    special_factor: float = 1.0
    """Spread multiplier on the calendar's special periods (1: none measured, or they err no more)."""
    promoted_factor: float = 1.0
    """Spread multiplier on periods with a declared promotion, advertising or event on, measured on the
    calibration window itself (1: none declared, too few, or they err no more)."""

    @classmethod
    def fit(
        cls,
        y: np.ndarray,
        yhat: np.ndarray,
        lead: np.ndarray,
        horizon: int,
        level: float,
        special: np.ndarray | None = None,
        special_factor: float = 1.0,
        promoted: np.ndarray | None = None,
    ) -> Conformal | None:
        """From out-of-sample actuals and forecasts (``lead`` in periods, ``special`` marking forecasts
        for a special period, ``promoted`` those with a declared promotion on); ``None`` with too few.
        Promoted periods are frequent enough to be measured on the window itself (a deal week's error
        grows with the lift, not with the square root of the forecast): their normalised errors are
        divided by how much larger they are, so they share one distribution with the others."""
        if len(y) < MIN_ERRORS:
            return None
        r = (np.asarray(y, np.float64) - yhat) / spread(yhat) / _special(special, special_factor)
        promoted_factor = 1.0
        if promoted is not None:
            promoted_factor = special_factor_of(np.abs(r), promoted)
            r = r / _special(promoted, promoted_factor)
        factor = _lead_factor(np.abs(r), lead, horizon)
        z = r / factor[np.clip(lead, 1, horizon) - 1]
        n = len(z)
        alpha = (1.0 - level) / 2.0
        lo_q = max(0.0, np.floor(alpha * (n + 1)) / n)
        hi_q = min(1.0, np.ceil((1 - alpha) * (n + 1)) / n)
        return cls(
            lower=float(np.quantile(z, lo_q)),
            upper=float(np.quantile(z, hi_q)),
            values=tuple(float(v) for v in np.quantile(z, LEVELS)),
            lead_factor=tuple(float(f) for f in factor),
            errors=n,
            special_factor=float(special_factor),
            promoted_factor=float(promoted_factor),
        )

    def _scale(
        self, yhat: np.ndarray, lead: np.ndarray, special: np.ndarray | None, promoted: np.ndarray | None
    ) -> np.ndarray:
        factor = np.asarray(self.lead_factor)
        lead_part = factor[np.clip(lead, 1, len(factor)) - 1]
        marks = _special(special, self.special_factor) * _special(promoted, self.promoted_factor)
        return spread(yhat) * lead_part * marks

    def interval(
        self,
        yhat: np.ndarray,
        lead: np.ndarray,
        special: np.ndarray | None = None,
        promoted: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        s = self._scale(yhat, lead, special, promoted)
        return yhat + self.lower * s, yhat + self.upper * s

    def quantile(
        self,
        q: float,
        yhat: np.ndarray,
        lead: np.ndarray,
        special: np.ndarray | None = None,
        promoted: np.ndarray | None = None,
    ) -> np.ndarray:
        return yhat + float(np.interp(q, LEVELS, self.values)) * self._scale(yhat, lead, special, promoted)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lower": self.lower,
            "upper": self.upper,
            "values": list(self.values),
            "lead_factor": list(self.lead_factor),
            "errors": self.errors,
            "special_factor": self.special_factor,
            "promoted_factor": self.promoted_factor,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Conformal:
        return cls(
            raw["lower"],
            raw["upper"],
            tuple(raw["values"]),
            tuple(raw["lead_factor"]),
            int(raw.get("errors", 0)),
            float(raw.get("special_factor", 1.0)),  # models saved before it: none measured
            float(raw.get("promoted_factor", 1.0)),
        )


def uncalibrated(level: float) -> Conformal:
    """For a model no forecast could calibrate (too few series): a unit normal, so it is at least
    usable, with the band at ``level``."""
    from statistics import NormalDist

    unit = NormalDist()
    values = tuple(unit.inv_cdf(q) for q in LEVELS)
    alpha = (1.0 - level) / 2.0
    return Conformal(unit.inv_cdf(alpha), unit.inv_cdf(1 - alpha), values, (1.0,))


def _special(special: np.ndarray | None, factor: float) -> np.ndarray | float:
    if special is None or factor == 1.0:
        return 1.0
    return np.where(special, factor, 1.0)


def special_factor_of(abs_r: np.ndarray, special: np.ndarray) -> float:
    """How much more forecasts for special periods err than the others (mean absolute normalised error),
    at least 1 and at most :data:`MAX_SPECIAL_FACTOR`; 1 with fewer than :data:`MIN_SPECIAL` of either."""
    if special.sum() < MIN_SPECIAL or (~special).sum() < MIN_SPECIAL:
        return 1.0
    ordinary = float(abs_r[~special].mean())
    if ordinary <= 0:
        return 1.0
    return float(np.clip(abs_r[special].mean() / ordinary, 1.0, MAX_SPECIAL_FACTOR))


def _lead_factor(abs_r: np.ndarray, lead: np.ndarray, horizon: int) -> np.ndarray:
    """How much more a forecast ``h`` periods ahead errs than the average one: a non-decreasing line."""
    leads = np.arange(1, horizon + 1)
    counts = np.bincount(np.clip(lead, 1, horizon), minlength=horizon + 1)[1:]
    sums = np.bincount(np.clip(lead, 1, horizon), weights=abs_r, minlength=horizon + 1)[1:]
    seen = counts > 0
    if seen.sum() < 2 or sums.sum() == 0:
        return np.ones(horizon)
    mean = sums[seen] / counts[seen]
    slope, intercept = np.polyfit(leads[seen], mean, 1, w=np.sqrt(counts[seen]))
    line = intercept + max(slope, 0.0) * leads
    line = np.clip(line, 0.25 * line.max(), None)
    return line / line.mean()


#: the model name of a family's answer for series its own per-category models do not take
FALLBACK = "fallback"


class Calibrated:
    """What every model family shares: split-conformal intervals and quantiles per model name (a
    category's model, or :data:`FALLBACK`), calibrated on forecasts the model made out of sample."""

    level: float
    horizon: int
    nonnegative: bool
    quantile_levels: tuple[float, ...]
    conformal: dict[str, Conformal]

    def uncertainty(
        self,
        yhat: np.ndarray,
        model_of: np.ndarray,
        lead: np.ndarray,
        levels: tuple[float, ...] | None = None,
        special: np.ndarray | None = None,
        promoted: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each row's interval bounds and quantiles at ``levels`` (default: the model's own), from its
        model's calibrated distribution (the fallback's for a model too small to calibrate); ``special``
        marks rows forecasting a special period of the calendar
        (:func:`~matih.forecast.features.special_periods`), ``promoted`` those with a declared promotion
        on (:func:`~matih.forecast.features.promoted_cells`)."""
        levels = self.quantile_levels if levels is None else levels
        lower, upper = np.zeros(len(yhat)), np.zeros(len(yhat))
        quantiles = np.zeros((len(yhat), len(levels)))
        default = self.conformal.get(FALLBACK) or uncalibrated(self.level)
        names, inverse = group_rows(model_of)
        for i, name in enumerate(names):
            rows = inverse == i
            dist = self.conformal.get(str(name), default)
            marks = None if special is None else special[rows]
            on = None if promoted is None else promoted[rows]
            lower[rows], upper[rows] = dist.interval(yhat[rows], lead[rows], marks, on)
            for j, q in enumerate(levels):
                quantiles[rows, j] = dist.quantile(q, yhat[rows], lead[rows], marks, on)
        if self.nonnegative:
            return np.clip(lower, 0.0, None), np.clip(upper, 0.0, None), np.clip(quantiles, 0.0, None)
        return lower, upper, quantiles

    def calibrate(
        self,
        name: str,
        y: np.ndarray,
        yhat: np.ndarray,
        lead: np.ndarray,
        special: np.ndarray | None = None,
        special_factor: float = 1.0,
        promoted: np.ndarray | None = None,
    ) -> None:
        """Calibrate ``name``'s intervals and quantiles from out-of-sample forecasts ``lead`` ahead
        (``special`` marking those for special periods, which err ``special_factor`` times more;
        ``promoted`` those with a declared promotion on)."""
        dist = Conformal.fit(y, yhat, lead, self.horizon, self.level, special, special_factor, promoted)
        if dist is not None:
            self.conformal[name] = dist
