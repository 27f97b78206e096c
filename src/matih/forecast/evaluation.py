"""Validation, the library call behind ``matih evaluate`` and the ``model_evaluate`` task: back-test a
registered version on the last ``holdout_days``, score it per category against the gate, compare it with
reference forecasters on the same rows, record the verdict in MLflow and promote a version that passes.

The seasonal-naive reference is computed here; other references come from the installed providers
(see :mod:`matih.forecast.references`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matih.exceptions import TrainingError, ValidationGateError
from matih.forecast import metrics as M
from matih.forecast.config import GateConfig, TrainConfig
from matih.forecast.dataset import load_features
from matih.forecast.features import FeatureContext, promoted_cells, special_periods
from matih.forecast.frequency import Frequency
from matih.forecast.grid import DenseGrid
from matih.forecast.model import Forecast, Forecaster
from matih.forecast.references import Holdout, reference_scores
from matih.forecast.registry import RegisteredForecaster, Registry, metric_key
from matih.workspace import Workspace

__all__ = ["EvaluationReport", "GroupMetrics", "enforce_gate", "evaluate", "report_from_dict"]


@dataclass
class GroupMetrics:
    name: str
    mape: float
    rmse: float
    bias: float
    coverage: float
    actual_units: float
    status: str = ""
    wql: float = float("nan")
    """Weighted quantile loss over the deciles (:func:`matih.forecast.metrics.wql`)."""


@dataclass
class EvaluationReport:
    version: int
    label: str
    holdout_start: str
    holdout_end: str
    per_category: list[GroupMetrics]
    overall: GroupMetrics
    seasonal_naive_mape: float
    passed: bool
    promoted: bool
    reasons: list[str] = field(default_factory=list)
    rows: int = 0
    references: dict[str, float] = field(default_factory=dict)
    """Reference MAPEs on the same holdout from the installed providers, by name (empty when none had
    anything to say, e.g. data that did not come from the sandbox)."""

    def to_dict(self) -> dict[str, Any]:
        """The report as a pipeline task returns it and ``reports/demo.json`` holds it. Each reference is
        also written at the top level beside ``overall_mape`` (``report["noise_floor_mape"]``), so a
        reader compares figures from one flat record."""
        report = {
            "model_version": self.label,
            "holdout": [self.holdout_start, self.holdout_end],
            "overall_mape": self.overall.mape,
            "overall_rmse": self.overall.rmse,
            "overall_bias": self.overall.bias,
            "interval_coverage": self.overall.coverage,
            "overall_wql": self.overall.wql,
            "seasonal_naive_mape": self.seasonal_naive_mape,
            "references": dict(self.references),
            "passed": self.passed,
            "promoted": self.promoted,
            "reasons": self.reasons,
            "rows": self.rows,
            "per_category": [
                {
                    "name": g.name,
                    "mape": g.mape,
                    "rmse": g.rmse,
                    "bias": g.bias,
                    "coverage": g.coverage,
                    "wql": g.wql,
                    "status": g.status,
                }
                for g in self.per_category
            ],
        }
        return {**{k: v for k, v in self.references.items() if k not in report}, **report}


def report_from_dict(raw: dict[str, Any]) -> EvaluationReport:
    """The report :meth:`EvaluationReport.to_dict` wrote (as a pipeline task returns it)."""

    def group(name: str, g: dict[str, Any]) -> GroupMetrics:
        return GroupMetrics(
            name,
            g["mape"],
            g["rmse"],
            g["bias"],
            g["coverage"],
            0.0,
            g.get("status", ""),
            g.get("wql", float("nan")),
        )

    overall = {
        "mape": raw["overall_mape"],
        "rmse": raw["overall_rmse"],
        "bias": raw["overall_bias"],
        "coverage": raw["interval_coverage"],
        "wql": raw.get("overall_wql", float("nan")),
    }
    references = raw.get("references") or {}
    return EvaluationReport(
        version=int(str(raw["model_version"]).lstrip("v")),
        label=raw["model_version"],
        holdout_start=raw["holdout"][0],
        holdout_end=raw["holdout"][1],
        per_category=[group(g["name"], g) for g in raw["per_category"]],
        overall=group("Overall", overall),
        seasonal_naive_mape=raw["seasonal_naive_mape"],
        passed=raw["passed"],
        promoted=raw["promoted"],
        reasons=list(raw["reasons"]),
        rows=int(raw.get("rows", 0)),
        references={str(k): float(v) for k, v in references.items()},
    )


def evaluate(
    workspace: Workspace,
    config: TrainConfig,
    gate: GateConfig,
    *,
    version: int | None = None,
    promote: bool = True,
    features: FeatureContext | None = None,
) -> EvaluationReport:
    """Score a registered version on the last ``holdout_days`` (zero-sales days included) and gate it;
    a version that passes becomes champion unless ``promote`` is false."""
    registry = Registry(workspace)
    version = version or registry.latest_version(config.experiment)
    ctx = features or load_features(workspace, config)
    holdout = gate.holdout_periods(ctx.grid.frequency)
    model = _candidate(registry, config.experiment, version, holdout, ctx.grid.frequency)
    backtest = _Backtest.run(model, ctx, holdout)
    per_category = [
        _group(name, backtest, backtest.categories == name, gate) for name in sorted(set(backtest.categories))
    ]
    overall = _group("Overall", backtest, np.ones(backtest.rows, dtype=bool), gate)
    reasons = _gate_reasons(overall, gate)
    grid = ctx.grid
    report = EvaluationReport(
        version=version,
        label=f"v{version}",
        holdout_start=str(grid.date_at(backtest.origin + 1)),
        holdout_end=str(grid.date_at(backtest.origin + holdout)),
        per_category=per_category,
        overall=overall,
        seasonal_naive_mape=M.mape(backtest.actual, backtest.naive),
        passed=not reasons,
        promoted=False,
        reasons=reasons,
        rows=backtest.rows,
        references=reference_scores(workspace, backtest.holdout(grid)),
    )
    registered = _record(registry, config, report, backtest, model.level)
    if report.passed and promote:
        registry.promote(registered)
        report.promoted = True
    return report


def enforce_gate(report: EvaluationReport, gate: GateConfig) -> None:
    """Raise :class:`ValidationGateError` for a failed report when the gate fails on a breach."""
    if not report.passed and gate.fail_on_threshold_breach:
        raise ValidationGateError(
            f"model {report.label} failed validation ({'; '.join(report.reasons)}); it stays registered but "
            "is not promoted, and the current champion keeps serving"
        )


# -- the steps of an evaluation ----------------------------------------------------------------------
def _candidate(
    registry: Registry, experiment: str, version: int, holdout: int, freq: Frequency
) -> Forecaster:
    """The registered version, refused when the holdout is longer than it forecasts."""
    model = registry.load(experiment, version)
    if holdout > model.horizon:
        unit = {"D": "days", "W": "weeks", "M": "months"}[freq.unit]
        raise TrainingError(
            f"holdout_split covers {holdout} {unit} but the model forecasts {model.horizon}; use "
            f"holdout_split 'last_{model.horizon}_{unit}' or raise forecast_horizon"
        )
    return model


@dataclass(frozen=True, eq=False)
class _Backtest:
    """The candidate's forecasts from the day before the holdout, one row per (series, holdout day)."""

    origin: int
    forecast: Forecast
    target: np.ndarray
    """Grid day of each row."""
    actual: np.ndarray
    categories: np.ndarray
    naive: np.ndarray
    """The seasonal-naive reference: the same weekday, a whole number of weeks before the origin."""
    deciles: np.ndarray
    """Each row's forecast quantiles at :data:`~matih.forecast.metrics.WQL_LEVELS`."""

    @classmethod
    def run(cls, model: Forecaster, ctx: FeatureContext, holdout_days: int) -> _Backtest:
        grid = ctx.grid
        origin = grid.n_days - 1 - holdout_days
        fc, actual = model.predict(ctx, origin, horizon=holdout_days).recorded(grid.Y, origin)
        target = origin + fc.horizon
        cycle = grid.frequency.cycle  # the same weekday for days; the same period last year otherwise
        same_weekday = target - cycle * ((fc.horizon + cycle - 1) // cycle)
        special = special_periods(grid, target)
        promoted = promoted_cells(grid, fc.series_index, target)
        _, _, deciles = model.uncertainty(fc.predicted, fc.model, fc.horizon, M.WQL_LEVELS, special, promoted)
        return cls(
            origin=origin,
            forecast=fc,
            target=target,
            actual=actual.astype(np.float64),
            categories=np.asarray(grid.category, dtype=object)[fc.series_index].astype(str),
            naive=np.nan_to_num(grid.Y[fc.series_index, same_weekday]),
            deciles=deciles,
        )

    @property
    def rows(self) -> int:
        return len(self.actual)

    def holdout(self, grid: DenseGrid) -> Holdout:
        """The rows as reference providers see them: series ids and calendar days, not grid indices."""
        return Holdout(
            series=grid.series[self.forecast.series_index],
            dates=grid.date_at(self.target),
            actual=self.actual,
        )


def _group(name: str, backtest: _Backtest, rows: np.ndarray, gate: GateConfig) -> GroupMetrics:
    y, fc = backtest.actual[rows], backtest.forecast
    g = GroupMetrics(
        name,
        M.mape(y, fc.predicted[rows]),
        M.rmse(y, fc.predicted[rows]),
        M.bias(y, fc.predicted[rows]),
        M.coverage(y, fc.lower[rows], fc.upper[rows]),
        float(y.sum()),
        wql=M.wql(y, backtest.deciles[rows]),
    )
    ok = g.mape <= gate.mape_max and gate.bias_range[0] <= g.bias <= gate.bias_range[1]
    g.status = "PASS" if ok else "FAIL"
    return g


def _gate_reasons(overall: GroupMetrics, gate: GateConfig) -> list[str]:
    """Why the overall figures fail the gate (nothing when they pass)."""
    reasons = []
    if overall.mape > gate.mape_max:
        reasons.append(f"overall MAPE {overall.mape:.1%} above the {gate.mape_max:.0%} threshold")
    if not gate.bias_range[0] <= overall.bias <= gate.bias_range[1]:
        reasons.append(f"overall bias {overall.bias:+.3f} outside {list(gate.bias_range)}")
    if gate.coverage_min is not None and overall.coverage < gate.coverage_min:
        reasons.append(f"interval coverage {overall.coverage:.0%} below {gate.coverage_min:.0%}")
    return reasons


def _record(
    registry: Registry, config: TrainConfig, report: EvaluationReport, backtest: _Backtest, level: float
) -> RegisteredForecaster:
    """Tag the version with the verdict and log the holdout figures to its training run."""
    version = report.version
    registered = RegisteredForecaster(
        config.experiment,
        version,
        config.fallback_name,
        registry.fallback_version_of(config.experiment, version, config.fallback_name),
        registry.run_id(config.experiment, version),
    )
    overall = report.overall
    registry.tag_version(
        config.experiment,
        version,
        {
            "validation_status": "passed" if report.passed else "failed",
            "holdout_mape": f"{overall.mape:.4f}",
            "holdout_bias": f"{overall.bias:.4f}",
        },
    )
    y, fc = backtest.actual, backtest.forecast
    registry.log_metrics(
        registered.run_id,
        {
            "holdout_mape": overall.mape,
            "holdout_rmse": overall.rmse,
            "holdout_bias": overall.bias,
            "holdout_coverage": overall.coverage,
            "holdout_wql": overall.wql,
            # the interval bounds are quantile forecasts: score them as such
            "holdout_pinball_lower": M.pinball(y, fc.lower, (1 - level) / 2),
            "holdout_pinball_upper": M.pinball(y, fc.upper, (1 + level) / 2),
            "seasonal_naive_mape": report.seasonal_naive_mape,
            **{metric_key(name): value for name, value in report.references.items()},
            **{f"holdout_mape.{metric_key(g.name)}": g.mape for g in report.per_category},
        },
    )
    registry.log_report(registered.run_id, report.to_dict())
    return registered
