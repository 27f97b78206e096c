"""Blocking entry points over :mod:`matih.orchestrate.client`, used by the CLI, the demo and tests.

Embedded mode runs the workers itself: ``run_pipeline(wait=True)`` polls with a worker inside the
calling process while it waits; ``wait=False`` leaves the run to a background ``matih worker`` that
stops once no run has been open for a minute (the dev server keeps running until ``matih temporal
stop``). With a cluster configured, workers are the cluster's (``matih worker`` on its machines).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from temporalio.client import Client

from matih.exceptions import MatihError
from matih.monitoring.health import HealthReport, PipelineRun, health_report
from matih.monitoring.runner import monitor_specs
from matih.orchestrate import client as C
from matih.orchestrate import devserver
from matih.orchestrate import plan as P
from matih.orchestrate.monitors import training_pipeline
from matih.processes import adopt, alive, terminate
from matih.state import utc_stamp, write_json_atomic
from matih.warehouse import Engine
from matih.workspace import Workspace

T = TypeVar("T")
Progress = Callable[[P.RunResult], None]
BACKGROUND_IDLE_EXIT = 60.0


def _with_client(
    ws: Workspace,
    work: Callable[[Client, C.Orchestrator], Coroutine[Any, Any, T]],
    *,
    keep_server: bool = False,
) -> T:
    with C.orchestrator(ws, keep_server=keep_server) as orch:

        async def main() -> T:
            return await work(await C.connect(orch), orch)

        return asyncio.run(main())


def run_pipeline(
    ws: Workspace,
    pipeline_id: str,
    *,
    options: dict[str, Any] | None = None,
    wait: bool = True,
    on_progress: Progress | None = None,
    on_started: Callable[[str], None] | None = None,
    poll: float = 0.5,
) -> P.RunResult:
    """Start a run of ``pipeline_id``. With ``wait``, return its final state (a worker polls inside this
    process when Temporal is embedded); otherwise return its state right after starting."""
    plan = C.plan_for(ws, pipeline_id, options)  # spec errors surface here, before anything starts

    async def work(client: Client, orch: C.Orchestrator) -> P.RunResult:
        if not wait:
            if orch.embedded:
                ensure_background_worker(ws)
            run_id = await C.start_run(client, orch, plan)
            return await C.get_run(client, run_id)
        async with _local_worker(client, orch):
            run_id = await C.start_run(client, orch, plan)
            if on_started is not None:
                on_started(run_id)
            return await C.wait_run(client, run_id, on_progress=on_progress, poll=poll)

    return _with_client(ws, work, keep_server=not wait)


def follow_run(
    ws: Workspace, run_id: str, *, on_progress: Progress | None = None, poll: float = 0.5
) -> P.RunResult:
    """Wait for a run started elsewhere (a retraining a monitor fired, a scheduled run) to end; when
    Temporal is embedded, a worker polls inside this process meanwhile."""

    async def work(client: Client, orch: C.Orchestrator) -> P.RunResult:
        async with _local_worker(client, orch):
            return await C.wait_run(client, run_id, on_progress=on_progress, poll=poll)

    return _with_client(ws, work)


def _local_worker(client: Client, orch: C.Orchestrator) -> contextlib.AbstractAsyncContextManager[Any]:
    from matih.orchestrate.worker import running_worker

    return running_worker(client, orch) if orch.embedded else contextlib.nullcontext()


def run_status(ws: Workspace, run_id: str, *, keep_server: bool = False) -> P.RunResult:
    """A run's state. ``keep_server`` leaves an embedded dev server this call started running (a
    workbench asking again a second later should not wait for it to start twice)."""
    return _with_client(ws, lambda client, _orch: C.get_run(client, run_id), keep_server=keep_server)


def run_history(
    ws: Workspace, pipeline_id: str, *, limit: int = 20, keep_server: bool = False
) -> list[P.RunResult]:
    return _with_client(
        ws, lambda client, _orch: C.list_runs(client, pipeline_id, limit=limit), keep_server=keep_server
    )


def schedule(
    ws: Workspace, name: str, *, kind: C.Kind = "pipeline", catchup: dt.timedelta | None = None
) -> C.ScheduleView:
    """Register the schedule; the embedded server keeps running so the schedule can fire."""
    return _with_client(
        ws,
        lambda client, orch: C.schedule(client, orch, name, kind=kind, catchup=catchup),
        keep_server=True,
    )


def unschedule(ws: Workspace, name: str, *, kind: C.Kind = "pipeline") -> bool:
    return _with_client(ws, lambda client, _orch: C.unschedule(client, name, kind=kind))


def schedules(ws: Workspace, *, keep_server: bool = False) -> list[C.ScheduleView]:
    return _with_client(ws, lambda client, _orch: C.list_schedules(client), keep_server=keep_server)


# -- background worker (embedded mode) ---------------------------------------------------------------
def _worker_record(ws: Workspace) -> Any:
    return devserver.state_dir(ws) / "worker.json"


def background_worker_pid(ws: Workspace) -> int | None:
    path = _worker_record(ws)
    if not path.is_file():
        return None
    try:
        pid = int(json.loads(path.read_text())["pid"])
    except (ValueError, KeyError):
        return None
    return pid if alive(pid) else None


def ensure_background_worker(ws: Workspace) -> int:
    """Start ``matih worker --idle-exit`` detached unless this workspace's background worker runs."""
    if (pid := background_worker_pid(ws)) is not None:
        return pid
    with (devserver.state_dir(ws) / "worker.log").open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "matih.cli.main",
                "worker",
                "-w",
                str(ws.root),
                "--idle-exit",
                str(int(BACKGROUND_IDLE_EXIT)),
            ],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    adopt(process)
    register_worker(ws, process.pid)
    return process.pid


def stop_embedded(ws: Workspace) -> bool:
    """Stop this workspace's embedded Temporal dev server and the background worker of its runs;
    ``False`` when no server was running."""
    if (pid := background_worker_pid(ws)) is not None:
        # the worker reads the schedules from the server as it exits: stopping the server under it
        # would make it start another just to read them
        terminate(pid)
    return devserver.stop(ws)


def register_worker(ws: Workspace, pid: int) -> None:
    write_json_atomic(_worker_record(ws), {"pid": pid, "started_at": utc_stamp()}, indent=None)


def unregister_worker(ws: Workspace, pid: int) -> None:
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
        if int(json.loads(_worker_record(ws).read_text())["pid"]) == pid:
            _worker_record(ws).unlink()


def production_health(
    ws: Workspace,
    *,
    days: int = 30,
    pipeline_id: str | None = None,
    now: dt.datetime | None = None,
    keep_server: bool = False,
    warehouse: Engine | None = None,
) -> HealthReport:
    """The Production Health report of the first monitor spec, with the runs of ``pipeline_id`` (default:
    the training pipeline) from Temporal's history; without Temporal the rest of the report still
    stands (:mod:`matih.monitoring` sits below this package and cannot ask Temporal itself)."""
    pipeline_id = pipeline_id or training_pipeline(ws)
    notes = []
    try:
        history = run_history(ws, pipeline_id, limit=1000, keep_server=keep_server) if pipeline_id else []
    except MatihError as err:
        history, notes = [], [f"pipeline runs unavailable: {err}"]
    specs = list(monitor_specs(ws).values())
    report = health_report(
        ws,
        specs[0] if specs else None,
        [_health_run(r) for r in history],
        days=days,
        now=now,
        warehouse=warehouse,
    )
    report.notes += notes
    return report


def _health_run(run: P.RunResult) -> PipelineRun:
    return PipelineRun(
        run.status,
        run.started,
        any(t.attempts > 1 for t in run.tasks),
        next((t.seconds for t in run.tasks if t.type == "ray_train"), None),
        next((t.seconds for t in run.tasks if t.type in ("ray_serve_update", "batch_inference")), None),
    )
