"""``quality/<suite_name>.json``: data-quality expectations (Great Expectations style) for a table."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from matih.specs.common import Identifier, SpecModel, matching

__all__ = ["Expectation", "ExpectationSuiteSpec"]


class Expectation(SpecModel):
    """One expectation, e.g. ``expect_column_values_to_not_be_null`` on ``sales_rolling_7d``."""

    type: Annotated[str, matching(r"expect_[a-z0-9_]+", "an expectation name starting with 'expect_'")]
    """Expectation name; always starts with ``expect_``."""
    kwargs: dict[str, Any] = Field(default_factory=dict)
    """Arguments of the expectation, e.g. ``{"column": "units_sold", "min_value": 0}``."""
    notes: str | None = None
    """Why the expectation exists."""
    severity: Literal["error", "warn"] = "error"
    """``error`` fails the pipeline task; ``warn`` only reports."""


class ExpectationSuiteSpec(SpecModel):
    """A named list of expectations, run by a pipeline's ``quality_check`` task."""

    suite_name: Identifier
    """Name referenced by ``quality_check.config.suite``."""
    expectations: list[Expectation] = Field(min_length=1)
    """Expectations, evaluated in order."""
