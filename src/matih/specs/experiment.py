"""``experiments/<name>.json``: a model-family comparison, the seed's Stage 8 as a document.

It names the families to compare, the pipeline whose dataset and settings they train with, the metric,
the rolling origins (``cutoffs``), the warehouse table the per-forecast results go to, how a winner is
tested against the baseline, and the margin a winner needs before ``matih experiment route`` routes a
category to it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, model_validator

from matih.specs.common import Identifier, SpecModel, TableName, raise_spec_errors

__all__ = ["MODEL_FAMILIES", "Cutoffs", "ExperimentSpec", "RouteRule", "Significance"]

#: the model families MATIH trains (:mod:`matih.forecast.families`)
MODEL_FAMILIES = ("lightgbm", "lstm", "prophet", "autoets", "seasonal_naive", "croston_sba")
Family = Literal["lightgbm", "lstm", "prophet", "autoets", "seasonal_naive", "croston_sba"]


class Cutoffs(SpecModel):
    """Rolling forecast origins: ``count`` of them, ``step_days`` apart, the last at the holdout."""

    count: PositiveInt = 3
    """How many origins each family is trained and scored at."""
    step_days: PositiveInt = 14
    """Days between consecutive origins (a week's multiple for weekly data)."""


class Significance(SpecModel):
    """How a category's best family is tested against the baseline."""

    test: Literal["bootstrap"] = "bootstrap"
    """A paired bootstrap over series: each resample keeps a series' every cutoff and lead together."""
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    """A win is significant when the one-sided p-value is below this."""
    resamples: PositiveInt = 2000
    """Bootstrap resamples."""


class RouteRule(SpecModel):
    """What ``matih experiment route`` routes."""

    min_improvement: float = Field(default=0.05, ge=0, lt=1)
    """A category moves to its winner only when the winner's MAPE is at least this much lower than the
    baseline's, relatively (0.05: 5% lower), and the win is significant."""
    cutoffs_won: Literal["any", "majority", "all"] = "majority"
    """... and when the winner beat the baseline on this many of the cutoffs, each scored alone
    (``majority``: more than half). The bootstrap resamples series, so one cutoff where the winner was
    far better can make a pooled win significant; a route should hold from one origin to the next."""

    def consistent(self, won: int, cutoffs: int) -> bool:
        """Whether winning ``won`` of ``cutoffs`` cutoffs is enough."""
        return {"any": won >= 1, "majority": 2 * won > cutoffs, "all": won == cutoffs}[self.cutoffs_won]


class ExperimentSpec(SpecModel):
    """A comparison of model families on rolling-origin backtests."""

    experiment: Identifier
    """The experiment's name: its MLflow experiment and its report."""
    pipeline: str | None = None
    """The pipeline whose ``ray_train`` dataset and hyperparameters every family trains with, and whose
    ``model_evaluate`` holdout the last cutoff matches (default: the workspace's first pipeline)."""
    models: list[Family] = Field(min_length=2)
    """Families to compare, e.g. ``["lightgbm", "lstm", "prophet", "autoets", "seasonal_naive"]``."""
    baseline: Family = "lightgbm"
    """The family every winner is tested against (the pipeline's own)."""
    metric: Literal["mape"] = "mape"
    """The seed's volume-weighted MAPE: sum |actual - forecast| / sum actual."""
    granularity: Literal["category"] = "category"
    """Families are compared per product category."""
    cutoffs: Cutoffs = Cutoffs()
    """Rolling origins."""
    output_table: TableName = "analytics.experiments.model_comparison"
    """Where one row per (series, cutoff, lead time, family) goes."""
    significance: Significance = Significance()
    """The test a winner must pass."""
    routing: RouteRule = RouteRule()
    """What ``matih experiment route`` writes to ``routing/*.json``."""

    @model_validator(mode="after")
    def _baseline_is_compared(self) -> ExperimentSpec:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        if self.baseline not in self.models:
            problems.append(
                (("baseline",), f"baseline {self.baseline!r} must be one of models {self.models}")
            )
        seen: set[str] = set()
        for i, family in enumerate(self.models):
            if family in seen:
                problems.append((("models", i), f"{family!r} is listed twice"))
            seen.add(family)
        raise_spec_errors("ExperimentSpec", problems)
        return self
