"""Retries as the spec says, on a real Temporal dev server, against the sandbox's Shopify API.

The sandbox answers 503 to a scripted number of order requests; with one HTTP attempt per sync, each
503 fails one attempt of the ``sync`` task, whose retry policy is the seed's (3 attempts, x2, 60 s).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from matih.orchestrate import plan as P
from matih.orchestrate.runner import run_pipeline, run_status
from tests.doubles.slack_webhook import SlackFault
from tests.orchestrate.conftest import TIME_SCALE, write_pipeline


def sync_only(spec: dict[str, Any]) -> None:
    sync = spec["tasks"][0]
    sync["config"]["connections"] = ["shopify-orders"]
    sync["retry_policy"] = {"max_attempts": 3, "backoff_coefficient": 2, "initial_interval": "60s"}
    spec["tasks"] = [sync]
    spec["failure_handling"]["task_level"] = {"sync_sources": "retry_then_fail"}


def fail_orders(sandbox: Any, times: int) -> None:
    url = f"{sandbox.endpoints.shopify_url}/_sandbox/faults"
    httpx.delete(url)
    httpx.post(url, json={"resource": "orders", "status": 503, "times": times}).raise_for_status()


def test_failing_twice_then_succeeding_takes_three_attempts_with_exponential_backoff(orch_ws, sandbox, slack):
    pipeline = write_pipeline(orch_ws, "retry-sync", sync_only)
    fail_orders(sandbox, times=2)
    run = run_pipeline(orch_ws, pipeline, options={"full_refresh": True})
    assert run.status == P.RUN_SUCCEEDED, run.message
    task = run.task("sync_sources")
    assert task.attempts == 3
    assert [a["status"] for a in task.attempt_log] == ["failed", "failed", "succeeded"]
    assert all("503" in a["error"] for a in task.attempt_log[:2])
    first, second = task.backoffs()
    # 60 s then 120 s, scaled by the workspace's time unit (Temporal's timers fire up to ~1 s late)
    assert 60 * TIME_SCALE <= first < 60 * TIME_SCALE + 1.2
    assert 120 * TIME_SCALE <= second < 120 * TIME_SCALE + 1.2
    # the same figures come back from Temporal after the fact
    again = run_status(orch_ws, run.run_id).task("sync_sources")
    assert (again.attempts, again.attempt_log) == (3, task.attempt_log)
    # on_success: metrics to #data-pipelines
    (message,) = slack.run_messages
    assert message["channel"] == "#data-pipelines"
    assert "succeeded" in message["text"]
    metrics = message["metadata"]["event_payload"]
    assert metrics["tasks"]["sync_sources"]["attempts"] == 3
    assert metrics["rows.sync_sources"] == task.metrics["rows"] > 0
    assert "3 attempt(s)" in json.dumps(message["blocks"])


def test_a_task_that_always_fails_ends_the_run_after_max_attempts_and_notifies(
    orch_ws, sandbox, slack, capfd
):
    pipeline = write_pipeline(orch_ws, "retry-sync", sync_only)
    fail_orders(sandbox, times=100)
    try:
        run = run_pipeline(orch_ws, pipeline)
    finally:
        httpx.delete(f"{sandbox.endpoints.shopify_url}/_sandbox/faults")
    assert run.status == P.RUN_FAILED
    task = run.task("sync_sources")
    assert (task.state, task.attempts) == (P.FAILED, 3)
    assert "503" in task.error
    assert "sync_sources failed after 3 attempt(s)" in run.message
    (message,) = slack.run_messages
    assert message["channel"] == "#ml-ops-alerts"
    body = json.dumps(message)
    assert "503" in body  # the error
    assert "sync_sources attempt 3 failed" in body, body  # include_logs: the log tail
    # Temporal has the run as failed, with the same per-task state
    assert run_status(orch_ws, run.run_id).task("sync_sources").attempts == 3
    # the webhook URL is a secret: not in logs, run records or Temporal's history
    secret = slack.path
    logs = "".join(p.read_text() for p in (orch_ws.state / "pipelines").rglob("*.log"))
    out, err = capfd.readouterr()
    assert secret not in logs + out + err
    assert secret not in json.dumps(run, default=lambda o: o.__dict__)
    assert secret.encode() not in (orch_ws.state / "temporal" / "temporal.db").read_bytes()


def test_notification_failures_are_retried_and_never_fail_the_run(orch_ws, sandbox, slack):
    pipeline = write_pipeline(orch_ws, "retry-sync", sync_only)
    fail_orders(sandbox, times=0)
    slack.faults.append(SlackFault(500, times=1))
    run = run_pipeline(orch_ws, pipeline)
    assert run.status == P.RUN_SUCCEEDED
    assert slack.attempts == 2 and len(slack.messages) == 1  # a 500, then delivered on the retry
    assert run.notifications == ["slack #data-pipelines: delivered"]


def test_an_unusable_webhook_is_reported_and_the_run_still_succeeds(orch_ws, sandbox, slack, monkeypatch):
    pipeline = write_pipeline(orch_ws, "retry-sync", sync_only)
    fail_orders(sandbox, times=0)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack.url.replace("/services/", "/services/X"))
    run = run_pipeline(orch_ws, pipeline)
    assert run.status == P.RUN_SUCCEEDED
    assert slack.messages == []
    (note,) = run.notifications
    assert "not delivered" in note and "404" in note and "no_service" in note
    assert slack.path not in note


@pytest.mark.parametrize("fault", ["missing_query", "syntax"])
def test_bad_input_fails_at_once_without_retries(orch_ws, fault):
    def change(spec: dict[str, Any]) -> None:
        task = spec["tasks"][1]
        task.pop("depends_on")
        task["config"]["query_ref"] = (
            "analytics.queries.no_such_query" if fault == "missing_query" else "analytics.queries.broken"
        )
        spec["tasks"] = [task]
        spec["failure_handling"]["task_level"] = {}

    (orch_ws.root / "queries" / "broken.sql").write_text("SELEC product_id FROM nowhere")
    pipeline = write_pipeline(orch_ws, f"bad-{fault.replace('_', '-')}", change)
    run = run_pipeline(orch_ws, pipeline)
    task = run.task("feature_engineering")
    assert run.status == P.RUN_FAILED
    assert task.attempts == 1  # non-retryable although the policy allows 3
    assert task.error_type == ("SpecError" if fault == "missing_query" else "WarehouseError")
    assert ("no_such_query.sql" if fault == "missing_query" else "SELEC") in task.error
