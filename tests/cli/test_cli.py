"""The CLI is thin: it calls the library and maps MatihError to exit code 1 with a message."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from typer.testing import CliRunner

from matih.cli.main import app
from tests.conftest import EXAMPLE

runner = CliRunner()


def test_validate_example_workspace(tmp_path):
    result = runner.invoke(app, ["validate", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "11 documents valid" in result.output
    assert "sales_rolling_7d" in result.output  # the ROWS-over-gaps warning names the columns
    assert "auto_reassign" not in result.output  # the seed's monitors track accuracy: it acts
    lone = tmp_path / "ws"
    shutil.copytree(EXAMPLE, lone, ignore=shutil.ignore_patterns(".matih", "monitors"))
    result = runner.invoke(app, ["validate", str(lone)])
    assert "no monitors/*.json has one, so it never acts" in " ".join(result.output.split())


def test_validate_names_file_path_and_fix(tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(EXAMPLE, ws, ignore=shutil.ignore_patterns(".matih"))
    path = ws / "pipelines" / "demand-forecast-daily.json"
    spec = json.loads(path.read_text())
    spec["tasks"][1]["config"]["write_mode"] = "replace"
    path.write_text(json.dumps(spec))
    result = runner.invoke(app, ["validate", str(ws)])
    assert result.exit_code == 1
    assert "demand-forecast-daily.json" in result.output
    assert "$.tasks[1].config.write_mode" in result.output and "'overwrite'" in result.output


def test_query_run_prints_table_elapsed_and_writes_files(loaded_workspace, tmp_path):
    ws = str(loaded_workspace.root)
    result = runner.invoke(
        app,
        [
            "query",
            "run",
            "-w",
            ws,
            "-e",
            "SELECT category, count(*) AS n FROM postgresql.analytics.product_categories "
            "GROUP BY 1 ORDER BY 1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Electronics" in result.output
    assert re.search(r"20 rows in \d+\.\d+s", result.output), result.output
    out = tmp_path / "cats.csv"
    result = runner.invoke(
        app,
        [
            "query",
            "run",
            "-w",
            ws,
            "--format",
            "csv",
            "--output",
            str(out),
            "-e",
            "SELECT DISTINCT category FROM postgresql.analytics.product_categories",
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 21


def test_query_errors_are_messages_not_tracebacks(loaded_workspace):
    result = runner.invoke(app, ["query", "run", "-w", str(loaded_workspace.root), "-e", "SELEC 1"])
    assert result.exit_code == 1
    assert "error:" in result.output and "Traceback" not in result.output


def test_query_run_the_seed_sql_file_verbatim_and_again(loaded_workspace):
    sql = loaded_workspace.root / "queries" / "demand_features.sql"
    for _ in range(2):  # a CREATE TABLE file re-runs: the table is replaced atomically
        result = runner.invoke(app, ["query", "run", str(sql)])
        assert result.exit_code == 0, result.output
        assert re.search(r"analytics\.derived\.demand_features: [\d,]+ rows in", result.output), result.output
    result = runner.invoke(
        app, ["query", "run", str(loaded_workspace.root / "queries" / "history_buckets.sql")]
    )
    assert result.exit_code == 0 and "12+ months" in result.output


@pytest.mark.training
def test_train_then_evaluate_exits_1_on_a_breached_gate(loaded_workspace, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(loaded_workspace.root, ws)
    path = ws / "pipelines" / "demand-forecast-daily.json"
    spec = json.loads(path.read_text())
    spec["tasks"][3]["config"]["thresholds"]["mape_max"] = 0.001  # no model can pass
    path.write_text(json.dumps(spec))
    result = runner.invoke(app, ["train", "-w", str(ws), "--n-estimators", "10"])
    assert result.exit_code == 0, result.output
    assert "Training Summary: demand-forecast-daily" in result.output and "registered" in result.output
    result = runner.invoke(app, ["evaluate", "-w", str(ws)])
    assert result.exit_code == 1
    assert "Per-Category Validation Results" in result.output
    assert "not promoted" in result.output and "FAIL" in result.output
    result = runner.invoke(app, ["forecast", "-w", str(ws)])
    assert result.exit_code == 1 and "no 'champion' version" in result.output


def test_init_makes_a_workspace_that_validates(tmp_path):
    result = runner.invoke(app, ["init", str(tmp_path / "mine")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "mine" / "matih.yaml").is_file() and (tmp_path / "mine" / "pipelines").is_dir()
    assert runner.invoke(app, ["validate", str(tmp_path / "mine")]).exit_code == 0
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1 and "not a workspace" in result.output


@pytest.mark.server  # the whole demo: sandbox servers and a Temporal dev server
def test_demo_command_prints_the_seed_tables(tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(EXAMPLE, ws, ignore=shutil.ignore_patterns(".matih"))
    args = [
        "demo",
        "-w",
        str(ws),
        "--products",
        "300",
        "--seed",
        "3",
        "--n-estimators",
        "120",
        "--end-date",
        "2026-06-30",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for expected in (
        "demand_features_validation on analytics.derived.demand_features: passed",
        "History per product_id",
        "Feature Correlations with units_sold",
        "Training Summary",
        "Per-Category Validation Results",
        "Overall Weighted MAPE",
        "Seasonal naive",
        "Noise floor",
        "Sample output from analytics.forecasts.demand_14d",
    ):
        assert expected in result.output, expected
    assert (ws / ".matih" / "reports" / "demo.json").is_file()


def test_sources_list_and_schedule():
    listed = runner.invoke(app, ["sources", "list", "-w", str(EXAMPLE)])
    assert listed.exit_code == 0, listed.output
    for name in ("shopify-orders", "inventory-db", "google-analytics", "postgresql.shopify", "0 */6 * * *"):
        assert name in listed.output
    scheduled = runner.invoke(app, ["sources", "schedule", "-w", str(EXAMPLE)])
    assert scheduled.exit_code == 0, scheduled.output
    assert re.search(r"shopify-orders\s+│\s+0 \* \* \* \*", scheduled.output)


def test_sources_sync_and_status_through_the_cli(served):
    synced = runner.invoke(app, ["sources", "sync", "product-categories", "-w", str(served.ws.root)])
    assert synced.exit_code == 0, synced.output
    assert "product_categories" in synced.output and "300" in synced.output
    status = runner.invoke(app, ["sources", "status", "-w", str(served.ws.root)], terminal_width=250)
    assert status.exit_code == 0, status.output
    assert re.search(r"product-categories\s+│\s+product_categories\s+│\s+full_refresh", status.output)
    assert "succeeded" in status.output


def test_sandbox_advance_needs_a_running_sandbox(tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(EXAMPLE, ws, ignore=shutil.ignore_patterns(".matih"))
    result = runner.invoke(app, ["sandbox", "advance", "-w", str(ws)])
    assert result.exit_code == 1
    assert "matih sandbox serve" in result.output
