"""``matih quality run | history`` and ``matih profile`` as a user sees them."""

from __future__ import annotations

from typer.testing import CliRunner

from matih.cli.main import app

runner = CliRunner()


def test_quality_run_prints_each_expectation_and_exits_by_verdict(quality_ws):
    root = str(quality_ws.root)
    ok = runner.invoke(app, ["quality", "run", "demand_features_validation", "-w", root])
    assert ok.exit_code == 0, ok.output
    assert ok.output.count("PASS") == 4 and "passed" in ok.output
    quality_ws_table = "analytics.derived.cli_defect"
    from matih.warehouse import warehouse_of

    warehouse_of(quality_ws).run(
        "SELECT * REPLACE (CASE WHEN sales_rolling_7d > 50 THEN NULL ELSE sales_rolling_7d END "
        "AS sales_rolling_7d) FROM analytics.derived.demand_features",
        target=quality_ws_table,
    )
    bad = runner.invoke(
        app, ["quality", "run", "demand_features_validation", "--table", quality_ws_table, "-w", root]
    )
    assert bad.exit_code == 1
    assert "FAIL" in bad.output and "sales_rolling_7d" in bad.output
    history = runner.invoke(app, ["quality", "history", "-w", root])
    assert history.exit_code == 0 and "failed" in history.output and "passed" in history.output


def test_profile_prints_the_seed_views(quality_ws):
    result = runner.invoke(app, ["profile", "analytics.derived.demand_features", "-w", str(quality_ws.root)])
    assert result.exit_code == 0, result.output
    for text in (
        "12+ months",
        "Feature Correlations with units_sold",
        "[expected -- autoregressive]",
        "excluded from model training and served by",
    ):
        assert text in result.output, text
    missing = runner.invoke(
        app, ["profile", "analytics.derived.demand_features", "--target", "nope", "-w", str(quality_ws.root)]
    )
    assert missing.exit_code == 1 and "no target column 'nope'" in missing.output
