"""Production, fast-forwarded: N days of the seed's daily pipeline on the NovaMart sandbox's clock.

The world is generated through its last day (with any :mod:`shocks <matih.sandbox.shocks>`) and served
as of N days before it. The pipeline's first run reads everything (as the demo's does); then, for each
simulated day, the sandbox moves on one day (new and edited orders, stock, traffic), the pipeline runs as
its schedule would (``0 2 * * *``: once a day) on Temporal, syncing incrementally, training, gating and
publishing; the monitors run after it on the sandbox's business day (actuals arrive, matured forecasts
are scored); and a retraining the monitors start through Temporal is followed to its end before the
next day. At the end the Production Health report is computed from what was recorded.

Every simulation starts production afresh: the world is replaced (as ``matih demo`` does) and so are the
forecast archive, the accuracy table and the monitors' journals, so what the report shows is this run's.
Temporal's schedules cannot run on a simulated clock, so the simulation starts the runs the schedule
would start, on the schedule's days, and labels them ``trigger: simulation``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from croniter import croniter

from matih.demo import PIPELINE, StageHook, Stages, bootstrap
from matih.forecast.adapt import configs_from_pipeline
from matih.forecast.archive import archive_table, shadow_table
from matih.forecast.batch import FORECAST_TABLE
from matih.monitoring.accuracy import ACCURACY_TABLE, FAMILY_ACCURACY_TABLE
from matih.monitoring.health import HealthReport
from matih.monitoring.reassign import reassignments_path
from matih.monitoring.retraining import decisions_path, past_decisions
from matih.monitoring.runner import accuracy_monitor, monitor_specs, past_reports, reports_path
from matih.orchestrate import client as C
from matih.orchestrate import plan as P
from matih.sandbox import WorldConfig, generate_world, save_world
from matih.sandbox.shocks import Shock, parse_shock
from matih.state import write_json_atomic
from matih.warehouse import warehouse_of
from matih.workspace import Workspace

__all__ = ["DayRecord", "ShockOutcome", "SimulationResult", "run_simulation", "scheduled_runs"]

TRIGGER = "simulation"
#: forecast dates pooled to decide whether a shocked category's accuracy has come back
RECOVERY_WINDOW = 7
#: "back" means within this share of the category's pre-shock level
RECOVERY_TOLERANCE = 0.10
DayHook = Callable[["DayRecord"], None]


@dataclass
class DayRecord:
    """One simulated day: the runs it held, what the monitors said, what it cost."""

    number: int
    """1 for the first simulated day (0: the first run, on the world as served at the start)."""
    today: str
    """The sandbox's business day (the day after the last one it shows)."""
    runs: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    breaches: list[str] = field(default_factory=list)
    """Categories whose tracked accuracy was above the alert threshold on the latest scored date."""
    scored: str | None = None
    """The latest forecast date the accuracy monitor scored."""
    accuracy: dict[str, float] = field(default_factory=dict)
    """Its tracked metric on that date, overall (``ALL``) and per category."""
    retraining: list[str] = field(default_factory=list)
    """Runs the retraining monitor started (and the simulation followed) on this day."""
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class ShockOutcome:
    """What the monitors made of one shock."""

    shock: dict[str, Any]
    pre_level: float | None = None
    """The category's mean daily MAPE over the scored dates before the shock."""
    matured_on: str | None = None
    """The business day the first shocked date's forecasts were first scored."""
    flagged_on: str | None = None
    flagged_after_days: int | None = None
    """Evaluation days from ``matured_on`` to the first accuracy alert naming the category (0: same day)."""
    retrained_on: str | None = None
    recovered_on: str | None = None
    """The first business day the category's MAPE over the last RECOVERY_WINDOW scored dates (all after
    the shock) was back within RECOVERY_TOLERANCE of ``pre_level``."""
    last_level: float | None = None
    daily: dict[str, float] = field(default_factory=dict)
    """The category's tracked MAPE per forecast date."""


@dataclass
class SimulationResult:
    workspace: Workspace
    start: dt.date
    """The first simulated day."""
    end: dt.date
    shocks: list[Shock]
    days: list[DayRecord] = field(default_factory=list)
    outcomes: list[ShockOutcome] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    health: HealthReport | None = None
    report_path: str = ""

    @property
    def retrainings(self) -> int:
        return sum(len(d.retraining) for d in self.days)

    @property
    def accuracy_alerts(self) -> int:
        return sum(1 for d in self.days if d.breaches)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "shocks": [s.to_dict() for s in self.shocks],
            "timings": self.timings,
            "retrainings": self.retrainings,
            "accuracy_alert_days": self.accuracy_alerts,
            "outcomes": [vars(o) for o in self.outcomes],
            "days": [vars(d) for d in self.days],
            "health": self.health.to_dict() if self.health else None,
        }


def run_simulation(
    ws: Workspace,
    *,
    days: int,
    shocks: list[str] | None = None,
    products: int = 2_000,
    seed: int = 7,
    end_date: dt.date | None = None,
    history_days: int = 730,
    n_estimators: int | None = None,
    on_stage: StageHook | None = None,
    on_day: DayHook | None = None,
) -> SimulationResult:
    """Simulate ``days`` production days ending on ``end_date`` (default: yesterday) after
    ``history_days`` of history; ``shocks`` are :func:`~matih.sandbox.shocks.parse_shock` texts."""
    from matih.orchestrate.runner import production_health
    from matih.sandbox import server

    ws.ensure_state()
    config = WorldConfig(products=products, seed=seed, end_date=end_date, days=history_days + days)
    first = config.last_day - dt.timedelta(days=days - 1)
    parsed = [parse_shock(text, first) for text in shocks or []]
    # the end pinned: "yesterday" must not move between here and the last simulated day
    config = dataclasses.replace(config, end_date=config.last_day, shocks=tuple(parsed))
    result = SimulationResult(ws, first, config.last_day, parsed)
    stage = Stages(result.timings, on_stage)
    with stage("generate", f"Generating NovaMart ({products:,} products, {config.days} days)"):
        save_world(generate_world(config), ws.sandbox_dir)
    _start_afresh(ws)
    cron = _pipeline_cron(ws)
    started = time.perf_counter()
    # one Temporal dev server for every run of the simulation (each run would otherwise start its own)
    with C.orchestrator(ws), server.start(ws, as_of=first - dt.timedelta(days=1)):
        day_zero = DayRecord(0, first.isoformat())
        seen = _journal_marks(ws)
        run = bootstrap(ws, stage, n_estimators, trigger=TRIGGER)
        day_zero.runs.append(_run_summary(run))
        _after_runs(ws, day_zero, seen, on_stage)
        result.days.append(day_zero)
        if on_day:
            on_day(day_zero)
        for number in range(1, days + 1):
            result.days.append(_simulate_day(ws, number, cron, n_estimators, on_stage))
            if on_day:
                on_day(result.days[-1])
        result.timings["days"] = round(time.perf_counter() - started, 3)
        result.outcomes = [_outcome(ws, result, shock) for shock in parsed]
        result.health = production_health(ws, days=days + 1)
    path = ws.reports_dir / "simulation.json"
    write_json_atomic(path, result.to_dict(), default=str)
    result.report_path = str(path)
    return result


def _journal_marks(ws: Workspace) -> tuple[int, int]:
    """How many monitor reports and retraining decisions are on record (what came after is the day's)."""
    return len(past_reports(ws)), len(past_decisions(ws))


def _start_afresh(ws: Workspace) -> None:
    """Forget the previous production's archive, accuracy and monitor journals (the world is new)."""
    _, _, output = configs_from_pipeline(ws)
    wh = warehouse_of(ws)
    published = output or FORECAST_TABLE
    for table in (archive_table(published), shadow_table(published), ACCURACY_TABLE, FAMILY_ACCURACY_TABLE):
        if wh.table_exists(table):
            wh.run(f"DROP TABLE {table}")
    for journal in (decisions_path(ws), reports_path(ws), reassignments_path(ws)):
        journal.unlink(missing_ok=True)


def _pipeline_cron(ws: Workspace) -> str | None:
    from matih.orchestrate.client import pipeline_spec

    schedule = pipeline_spec(ws, PIPELINE).schedule
    return str(schedule) if schedule else None


def scheduled_runs(cron: str | None, day: dt.date) -> int:
    """How many times the pipeline's schedule fires on ``day`` (no schedule: once, daily)."""
    if cron is None:
        return 1
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    it = croniter(cron, start - dt.timedelta(seconds=1))
    count = 0
    while it.get_next(dt.datetime) < start + dt.timedelta(days=1):
        count += 1
    return count


def _simulate_day(
    ws: Workspace, number: int, cron: str | None, n_estimators: int | None, on_stage: StageHook | None
) -> DayRecord:
    from matih.orchestrate.runner import run_pipeline
    from matih.sandbox import server

    began = time.perf_counter()
    moved = server.advance(ws, 1)
    today = dt.date.fromisoformat(moved["as_of"]) + dt.timedelta(days=1)
    record = DayRecord(number, today.isoformat(), seconds={"advance": round(time.perf_counter() - began, 3)})
    seen = _journal_marks(ws)
    options: dict[str, Any] = {"trigger": TRIGGER}
    if n_estimators:
        options["n_estimators"] = n_estimators
    for _ in range(scheduled_runs(cron, today)):
        t0 = time.perf_counter()
        run = run_pipeline(ws, PIPELINE, options=options)
        record.seconds["pipeline"] = record.seconds.get("pipeline", 0.0) + round(time.perf_counter() - t0, 3)
        record.runs.append(_run_summary(run))
    _after_runs(ws, record, seen, on_stage)
    record.seconds["total"] = round(time.perf_counter() - began, 3)
    return record


def _after_runs(ws: Workspace, record: DayRecord, seen: tuple[int, int], on_stage: StageHook | None) -> None:
    """What the monitors said after the ``seen`` journal marks; the retraining runs they started,
    followed to the end (whose own monitors start no further one: a trigger fires once per episode)."""
    from matih.orchestrate.runner import follow_run

    for report in past_reports(ws)[seen[0] :]:
        record.alerts += report["alerts"]
        for section in report["sections"]:
            if section["type"] == "accuracy_tracking":
                figures = section["figures"]
                record.breaches = list(figures.get("breaches", []))
                record.scored = figures.get("last_scored")
                record.accuracy = dict(figures.get("latest", {}))
    fired = [d for d in past_decisions(ws)[seen[1] :] if d["fired"] and d["run_id"]]
    t0 = time.perf_counter()
    for decision in fired:
        if on_stage:
            on_stage(decision["run_id"], f"retraining {decision['run_id']}", None)
        run = follow_run(ws, decision["run_id"])
        record.retraining.append(decision["run_id"])
        record.runs.append(_run_summary(run))
    if fired:
        record.seconds["retraining"] = round(time.perf_counter() - t0, 3)


def _run_summary(run: P.RunResult) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "status": run.status,
        "message": run.message,
        "tasks": {t.task_id: {"state": t.state, "seconds": t.seconds} for t in run.tasks},
        "monitors": run.monitors,
    }


def _lag_days(ws: Workspace) -> int:
    """The first accuracy monitor's evaluation lag (0 without one)."""
    found = [m for spec in monitor_specs(ws).values() if (m := accuracy_monitor(spec)) is not None]
    return found[0].evaluation_lag_days if found else 0


def _outcome(ws: Workspace, result: SimulationResult, shock: Shock) -> ShockOutcome:
    """When the shock's forecasts matured, when the monitor flagged it, when retraining fired and when
    the category's accuracy came back, from the accuracy table and the simulated days' records."""
    outcome = ShockOutcome(shock.to_dict())
    wh = warehouse_of(ws)
    if not wh.table_exists(ACCURACY_TABLE):
        return outcome
    who = shock.category.replace("'", "''")
    rows = wh.query(
        f"""SELECT forecast_date, mape FROM {ACCURACY_TABLE}
            WHERE category = '{who}' AND lead_days = 0 AND mape IS NOT NULL ORDER BY forecast_date"""
    )
    daily = dict(zip(rows.column("forecast_date").to_pylist(), rows.column("mape").to_pylist(), strict=True))
    outcome.daily = {d.isoformat(): round(v, 6) for d, v in daily.items()}
    before = [v for d, v in daily.items() if d < shock.start]
    outcome.pre_level = sum(before) / len(before) if before else None
    lag = dt.timedelta(days=_lag_days(ws))
    scored_by = {d: d + lag for d in daily}  # the first business day each date could be scored
    shocked = [d for d in daily if d >= shock.start]
    if not shocked:
        return outcome
    matured = scored_by[shocked[0]]
    outcome.matured_on = matured.isoformat()
    evaluation_days = [dt.date.fromisoformat(r.today) for r in result.days if r.number > 0]
    for record in result.days:
        today = dt.date.fromisoformat(record.today)
        if today < matured:
            continue
        if outcome.flagged_on is None and shock.category in record.breaches:
            outcome.flagged_on = record.today
            outcome.flagged_after_days = sum(1 for d in evaluation_days if matured <= d < today)
        if outcome.retrained_on is None and record.retraining:
            outcome.retrained_on = record.today
        window = [d for d in shocked if scored_by[d] <= today][-RECOVERY_WINDOW:]
        if (
            outcome.recovered_on is None
            and outcome.pre_level is not None
            and len(window) == RECOVERY_WINDOW
            and _mean(daily, window) <= outcome.pre_level * (1 + RECOVERY_TOLERANCE)
        ):
            outcome.recovered_on = record.today
    outcome.last_level = _mean(daily, shocked[-RECOVERY_WINDOW:])
    return outcome


def _mean(daily: dict[dt.date, float], dates: list[dt.date]) -> float:
    return sum(daily[d] for d in dates) / len(dates)
