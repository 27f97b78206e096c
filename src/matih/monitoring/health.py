"""The Production Health report (the seed's Stage 7 dashboard), computed from records: pipeline runs as
Temporal recorded them (the caller passes them in: this package sits below ``orchestrate``), weekly
accuracy from :data:`~matih.monitoring.accuracy.ACCURACY_TABLE`, freshness from the journals, retraining
decisions from their journal."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matih.monitoring.accuracy import ACCURACY_TABLE, ALL
from matih.monitoring.clock import business_today
from matih.monitoring.freshness import Freshness, freshness
from matih.monitoring.retraining import past_decisions
from matih.monitoring.serving import serving_summary
from matih.specs.monitor import FeatureFreshnessMonitor, MonitorSpec
from matih.warehouse import Engine, warehouse_of
from matih.workspace import Workspace

__all__ = ["HealthReport", "PipelineRun", "health_report"]


@dataclass(frozen=True)
class PipelineRun:
    """What the report needs of one run."""

    status: str
    started: str
    retried: bool
    """A task needed more than one attempt."""
    train_seconds: float | None = None
    batch_seconds: float | None = None


@dataclass
class HealthReport:
    title: str
    start: dt.date
    end: dt.date
    runs: list[PipelineRun]
    weekly: list[tuple[str, float]]
    """(week starting, overall MAPE) over forecast dates in the period."""
    weekly_by_category: dict[str, list[tuple[str, float]]]
    freshness: list[Freshness]
    decisions: list[dict[str, Any]]
    batch_products: int | None = None
    horizon: int | None = None
    serving: dict[str, Any] | None = None
    """What the forecast servers recorded (:func:`~matih.monitoring.serving.serving_summary`)."""
    notes: list[str] = field(default_factory=list)
    accuracy_period: tuple[dt.date, dt.date] | None = None
    """The forecast dates accuracy covers, when the data's calendar is not the wall clock's."""

    @property
    def succeeded(self) -> int:
        return sum(r.status == "succeeded" for r in self.runs)

    @property
    def retried(self) -> int:
        return sum(r.status == "succeeded" and r.retried for r in self.runs)

    def _mean(self, values: list[float | None]) -> float | None:
        got = [v for v in values if v is not None]
        return sum(got) / len(got) if got else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "period": [self.start.isoformat(), self.end.isoformat()],
            "accuracy_period": [str(d) for d in self.accuracy_period] if self.accuracy_period else None,
            "pipeline_runs": {
                "total": len(self.runs),
                "succeeded": self.succeeded,
                "retry_then_success": self.retried,
                "failed": len(self.runs) - self.succeeded,
            },
            "avg_training_seconds": self._mean([r.train_seconds for r in self.runs]),
            "avg_batch_inference_seconds": self._mean([r.batch_seconds for r in self.runs]),
            "weekly_mape": dict(self.weekly),
            "weekly_mape_by_category": {c: dict(w) for c, w in self.weekly_by_category.items()},
            "freshness": {
                f.table: {"within_sla": f.within_sla, "max_age_hours": f.max_age_hours, "ok": f.ok}
                for f in self.freshness
            },
            "retraining_triggers": [d for d in self.decisions if d["fired"]],
            "batch_inference_p50_seconds": _median([r.batch_seconds for r in self.runs]),
            "serving": self.serving,
            "notes": self.notes,
        }

    def text(self) -> str:
        lines = [self.title, "─" * 38, f"Period: {self.start} to {self.end}", ""]
        other = len(self.runs) - self.succeeded
        plain = self.succeeded - self.retried
        lines.append(
            f"Pipeline Runs:        {len(self.runs)} ({plain} success, {self.retried} retry-then-success"
            + (f", {other} failed)" if other else ")")
        )
        lines.append(f"Avg Training Time:    {_duration(self._mean([r.train_seconds for r in self.runs]))}")
        scope = (
            f" ({self.batch_products:,} products x {self.horizon} days)"
            if self.batch_products and self.horizon
            else ""
        )
        lines.append(
            f"Avg Batch Inference:  {_duration(self._mean([r.batch_seconds for r in self.runs]))}{scope}"
        )
        span = (
            f" (forecast dates {self.accuracy_period[0]} to {self.accuracy_period[1]})"
            if self.accuracy_period
            else ""
        )
        lines += ["", f"Accuracy Trend (MAPE){span}:"]
        if not self.weekly:
            lines.append("  no forecast has been scored in the period yet")
        for i, (week, mape) in enumerate(self.weekly, start=1):
            lines.append(f"  Week {i}: {mape:6.1%}  {_bar(mape)}  (from {week})")
        lines += ["", "Feature Freshness SLA:"]
        for f in self.freshness:
            verdict = "OK" if f.ok else "BREACH"
            lines.append(
                f"  {f.table + ':':<36} {f.within_sla:.1%} within {f.max_age_hours:g}h   [{verdict}]"
            )
        fired = [d for d in self.decisions if d["fired"]]
        lines.append("")
        if fired:
            lines.append(f"Retraining Triggers:  {len(fired)}")
            lines += [f"  {d.get('today') or d['at'][:10]}: {d['reason']} (run {d['run_id']})" for d in fired]
        else:
            conditions = sorted({d["condition"] for d in self.decisions})
            lines.append(
                "Retraining Triggers:  0" + (f" ({'; '.join(conditions)} never held)" if conditions else "")
            )
        lines += ["", "Serving Metrics:"]
        lines.append(f"  Batch inference p50:   {_duration(_median([r.batch_seconds for r in self.runs]))}")
        if self.serving and self.serving["requests"]:
            s = self.serving
            lines.append(f"  API p50 latency:       {_ms(s['p50_seconds'])}")
            lines.append(f"  API p99 latency:       {_ms(s['p99_seconds'])}")
            lines.append(f"  Error rate:            {s['error_rate']:.2%} of {s['requests']:,} requests")
        else:
            lines.append("  API:                   no requests recorded by a server in the period")
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs:02d}s"


def _median(values: list[float | None]) -> float | None:
    got = sorted(v for v in values if v is not None)
    if not got:
        return None
    mid = len(got) // 2
    return got[mid] if len(got) % 2 else (got[mid - 1] + got[mid]) / 2


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}ms"


def _bar(value: float) -> str:
    """One block per percentage point, eighths for the rest."""
    eighths = round(value * 100 * 8)
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


def health_report(
    ws: Workspace,
    spec: MonitorSpec | None,
    runs: list[PipelineRun],
    *,
    days: int = 30,
    now: dt.datetime | None = None,
    today: dt.date | None = None,
    title: str = "Demand Forecaster - Production Health",
    warehouse: Engine | None = None,
) -> HealthReport:
    """The report over the ``days`` before ``now`` (runs, freshness, decisions, serving; default: the
    wall clock) and, for accuracy, before ``today`` (default: the workspace's business day). A server
    passes the ``warehouse`` it holds open."""
    now = now or dt.datetime.now(dt.UTC)
    end = now.date()
    start = end - dt.timedelta(days=days)
    in_period = [r for r in runs if r.started[:10] >= start.isoformat()]
    # accuracy is dated by the data's calendar (a simulator's days are not the wall clock's)
    business = today or business_today(ws)
    weekly, by_category = _weekly(warehouse or warehouse_of(ws), business - dt.timedelta(days=days), business)
    checks = [
        c for m in (spec.monitors if spec else []) if isinstance(m, FeatureFreshnessMonitor) for c in m.checks
    ]
    fresh = [freshness(ws, c.table, c.max_age_hours, now=now, period=dt.timedelta(days=days)) for c in checks]
    decisions = [
        d
        for d in past_decisions(ws, spec.monitor_name if spec else None)
        if d["at"][:10] >= start.isoformat()
    ]
    report = HealthReport(title, start, end, in_period, weekly, by_category, fresh, decisions)
    if business != end:
        report.accuracy_period = (business - dt.timedelta(days=days), business)
    report.serving = serving_summary(ws, now - dt.timedelta(days=days))
    return report


def _weekly(
    wh: Engine, start: dt.date, end: dt.date
) -> tuple[list[tuple[str, float]], dict[str, list[tuple[str, float]]]]:
    if not wh.table_exists(ACCURACY_TABLE):
        return [], {}
    table = wh.query(
        f"""SELECT CAST(date_trunc('week', forecast_date) AS DATE) AS week, category,
                   sum(mape * actual_units) / nullif(sum(actual_units), 0) AS mape
            FROM {ACCURACY_TABLE}
            WHERE lead_days = 0 AND forecast_date BETWEEN DATE '{start}' AND DATE '{end}' AND mape IS NOT NULL
            GROUP BY ALL ORDER BY week, category"""
    )
    weekly: list[tuple[str, float]] = []
    by_category: dict[str, list[tuple[str, float]]] = {}
    for week, category, mape in zip(
        *(table.column(c).to_pylist() for c in ("week", "category", "mape")), strict=True
    ):
        if mape is None:
            continue
        if category == ALL:
            weekly.append((str(week), float(mape)))
        else:
            by_category.setdefault(category, []).append((str(week), float(mape)))
    return weekly, by_category


def plot(report: HealthReport, path: Path) -> Path:
    """The accuracy trend per week, overall and per category, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    for category, weeks in sorted(report.weekly_by_category.items()):
        ax.plot([w for w, _ in weeks], [m * 100 for _, m in weeks], linewidth=0.8, alpha=0.6, label=category)
    if report.weekly:
        ax.plot(
            [w for w, _ in report.weekly],
            [m * 100 for _, m in report.weekly],
            color="black",
            linewidth=2.5,
            label="overall",
        )
    ax.set_ylabel("MAPE (%)")
    ax.set_xlabel("week of the forecast date")
    ax.set_title(f"{report.title}: accuracy by week, {report.start} to {report.end}")
    if report.weekly or report.weekly_by_category:
        ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    else:
        ax.text(0.5, 0.5, "no forecast scored in the period yet", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
