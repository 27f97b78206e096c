"""``matih monitor run`` on the demo's workspace (trained, deployed, archived), and ``matih validate``
refusing malformed retraining conditions."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from matih.cli.main import app
from matih.monitoring.retraining import past_decisions
from matih.workspace import Workspace

runner = CliRunner()


@pytest.fixture
def ws(tmp_path, demo_run) -> Workspace:
    root = tmp_path / "novamart"
    shutil.copytree(demo_run.workspace.root, root, ignore=shutil.ignore_patterns("temporal", "sandbox"))
    return Workspace(root)


def test_the_seed_monitors_run_as_written(ws):
    result = runner.invoke(app, ["monitor", "run", "--dry-run", "--json", "-w", str(ws.root)])
    reports = json.loads(result.stdout)
    assert [r["monitor_name"] for r in reports] == ["demand-forecast-production"]
    sections = {s["type"]: s for s in reports[0]["sections"]}
    assert set(sections) == {
        "accuracy_tracking",
        "feature_freshness",
        "prediction_quality",
        "automatic_retraining",
        "auto_reassign",  # routing/per-category.json enables it
    }
    # the demo's forecasts start tomorrow: none has matured, so nothing is scored (and none is read)
    assert sections["accuracy_tracking"]["lines"] == ["no forecast has matured yet"]
    fresh = sections["feature_freshness"]["figures"]
    assert set(fresh) == {"shopify.order_items", "inventory.inventory", "analytics.derived.demand_features"}
    assert all(f["age_hours"] is not None and f["age_hours"] < 6 for f in fresh.values())
    assert sections["prediction_quality"]["figures"] == {
        "coverage": 1.0,
        "non_negative": 1.0,
        "range_check": 1.0,
    }
    assert not sections["automatic_retraining"]["figures"]["decision"]["fired"]
    # only LightGBM has a champion in the demo: no shadows to compare, nothing to reassign
    reassign = sections["auto_reassign"]
    assert reassign["ok"] and not reassign["figures"]["decision"]["fired"]
    assert reassign["lines"] == [
        "no shadow forecasts have been scored yet (auto_reassign needs two families with a champion)"
    ]
    assert result.exit_code == 0, result.stdout
    assert past_decisions(ws)[-1]["reason"].startswith("0 evaluated day(s)")


@pytest.mark.parametrize(
    ("condition", "says"),
    [
        ("mape_overall >> 0.12 for 3 consecutive days", "'<metric> <op> <number> for <N> consecutive days'"),
        ("wape_overall > 0.12 for 3 consecutive days", "unknown metric 'wape_overall'"),
        ("mape_overall > 0.12 for -3 days", "'<metric> <op> <number> for <N> consecutive days'"),
    ],
)
def test_validate_refuses_a_malformed_condition(ws, condition, says):
    path = ws.root / "monitors" / "demand-forecast-production.json"
    spec = json.loads(path.read_text())
    spec["monitors"][3]["trigger"]["condition"] = condition
    path.write_text(json.dumps(spec))
    result = runner.invoke(app, ["validate", str(ws.root)])
    assert result.exit_code == 1
    out = "".join(result.output.split())  # Rich wraps long lines anywhere, even inside a path
    where = "demand-forecast-production.json:$.monitors[3].trigger.condition"
    assert where in out and "".join(says.split()) in out


def test_the_health_report_runs_from_the_cli(ws, tmp_path):
    result = runner.invoke(
        app, ["health", "--format", "json", "--plot", str(tmp_path / "h.png"), "-w", str(ws.root)]
    )
    assert result.exit_code == 0, result.stdout
    report = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    assert set(report["freshness"]) == {
        "shopify.order_items",
        "inventory.inventory",
        "analytics.derived.demand_features",
    }
    assert report["weekly_mape"] == {} and report["retraining_triggers"] == []
    # loaded minutes ago, once: within the SLA for all the time since (before the first load, nothing)
    assert all(f["within_sla"] == 1.0 and f["ok"] for f in report["freshness"].values())
    assert (tmp_path / "h.png").is_file()
