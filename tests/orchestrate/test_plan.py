"""From spec to run plan, and from run to Slack message: pure functions, no server."""

from __future__ import annotations

import json

import pytest

from matih.exceptions import SourceError, SpecError, WarehouseError, is_transient
from matih.orchestrate import plan as P
from matih.orchestrate.notify import slack_message
from matih.specs import PipelineSpec, WorkspaceSettings, load_spec
from tests.orchestrate.conftest import SEED_PIPELINE


def seed_plan(scale: float = 1.0) -> P.PipelinePlan:
    spec = load_spec(SEED_PIPELINE)
    assert isinstance(spec, PipelineSpec)
    return P.plan_pipeline(spec, WorkspaceSettings.model_validate({"temporal": {"time_scale": scale}}))


def test_the_seed_pipeline_becomes_five_tasks_with_its_edges_retries_and_failure_actions():
    plan = seed_plan()
    assert [t.task_id for t in plan.tasks] == [
        "sync_sources",
        "feature_engineering",
        "model_training",
        "model_validation",
        "model_deployment",
    ]
    assert [t.depends_on for t in plan.tasks][1:] == [
        [t] for t in ("sync_sources", "feature_engineering", "model_training", "model_validation")
    ]
    fe = plan.tasks[1]
    assert fe.retry == P.RetryPlan(max_attempts=3, initial_interval_s=60.0, backoff_coefficient=2.0)
    assert plan.tasks[0].timeout_s == 1800 and plan.tasks[0].retry is None
    assert plan.timeout_s == 7200
    assert [t.on_failure for t in plan.tasks] == [
        "retry_then_fail",
        "retry_then_fail",
        "retry_then_fail",
        "skip_deployment_keep_current",
        "rollback_to_previous",
    ]
    assert plan.on_failure == P.NotificationPlan("slack", "#ml-ops-alerts", include_logs=True)
    assert plan.on_success == P.NotificationPlan("slack", "#data-pipelines", include_metrics=True)
    # the plan is what Temporal stores: the spec as submitted, valid again on the worker's side
    assert (
        PipelineSpec.model_validate(plan.spec).task("model_training").config.hyperparameters.n_estimators
        == 500
    )


def test_the_time_scale_shrinks_every_duration():
    plan = seed_plan(0.01)
    assert plan.tasks[1].retry is not None and plan.tasks[1].retry.initial_interval_s == pytest.approx(0.6)
    assert plan.tasks[0].timeout_s == pytest.approx(18)
    assert plan.timeout_s == pytest.approx(72)


def test_transient_errors_are_retried_and_bad_input_is_not():
    assert is_transient(SourceError("HTTP 503", transient=True))
    assert is_transient(ConnectionRefusedError())
    assert not is_transient(SourceError("HTTP 401: wrong token"))
    assert not is_transient(SpecError("bad field"))
    assert not is_transient(WarehouseError("Parser Error: syntax error at or near SELEC"))
    assert not is_transient(KeyError("bug"))


def run_result(status: str) -> P.RunResult:
    ok = P.TaskRun(
        "model_validation",
        "model_evaluate",
        P.SUCCEEDED,
        1,
        seconds=2.5,
        metrics={"mape": 0.123, "bias": -0.01, "model_version": 4},
    )
    bad = P.TaskRun(
        "model_deployment",
        "ray_serve_update",
        P.ROLLED_BACK,
        1,
        seconds=1.0,
        error="green v4 failed",
        log_tail=["line 1", "line 2"],
        note="rolled back: champion is v3 again",
    )
    return P.RunResult(
        "demand-forecast-daily",
        "run-1",
        status,
        [ok, bad],
        "2026-11-28T02:00:00+00:00",
        seconds=63.0,
        message="task model_deployment failed",
    )


def test_failure_message_carries_error_and_logs_only_when_asked():
    with_logs = slack_message(
        P.NotificationPlan("slack", "#ml-ops-alerts", include_logs=True), run_result("failed")
    )
    assert with_logs["channel"] == "#ml-ops-alerts"
    text = json.dumps(with_logs["blocks"])
    assert "green v4 failed" in text and "champion is v3 again" in text and "line 2" in text
    without = slack_message(P.NotificationPlan("slack", "#ml-ops-alerts"), run_result("failed"))
    assert "line 2" not in json.dumps(without["blocks"])


def test_success_message_carries_metrics_when_asked():
    message = slack_message(
        P.NotificationPlan("slack", "#data-pipelines", include_metrics=True), run_result("succeeded")
    )
    assert "MAPE 12.3%" in json.dumps(message["blocks"])
    payload = message["metadata"]["event_payload"]
    assert payload["mape"] == 0.123 and payload["tasks"]["model_validation"]["seconds"] == 2.5


def test_rollback_on_failure_rolls_back_without_a_failure_handling_entry():
    raw = json.loads(SEED_PIPELINE.read_text())
    del raw["failure_handling"]
    settings = WorkspaceSettings()
    plan = P.plan_pipeline(PipelineSpec.model_validate(raw), settings)
    assert plan.tasks[-1].on_failure == "rollback_to_previous"  # the seed's rollback_on_failure: true
    raw["tasks"][-1]["config"]["rollback_on_failure"] = False
    plan = P.plan_pipeline(PipelineSpec.model_validate(raw), settings)
    assert plan.tasks[-1].on_failure == "retry_then_fail"


def test_gate_errors_name_the_gate_exception_classes() -> None:
    from matih.exceptions import QualityError, ValidationGateError

    assert {QualityError.__name__, ValidationGateError.__name__} == P.GATE_ERRORS
