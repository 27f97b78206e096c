"""``monitors/<monitor_name>.json``: production checks on accuracy, freshness and predictions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, NonNegativeInt, PositiveFloat, field_validator, model_validator

from matih.specs.common import CronExpression, Identifier, NotificationTarget, SpecModel
from matih.specs.condition import Comparison, Condition, Operand, parse_condition

__all__ = [
    "MIN_BASELINE_DAYS",
    "MONITOR_TYPES",
    "AccuracyBaseline",
    "AccuracyTrackingMonitor",
    "AutomaticRetrainingMonitor",
    "FeatureFreshnessMonitor",
    "FreshnessCheck",
    "Monitor",
    "MonitorSpec",
    "PredictionQualityCheck",
    "PredictionQualityMonitor",
    "RetrainCondition",
    "RetrainTrigger",
    "parse_retrain_condition",
]

_CONDITION_FORM = (
    "'<metric> <op> <number> for <N> consecutive days', e.g. 'mape_overall > 0.12 for 3 consecutive days', "
    "or against the metric's own recent level: "
    "'mape[Toys] > mape_baseline[Toys] * 1.5 for 3 consecutive days'"
)
#: what the accuracy monitor tracks, each overall (``mape_overall``) or per category (``mape[Toys]``)
TRACKED_METRICS = ("mape", "bias", "rmse", "mase", "coverage")
_METRIC_RE = re.compile(r"^(?P<name>[a-z]+)(?P<baseline>_baseline)?(?:_overall|\[(?P<category>[^\]]+)\])$")
#: evaluated days a baseline needs before anything is judged against it
MIN_BASELINE_DAYS = 7
#: evaluated days a baseline's median is taken over when a spec does not say
DEFAULT_BASELINE_DAYS = 28


@dataclass(frozen=True)
class RetrainCondition:
    """A parsed ``"mape_overall > 0.12 for 3 consecutive days"``."""

    metric: str
    """As written: ``mape_overall``, ``mape[Electronics]``."""
    op: Comparison
    threshold: float
    """The number on the right; with :attr:`relative`, the factor on the metric's baseline."""
    days: int
    relative: bool = False
    """Whether the right side is the metric's baseline times :attr:`threshold`
    (``mape_baseline[Toys] * 1.5``): its median over the evaluated days before (``baseline_days``)."""

    @property
    def measure(self) -> tuple[str, str | None]:
        """(the tracked metric, its category; None for overall)."""
        match = _METRIC_RE.match(self.metric)
        assert match is not None  # parse_retrain_condition checked it
        return match.group("name"), match.group("category")

    def holds(self, value: float, baseline: float | None = None) -> bool:
        """Whether one day's metric value meets the condition (a relative condition compares it with
        ``baseline`` times the factor)."""
        figures = {self.metric: value}
        if self.relative:
            assert baseline is not None, "a relative condition needs the day's baseline"
            figures["baseline"] = baseline
        right = Operand("baseline" if self.relative else None, self.threshold)
        return Condition(Operand(self.metric, 1), self.op, right, self.days).holds(figures)


def _retrain_vocabulary(condition: Condition) -> str | None:
    left, right = condition.left, condition.right
    if left.name is None or left.factor != 1:
        return "the left side must be one tracked metric"
    metric = _METRIC_RE.match(left.name)
    if metric is None or metric.group("name") not in TRACKED_METRICS or metric.group("baseline"):
        known = ", ".join(f"{m}_overall" for m in TRACKED_METRICS)
        return (
            f"unknown metric {left.name!r}: use one the accuracy monitor tracks, overall ({known}) or per "
            "category (mape[<category>])"
        )
    if right.name is None:
        return None
    # the only name allowed on the right: the same metric's baseline, e.g. mape_baseline[Toys] * 1.5
    category = metric.group("category")
    same = metric.group("name") + "_baseline" + ("_overall" if category is None else f"[{category}]")
    if right.name != same:
        return f"the right side must be a number or {same} (times a number), not {right.name!r}"
    return None


def parse_retrain_condition(text: str) -> RetrainCondition:
    """Parse a retraining condition (:mod:`matih.specs.condition`'s grammar, one metric against a
    number); ValueError showing the accepted form otherwise."""
    found = parse_condition(text, form=_CONDITION_FORM, check=_retrain_vocabulary)
    assert found.left.name is not None
    relative = found.right.name is not None
    return RetrainCondition(found.left.name, found.op, found.right.factor, found.days, relative)


def _check_condition(value: str) -> str:
    parse_retrain_condition(value)
    return value


class AccuracyBaseline(SpecModel):
    """Alert on a change, not on a level (a MATIH extension): a group alerts only when its metric is
    above ``alert_threshold`` and above ``factor`` times its baseline, the median of its own figures over
    the ``days`` evaluated days before. A category that is always at 27% MAPE is its normal; one that
    goes from 11% to 24% has changed. A group's first :data:`MIN_BASELINE_DAYS` evaluated dates are its
    reference period (as NannyML's reference data or Evidently's reference dataset): it does not alert
    on them."""

    factor: float = Field(gt=1)
    """How far above its baseline a group must be, e.g. ``1.5``."""
    days: int = Field(default=DEFAULT_BASELINE_DAYS, ge=MIN_BASELINE_DAYS)
    """Evaluated days the baseline's median is taken over."""


class AccuracyTrackingMonitor(SpecModel):
    """Compare forecasts with actuals once they are known."""

    type: Literal["accuracy_tracking"]
    """Monitor type."""
    metric: Literal["mape", "rmse", "bias", "coverage"]
    """Accuracy metric tracked."""
    granularity: Literal["overall", "category"] = "overall"
    """Level the metric is alerted at: overall, or each category too (results are always written per
    category and lead). Per product is refused: a product's daily MAPE is too noisy to alert on."""
    evaluation_lag_days: NonNegativeInt = 0
    """Days to wait for actuals before scoring a forecast (usually the horizon)."""
    alert_threshold: PositiveFloat | dict[str, PositiveFloat]
    """Alert when the metric exceeds this value; or, per group, ``{"default": 0.15, "overall": 0.12,
    "Swimwear": 0.4}`` (a MATIH extension: a store's categories are not equally predictable)."""
    schedule: CronExpression
    """When the check runs."""
    baseline: AccuracyBaseline | None = None
    """Alert only on groups also well above their own recent level (absent: the threshold alone)."""

    @field_validator("alert_threshold")
    @classmethod
    def _needs_default(cls, value: float | dict[str, float]) -> float | dict[str, float]:
        if isinstance(value, dict) and "default" not in value:
            raise ValueError(
                "a per-category alert_threshold needs a 'default' for the groups it does not name, "
                'e.g. {"default": 0.15, "Swimwear": 0.4}'
            )
        return value

    def threshold_for(self, group: str) -> float:
        """The threshold of a category, or of ``ALL`` (the overall figure: ``overall``, else ``default``)."""
        if not isinstance(self.alert_threshold, dict):
            return self.alert_threshold
        key = "overall" if group == "ALL" else group
        return self.alert_threshold.get(key, self.alert_threshold["default"])


class FreshnessCheck(SpecModel):
    """Maximum age of one table."""

    table: str = Field(min_length=1)
    """Table checked, e.g. ``"shopify.order_items"``."""
    max_age_hours: PositiveFloat
    """Alert when the newest load is older than this."""


class FeatureFreshnessMonitor(SpecModel):
    """Alert when inputs stop arriving."""

    type: Literal["feature_freshness"]
    """Monitor type."""
    checks: list[FreshnessCheck] = Field(min_length=1)
    """Tables and their maximum age."""


class PredictionQualityCheck(SpecModel):
    """One sanity check on the latest predictions."""

    name: Literal["coverage", "non_negative", "range_check"]
    """Check name: ``"coverage"`` (active products with a forecast), ``"non_negative"``, ``"range_check"``
    (no prediction above N times the product's historical max; N from the description, default 10)."""
    description: str | None = None
    """What the check verifies."""
    threshold: float = Field(ge=0, le=1)
    """Minimum share of predictions (0..1) that must pass."""


class PredictionQualityMonitor(SpecModel):
    """Sanity checks on predictions."""

    type: Literal["prediction_quality"]
    """Monitor type."""
    checks: list[PredictionQualityCheck] = Field(min_length=1)
    """Checks run on every batch of predictions."""


class RetrainTrigger(SpecModel):
    """When and how retraining is triggered."""

    condition: Annotated[str, AfterValidator(_check_condition)]
    """``"<metric> <op> <number> for <N> consecutive days"``; the right side may be the metric's own
    baseline times a number (``mape_baseline[Toys] * 1.5``, a MATIH extension)."""
    baseline_days: int | None = Field(default=None, ge=MIN_BASELINE_DAYS)
    """Evaluated days a ``*_baseline`` figure's median is taken over (each day's baseline is the median
    of the metric over up to this many evaluated days before it); 28 when left out. Only for a condition
    that compares with a baseline."""
    action: Literal["trigger_pipeline"]
    """What happens when the condition holds."""
    pipeline_id: Identifier
    """``pipeline_id`` of the pipeline to run."""
    notification: NotificationTarget | None = None
    """Where to announce it, e.g. ``"slack:#ml-ops-alerts"``."""

    @model_validator(mode="after")
    def _baseline_days_need_a_baseline(self) -> RetrainTrigger:
        if self.baseline_days is not None and not self.parsed_condition.relative:
            raise ValueError(
                f"baseline_days is set but the condition '{self.condition}' compares with a number, not "
                "with a baseline: remove baseline_days, or compare with the metric's baseline "
                "(e.g. 'mape_overall > mape_baseline_overall * 1.5 for 3 consecutive days')"
            )
        return self

    @property
    def days_of_baseline(self) -> int:
        """``baseline_days``, or its default."""
        return self.baseline_days or DEFAULT_BASELINE_DAYS

    @property
    def parsed_condition(self) -> RetrainCondition:
        """The condition as a typed object."""
        return parse_retrain_condition(self.condition)


class AutomaticRetrainingMonitor(SpecModel):
    """Retrain when accuracy degrades for several days."""

    type: Literal["automatic_retraining"]
    """Monitor type."""
    trigger: RetrainTrigger
    """Condition and action."""


Monitor = Annotated[
    AccuracyTrackingMonitor | FeatureFreshnessMonitor | PredictionQualityMonitor | AutomaticRetrainingMonitor,
    Field(discriminator="type"),
]
"""One monitor; ``type`` picks the model."""

MONITOR_TYPES: tuple[str, ...] = (
    "accuracy_tracking",
    "feature_freshness",
    "prediction_quality",
    "automatic_retraining",
)


class MonitorSpec(SpecModel):
    """A named set of production monitors."""

    monitor_name: Identifier
    """Monitor set name."""
    monitors: list[Monitor] = Field(min_length=1)
    """Monitors, each with its own ``type``."""
