"""The DAG: independent tasks run at the same time, dependants wait for all of theirs, and the
pipeline ``timeout`` ends a run that takes too long (cancelling what runs, still notifying)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from matih.orchestrate import plan as P
from matih.orchestrate.runner import run_pipeline
from matih.warehouse import warehouse_of

HEAVY = "SELECT sum(i * i) AS s FROM range(0, {n}) t(i)"


def write(ws: Any, pipeline_id: str, tasks: list[dict[str, Any]], timeout: str = "1h") -> str:
    spec = {
        "pipeline_id": pipeline_id,
        "name": pipeline_id,
        "schedule": "0 3 * * *",
        "timeout": timeout,
        "tasks": tasks,
        "notifications": {
            "on_failure": {"channel": "slack", "target": "#ml-ops-alerts", "include_logs": True}
        },
    }
    (ws.root / "pipelines" / f"{pipeline_id}.json").write_text(json.dumps(spec))
    return pipeline_id


def sql_task(task_id: str, query: str, *deps: str) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "type": "sql_execute",
        "depends_on": list(deps),
        "config": {"query_ref": f"analytics.queries.{query}", "target_table": f"analytics.dag.{task_id}"},
    }


def span(task: P.TaskRun) -> tuple[dt.datetime, dt.datetime]:
    assert task.started and task.ended
    return dt.datetime.fromisoformat(task.started), dt.datetime.fromisoformat(task.ended)


def test_independent_tasks_overlap_and_a_join_waits_for_both(orch_ws):
    (orch_ws.root / "queries" / "heavy.sql").write_text(HEAVY.format(n=300_000_000))
    (orch_ws.root / "queries" / "tiny.sql").write_text("SELECT 1 AS x")
    sync = {
        "task_id": "categories",
        "type": "ingestion_trigger",
        "config": {"connections": ["product-categories"]},
    }
    pipeline = write(
        orch_ws,
        "diamond",
        [sql_task("heavy", "heavy"), sync, sql_task("join", "tiny", "heavy", "categories")],
    )
    run = run_pipeline(orch_ws, pipeline)
    assert run.status == P.RUN_SUCCEEDED, run.message
    (a0, a1), (b0, b1), (c0, _) = (span(run.task(t)) for t in ("heavy", "categories", "join"))
    assert a0 < b1 and b0 < a1  # both were running at once
    assert c0 >= max(a1, b1)
    assert warehouse_of(orch_ws).query("SELECT x FROM analytics.dag.join").num_rows == 1


def test_the_pipeline_timeout_cancels_the_run_and_notifies(orch_ws, slack):
    (orch_ws.root / "queries" / "endless.sql").write_text(HEAVY.format(n=200_000_000_000))
    # 2 minutes at the test's time scale (0.025) is 3 s; the query would take minutes
    pipeline = write(
        orch_ws,
        "too-slow",
        [sql_task("endless", "endless"), sql_task("after", "endless", "endless")],
        timeout="2m",
    )
    run = run_pipeline(orch_ws, pipeline)
    assert run.status == P.RUN_FAILED
    assert run.message == "pipeline timed out after 3s"
    assert run.task("endless").state == P.FAILED and run.task("endless").error == "pipeline timeout"
    assert run.task("after").state == P.SKIPPED
    assert run.seconds is not None and run.seconds < 30
    assert not warehouse_of(orch_ws).table_exists("analytics.dag.endless")
    (message,) = slack.run_messages
    assert message["channel"] == "#ml-ops-alerts" and "timed out" in message["text"]
