"""``matih pipeline | temporal`` as a user runs them: real processes, the real entry point (which leaves
with os._exit after using Temporal), the embedded dev server started and stopped by each command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from matih.orchestrate import devserver
from matih.workspace import Workspace
from tests.conftest import copy_example

# the CLI as real processes against a Temporal dev server
pytestmark = pytest.mark.server


def matih(*args: object, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "matih.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_history_and_status_survive_the_server_restart(demo_run):
    ws = demo_run.workspace
    assert devserver.running(ws) is None  # the demo stopped the server it started
    history = matih("pipeline", "history", "demand-forecast-daily", "-w", ws.root)
    assert history.returncode == 0, history.stderr
    assert demo_run.run.run_id in history.stdout and "succeeded" in history.stdout
    status = matih("pipeline", "status", demo_run.run.run_id, "-w", ws.root)
    assert status.returncode == 0, status.stderr
    for task in (
        "sync_sources",
        "feature_engineering",
        "model_training",
        "model_validation",
        "model_deployment",
    ):
        assert task in status.stdout
    assert devserver.running(ws) is None  # each command stopped the server it started


def test_unknown_pipeline_and_unknown_run_are_clear_errors(demo_run):
    root = demo_run.workspace.root
    run = matih("pipeline", "run", "no-such-pipeline", "--wait", "-w", root)
    assert run.returncode == 1
    assert "no pipeline 'no-such-pipeline'" in run.stderr and "demand-forecast-daily" in run.stderr
    status = matih("pipeline", "status", "no-such-run", "-w", root)
    assert status.returncode == 1 and "no pipeline run 'no-such-run'" in status.stderr


def test_run_wait_follows_the_run_and_exits_with_its_outcome(tmp_path: Path, small_world):
    from matih.sandbox import save_world

    ws = Workspace(copy_example(tmp_path / "novamart"))
    ws.ensure_state()
    save_world(small_world, ws.sandbox_dir)
    spec = {
        "pipeline_id": "categories",
        "name": "Sync the category file",
        "schedule": "0 1 * * *",
        "timeout": "10m",
        "tasks": [
            {
                "task_id": "sync",
                "type": "ingestion_trigger",
                "config": {"connections": ["product-categories"]},
            }
        ],
    }
    (ws.root / "pipelines" / "categories.json").write_text(json.dumps(spec))
    ok = matih("pipeline", "run", "categories", "--wait", "-w", ws.root)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "succeeded" in ok.stdout and "synced 1 source(s)" in ok.stdout
    spec["tasks"][0]["config"]["connections"] = ["no-such-source"]
    (ws.root / "pipelines" / "categories.json").write_text(json.dumps(spec))
    bad = matih("pipeline", "run", "categories", "--wait", "-w", ws.root)
    assert bad.returncode == 1
    assert "no sources/no-such-source.json" in bad.stdout
    assert devserver.running(ws) is None


def test_temporal_start_status_stop(tmp_path: Path):
    ws = Workspace.at(tmp_path / "empty")
    assert "not running" in matih("temporal", "status", "-w", ws.root).stdout
    started = matih("temporal", "start", "-w", ws.root)
    assert started.returncode == 0 and "started at 127.0.0.1:" in started.stdout
    record = devserver.running(ws)
    assert record is not None and Path(record.database).parent == ws.state / "temporal"
    assert "embedded dev server at" in matih("temporal", "status", "-w", ws.root).stdout
    assert matih("temporal", "stop", "-w", ws.root).stdout.strip() == "stopped"
    assert devserver.running(ws) is None
