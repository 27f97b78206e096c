"""``auto_reassign`` (``routing/*.json``): a category moves to another model family once that family's
shadow forecasts have beaten the serving family's on each of N consecutive evaluated days.

The evidence is the accuracy monitor's :data:`~matih.monitoring.accuracy.FAMILY_ACCURACY_TABLE`: every
family's champion forecast every category at the same origins (:mod:`matih.forecast.shadow`) and was
scored on the same actuals, all leads pooled. For each category the serving family is the one the routing
document names (its ``fallback_model`` when that family has no shadow: it has no champion and the
fallback serves). The condition (``alternative_model_mape < current_mape * 0.9 for 30 days``, the
monitors' grammar) must hold for an alternative on each of the last N evaluated days on which the serving
family was scored; with several such alternatives, the lowest mean over those days wins.

Only days after the category's last reassignment count, so a reassignment that a person rolled back
(``matih routing rollback``) is made again only on N fresh days of evidence, never on the same ones.

Acting is a new routing version (:func:`~matih.forecast.routing_versions.write_routing`) served at once by
``republish`` (the caller's blue-green rollout); a republish that fails rolls the routing version back, so
the document and what is served never disagree. Every decision, acted on or not, is appended to
``.matih/monitoring/reassignments.jsonl`` with the figures it rested on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from matih.exceptions import MatihError
from matih.forecast.routing_versions import (
    current_routing,
    overrides_for,
    rollback_routing,
    routed_categories,
    write_routing,
)
from matih.monitoring.accuracy import ALL, FAMILY_ACCURACY_TABLE
from matih.specs.routing import AutoReassign, ReassignCondition, RoutingSpec
from matih.state import append_jsonl, read_jsonl, utc_stamp
from matih.warehouse import warehouse_of
from matih.workspace import Workspace

__all__ = [
    "ReassignDecision",
    "Republish",
    "family_figures",
    "past_reassignments",
    "reassign",
    "reassignments_path",
]

Republish = Callable[[str], str]
"""``republish(why) -> what was done``: serve the routing document as it now is (a rollout)."""


@dataclass
class ReassignDecision:
    condition: str
    fired: bool
    reason: str
    moves: dict[str, str] = field(default_factory=dict)
    """Category -> the family it moved to (or would move to, when not acted on)."""
    previous: dict[str, str] = field(default_factory=dict)
    """Category -> the family that served it before."""
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per category: the serving family, the best alternative, days counted, their means, whether the
    condition held on every one of them, and the daily figures of a move."""
    through: str | None = None
    """The latest evaluated forecast date looked at."""
    routing_version: int | None = None
    served: str | None = None
    """What republishing did (the rollout), or why it failed."""
    today: str | None = None
    at: str = field(default_factory=utc_stamp)


def reassignments_path(ws: Workspace) -> Path:
    return ws.state / "monitoring" / "reassignments.jsonl"


def past_reassignments(ws: Workspace) -> list[dict[str, Any]]:
    return list(read_jsonl(reassignments_path(ws)))


def family_figures(ws: Workspace, metric: str) -> dict[tuple[str, str], dict[str, float]]:
    """(category, family) -> the metric per evaluated forecast date, oldest first."""
    wh = warehouse_of(ws)
    if not wh.table_exists(FAMILY_ACCURACY_TABLE):
        return {}
    table = wh.query(
        f"""SELECT category, family, CAST(forecast_date AS VARCHAR) AS day, {metric} AS value
            FROM {FAMILY_ACCURACY_TABLE} WHERE category <> '{ALL}' AND {metric} IS NOT NULL
            ORDER BY forecast_date"""
    )
    out: dict[tuple[str, str], dict[str, float]] = {}
    for category, family, day, value in zip(
        *(table.column(c).to_pylist() for c in table.column_names), strict=True
    ):
        out.setdefault((category, family), {})[day] = float(value)
    return out


def _serving(spec: RoutingSpec, category: str, scored: set[str]) -> str | None:
    wanted = spec.model_for(category)
    if wanted in scored:
        return wanted
    fallback = spec.fallback_model or spec.default_model
    return fallback if fallback in scored else None


def _last_moves(ws: Workspace) -> dict[str, str]:
    """Category -> the last evaluated date a reassignment of it rested on."""
    out: dict[str, str] = {}
    for past in past_reassignments(ws):
        if past["fired"] and past["through"]:
            for category in past["moves"]:
                out[category] = past["through"]
    return out


def _weigh(
    category: str,
    current: str,
    figures: dict[tuple[str, str], dict[str, float]],
    condition: ReassignCondition,
    since: str | None,
) -> dict[str, Any]:
    """The evidence for one category: the best alternative over its last N evaluated days."""
    mine = figures[(category, current)]
    days = [d for d in mine if since is None or d > since][-condition.days :]
    found: dict[str, Any] = {"current": current, "days": len(days), "since": since}
    if not days:
        return {**found, "held": False, "best": None}
    found["current_mean"] = sum(mine[d] for d in days) / len(days)
    alternatives = {
        family: values
        for (c, family), values in figures.items()
        if c == category and family != current and all(d in values for d in days)
    }
    if not alternatives:
        return {**found, "held": False, "best": None}
    best = min(alternatives, key=lambda f: sum(alternatives[f][d] for d in days))
    values = alternatives[best]
    held = len(days) == condition.days and all(condition.holds(values[d], mine[d]) for d in days)
    found.update(best=best, best_mean=sum(values[d] for d in days) / len(days), held=held)
    if held:
        found["daily"] = {d: {"current": round(mine[d], 6), best: round(values[d], 6)} for d in days}
    return found


def reassign(
    ws: Workspace,
    spec: RoutingSpec,
    *,
    republish: Republish | None,
    notify: Callable[[str], str] | None = None,
    today: str | None = None,
) -> ReassignDecision:
    """Evaluate ``spec.auto_reassign`` on the tracked family accuracy and, when it holds for a category,
    route it to the better family and serve that at once (``republish``; ``None``: decide only)."""
    rule = spec.auto_reassign
    assert isinstance(rule, AutoReassign)
    condition = rule.parsed_condition
    figures = family_figures(ws, condition.metric)
    decision = ReassignDecision(rule.condition, False, "", today=today)
    days = sorted({d for values in figures.values() for d in values})
    decision.through = days[-1] if days else None
    moved = _last_moves(ws)
    for category in sorted({c for c, _ in figures}):
        current = _serving(spec, category, {f for c, f in figures if c == category})
        if current is None:
            continue
        evidence = _weigh(category, current, figures, condition, moved.get(category))
        decision.evidence[category] = evidence
        if evidence["held"]:
            decision.moves[category] = evidence["best"]
            decision.previous[category] = current
    if not decision.moves:
        counted = [e["days"] for e in decision.evidence.values()]
        decision.reason = (
            "no shadow forecasts have been scored yet (auto_reassign needs two families with a champion)"
            if not counted
            else f"no alternative met '{rule.condition}' (at most {max(counted)} of {condition.days} "
            "evaluated days counted)"
        )
        return _recorded(ws, decision)
    why = "; ".join(
        f"{c}: {decision.evidence[c]['best']} {condition.metric} {decision.evidence[c]['best_mean']:.3f} vs "
        f"{decision.previous[c]} {decision.evidence[c]['current_mean']:.3f} over {condition.days} days"
        for c in sorted(decision.moves)
    )
    if republish is None:
        decision.reason = f"the condition holds, but acting was not asked for (dry run): {why}"
        return _recorded(ws, decision)
    content = current_routing(ws) or spec.model_dump(mode="json", exclude_none=True)
    routes = {**routed_categories(content), **decision.moves}
    content = {**content, "overrides": overrides_for(routes, spec.default_model)}
    version = write_routing(ws, content, f"auto_reassign through {decision.through}: {why}")
    decision.routing_version = version.version
    try:
        decision.served = republish(why)
    except MatihError as err:
        back = rollback_routing(ws)
        decision.served = f"failed: {err}"
        decision.reason = (
            f"the condition held ({why}) but serving the new routing failed, so routing "
            f"v{back.version} restores the previous document: {err}"
        )
        decision.routing_version = back.version
        if notify is not None:
            notify(f"auto_reassign could not serve its change: {decision.reason}")
        return _recorded(ws, decision)
    decision.fired = True
    decision.reason = why
    if notify is not None:
        moves = ", ".join(f"{c} {decision.previous[c]} -> {f}" for c, f in sorted(decision.moves.items()))
        notify(
            f"auto_reassign (routing v{version.version}): {moves}. {why}. "
            f"Served: {decision.served}. Undo with `matih routing rollback`."
        )
    return _recorded(ws, decision)


def _recorded(ws: Workspace, decision: ReassignDecision) -> ReassignDecision:
    append_jsonl(reassignments_path(ws), asdict(decision))
    return decision
