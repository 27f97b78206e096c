"""``automatic_retraining``: when the tracked accuracy meets the trigger's condition for N consecutive
evaluated days, start the named pipeline, once per episode.

The daily figures are the accuracy monitor's (:data:`~matih.monitoring.accuracy.ACCURACY_TABLE`, every
lead pooled). A relative condition (``mape[Toys] > mape_baseline[Toys] * 1.5``) compares each day with
its own baseline (:mod:`matih.monitoring.baseline`); a day without one yet cannot meet it. An episode is
a run of days on which the condition holds: after the trigger fires, it fires again only once the
condition has stopped holding on some later day and then held for N days again. Every decision, fired
or not, is appended to ``.matih/monitoring/decisions.jsonl`` with the figures it rested on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from matih.monitoring.accuracy import ACCURACY_TABLE, ALL
from matih.monitoring.baseline import baselines
from matih.specs.monitor import MIN_BASELINE_DAYS, RetrainCondition, RetrainTrigger, parse_retrain_condition
from matih.state import append_jsonl, read_jsonl, utc_stamp
from matih.warehouse import warehouse_of
from matih.workspace import Workspace

__all__ = ["Decision", "decide", "decisions_path", "past_decisions"]


@dataclass
class Decision:
    monitor: str
    condition: str
    pipeline_id: str
    fired: bool
    reason: str
    figures: dict[str, float] = field(default_factory=dict)
    """The last days' values of the metric, by forecast date."""
    through: str | None = None
    """The latest evaluated date the decision looked at."""
    run_id: str | None = None
    today: str | None = None
    """The business day the decision was taken on (a simulator's day may not be the wall clock's)."""
    at: str = field(default_factory=utc_stamp)
    baselines: dict[str, float | None] = field(default_factory=dict)
    """For a relative condition, each of those days' baseline."""


def decisions_path(ws: Workspace) -> Path:
    return ws.state / "monitoring" / "decisions.jsonl"


def past_decisions(ws: Workspace, monitor: str | None = None) -> list[dict[str, Any]]:
    return [d for d in read_jsonl(decisions_path(ws)) if monitor is None or d["monitor"] == monitor]


def daily_values(ws: Workspace, metric: str, category: str | None) -> dict[str, float]:
    """The tracked metric per evaluated date, all leads pooled, oldest first."""
    wh = warehouse_of(ws)
    if not wh.table_exists(ACCURACY_TABLE):
        return {}
    who = (category or ALL).replace("'", "''")
    table = wh.query(
        f"""SELECT CAST(forecast_date AS VARCHAR) AS day, {metric} AS value FROM {ACCURACY_TABLE}
            WHERE category = '{who}' AND lead_days = 0 AND {metric} IS NOT NULL ORDER BY forecast_date"""
    )
    return dict(zip(table.column("day").to_pylist(), table.column("value").to_pylist(), strict=True))


def decide(
    ws: Workspace,
    monitor: str,
    trigger: RetrainTrigger,
    *,
    start_pipeline: Callable[[str, str], str] | None,
    today: str | None = None,
) -> Decision:
    """Evaluate the trigger on the tracked figures; start the pipeline (``start_pipeline(pipeline_id,
    reason)`` returns the run id) when it holds for a new episode; record the decision."""
    condition = parse_retrain_condition(trigger.condition)
    metric, category = condition.measure
    values = daily_values(ws, metric, category)
    base = baselines(values, trigger.days_of_baseline) if condition.relative else {}
    days = list(values)
    recent = days[-condition.days :]
    figures = {d: round(values[d], 6) for d in recent}
    decision = Decision(
        monitor, trigger.condition, trigger.pipeline_id, False, "", figures, days[-1] if days else None
    )
    decision.today = today
    if condition.relative:
        decision.baselines = {d: None if (b := base[d]) is None else round(b, 6) for d in recent}
    if len(recent) < condition.days:
        decision.reason = f"{len(days)} evaluated day(s), the condition needs {condition.days}"
    elif condition.relative and any(base[d] is None for d in recent):
        decision.reason = (
            f"{condition.metric}'s baseline needs {MIN_BASELINE_DAYS} evaluated days before each of the last "
            f"{condition.days}; there are {len(days)}"
        )
    elif not all(_holds(condition, values, base, d) for d in recent):
        decision.reason = (
            f"{condition.metric} did not meet '{trigger.condition}' on all of {', '.join(recent)}"
        )
    elif _same_episode(ws, monitor, trigger.condition, condition, values, base):
        decision.reason = "the condition still holds since the last retraining it triggered (same episode)"
    elif start_pipeline is None:
        decision.reason = "the condition holds, but no pipeline runner was given (dry run)"
    else:
        why = f"{condition.metric} met '{trigger.condition}': " + ", ".join(
            f"{d} {values[d]:.3f}" + (f" (baseline {base[d]:.3f})" if condition.relative else "")
            for d in recent
        )
        decision.run_id = start_pipeline(trigger.pipeline_id, why)
        decision.fired = True
        decision.reason = why
    append_jsonl(decisions_path(ws), asdict(decision))
    return decision


def _holds(
    condition: RetrainCondition, values: dict[str, float], base: dict[str, float | None], day: str
) -> bool:
    if condition.relative:
        reference = base.get(day)
        return reference is not None and condition.holds(values[day], reference)
    return condition.holds(values[day])


def _same_episode(
    ws: Workspace,
    monitor: str,
    text: str,
    condition: RetrainCondition,
    values: dict[str, float],
    base: dict[str, float | None],
) -> bool:
    """Whether the condition has held on every evaluated day since the trigger last fired."""
    fired = [d for d in past_decisions(ws, monitor) if d["fired"] and d["condition"] == text]
    if not fired or fired[-1]["through"] is None:
        return False
    since = fired[-1]["through"]
    return all(_holds(condition, values, base, d) for d in values if d > since)
