"""``matih experiment route NAME``: route categories to the families that won them, and only those.

A category moves to its winner when the win is significant (the experiment's paired bootstrap) and at
least ``routing.min_improvement`` lower MAPE than the baseline. A family serves only with a champion:
one that has none is gated now (``matih evaluate --family F`` on the version the experiment registered)
and its categories stay with the baseline if it fails. The new document is a new routing version
(:mod:`matih.forecast.routing_versions`): ``matih routing rollback`` restores the one before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from matih.experiment.runner import experiment_spec, load_report
from matih.forecast.adapt import configs_from_pipeline
from matih.forecast.evaluation import evaluate
from matih.forecast.registry import CHAMPION, Registry
from matih.forecast.routing import family_config
from matih.forecast.routing_versions import RoutingVersion, current_routing, overrides_for, write_routing
from matih.workspace import Workspace

__all__ = ["RouteOutcome", "route_experiment"]


@dataclass
class RouteOutcome:
    routes: dict[str, str]
    """Category -> family, as now written."""
    kept: dict[str, str] = field(default_factory=dict)
    """Category -> why it stays with the baseline although a family beat it."""
    gated: dict[str, str] = field(default_factory=dict)
    """Family -> what its gate said (families that had no champion yet)."""
    version: RoutingVersion | None = None
    """The routing version written (None when nothing changed)."""
    ensemble: dict[str, Any] = field(default_factory=dict)


def route_experiment(ws: Workspace, name: str, *, min_improvement: float | None = None) -> RouteOutcome:
    _, spec = experiment_spec(ws, name)
    report = load_report(ws, spec.experiment)
    if min_improvement is not None:
        report.min_improvement = min_improvement
    train, gate, _ = configs_from_pipeline(ws, spec.pipeline)
    wanted = report.routes()
    outcome = RouteOutcome(routes={}, ensemble=report.ensemble)
    for category, test in sorted(report.significance.items()):
        if category in wanted:
            continue
        if not test["significant"]:
            why = f"{test['family']} {test['improvement']:+.1%} not significant (p={test['p_value']:.3f})"
        elif test["improvement"] < report.min_improvement:
            why = f"{test['family']} {test['improvement']:+.1%} below the {report.min_improvement:.0%} margin"
        else:
            why = (
                f"{test['family']} {test['improvement']:+.1%} won {test['cutoffs_won']} of "
                f"{len(report.cutoffs)} cutoffs (routing.cutoffs_won: {report.cutoffs_won})"
            )
        outcome.kept[category] = why
    registry = Registry(ws)
    serving: dict[str, bool] = {}
    for family in sorted(set(wanted.values())):
        cfg = family_config(train, family)
        if registry.alias_version(cfg.experiment, CHAMPION) is not None:
            serving[family] = True
            continue
        version = report.registered.get(family)
        if version is None:
            serving[family] = False
            outcome.gated[family] = f"no {cfg.experiment} version registered (matih train --family {family})"
            continue
        verdict = evaluate(ws, cfg, gate, version=version)
        serving[family] = verdict.promoted
        outcome.gated[family] = (
            f"v{version} passed the gate ({verdict.overall.mape:.1%} MAPE) and is champion"
            if verdict.promoted
            else f"v{version} failed the gate: {'; '.join(verdict.reasons)}"
        )
    for category, family in wanted.items():
        if serving[family]:
            outcome.routes[category] = family
        else:
            outcome.kept[category] = f"{family} has no champion: {outcome.gated[family]}"
    before = current_routing(ws)
    content: dict[str, Any] = (
        dict(before)
        if before
        else {
            "routing_strategy": "per_category",
            "default_model": report.baseline,
            "fallback_model": report.baseline,
        }
    )
    content["overrides"] = overrides_for(outcome.routes, report.baseline)
    if before is not None and before.get("overrides", []) == content["overrides"]:
        return outcome
    reason = f"experiment {spec.experiment} ({report.created}): " + (
        ", ".join(f"{c} -> {f}" for c, f in sorted(outcome.routes.items()))
        or f"every category {report.baseline}"
    )
    outcome.version = write_routing(ws, content, reason)
    return outcome
