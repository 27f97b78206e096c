"""``routing/<name>.json``: which model family forecasts which product category."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from matih.specs.common import NotificationTarget, SpecModel, raise_spec_errors

__all__ = ["AutoReassign", "CategoryOverride", "ReassignCondition", "RoutingSpec", "parse_reassign_condition"]

_REASSIGN_RE = re.compile(
    r"^\s*alternative_model_mape\s*<\s*current_mape\s*\*\s*(?P<factor>\d+(?:\.\d+)?)"
    r"\s+for\s+(?P<days>\d+)\s+days?\s*$"
)
_REASSIGN_FORM = (
    "'alternative_model_mape < current_mape * <factor> for <N> days', e.g. factor 0.9 and 30 days"
)


@dataclass(frozen=True)
class ReassignCondition:
    """A parsed ``"alternative_model_mape < current_mape * 0.9 for 30 days"``."""

    factor: float
    """An alternative must beat ``current_mape * factor``."""
    days: int
    """... for this many days."""


def parse_reassign_condition(text: str) -> ReassignCondition:
    """Parse an auto-reassign condition; ValueError showing the accepted form otherwise."""
    match = _REASSIGN_RE.match(text)
    if match is None:
        raise ValueError(f"expected a condition like {_REASSIGN_FORM}, got {text!r}")
    factor, days = float(match.group("factor")), int(match.group("days"))
    if not 0 < factor <= 1:
        raise ValueError(f"expected a factor in (0, 1] (the alternative must be better), got {factor}")
    if days < 1:
        raise ValueError(f"expected at least 1 day, got {days}")
    return ReassignCondition(factor, days)


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
    """``"alternative_model_mape < current_mape * <factor> for <N> days"``."""
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
