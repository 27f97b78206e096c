"""Reference scores on a holdout: what other forecasters would have scored on the rows a model is judged on.

Evaluation always reports the seasonal-naive reference itself. Other references need knowledge the core
does not have (a simulator knows the true expected demand of its world), so they come from plugins
found through the ``matih.evaluation_references`` entry-point group. A provider is a callable
``(workspace, holdout) -> {name: MAPE}``; it returns nothing for a workspace it knows nothing about.
The core never imports a provider; it only calls the installed ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points

import numpy as np

from matih.forecast import metrics as M
from matih.workspace import Workspace

__all__ = ["GROUP", "Holdout", "ReferenceProvider", "reference_providers", "reference_scores"]

GROUP = "matih.evaluation_references"
log = logging.getLogger(__name__)


# eq=False: the fields are arrays, which have no single truth value to compare by
@dataclass(frozen=True, eq=False)
class Holdout:
    """The rows a model was scored on, one entry per (series, target day)."""

    series: np.ndarray
    """Series id of each row (the dataset's series column, as text)."""
    dates: np.ndarray
    """Target day of each row, ``datetime64[D]``."""
    actual: np.ndarray
    """Actual value of each row (``float64``; days without a dataset row count as zero)."""

    def __post_init__(self) -> None:
        if not len(self.series) == len(self.dates) == len(self.actual):
            raise ValueError(
                f"holdout columns differ in length: {len(self.series)} series, {len(self.dates)} dates, "
                f"{len(self.actual)} actuals"
            )

    @property
    def rows(self) -> int:
        return len(self.actual)

    def mape(self, predicted: np.ndarray) -> float:
        """MAPE of ``predicted`` (one value per row) on these rows, as the model's own is measured."""
        return M.mape(self.actual, predicted)


ReferenceProvider = Callable[[Workspace, Holdout], Mapping[str, float]]
"""Returns named reference MAPEs for the holdout (empty when it has nothing to say for the workspace)."""


@cache
def reference_providers() -> dict[str, ReferenceProvider]:
    """The installed providers by entry-point name, loaded once per process."""
    return {entry.name: entry.load() for entry in entry_points(group=GROUP)}


def reference_scores(workspace: Workspace, holdout: Holdout) -> dict[str, float]:
    """Every installed provider's references for ``holdout``, in provider-name order."""
    scores: dict[str, float] = {}
    for provider_name, provider in sorted(reference_providers().items()):
        for name, value in provider(workspace, holdout).items():
            if name in scores:
                # two plugins naming the same figure would silently overwrite one another
                log.warning("reference %r from provider %r replaces an earlier one", name, provider_name)
            scores[name] = float(value)
    return scores
