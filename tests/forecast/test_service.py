"""Train -> evaluate -> promote, the gate, and a user's own schema and horizon."""

from __future__ import annotations

import shutil

import duckdb
import pyarrow as pa
import pytest

from matih.exceptions import RegistryError, ValidationGateError
from matih.forecast.batch import forecast
from matih.forecast.config import GateConfig, TrainConfig
from matih.forecast.evaluation import enforce_gate, evaluate, report_from_dict
from matih.forecast.references import Holdout, reference_providers
from matih.forecast.registry import CHAMPION, PREVIOUS, Registry
from matih.forecast.training import train
from matih.warehouse import warehouse_of
from matih.workspace import Workspace
from tests.forecast.pipelines import write_pipeline

# each test trains and registers models in MLflow
pytestmark = pytest.mark.training


@pytest.fixture
def workspace(loaded_workspace, tmp_path):
    """A private copy of the loaded workspace (its registry starts empty)."""
    dest = tmp_path / "ws"
    shutil.copytree(loaded_workspace.root, dest)
    return Workspace(dest)


def test_gate_promotes_good_models_and_refuses_bad_ones(workspace):
    good = TrainConfig(n_estimators=80, learning_rate=0.08)
    gate = GateConfig()
    with pytest.raises(RegistryError, match="champion"):
        forecast(workspace, good)  # nothing validated yet: nothing to serve
    first = train(workspace, good)
    report = evaluate(workspace, good, gate)
    assert report.passed and report.promoted and report.version == first.forecaster.version
    registry = Registry(workspace)
    assert registry.alias_version(good.experiment, CHAMPION) == first.forecaster.version
    run = registry.client.get_run(first.forecaster.run_id)
    assert run.data.params["n_estimators"] == "80" and run.data.params["forecast_horizon"] == "14"
    assert {"train_rows", "holdout_mape", "noise_floor_mape", "holdout_pinball_upper", "holdout_wql"} <= set(
        run.data.metrics
    )
    # the deciles' weighted quantile loss beats the point forecast's own WAPE: the spread is informative
    assert 0 < report.overall.wql < report.overall.mape
    artifacts = {a.path for a in registry.client.list_artifacts(first.forecaster.run_id)}
    assert "training_summary.txt" in artifacts
    assert len(registry.load(good.experiment, first.forecaster.version).boosters) == 20
    assert registry.alias_version(good.fallback_name, CHAMPION) == first.forecaster.fallback_version

    bad = TrainConfig(n_estimators=1, learning_rate=0.01)  # barely moves off the series' own mean
    second = train(workspace, bad)
    report = evaluate(workspace, bad, gate)
    assert report.overall.mape > gate.mape_max
    assert not report.passed and not report.promoted
    assert any("MAPE" in r for r in report.reasons)
    with pytest.raises(ValidationGateError, match="not promoted"):
        enforce_gate(report, gate)
    assert registry.alias_version(good.experiment, CHAMPION) == first.forecaster.version
    assert registry.version_tags(bad.experiment, second.forecaster.version)["validation_status"] == "failed"
    batch = forecast(workspace, good)
    assert batch.model_version == first.forecaster.label  # the champion keeps serving

    strict = evaluate(
        workspace, good, GateConfig(coverage_min=0.99), version=first.forecaster.version, promote=False
    )
    assert not strict.passed and any("coverage" in r for r in strict.reasons)

    third = train(workspace, good)
    assert evaluate(workspace, good, gate).promoted
    assert registry.alias_version(good.experiment, CHAMPION) == third.forecaster.version
    assert registry.alias_version(good.experiment, PREVIOUS) == first.forecaster.version


def test_a_users_own_schema_and_horizon(workspace):
    wh = warehouse_of(workspace)
    wh.run("""CREATE TABLE analytics.custom.sales AS
              SELECT product_id AS sku, sale_date AS day, units_sold AS qty,
                     -- an integer category (a department number): names need not be text
                     dense_rank() OVER (ORDER BY category)::INTEGER + 100 AS dept
              FROM analytics.derived.demand_features""")
    for folder in ("pipelines", "deployments", "monitors", "routing", "experiments", "quality", "sources"):
        shutil.rmtree(workspace.root / folder, ignore_errors=True)
    (workspace.root / "pipelines").mkdir()
    hyperparameters = {
        "forecast_horizon": 7,
        "category_column": "dept",
        "series_column": "sku",
        "date_column": "day",
        "target_column": "qty",
        "quantiles": [0.9, 0.1, 0.5],
        # the log-link path, with the budget it needs (auto keeps squared error for small budgets)
        "objective": "tweedie",
        "n_estimators": 120,
    }
    write_pipeline(
        workspace,
        "weekly-sku",
        "analytics.custom.sales",
        hyperparameters,
        holdout="last_7_days",
        window="7d",
        output="analytics.custom.forecast_7d",
        thresholds={"mape_max": 0.3, "bias_range": [-0.1, 0.1]},
    )
    from matih.forecast.adapt import configs_from_pipeline
    from matih.specs import validate_workspace

    assert validate_workspace(workspace.root).ok
    cfg, gate, output = configs_from_pipeline(workspace)
    assert cfg.roles.series_column == "sku" and cfg.forecast_horizon == 7 and gate.holdout_days == 7
    trained = train(workspace, cfg)
    assert set(trained.stats.objectives.values()) == {"tweedie"}
    report = evaluate(workspace, cfg, gate)
    assert report.promoted, report.reasons
    result = forecast(workspace, cfg, output_table=output)
    t = wh.query("SELECT * FROM analytics.custom.forecast_7d").to_pandas()
    assert result.table == "analytics.custom.forecast_7d"
    assert sorted(t["horizon_days"].unique().tolist()) == list(range(1, 8))
    assert len(t) == t["product_id"].nunique() * 7
    assert {str(c) for c in t["category"].unique()} <= {str(100 + k) for k in range(1, 30)}
    # the asked-for quantiles are columns, ordered, around the forecast
    assert (t["p10"] <= t["p50"]).all() and (t["p50"] <= t["p90"]).all() and (t["p10"] >= 0).all()
    assert ((t["p10"] <= t["predicted_units"]) & (t["predicted_units"] <= t["p90"])).mean() > 0.95
    assert report.overall.wql == pytest.approx(report.to_dict()["overall_wql"])


def _floors_from_truth(workspace: Workspace, holdout: Holdout) -> tuple[float, float]:
    """The noise and forecastable floors straight from the world's truth tables, in SQL."""
    rows = pa.table({"product_id": holdout.series, "date": holdout.dates, "y": holdout.actual})
    with duckdb.connect(str(workspace.sandbox_dir / "world.duckdb"), read_only=True) as con:
        con.register("h", rows)
        noise, forecastable = con.execute("""
            WITH truth AS (
                SELECT p.product_id, t.date, t.expected_units, t.baseline_demand
                FROM truth.expected_demand t JOIN truth.products p USING (product_idx))
            SELECT sum(abs(h.y - coalesce(t.expected_units, 0))) / sum(abs(h.y)),
                   sum(abs(h.y - coalesce(t.baseline_demand, 0))) / sum(abs(h.y))
            FROM h LEFT JOIN truth t ON t.product_id = h.product_id AND t.date = h.date""").fetchone()
    return float(noise), float(forecastable)


def test_the_sandbox_floors_come_through_the_reference_hook(workspace, monkeypatch):
    """The simulator's truth reaches the report only through ``matih.evaluation_references``; without a
    world there are no floors."""
    providers = reference_providers()
    assert "sandbox" in providers, "the sandbox's entry point is not installed: pip install -e ."
    seen: list[Holdout] = []

    def spy(ws: Workspace, holdout: Holdout) -> dict[str, float]:
        seen.append(holdout)
        return {}

    monkeypatch.setitem(providers, "spy", spy)
    cfg = TrainConfig(n_estimators=20, learning_rate=0.1)
    trained = train(workspace, cfg)
    report = evaluate(workspace, cfg, GateConfig(), promote=False)
    (holdout,) = seen
    assert holdout.rows == report.rows == len(holdout.series) == len(holdout.dates)
    assert (str(holdout.dates.min()), str(holdout.dates.max())) == (report.holdout_start, report.holdout_end)
    noise, forecastable = _floors_from_truth(workspace, holdout)
    assert 0 < noise < forecastable < 1
    assert report.references == pytest.approx(
        {"noise_floor_mape": noise, "forecastable_floor_mape": forecastable}, rel=1e-9
    )
    logged = Registry(workspace).client.get_run(trained.forecaster.run_id).data.metrics
    assert logged["noise_floor_mape"] == pytest.approx(noise, rel=1e-9)
    assert logged["forecastable_floor_mape"] == pytest.approx(forecastable, rel=1e-9)
    saved = report.to_dict()
    assert saved["noise_floor_mape"] == report.references["noise_floor_mape"]  # flat, beside overall_mape
    assert report_from_dict(saved).references == report.references

    (workspace.sandbox_dir / "world.duckdb").unlink()
    bare = evaluate(workspace, cfg, GateConfig(), promote=False)
    assert bare.references == {}
    assert bare.overall.mape == report.overall.mape  # the model's own score does not use the world
    assert "noise_floor_mape" not in report_from_dict(bare.to_dict()).references
