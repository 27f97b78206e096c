"""Schedules: a pipeline's (or a source's) cron becomes a Temporal Schedule, overlap skip, no catch-up."""

from __future__ import annotations

import asyncio
import datetime as dt

from temporalio.client import ScheduleOverlapPolicy

from matih.orchestrate import client as C
from matih.orchestrate import plan as P
from matih.orchestrate.runner import run_history, schedule, schedules, unschedule
from matih.orchestrate.worker import running_worker


def test_a_pipeline_schedule_is_a_temporal_schedule(orch_ws):
    view = schedule(orch_ws, "demand-forecast-daily")
    assert view.schedule_id == "matih-pipeline-demand-forecast-daily"
    assert view.cron == "0 2 * * *"
    nexts = [dt.datetime.fromisoformat(t) for t in view.next_runs]
    assert len(nexts) == 3 and all((t.hour, t.minute) == (2, 0) for t in nexts)
    assert nexts[1] - nexts[0] == dt.timedelta(days=1)

    async def policy() -> object:
        with C.orchestrator(orch_ws) as orch:
            client = await C.connect(orch)
            return (await client.get_schedule_handle(view.schedule_id).describe()).schedule.policy

    found = asyncio.run(policy())
    assert found.overlap == ScheduleOverlapPolicy.SKIP
    assert found.catchup_window == C.MIN_CATCHUP  # catch-up off: Temporal's smallest window
    assert view.schedule_id in [v.schedule_id for v in schedules(orch_ws)]
    assert unschedule(orch_ws, "demand-forecast-daily") is True
    assert unschedule(orch_ws, "demand-forecast-daily") is False
    assert view.schedule_id not in [v.schedule_id for v in schedules(orch_ws)]


def test_a_scheduled_source_sync_reads_the_spec_when_it_fires(orch_ws):
    view = schedule(orch_ws, "product-categories", kind="source")
    assert view.schedule_id == "matih-source-product-categories"

    async def fire() -> P.RunResult:
        with C.orchestrator(orch_ws) as orch:
            client = await C.connect(orch)
            async with running_worker(client, orch):
                await client.get_schedule_handle(view.schedule_id).trigger()
                for _ in range(300):
                    runs = await C.list_runs(client, "sync-product-categories")
                    if runs and runs[0].status != P.RUNNING:
                        return runs[0]
                    await asyncio.sleep(0.2)
        raise AssertionError("the scheduled run did not finish")

    try:
        run = asyncio.run(fire())
    finally:
        unschedule(orch_ws, "product-categories", kind="source")
    assert run.status == P.RUN_SUCCEEDED, run.message
    assert run.run_id.startswith("sync-product-categories-scheduled-")
    (task,) = run.tasks
    assert (task.task_id, task.type, task.attempts) == ("sync", "ingestion_trigger", 1)
    assert task.metrics["rows"] > 0
    assert run_history(orch_ws, "sync-product-categories")[0].run_id == run.run_id


def test_a_deployments_batch_inference_is_scheduled_and_writes_the_live_versions_forecasts(orch_ws):
    from matih.forecast.registry import Registry
    from matih.orchestrate.runner import run_pipeline
    from matih.serving.deployments import load_state
    from matih.warehouse import warehouse_of
    from tests.orchestrate.conftest import without_sync, write_pipeline

    if load_state(orch_ws, "demand-forecaster").live is None:  # this module's runs may not have deployed
        run = run_pipeline(
            orch_ws, write_pipeline(orch_ws, "deploy-once", without_sync), options={"n_estimators": 30}
        )
        assert run.status == P.RUN_SUCCEEDED, run.message
    view = schedule(orch_ws, "demand-forecaster", kind="deployment")
    assert view.schedule_id == "matih-deployment-demand-forecaster" and view.cron == "0 5 * * *"
    try:
        run = run_pipeline(orch_ws, "batch-demand-forecaster", options={"deployment": "demand-forecaster"})
    finally:
        assert unschedule(orch_ws, "demand-forecaster", kind="deployment")
    assert run.status == P.RUN_SUCCEEDED, run.message
    live = load_state(orch_ws, "demand-forecaster").live["version"]
    assert run.task("batch_inference").metrics["model_version"] == live
    versions = warehouse_of(orch_ws).query(
        "SELECT DISTINCT model_version FROM analytics.forecasts.demand_14d"
    )
    assert versions.column(0).to_pylist() == [live]
    assert Registry(orch_ws).alias_version("demand-forecast-daily", "champion") is not None
    # a run that publishes forecasts is followed by the workspace's monitors
    kinds = {line.split(": ")[0] for line in run.monitors}
    assert kinds == {
        f"[demand-forecast-production] {t}"
        for t in (
            "accuracy_tracking",
            "feature_freshness",
            "prediction_quality",
            "automatic_retraining",
            "auto_reassign",  # the routing spec enables it: decided after the accuracy monitor
        )
    }, run.monitors
    assert any("prediction_quality: OK" in line for line in run.monitors)


def test_a_monitor_spec_runs_on_its_schedule(orch_ws):
    from matih.orchestrate.runner import run_pipeline

    view = schedule(orch_ws, "demand-forecast-production", kind="monitor")
    assert view.schedule_id == "matih-monitor-demand-forecast-production" and view.cron == "0 8 * * *"
    try:  # what the schedule starts when it fires: the monitor pipeline, read from the spec
        run = run_pipeline(
            orch_ws, "monitor-demand-forecast-production", options={"monitor": "demand-forecast-production"}
        )
    finally:
        assert unschedule(orch_ws, "demand-forecast-production", kind="monitor")
    assert run.status == P.RUN_SUCCEEDED, run.message
    (task,) = run.tasks
    assert (task.task_id, task.type) == ("monitors", "monitor_run")
    # the seed's four monitors and the routing spec's auto_reassign; a monitor run is not followed by monitors
    assert task.metrics["monitors"] == 5 and not run.monitors


def test_a_retraining_trigger_starts_its_pipeline_through_temporal(orch_ws):
    """The condition holds on the tracked figures: the monitor run starts the named pipeline as a new
    Temporal workflow and records the decision with the figures it rested on."""
    import json

    import pyarrow as pa

    from matih.monitoring.accuracy import ACCURACY_TABLE
    from matih.monitoring.retraining import past_decisions
    from matih.orchestrate.runner import run_history, run_pipeline
    from matih.warehouse import warehouse_of

    probe = orch_ws.root / "pipelines" / "retrain-probe.json"
    spec = orch_ws.root / "monitors" / "retrain-test.json"
    probe.write_text(
        json.dumps(
            {
                "pipeline_id": "retrain-probe",
                "name": "retraining probe",
                "schedule": "0 3 * * *",
                "timeout": "10m",
                "tasks": [
                    {
                        "task_id": "sync",
                        "type": "ingestion_trigger",
                        "config": {"connections": ["product-categories"]},
                    }
                ],
            }
        )
    )
    spec.write_text(
        json.dumps(
            {
                "monitor_name": "retrain-test",
                "monitors": [
                    {
                        "type": "automatic_retraining",
                        "trigger": {
                            "condition": "mape_overall > 0.2 for 2 consecutive days",
                            "action": "trigger_pipeline",
                            "pipeline_id": "retrain-probe",
                            "notification": "slack:#ml-ops-alerts",
                        },
                    }
                ],
            }
        )
    )
    rows = [
        {"forecast_date": f"2026-03-0{d}", "category": "ALL", "lead_days": 0, "mape": 0.3} for d in (1, 2)
    ]
    warehouse_of(orch_ws).write_arrow(ACCURACY_TABLE, pa.Table.from_pylist(rows))
    try:
        run = run_pipeline(orch_ws, "monitor-retrain-test", options={"monitor": "retrain-test"})
        assert run.status == P.RUN_SUCCEEDED, run.message
        (line,) = run.task("monitors").details["monitors"]
        assert "automatic_retraining: ALERT" in line and "retrain-probe: started" in line
        (decision,) = past_decisions(orch_ws, "retrain-test")
        assert decision["fired"] and decision["figures"] == {"2026-03-01": 0.3, "2026-03-02": 0.3}
        started = run_history(orch_ws, "retrain-probe")
        assert [r.run_id for r in started] == [decision["run_id"]]
    finally:
        probe.unlink()
        spec.unlink()


def test_an_experiment_runs_on_the_routing_documents_evaluation_schedule(orch_ws):
    """``evaluation_schedule: monthly`` is a Temporal Schedule on the 1st at 02:00; what it starts runs
    the experiment as a pipeline task and leaves its report behind."""
    import json

    from matih.experiment import load_report
    from matih.orchestrate.runner import run_pipeline
    from matih.warehouse import warehouse_of

    wh = warehouse_of(orch_ws)
    if not wh.table_exists("analytics.derived.demand_features"):  # the dataset the experiment reads
        wh.run(orch_ws.query_path("demand_features").read_text())
    spec = orch_ws.root / "experiments" / "scheduled-probe.json"
    spec.write_text(
        json.dumps(
            {
                "experiment": "scheduled-probe",
                "models": ["lightgbm", "seasonal_naive"],
                "cutoffs": {"count": 1},
                "output_table": "analytics.experiments.scheduled_probe",
            }
        )
    )
    try:
        view = schedule(orch_ws, "scheduled-probe", kind="experiment")
        assert view.schedule_id == "matih-experiment-scheduled-probe" and view.cron == "0 2 1 * *"
        try:
            # 40 trees: the schedule and the task are the subject, not the model
            options = {"experiment": "scheduled-probe", "n_estimators": 40}
            run = run_pipeline(orch_ws, "experiment-scheduled-probe", options=options)
        finally:
            assert unschedule(orch_ws, "scheduled-probe", kind="experiment")
        assert run.status == P.RUN_SUCCEEDED, run.message
        (task,) = run.tasks
        assert (task.task_id, task.type) == ("experiment", "experiment_run")
        report = load_report(orch_ws, "scheduled-probe")
        assert report.run_id == task.details["experiment"]["run_id"]
        assert set(report.overall) == {"lightgbm", "seasonal_naive"}
        from matih.forecast.registry import Registry

        params = Registry(orch_ws).client.get_run(report.run_id).data.params
        assert params["n_estimators"] == "40"  # the run's option reached the experiment
    finally:
        spec.unlink()
