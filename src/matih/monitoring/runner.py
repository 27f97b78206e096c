"""``matih monitor run``: a monitor spec's monitors, executed as written, with their alerts.

Each monitor of ``monitors/<name>.json`` gives a :class:`Section`: its verdict, the lines a person reads
and the figures behind them. Alerts (an accuracy above ``alert_threshold``, a freshness breach, a failed
prediction check, a retraining fired) go to Slack through ``notify`` with those figures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from matih.exceptions import SpecError
from matih.forecast.adapt import configs_from_pipeline
from matih.forecast.archive import archive_table
from matih.forecast.batch import FORECAST_TABLE
from matih.forecast.dataset import load_dataset_grid
from matih.forecast.grid import DenseGrid
from matih.forecast.routing import routing_spec
from matih.monitoring.accuracy import ALL, track_accuracy
from matih.monitoring.alerts import slack_alerts
from matih.monitoring.baseline import baseline
from matih.monitoring.clock import business_today
from matih.monitoring.freshness import freshness
from matih.monitoring.quality import check_batch
from matih.monitoring.reassign import Republish, reassign
from matih.monitoring.retraining import decide
from matih.specs import load_spec
from matih.specs.monitor import (
    MIN_BASELINE_DAYS,
    AccuracyTrackingMonitor,
    AutomaticRetrainingMonitor,
    FeatureFreshnessMonitor,
    MonitorSpec,
    PredictionQualityMonitor,
)
from matih.state import append_jsonl, read_jsonl
from matih.warehouse import warehouse_of
from matih.workspace import Workspace

__all__ = [
    "Judgment",
    "MonitorReport",
    "Section",
    "accuracy_monitor",
    "judge",
    "monitor_spec",
    "monitor_specs",
    "past_reports",
    "reports_path",
    "run_monitors",
    "schedule_of",
]

#: when a monitor spec names no schedule (only accuracy_tracking has one): every morning
DEFAULT_SCHEDULE = "0 8 * * *"

StartPipeline = Callable[[str, str], str]
Notify = Callable[[str], str]


@dataclass
class Section:
    type: str
    ok: bool
    lines: list[str]
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class MonitorReport:
    name: str
    as_of: str
    sections: list[Section]
    alerts: list[str]
    deliveries: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.sections)

    def to_dict(self) -> dict[str, Any]:
        return {
            "monitor_name": self.name,
            "as_of": self.as_of,
            "ok": self.ok,
            "alerts": self.alerts,
            "sections": [vars(s) for s in self.sections],
        }


def monitor_specs(ws: Workspace) -> dict[str, MonitorSpec]:
    specs = {}
    for path in sorted((ws.root / "monitors").glob("*.json")):
        spec = load_spec(path)
        if isinstance(spec, MonitorSpec):
            specs[spec.monitor_name] = spec
    return specs


def monitor_spec(ws: Workspace, name: str, specs: dict[str, MonitorSpec] | None = None) -> MonitorSpec:
    """The monitor spec named ``name``, or a clear error naming the ones there are."""
    specs = monitor_specs(ws) if specs is None else specs
    if name not in specs:
        raise SpecError(f"no monitor spec named {name!r} in monitors/ (have: {', '.join(specs) or 'none'})")
    return specs[name]


def accuracy_monitor(spec: MonitorSpec) -> AccuracyTrackingMonitor | None:
    """The spec's ``accuracy_tracking`` monitor, if it has one."""
    return next((m for m in spec.monitors if isinstance(m, AccuracyTrackingMonitor)), None)


def schedule_of(spec: MonitorSpec) -> str:
    """The cron a monitor spec runs on: its accuracy monitor's ``schedule`` (the seed's ``0 8 * * *``)."""
    accuracy = accuracy_monitor(spec)
    return str(accuracy.schedule) if accuracy else DEFAULT_SCHEDULE


def run_monitors(
    ws: Workspace,
    name: str | None = None,
    *,
    now: dt.datetime | None = None,
    today: dt.date | None = None,
    start_pipeline: StartPipeline | None = None,
    notify: Notify | None = None,
    republish: Republish | None = None,
) -> list[MonitorReport]:
    """Run every monitor spec (or ``name``); alert through ``notify``. ``now`` (default: the wall clock)
    dates freshness; ``today`` (default: :func:`~matih.monitoring.clock.business_today`) is the day
    accuracy scores matured forecasts up to. After a spec's accuracy monitor, the routing spec's enabled
    ``auto_reassign`` is decided, and acted on through ``republish`` (``None``: decided only)."""
    specs = monitor_specs(ws)
    if name is not None:
        monitor_spec(ws, name, specs)
    now = now or dt.datetime.now(dt.UTC)
    today = today or business_today(ws)
    reports = []
    for spec_name, spec in specs.items():
        if name is None or spec_name == name:
            reports.append(_run(ws, spec, now, today, start_pipeline, notify, republish))
    return reports


def _run(
    ws: Workspace,
    spec: MonitorSpec,
    now: dt.datetime,
    today: dt.date,
    start_pipeline: StartPipeline | None,
    notify: Notify | None,
    republish: Republish | None,
) -> MonitorReport:
    train, _, configured = configs_from_pipeline(ws)
    output = configured or FORECAST_TABLE
    grids: list[DenseGrid] = []

    def grid() -> DenseGrid:  # read once, by the first monitor that needs the actuals
        if not grids:
            grids.append(load_dataset_grid(ws, train))
        return grids[0]

    sections: list[Section] = []
    alerts: list[str] = []
    for monitor in spec.monitors:
        if isinstance(monitor, AccuracyTrackingMonitor):
            section = _accuracy(ws, train, output, monitor, today, grid)
        elif isinstance(monitor, FeatureFreshnessMonitor):
            section = _freshness(ws, monitor, now)
        elif isinstance(monitor, PredictionQualityMonitor):
            section = _quality(ws, output, monitor, grid)
        else:
            assert isinstance(monitor, AutomaticRetrainingMonitor)
            decision = decide(
                ws, spec.monitor_name, monitor.trigger, start_pipeline=start_pipeline, today=today.isoformat()
            )
            line = (
                f"retraining {monitor.trigger.pipeline_id}: "
                + (f"started (run {decision.run_id}): " if decision.fired else "not started: ")
                + decision.reason
            )
            section = Section(monitor.type, not decision.fired, [line], {"decision": vars(decision)})
        sections.append(section)
        if isinstance(monitor, AccuracyTrackingMonitor):
            reassigned = _reassign(ws, republish, today)
            if reassigned is not None:
                sections.append(reassigned)
    for section in sections:
        if not section.ok:
            alerts.append(f"[{spec.monitor_name}] {section.type}: " + "; ".join(section.lines))
    report = MonitorReport(spec.monitor_name, now.isoformat(timespec="seconds"), sections, alerts)
    if notify is not None:
        report.deliveries = [notify(alert) for alert in alerts]
    append_jsonl(reports_path(ws), {**report.to_dict(), "today": today.isoformat()})
    return report


def reports_path(ws: Workspace) -> Path:
    """The journal of every monitor run's report (``.matih/monitoring/reports.jsonl``)."""
    return ws.state / "monitoring" / "reports.jsonl"


def past_reports(ws: Workspace) -> list[dict[str, Any]]:
    """The recorded monitor reports, oldest first."""
    return list(read_jsonl(reports_path(ws)))


def _accuracy(
    ws: Workspace,
    train: Any,
    output: str,
    monitor: AccuracyTrackingMonitor,
    today: dt.date,
    grid: Callable[[], DenseGrid],
) -> Section:
    if not warehouse_of(ws).table_exists(archive_table(output)):
        return Section(monitor.type, True, ["no forecast has been published yet"], {"scored": 0})
    result = track_accuracy(
        ws,
        train,
        output,
        as_of=today,
        lag_days=monitor.evaluation_lag_days,
        metric=monitor.metric,
        grid=grid(),
    )
    if result.last_scored is None:
        return Section(monitor.type, True, ["no forecast has matured yet"], {"scored": 0})
    last = result.last_scored
    groups = sorted(result.daily) if monitor.granularity == "category" else [ALL]
    lines, breaches, latest, usual = [], [], {}, {}
    for group in groups:
        values = result.daily.get(group, {})
        if last not in values:
            continue
        judged = judge(monitor, group, values, last)
        latest[group] = round(judged.value, 6)
        if judged.baseline is not None:
            usual[group] = round(judged.baseline, 6)
        if judged.alert:
            breaches.append(group)
        if judged.alert or group == ALL:
            label = "overall" if group == ALL else group
            lines.append(f"{monitor.metric} {label} {judged.value:.3f} on {last}{judged.why}")
    return Section(
        monitor.type,
        not breaches,
        lines,
        {
            "last_scored": last,
            "scored_forecasts": result.scored_forecasts,
            "table": result.table,
            "breaches": breaches,
            "latest": latest,
            "baselines": usual,
        },
    )


@dataclass(frozen=True)
class Judgment:
    """One group's tracked figure on one date, as the accuracy monitor judges it."""

    value: float
    alert: bool
    baseline: float | None
    why: str
    """What the report line adds: why it alerts, or that its baseline is still being built."""


def judge(monitor: AccuracyTrackingMonitor, group: str, values: dict[str, float], day: str) -> Judgment:
    """Whether ``group``'s figure on ``day`` (``values``: its figure per evaluated date) alerts: above
    the group's ``alert_threshold`` and, with a ``baseline``, above ``factor`` times it; a group's first
    dates, before it has a baseline, are its reference period and never alert."""
    value = values[day]
    threshold = monitor.threshold_for(group)
    alert, why = value > threshold, f" above {threshold:g}"
    if monitor.baseline is None:
        return Judgment(value, alert, None, why if alert else "")
    reference = baseline(values, day, monitor.baseline.days)
    if reference is None:  # a change needs something to change from
        seen = sum(d < day for d in values)
        return Judgment(value, False, None, f" (building its baseline: {seen} of {MIN_BASELINE_DAYS} dates)")
    alert = alert and value > monitor.baseline.factor * reference
    why += f" and {value / reference:.1f}x its baseline {reference:.3f}"
    return Judgment(value, alert, reference, why if alert else "")


def _reassign(ws: Workspace, republish: Republish | None, today: dt.date) -> Section | None:
    """The routing spec's ``auto_reassign``, decided on the family accuracy just tracked (None when the
    workspace has no routing spec or it is not enabled). Its notification target is told of a move."""
    found = routing_spec(ws)
    if found is None or found[1].auto_reassign is None or not found[1].auto_reassign.enabled:
        return None
    spec = found[1]
    rule = spec.auto_reassign
    assert rule is not None
    target = str(rule.notification or "")
    notify = slack_alerts(ws, target.removeprefix("slack:")) if target.startswith("slack:") else None
    decision = reassign(ws, spec, republish=republish, notify=notify, today=today.isoformat())
    if decision.fired:
        line = (
            f"routing v{decision.routing_version}: "
            + ", ".join(f"{c} {decision.previous[c]} -> {f}" for c, f in sorted(decision.moves.items()))
            + f" ({decision.reason}); served: {decision.served}"
        )
    else:
        line = decision.reason
    failed = decision.served is not None and decision.served.startswith("failed")
    return Section("auto_reassign", not failed, [line], {"decision": asdict(decision)})


def _freshness(ws: Workspace, monitor: FeatureFreshnessMonitor, now: dt.datetime) -> Section:
    found = [
        freshness(ws, c.table, c.max_age_hours, now=now, period=dt.timedelta(days=30)) for c in monitor.checks
    ]
    return Section(
        monitor.type,
        all(f.ok for f in found),
        [f.line() for f in found],
        {f.table: {"age_hours": f.age_hours, "within_sla": f.within_sla} for f in found},
    )


def _quality(
    ws: Workspace, output: str, monitor: PredictionQualityMonitor, grid: Callable[[], DenseGrid]
) -> Section:
    wh = warehouse_of(ws)
    if not wh.table_exists(output):
        return Section(monitor.type, False, [f"{output} does not exist: nothing has been published"])
    results = check_batch(wh.query(f"SELECT * FROM {output}"), grid(), monitor.checks)
    return Section(
        monitor.type,
        all(r.passed for r in results),
        [r.line() for r in results],
        {r.name: r.share for r in results},
    )
