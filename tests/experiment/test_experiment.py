"""``matih experiment run | show | route`` and ``matih routing history | rollback`` on the demo's
workspace: real fits of three families at two cutoffs, real MLflow runs, a real warehouse table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from matih.cli.main import app
from tests.conftest import TREES

pytestmark = pytest.mark.training

EXPERIMENT = "quick-comparison"
FAMILIES = ["lightgbm", "seasonal_naive", "croston_sba"]


@pytest.fixture(scope="module")
def exp_ws(tmp_path_factory: pytest.TempPathFactory, demo_run) -> Any:
    from matih.workspace import Workspace

    root = tmp_path_factory.mktemp("experiment") / "novamart"
    shutil.copytree(demo_run.workspace.root, root, ignore=shutil.ignore_patterns("temporal", "sandbox"))
    (root / "experiments" / f"{EXPERIMENT}.json").write_text(
        json.dumps(
            {
                "experiment": EXPERIMENT,
                "pipeline": "demand-forecast-daily",
                "models": FAMILIES,
                "cutoffs": {"count": 2, "step_days": 14},
                "output_table": "analytics.experiments.quick_comparison",
                "significance": {"resamples": 500},
            }
        )
    )
    return Workspace(root)


@pytest.fixture(scope="module")
def ran(exp_ws) -> Any:
    result = CliRunner().invoke(
        app, ["experiment", "run", EXPERIMENT, "--n-estimators", str(TREES), "-w", str(exp_ws.root)]
    )
    assert result.exit_code == 0, result.output
    from matih.experiment import load_report

    return result.output, load_report(exp_ws, EXPERIMENT)


def test_the_results_matrix_names_every_category_family_and_winner(ran):
    output, report = ran
    flat = " ".join(output.split())
    assert "Results Matrix" in flat and "Wins" in flat and "Fit time" in flat
    assert len(report.categories) == 20 and report.families == FAMILIES
    for category in report.categories:
        assert category in flat
        assert set(report.matrix[category]) == set(FAMILIES)
        assert report.winners[category] == min(FAMILIES, key=lambda f: report.matrix[category][f])
    assert sum(report.wins.values()) == 20
    assert len(report.cutoffs) == 2
    # each family's overall MAPE is the pooled error over both cutoffs
    assert all(0 < report.overall[f] < 2 for f in FAMILIES)


def test_one_row_per_series_cutoff_lead_and_family_one_sql_away(ran, exp_ws):
    from matih.warehouse import warehouse_of

    _, report = ran
    wh = warehouse_of(exp_ws)
    counts = wh.query(
        "SELECT family, cutoff, count(*) AS n, count(DISTINCT product_id) AS p, max(lead) AS h "
        "FROM analytics.experiments.quick_comparison GROUP BY ALL ORDER BY ALL"
    ).to_pylist()
    assert len(counts) == 2 * len(FAMILIES)
    assert {c["h"] for c in counts} == {14}
    assert all(c["n"] == c["p"] * 14 for c in counts)
    assert sum(c["n"] for c in counts) == report.rows
    leaderboard = wh.query(
        "SELECT family, sum(abs(actual_units - predicted_units)) / sum(actual_units) AS mape "
        "FROM analytics.experiments.quick_comparison GROUP BY family"
    ).to_pylist()
    for row in leaderboard:
        assert row["mape"] == pytest.approx(report.overall[row["family"]], rel=1e-9)


def test_lightgbm_at_the_last_cutoff_scores_what_evaluate_reports(ran, exp_ws):
    """The baseline at the last cutoff is the model `matih train` builds, scored on `matih evaluate`'s
    holdout: the same per-category MAPE."""
    import dataclasses

    from matih.forecast.adapt import configs_from_pipeline
    from matih.forecast.evaluation import evaluate
    from matih.forecast.training import train

    _, report = ran
    cfg, gate, _ = configs_from_pipeline(exp_ws, n_estimators=TREES)
    trained = train(exp_ws, dataclasses.replace(cfg))
    verdict = evaluate(exp_ws, cfg, gate, version=trained.forecaster.version, promote=False)
    last = report.per_cutoff[report.cutoffs[-1]]["lightgbm"]
    assert verdict.holdout_start > report.cutoffs[-1]
    for group in verdict.per_category:
        assert last[group.name] == pytest.approx(group.mape, rel=1e-9, abs=1e-12)
    assert last["Overall"] == pytest.approx(verdict.overall.mape, rel=1e-9)


def test_mlflow_has_a_parent_run_with_a_child_per_family_and_cutoff(ran, exp_ws):
    from matih.forecast.registry import Registry

    _, report = ran
    registry = Registry(exp_ws)
    experiment = registry.client.get_experiment_by_name(EXPERIMENT)
    children = registry.client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{report.run_id}'"
    )
    assert sorted((r.data.params["family"], r.data.params["cutoff"]) for r in children) == sorted(
        (f, c) for f in FAMILIES for c in report.cutoffs
    )
    assert all("mape" in r.data.metrics and "fit_seconds" in r.data.metrics for r in children)
    # the challengers were registered from the last cutoff, ready to be gated and routed
    assert set(report.registered) == {"seasonal_naive", "croston_sba"}
    for family, version in report.registered.items():
        model = registry.load(f"demand-forecast-daily-{family}", version)
        assert model.family == family


def test_route_writes_a_routing_version_and_rollback_restores_the_seeds(ran, exp_ws):
    root = str(exp_ws.root)
    path = Path(root) / "routing" / "per-category.json"
    seed = json.loads(path.read_text())
    _, report = ran
    routed = CliRunner().invoke(app, ["experiment", "route", EXPERIMENT, "-w", root])
    assert routed.exit_code == 0, routed.output
    now = json.loads(path.read_text())
    expected = {c: f for c, f in report.routes().items()}
    got = {c: o["model"] for o in now["overrides"] for c in o["categories"]}
    assert set(got) <= set(expected)  # a family that fails its gate keeps its categories on lightgbm
    assert now["auto_reassign"] == seed["auto_reassign"]  # the rest of the document is the user's
    assert "lstm" not in json.dumps(now["overrides"])  # the seed's untested routes are gone
    history = CliRunner().invoke(app, ["routing", "history", "-w", root])
    assert history.exit_code == 0 and "v1" in history.output and "v2" in history.output
    back = CliRunner().invoke(app, ["routing", "rollback", "-w", root])
    assert back.exit_code == 0, back.output
    assert json.loads(path.read_text()) == seed
    again = CliRunner().invoke(app, ["routing", "rollback", "--to", "2", "-w", root])
    assert again.exit_code == 0 and json.loads(path.read_text()) == now


def test_an_unknown_experiment_and_a_bad_spec_are_refused(exp_ws, tmp_path):
    result = CliRunner().invoke(app, ["experiment", "run", "nope", "-w", str(exp_ws.root)])
    assert result.exit_code == 1 and "no experiment 'nope'" in result.output
    from matih.exceptions import SpecError
    from matih.specs import load_spec

    bad = tmp_path / "experiments" / "bad.json"
    bad.parent.mkdir()
    bad.write_text(json.dumps({"experiment": "bad", "models": ["lightgbm", "xgboost"]}))
    with pytest.raises(SpecError, match="models"):
        load_spec(bad)
    bad.write_text(json.dumps({"experiment": "bad", "models": ["lstm", "prophet"]}))
    with pytest.raises(SpecError, match="baseline 'lightgbm' must be one of models"):
        load_spec(bad)
