"""``failure_handling.task_level`` as the seed writes it: a failed validation skips the deployment and
keeps the champion; a failed deployment rolls the champion back. Runs on a real Temporal dev server with
real MLflow; the world is already in the warehouse, so these pipelines start at the feature SQL."""

from __future__ import annotations

import json
from typing import Any

from matih.forecast.registry import CHAMPION, Registry
from matih.orchestrate import plan as P
from matih.orchestrate.runner import run_pipeline
from matih.serving.deployments import load_state
from matih.warehouse import warehouse_of
from tests.orchestrate.conftest import without_sync, write_pipeline

MODEL = "demand-forecast-daily"
TREES = {"n_estimators": 40}


def champion(ws: Any) -> int | None:
    return Registry(ws).alias_version(MODEL, CHAMPION)


def served_version(ws: Any) -> str:
    return (
        warehouse_of(ws)
        .query("SELECT DISTINCT model_version FROM analytics.forecasts.demand_14d")
        .column(0)[0]
        .as_py()
    )


def good_run(ws: Any) -> P.RunResult:
    pipeline = write_pipeline(ws, "train-deploy", without_sync)
    run = run_pipeline(ws, pipeline, options=TREES)
    assert run.status == P.RUN_SUCCEEDED, run.message
    return run


def test_validation_failure_skips_deployment_and_keeps_the_champion(orch_ws, slack):
    good = good_run(orch_ws)
    before = champion(orch_ws)
    assert f"v{before}" == good.task("model_deployment").metrics["model_version"] == served_version(orch_ws)

    def bad_model(spec: dict[str, Any]) -> None:
        without_sync(spec)
        # one tiny boosting step: the model barely moves from the mean and cannot meet the 15% gate
        spec["tasks"][1]["config"]["hyperparameters"].update({"n_estimators": 1, "learning_rate": 0.001})

    run = run_pipeline(orch_ws, write_pipeline(orch_ws, "bad-model", bad_model))
    assert run.status == P.RUN_VALIDATION_FAILED
    validation = run.task("model_validation")
    assert validation.state == P.FAILED and validation.error_type == "ValidationGateError"
    assert validation.attempts == 1
    assert validation.details["report"]["overall_mape"] > 0.15
    assert run.task("model_deployment").state == P.SKIPPED
    assert "current champion keeps serving" in run.message
    # the champion and what is served are unchanged; the bad version is registered, tagged, not promoted
    assert champion(orch_ws) == before
    assert served_version(orch_ws) == f"v{before}"
    bad = int(run.task("model_training").metrics["model_version"])
    assert Registry(orch_ws).version_tags(MODEL, bad)["validation_status"] == "failed"
    (message,) = [m for m in slack.run_messages if m["channel"] == "#ml-ops-alerts"]
    assert "validation failed" in message["text"] and "MAPE" in json.dumps(message["blocks"])


def test_failed_deployment_rolls_back_to_the_previous_champion(orch_ws, slack):
    good_run(orch_ws)
    before = champion(orch_ws)
    live_before = load_state(orch_ws, "demand-forecaster").live

    def tight_health_check(spec: dict[str, Any]) -> None:
        without_sync(spec)
        # 1 s at the test's time scale is 25 ms: green cannot load and forecast that fast
        spec["tasks"][-1]["config"]["health_check_timeout"] = "1s"

    run = run_pipeline(orch_ws, write_pipeline(orch_ws, "slow-health", tight_health_check), options=TREES)
    assert run.status == P.RUN_FAILED
    deployment = run.task("model_deployment")
    assert deployment.state == P.ROLLED_BACK
    assert deployment.error_type == "DeploymentError" and "health check" in deployment.error
    validated = int(run.task("model_validation").metrics["model_version"])
    assert validated != before and run.task("model_validation").metrics["promoted"]
    # validation had promoted the new version; the rollback restored the previous champion
    assert champion(orch_ws) == before
    assert f"v{before}" in deployment.note
    state = load_state(orch_ws, "demand-forecaster")
    assert state.live == live_before
    assert [h["event"] for h in state.history[-2:]] == ["rollout_failed", "rollback"]
    assert served_version(orch_ws) == f"v{before}"
    (message,) = [m for m in slack.run_messages if m["channel"] == "#ml-ops-alerts"]
    assert "rolled back" in json.dumps(message["blocks"])


def test_a_failing_quality_suite_stops_the_run_before_training(orch_ws, slack):
    good_run(orch_ws)
    before, latest = champion(orch_ws), Registry(orch_ws).latest_version(MODEL)
    (orch_ws.root / "queries" / "defective_features.sql").write_text(
        "SELECT * FROM analytics.derived.demand_features\n"
        "UNION ALL (SELECT * FROM analytics.derived.demand_features LIMIT 1)"  # a duplicated key
    )

    def with_quality_gate(spec: dict[str, Any]) -> None:
        without_sync(spec)
        spec["tasks"][0]["config"].update(
            query_ref="analytics.queries.defective_features",
            target_table="analytics.derived.defective_features",
        )
        spec["tasks"].insert(
            1,
            {
                "task_id": "validate_data",
                "type": "quality_check",
                "depends_on": ["feature_engineering"],
                "config": {
                    "suite": "demand_features_validation",
                    "table": "analytics.derived.defective_features",
                },
            },
        )
        spec["tasks"][2]["depends_on"] = ["validate_data"]

    run = run_pipeline(orch_ws, write_pipeline(orch_ws, "quality-gate", with_quality_gate), options=TREES)
    assert run.status == P.RUN_FAILED
    gate = run.task("validate_data")
    assert (gate.state, gate.error_type, gate.attempts) == (P.FAILED, "QualityError", 1)
    uniqueness = gate.details["quality"]["results"][3]
    assert (
        uniqueness["type"] == "expect_compound_columns_to_be_unique" and uniqueness["unexpected_count"] == 2
    )
    assert [run.task(t).state for t in ("model_training", "model_validation", "model_deployment")] == [
        P.SKIPPED
    ] * 3
    assert Registry(orch_ws).latest_version(MODEL) == latest and champion(orch_ws) == before
    (message,) = [m for m in slack.run_messages if m["channel"] == "#ml-ops-alerts"]
    assert "compound_columns_to_be_unique" in json.dumps(message)
