"""``prediction_quality``: the checks a batch of forecasts must pass before it replaces the live table.

The seed's three checks, each the share of something that passes, against its ``threshold``:

- ``coverage``: active products (a sale in the last 28 periods of the dataset) with a finite forecast
  for every period of the horizon;
- ``non_negative``: forecasts that are finite and at least 0;
- ``range_check``: forecasts at most N times the product's largest actual so far (N from the check's
  description, "No prediction > 10x historical max"; 10 when it names none; a product that never sold
  counts its maximum as 1).

A rollout runs them on the green batch before the swap (:func:`matih.serving.deployments.rollout`): a
batch that fails one is not published and the previous table stays as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from matih.forecast.grid import DenseGrid
from matih.monitoring.accuracy import series_rows
from matih.specs import load_spec
from matih.specs.monitor import MonitorSpec, PredictionQualityCheck, PredictionQualityMonitor
from matih.workspace import Workspace

__all__ = ["CheckResult", "check_batch", "failed", "prediction_checks"]

ACTIVE_PERIODS = 28
_FACTOR = re.compile(r"(\d+(?:\.\d+)?)\s*x", re.IGNORECASE)


@dataclass(frozen=True)
class CheckResult:
    name: str
    share: float
    """The share that passes (1.0: all of them)."""
    threshold: float
    failing: int
    detail: str

    @property
    def passed(self) -> bool:
        return self.share >= self.threshold

    def line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return f"{self.name}: {self.share:.2%} (threshold {self.threshold:.0%}) {verdict}: {self.detail}"


def prediction_checks(ws: Workspace) -> list[PredictionQualityCheck]:
    """Every ``prediction_quality`` check of the workspace's monitor specs."""
    checks: list[PredictionQualityCheck] = []
    for path in sorted((ws.root / "monitors").glob("*.json")):
        spec = load_spec(path)
        if isinstance(spec, MonitorSpec):
            for monitor in spec.monitors:
                if isinstance(monitor, PredictionQualityMonitor):
                    checks += monitor.checks
    return checks


def check_batch(batch: pa.Table, grid: DenseGrid, checks: list[PredictionQualityCheck]) -> list[CheckResult]:
    """Run ``checks`` on a batch forecast table against the dataset it was forecast from."""
    predicted = batch.column("predicted_units").to_numpy(zero_copy_only=False).astype(np.float64)
    finite = np.isfinite(predicted)
    product = series_rows(grid, batch.column("product_id"))
    results = []
    for check in checks:
        if check.name == "coverage":
            results.append(_coverage(check, grid, product, finite, batch))
        elif check.name == "non_negative":
            ok = finite & (np.nan_to_num(predicted) >= 0)
            bad = int((~ok).sum())
            results.append(
                CheckResult(check.name, _share(ok), check.threshold, bad, f"{bad:,} negative or missing")
            )
        elif check.name == "range_check":
            factor = float(m.group(1)) if (m := _FACTOR.search(check.description or "")) else 10.0
            top = np.nanmax(np.where(np.isnan(grid.Y), -np.inf, grid.Y), axis=1)
            limit = factor * np.maximum(np.where(np.isfinite(top), top, 0.0), 1.0)
            known = product >= 0
            ok = finite.copy()
            ok[known] &= predicted[known] <= limit[product[known]]
            bad = int((~ok).sum())
            results.append(
                CheckResult(
                    check.name,
                    _share(ok),
                    check.threshold,
                    bad,
                    f"{bad:,} above {factor:g}x the history's max",
                )
            )
    return results


def _coverage(
    check: PredictionQualityCheck, grid: DenseGrid, product: np.ndarray, finite: np.ndarray, batch: pa.Table
) -> CheckResult:
    recent = np.nan_to_num(grid.Y[:, max(0, grid.n_days - ACTIVE_PERIODS) :])
    active = np.nonzero((recent > 0).any(axis=1))[0]
    steps = len(np.unique(batch.column("horizon").to_numpy())) if batch.num_rows else 0
    known = product >= 0
    rows = np.bincount(product[known & finite], minlength=len(grid.series))
    covered = rows[active] >= max(steps, 1)
    missing = int((~covered).sum())
    share = float(covered.mean()) if len(active) else 1.0
    example = ", ".join(str(s) for s in grid.series[active[~covered][:3]])
    return CheckResult(
        check.name,
        share,
        check.threshold,
        missing,
        f"{missing:,} of {len(active):,} active products without a full forecast"
        + (f" (e.g. {example})" if missing else ""),
    )


def _share(ok: np.ndarray) -> float:
    return float(ok.mean()) if len(ok) else 1.0


def failed(results: list[CheckResult]) -> list[CheckResult]:
    return [r for r in results if not r.passed]
