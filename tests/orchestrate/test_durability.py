"""Durability: the worker process dies during ``model_training``; a new worker finishes the run from
there. The tasks that had finished are not run again: Temporal recorded their results."""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import pytest

from matih.orchestrate import devserver, runner
from matih.orchestrate import plan as P
from matih.orchestrate.runner import ensure_background_worker, run_pipeline, run_status
from matih.sources.runs import history
from tests.orchestrate.conftest import loaded_workspace_at, write_pipeline

# a Temporal dev server, the sandbox and worker processes of its own
pytestmark = pytest.mark.server


def until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def sync_file_source(spec: dict[str, Any]) -> None:
    # the file source needs no sandbox: the sync is real (dlt) and quick
    spec["tasks"][0]["config"]["connections"] = ["product-categories"]


def test_a_run_survives_the_loss_of_its_worker(tmp_path, small_world):
    ws = loaded_workspace_at(tmp_path / "novamart", small_world)
    pipeline = write_pipeline(ws, "durable", sync_file_source)
    devserver.start(ws)
    second = None
    try:
        started = run_pipeline(ws, pipeline, options={"n_estimators": 150}, wait=False)
        first = runner.background_worker_pid(ws)
        assert first is not None  # `pipeline run` without --wait started a worker process

        def training() -> bool:
            run = run_status(ws, started.run_id)
            assert run.status == P.RUNNING, f"the run ended before training: {run.message}"
            return run.task("model_training").state == P.RUNNING

        until(training, 180, "model_training to start")
        os.kill(first, signal.SIGKILL)
        until(lambda: runner.background_worker_pid(ws) is None, 10, "the worker to die")
        second = ensure_background_worker(ws)
        assert second != first
        final = until(
            lambda: (r := run_status(ws, started.run_id)).status != P.RUNNING and r,
            240,
            "the run to finish",
        )
        assert final.status == P.RUN_SUCCEEDED, final.message
        attempts = {t.task_id: t.attempts for t in final.tasks}
        assert attempts["sync_sources"] == attempts["feature_engineering"] == 1
        assert "worker lost 1 time(s)" in (final.task("model_training").note or "")
        # ... and they really ran once: one sync in the journal, one write of the feature table
        assert [r.status for r in history(ws, "product-categories")] == ["succeeded"]
        writes = [json.loads(line) for line in (ws.warehouse_dir / "writes.jsonl").read_text().splitlines()]
        assert [w["table"] for w in writes].count("analytics.derived.demand_features") == 1
    finally:
        try:
            if second:
                os.kill(second, signal.SIGTERM)
            until(lambda: runner.background_worker_pid(ws) is None, 30, "the worker to stop")
        finally:
            devserver.stop(ws)
