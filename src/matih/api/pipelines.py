"""The Pipeline Service's routes: what the workspace can run, runs with per-task state read from
Temporal, a task's log, starting a run, and the schedules.

Reads are open to any caller; starting a run needs the editor role and is recorded in the audit log.
Runs start as ``matih pipeline run`` (without ``--wait``) starts them: on Temporal, worked by the
background worker when Temporal is embedded, so a page never waits for a run; it polls
``GET /runs/{run_id}``. When MATIH runs the Temporal dev server itself, these routes leave it running
once they started it, so a page that polls does not start it again; when the application stops, a dev
server it started (and the background worker of its runs) stops with it (:func:`install`).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from types import ModuleType
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query
from pydantic import BaseModel, Field

from matih.api.audit import audited
from matih.api.auth import Caller
from matih.api.query import jsonable
from matih.api.state import Ws
from matih.orchestrate.runnable import runnable, runnables

__all__ = ["install", "router"]

router = APIRouter(tags=["Pipelines"])
LOG_LINES = 400


class RunRequest(BaseModel):
    """Options of a run started from the API, as ``matih pipeline run`` takes them."""

    full_refresh: bool = Field(default=False, description="Syncs reload everything instead of resuming.")
    n_estimators: int | None = Field(default=None, ge=1, le=100_000, description="Trees to train.")


def _runner() -> ModuleType:
    """The orchestrator, imported on the first request that needs it: it brings Temporal's SDK and the
    monitors (a second of start-up that a forecast server without pipeline traffic never needs)."""
    from matih.orchestrate import runner

    return runner


@router.get("/pipelines", summary="Every pipeline the workspace can run, with its tasks")
def pipelines(caller: Caller, ws: Ws) -> list[dict[str, Any]]:
    return [dataclasses.asdict(r) for r in runnables(ws)]


@router.get("/pipelines/{pipeline_id}/runs", summary="A pipeline's latest runs, newest first")
def pipeline_runs(
    caller: Caller, ws: Ws, pipeline_id: str, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> list[dict[str, Any]]:
    runnable(ws, pipeline_id)  # an unknown id is a clear error, not an empty list
    runs = _runner().run_history(ws, pipeline_id, limit=limit, keep_server=True)
    return jsonable([dataclasses.asdict(r) for r in runs])


@router.post("/pipelines/{pipeline_id}/runs", summary="Start a run (editor)")
def start_run(caller: Caller, ws: Ws, pipeline_id: str, request: RunRequest | None = None) -> dict[str, Any]:
    options: dict[str, Any] = {"trigger": f"api:{caller.who}"}
    if request is not None and request.full_refresh:
        options["full_refresh"] = True
    if request is not None and request.n_estimators:
        options["n_estimators"] = request.n_estimators
    with audited(ws, caller, "POST /pipelines/{id}/runs", {"pipeline_id": pipeline_id, "options": options}):
        caller.require_editor(f"starting a run of {pipeline_id}")
        entry = runnable(ws, pipeline_id)
        run = _runner().run_pipeline(ws, entry.target, options={**entry.options, **options}, wait=False)
    return jsonable(dataclasses.asdict(run))


@router.get("/runs/{run_id}", summary="A run's per-task state, attempts, waits and durations")
def run(caller: Caller, ws: Ws, run_id: str) -> dict[str, Any]:
    found = _runner().run_status(ws, run_id, keep_server=True)
    body = dataclasses.asdict(found)
    for task, raw in zip(found.tasks, body["tasks"], strict=True):
        raw["waits"] = task.backoffs()
    return jsonable(body)


@router.get("/runs/{run_id}/tasks/{task_id}/log", summary="A task's log (last lines)")
def task_log(
    caller: Caller, ws: Ws, run_id: str, task_id: str, lines: Annotated[int, Query(ge=1, le=5000)] = LOG_LINES
) -> dict[str, Any]:
    """The task's log file from this machine's workers (every attempt, appended), else the tail the
    run kept of a failed task (a cluster's workers log on their own machines)."""
    if any(part in ("", ".", "..") or "/" in part for part in (run_id, task_id)):
        raise HTTPException(404, "no such run or task")
    path = ws.state / "pipelines" / "logs" / run_id / f"{task_id}.log"
    if path.is_file():
        with path.open(errors="replace") as log:
            tail = [line.rstrip("\n") for line in deque(log, maxlen=lines)]
        return {"run_id": run_id, "task_id": task_id, "source": "worker log", "lines": tail}
    found = _runner().run_status(ws, run_id, keep_server=True)
    task = next((t for t in found.tasks if t.task_id == task_id), None)
    if task is None:
        raise HTTPException(404, f"run {run_id} has no task {task_id!r}")
    return {"run_id": run_id, "task_id": task_id, "source": "run record", "lines": task.log_tail}


@router.get("/schedules", summary="Schedules registered with Temporal, and each source's cron")
def schedules(caller: Caller, ws: Ws) -> dict[str, Any]:
    from matih.sources import schedules as source_crons

    registered = _runner().schedules(ws, keep_server=True)
    return jsonable(
        {
            "temporal": [dataclasses.asdict(v) for v in registered],
            "sources": [dataclasses.asdict(s) for s in source_crons(ws)],
        }
    )


def install(app: FastAPI) -> None:
    """The routes, and the clean-up of what they start: an embedded dev server that was not running
    when the application started is stopped when it stops, with the background worker of its runs."""
    from matih.orchestrate import devserver

    ws = app.state.workspace
    was_running = devserver.running(ws) is not None

    def release() -> None:
        if not was_running and devserver.running(ws) is not None:
            _runner().stop_embedded(ws)

    app.include_router(router)
    app.router.add_event_handler("shutdown", release)
