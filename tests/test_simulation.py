"""``matih sandbox simulate``: production fast-forwarded on the sandbox, with a shock.

Small and quick where the seed is large and slow (1,000 products with 240 days of history, 40 trees, a
7-day horizon, actuals scored the day after their date, thresholds for this store), so the whole loop
runs in the suite: the sandbox moves on, the pipeline runs on Temporal every day, the monitors score,
alert and start retraining through Temporal. The seed-sized runs (2,000 products, 500 trees, a 14-day
lag; with and without the shock over the same period) are ``benchmarks/simulation.py``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from matih.cli.main import app
from matih.forecast.archive import archive_table
from matih.forecast.batch import FORECAST_TABLE
from matih.monitoring.retraining import past_decisions
from matih.orchestrate.runner import run_history, run_status
from matih.simulation import scheduled_runs
from matih.warehouse import warehouse_of
from matih.workspace import Workspace
from tests.conftest import copy_example

DAYS = 12
END = dt.date(2026, 10, 16)
SHOCK = "level:Electronics:+50%@5"
SHOCK_DAY = dt.date(2026, 10, 9)
#: a 1,000-product store's categories are not equally predictable: what a quiet fortnight of this world
#: reached per category (1.3x its highest daily MAPE), the off-season ones far above the staples
THRESHOLDS = {
    "default": 0.4,
    "overall": 0.2,
    "Electronics": 0.2,
    "Garden (Seasonal)": 0.6,
    "Outdoor Furniture": 0.7,
    "Swimwear": 0.75,
}
CONDITION = "mape[Electronics] > 0.2 for 2 consecutive days"


def _workspace(root: Path) -> Workspace:
    copy_example(root)
    pipeline = root / "pipelines" / "demand-forecast-daily.json"
    spec = json.loads(pipeline.read_text())
    for task in spec["tasks"]:
        if task["type"] == "ray_train":
            task["config"]["hyperparameters"]["forecast_horizon"] = 7
            # the intervals are not the subject either: one calibration window, one fit a day
            task["config"]["hyperparameters"]["calibration_windows"] = 1
        if task["type"] == "model_evaluate":  # 40 trees on 240 days: the gate is not the subject here
            task["config"]["thresholds"] = {"mape_max": 0.5, "bias_range": [-0.5, 0.5]}
            task["config"].update(holdout_split="last_7_days", validation_window="7d")
    pipeline.write_text(json.dumps(spec, indent=2))
    monitors = root / "monitors" / "demand-forecast-production.json"
    spec = json.loads(monitors.read_text())
    spec["monitors"][0].update(evaluation_lag_days=1, alert_threshold=THRESHOLDS)
    spec["monitors"][3]["trigger"]["condition"] = CONDITION
    monitors.write_text(json.dumps(spec, indent=2))
    return Workspace(root)


@pytest.fixture(scope="module")
def shocked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, dict]:
    ws = _workspace(tmp_path_factory.mktemp("shocked") / "novamart")
    args = ["sandbox", "simulate", "-w", str(ws.root), "--days", str(DAYS), "--shock", SHOCK]
    args += ["--products", "1000", "--history-days", "240", "--n-estimators", "40", "--end-date", str(END)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((ws.reports_dir / "simulation.json").read_text())
    report["output"] = result.output
    return ws, report


@pytest.mark.parametrize(
    ("cron", "day", "runs"),
    [
        ("0 2 * * *", dt.date(2026, 10, 9), 1),
        ("0 2 * * 1", dt.date(2026, 10, 12), 1),  # a Monday
        ("0 2 * * 1", dt.date(2026, 10, 13), 0),
        ("0 */6 * * *", dt.date(2026, 10, 13), 4),
        (None, dt.date(2026, 10, 13), 1),
    ],
)
def test_a_day_holds_the_runs_its_schedule_would_start(cron, day, runs):
    assert scheduled_runs(cron, day) == runs


def test_a_malformed_shock_is_refused_before_anything_changes(tmp_path):
    ws = Workspace(copy_example(tmp_path / "novamart"))
    args = ["sandbox", "simulate", "-w", str(ws.root), "--days", "3", "--shock", "level:Gadgets:+30%@2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    said = " ".join(result.output.split())
    assert "shock category 'Gadgets' is not NovaMart's; use one of Electronics" in said
    assert not (ws.sandbox_dir / "world.duckdb").exists()


@pytest.mark.server
@pytest.mark.training
def test_every_simulated_day_runs_the_pipeline_on_temporal(shocked):
    ws, report = shocked
    days = report["days"]
    assert [d["number"] for d in days] == list(range(DAYS + 1))
    first = dt.date.fromisoformat(report["start"])
    assert report["end"] == END.isoformat() and first == END - dt.timedelta(days=DAYS - 1)
    assert [d["today"] for d in days] == [(first + dt.timedelta(days=k)).isoformat() for k in range(DAYS + 1)]
    assert all(d["runs"][0]["status"] == "succeeded" for d in days)
    # the runs are Temporal's: its history holds every one, and each published that day's batch
    history = {r.run_id for r in run_history(ws, "demand-forecast-daily", limit=100)}
    assert {r["run_id"] for d in days for r in d["runs"]} <= history
    origins = warehouse_of(ws).query(
        f"SELECT DISTINCT forecast_origin FROM {archive_table(FORECAST_TABLE)} ORDER BY 1"
    )
    published = [(o + dt.timedelta(days=1)).isoformat() for o in origins.column(0).to_pylist()]
    assert published == [d["today"] for d in days]
    # each day the monitors scored what had matured: yesterday's date (lag 1), never today's
    for day in days[1:]:
        assert day["scored"] == (dt.date.fromisoformat(day["today"]) - dt.timedelta(days=1)).isoformat()
    out = report["output"]
    assert "Production Health" in out and f"Pipeline Runs:        {DAYS + 2}" in out  # one retraining
    assert "shock level Electronics from 2026-10-09" in out


@pytest.mark.server
@pytest.mark.training
def test_a_shock_is_flagged_and_retrained_through_temporal(shocked):
    ws, report = shocked
    (outcome,) = report["outcomes"]
    assert (
        outcome["shock"]["category"] == "Electronics" and outcome["shock"]["start"] == SHOCK_DAY.isoformat()
    )
    # its first forecasts matured the day after (lag 1), and the monitor flagged it that day or the next
    assert outcome["matured_on"] == (SHOCK_DAY + dt.timedelta(days=1)).isoformat()
    assert outcome["flagged_after_days"] is not None and outcome["flagged_after_days"] <= 1, outcome
    # retraining fired through Temporal once for the episode, and the run it started succeeded
    fired = [d for d in past_decisions(ws) if d["fired"]]
    assert len(fired) == 1 and fired[0]["today"] == outcome["retrained_on"]
    assert run_status(ws, fired[0]["run_id"]).status == "succeeded"
    assert [d["retraining"] for d in report["days"] if d["retraining"]] == [[fired[0]["run_id"]]]
    # the figures it rested on are the shocked category's, above the condition
    assert all(v > 0.2 for v in fired[0]["figures"].values())
    assert (
        outcome["pre_level"]
        < THRESHOLDS["Electronics"]
        < min(v for d, v in outcome["daily"].items() if d >= SHOCK_DAY.isoformat())
    )


@pytest.mark.server
@pytest.mark.training
def test_nothing_else_alarms(shocked):
    """No false alarm: no other category alerts on any day, and nothing alerts or retrains before the
    shock's forecasts matured (the world before it is the unshocked world's)."""
    _, report = shocked
    matured = report["outcomes"][0]["matured_on"]
    for day in report["days"]:
        assert set(day["breaches"]) <= {"Electronics"}, day
        if day["today"] < matured:
            assert not day["breaches"] and not day["retraining"], day
