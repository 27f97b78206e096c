"""``routing/<name>.json``: which model family forecasts which product category."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from matih.specs.common import NotificationTarget, SpecModel, raise_spec_errors
from matih.specs.condition import Condition, parse_condition

__all__ = ["AutoReassign", "CategoryOverride", "ReassignCondition", "RoutingSpec", "parse_reassign_condition"]

_REASSIGN_FORM = (
    "'alternative_model_<metric> < current_<metric> * <factor> for <N> days', e.g. "
    "'alternative_model_mape < current_mape * 0.9 for 30 days'"
)
#: what the accuracy monitor tracks per model family (a lower figure is better for each)
REASSIGN_METRICS = ("mape", "rmse", "mase")
_ALTERNATIVE, _CURRENT = "alternative_model_", "current_"


@dataclass(frozen=True)
class ReassignCondition:
    """A parsed ``"alternative_model_mape < current_mape * 0.9 for 30 days"``."""

    factor: float
    """An alternative must beat ``current_<metric> * factor``."""
    days: int
    """... on each of this many consecutive evaluated days."""
    metric: str = "mape"
    """The tracked metric compared."""
    condition: Condition | None = field(default=None, compare=False)
    """The parsed condition, evaluated on ``{alternative_model_<metric>: .., current_<metric>: ..}``."""

    def holds(self, alternative: float, current: float) -> bool:
        assert self.condition is not None
        return self.condition.holds(
            {f"{_ALTERNATIVE}{self.metric}": alternative, f"{_CURRENT}{self.metric}": current}
        )


def _reassign_vocabulary(condition: Condition) -> str | None:
    left, right = condition.left, condition.right
    if (
        left.name is None
        or right.name is None
        or left.factor != 1
        or not left.name.startswith(_ALTERNATIVE)
        or not right.name.startswith(_CURRENT)
    ):
        return (
            "the left side must be alternative_model_<metric> and the right side current_<metric> [* factor]"
        )
    metric = left.name.removeprefix(_ALTERNATIVE)
    if metric not in REASSIGN_METRICS or right.name != f"{_CURRENT}{metric}":
        return (
            f"compare one metric on both sides, one of {', '.join(REASSIGN_METRICS)} (lower is better), "
            f"got {left.name!r} and {right.name!r}"
        )
    if condition.op not in ("<", "<="):
        return f"the alternative must be better, i.e. lower ('<' or '<='), not {condition.op!r}"
    if not 0 < right.factor <= 1:
        return f"expected a factor in (0, 1] (the alternative must be better), got {right.factor:g}"
    return None


def parse_reassign_condition(text: str) -> ReassignCondition:
    """Parse an auto-reassign condition (:mod:`matih.specs.condition`'s grammar, the monitors' own);
    ValueError showing the accepted form otherwise."""
    found = parse_condition(text, form=_REASSIGN_FORM, check=_reassign_vocabulary)
    metric = str(found.left.name).removeprefix(_ALTERNATIVE)
    return ReassignCondition(found.right.factor, found.days, metric, found)


def _check_reassign(value: str) -> str:
    parse_reassign_condition(value)
    return value


class CategoryOverride(SpecModel):
    """Categories served by a model other than the default."""

    categories: list[str] = Field(min_length=1)
    """Category names, exactly as in the category column."""
    model: str = Field(min_length=1)
    """Model family, e.g. ``"lstm"`` or ``"prophet"``."""


class AutoReassign(SpecModel):
    """Automatic switching of a category to a better model family."""

    enabled: bool = False
    """Whether reassignment happens without a human."""
    condition: Annotated[str, AfterValidator(_check_reassign)]
    """``"alternative_model_mape < current_mape * <factor> for <N> days"``: a family other than the one
    serving a category takes it over when its tracked metric beat the serving family's this way on each
    of N consecutive evaluated days (shadow forecasts, docs/experiments.md)."""
    notification: NotificationTarget | None = None
    """Where reassignments are announced, e.g. ``"slack:#ml-ops-alerts"``."""

    @property
    def parsed_condition(self) -> ReassignCondition:
        """The condition as a typed object."""
        return parse_reassign_condition(self.condition)


class RoutingSpec(SpecModel):
    """Per-category model routing."""

    routing_strategy: Literal["per_category"]
    """Routing strategy; only ``per_category`` exists."""
    default_model: str = Field(min_length=1)
    """Model family for categories without an override."""
    overrides: list[CategoryOverride] = Field(default_factory=list)
    """Categories routed elsewhere; a category may appear in one override only."""
    fallback_model: str | None = None
    """Model family when the routed model has no forecast (e.g. too little history)."""
    evaluation_schedule: Literal["daily", "weekly", "monthly"] = "monthly"
    """How often model families are compared per category."""
    auto_reassign: AutoReassign | None = None
    """Automatic reassignment; off when omitted."""

    def model_for(self, category: str) -> str:
        """Model family that serves ``category``."""
        for override in self.overrides:
            if category in override.categories:
                return override.model
        return self.default_model

    @model_validator(mode="after")
    def _one_model_per_category(self) -> RoutingSpec:
        owner: dict[str, int] = {}
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for i, override in enumerate(self.overrides):
            for j, category in enumerate(override.categories):
                if category in owner:
                    where = (
                        "earlier in this override"
                        if owner[category] == i
                        else f"in overrides[{owner[category]}]"
                    )
                    problems.append(
                        (
                            ("overrides", i, "categories", j),
                            f"category {category!r} is already routed {where}; a category may have one model",
                        )
                    )
                owner.setdefault(category, i)
        raise_spec_errors("RoutingSpec", problems)
        return self
