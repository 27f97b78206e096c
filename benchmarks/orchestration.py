"""Orchestration overhead: what Temporal adds to a five-task pipeline whose tasks do (almost) nothing.

    .venv/bin/python benchmarks/orchestration.py [--runs 5]

A fresh workspace holds a pipeline shaped like the seed's (five tasks in a chain), each task a
``sql_execute`` of ``SELECT 1`` into its own table. Measured, in one process:

- cold: start the embedded Temporal dev server, connect, start a worker, run the pipeline to its end;
- warm: further runs on the same server and worker (a long-running worker's steady state);
- peer: the same five tasks called directly, one after the other, without Temporal.

Overhead is a run's wall time minus the peer's. Prints a table and writes
benchmarks/results/orchestration.json; RESULTS.md quotes it. The goal: the cold overhead under 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from results_file import write_results  # benchmarks/ is the script's folder
from rich.console import Console
from rich.table import Table

from matih.orchestrate import client as C
from matih.orchestrate import devserver, tasks
from matih.orchestrate.worker import running_worker
from matih.specs import PipelineSpec
from matih.workspace import Workspace

console = Console(width=120)
STEPS = ("sync_sources", "feature_engineering", "model_training", "model_validation", "model_deployment")


def make_workspace(root: Path) -> Workspace:
    ws = Workspace.at(root)
    (root / "queries").mkdir()
    (root / "queries" / "noop.sql").write_text("SELECT 1 AS x")
    (root / "pipelines").mkdir()
    spec = {
        "pipeline_id": "noop",
        "name": "Five tasks that do nothing",
        "schedule": "0 2 * * *",
        "timeout": "10m",
        "tasks": [
            {
                "task_id": step,
                "type": "sql_execute",
                **({"depends_on": [STEPS[i - 1]]} if i else {}),
                "config": {"query_ref": "analytics.queries.noop", "target_table": f"analytics.bench.{step}"},
            }
            for i, step in enumerate(STEPS)
        ],
    }
    (root / "pipelines" / "noop.json").write_text(json.dumps(spec))
    ws.ensure_state()
    return ws


def peer(ws: Workspace) -> float:
    """The five tasks run directly in this process: the work Temporal schedules."""
    plan = C.plan_for(ws, "noop")
    spec = PipelineSpec.model_validate(plan.spec)
    started = time.perf_counter()
    for task in spec.tasks:
        tasks.run(task, ws, tasks.TaskContext(spec, "peer"))
    return time.perf_counter() - started


async def through_temporal(ws: Workspace, runs: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    record, _ = devserver.start(ws)
    figures["server_start_s"] = time.perf_counter() - started
    try:
        orch = C.Orchestrator(ws, record.address, "default", "matih", embedded=True)
        client = await C.connect(orch)
        figures["connect_s"] = time.perf_counter() - started - figures["server_start_s"]
        async with running_worker(client, orch):
            figures["worker_ready_s"] = time.perf_counter() - started
            walls = []
            for _ in range(runs + 1):
                begun = time.perf_counter()
                run_id = await C.start_run(client, orch, C.plan_for(ws, "noop"))
                await client.get_workflow_handle(run_id).result()
                walls.append(time.perf_counter() - begun)
            figures["cold_total_s"] = time.perf_counter() - started - sum(walls[1:])
            figures["first_run_s"] = walls[0]
            figures["warm_runs_s"] = walls[1:]
    finally:
        devserver.stop(ws)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="warm runs after the first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = make_workspace(Path(tmp) / "bench")
        peer(ws)  # warm DuckDB and the imports, as the worker's first run does not pay for them either
        direct = statistics.median(peer(ws) for _ in range(3))
        found = asyncio.run(through_temporal(ws, args.runs))
    warm = statistics.median(found["warm_runs_s"])
    figures = {
        **found,
        "peer_direct_s": direct,
        "cold_overhead_s": found["cold_total_s"] - direct,
        "warm_run_s": warm,
        "warm_overhead_s": warm - direct,
        "goal_cold_overhead_s": 5.0,
    }
    table = Table(title="Five-task no-op pipeline: Temporal vs direct calls (same process)")
    table.add_column("measure")
    table.add_column("seconds", justify="right")
    for label, key in (
        ("dev server start (until it accepts connections)", "server_start_s"),
        ("client connect", "connect_s"),
        ("server start + connect + worker ready", "worker_ready_s"),
        ("first run (workflow + 5 activities)", "first_run_s"),
        ("cold total: server start to first run's end", "cold_total_s"),
        ("peer: the 5 tasks called directly", "peer_direct_s"),
        ("cold overhead (goal < 5 s)", "cold_overhead_s"),
        ("warm run, median", "warm_run_s"),
        ("warm overhead per run", "warm_overhead_s"),
    ):
        table.add_row(label, f"{figures[key]:.3f}")
    console.print(table)
    path = write_results("orchestration", figures)
    console.print(f"figures: {path}")
    os._exit(0)  # the Temporal SDK can crash at interpreter exit (sdk-python issue 300)


if __name__ == "__main__":
    main()
