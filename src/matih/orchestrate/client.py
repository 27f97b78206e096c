"""The client side of orchestration: reach Temporal, start pipeline runs, read them back, schedule them.

Everything a run shows (per-task state, attempts, durations, errors) is read from Temporal: the
workflow's result, its failure details, or its event history while it runs or after it was cut short.
So ``matih pipeline status`` and ``history`` work from any machine that reaches the cluster, and keep
working after the embedded server restarts (its database is under ``.matih/temporal``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from matih.exceptions import OrchestrationError, SpecError
from matih.orchestrate import devserver
from matih.orchestrate import plan as P
from matih.state import utc_now
from matih.workspace import Workspace

ENV_ADDRESS = "MATIH_TEMPORAL_ADDRESS"
CONNECT_TIMEOUT = 20.0
#: Temporal's smallest catch-up window: "catch-up off" means a missed action older than this is dropped
MIN_CATCHUP = dt.timedelta(seconds=10)


# -- reaching Temporal -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Orchestrator:
    """Where this workspace's Temporal answers; ``embedded`` when MATIH runs the dev server itself."""

    workspace: Workspace
    address: str
    namespace: str
    task_queue: str
    embedded: bool


def configured_address(ws: Workspace) -> str | None:
    """``MATIH_TEMPORAL_ADDRESS``, else ``temporal.address`` from matih.yaml; ``None`` means embedded."""
    return os.environ.get(ENV_ADDRESS) or ws.settings().temporal.address


@contextlib.contextmanager
def orchestrator(ws: Workspace, *, keep_server: bool = False) -> Iterator[Orchestrator]:
    """The workspace's Temporal. Embedded: the running dev server, or one started here and stopped on
    exit (unless ``keep_server``); its database keeps history and schedules either way."""
    ws.ensure_state()
    settings = ws.settings().temporal
    address = configured_address(ws)
    started = False
    if address is None:
        record, started = devserver.start(ws)
        address = record.address
    try:
        yield Orchestrator(
            ws,
            address,
            settings.namespace,
            settings.task_queue,
            embedded=started or not configured_address(ws),
        )
    finally:
        if started and not keep_server:
            devserver.stop(ws)


async def connect(orch: Orchestrator, *, timeout: float = CONNECT_TIMEOUT) -> Client:
    """A client of ``orch``; retries while the server comes up, then fails naming the address."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await Client.connect(orch.address, namespace=orch.namespace)
        except RuntimeError as err:
            if asyncio.get_running_loop().time() > deadline:
                where = "the embedded Temporal dev server" if orch.embedded else "the Temporal cluster"
                raise OrchestrationError(
                    f"cannot reach {where} at {orch.address}: {err}; check temporal.address in matih.yaml "
                    f"or {ENV_ADDRESS}",
                    transient=True,
                ) from None
            await asyncio.sleep(0.2)


# -- specs and plans ---------------------------------------------------------------------------------
def pipeline_spec(ws: Workspace, pipeline_id: str) -> Any:
    """The spec in ``pipelines/`` whose ``pipeline_id`` (or file stem) is ``pipeline_id``."""
    from matih.specs import PipelineSpec, load_spec

    found = []
    for path in ws.spec_files("pipelines"):
        spec = load_spec(path, "pipelines")
        assert isinstance(spec, PipelineSpec)
        if pipeline_id in (spec.pipeline_id, path.stem):
            return spec
        found.append(spec.pipeline_id)
    raise SpecError(
        f"no pipeline {pipeline_id!r} in {ws.root / 'pipelines'} (pipelines: {', '.join(found) or 'none'})"
    )


def plan_for(ws: Workspace, pipeline_id: str, options: dict[str, Any] | None = None) -> P.PipelinePlan:
    """The run plan of a pipeline, of a source's sync when ``options["source"]`` names one, of a
    deployment's batch forecasts when ``options["deployment"]`` does, or of a monitor spec's monitors
    when ``options["monitor"]`` does. A pipeline that publishes forecasts (``ray_serve_update``,
    ``batch_inference``) is followed by the workspace's monitors."""
    from matih.specs import PipelineSpec

    options = dict(options or {})
    settings = ws.settings()
    if source := options.get("source"):
        from matih.sources import load_source

        cron = load_source(ws, source).schedule
        spec = PipelineSpec.model_validate(P.source_pipeline(source, str(cron.expression)))
    elif deployment := options.get("deployment"):
        from matih.serving.deployments import deployment_spec

        batch = deployment_spec(ws, deployment).batch_inference
        if batch is None or not batch.enabled:
            raise SpecError(
                f"deployment {deployment!r} has no enabled batch_inference (schedule, output_table) "
                "to schedule"
            )
        spec = PipelineSpec.model_validate(
            P.deployment_pipeline(deployment, str(batch.schedule), str(batch.output_table))
        )
    elif monitor := options.get("monitor"):
        from matih.monitoring.runner import monitor_spec, schedule_of

        spec = PipelineSpec.model_validate(
            P.monitor_pipeline(monitor, schedule_of(monitor_spec(ws, monitor)))
        )
    elif experiment := options.get("experiment"):
        from matih.experiment.runner import evaluation_cron, experiment_spec

        _, found = experiment_spec(ws, experiment)
        spec = PipelineSpec.model_validate(P.experiment_pipeline(found.experiment, evaluation_cron(ws)))
    else:
        spec = pipeline_spec(ws, pipeline_id)
    plan = P.plan_pipeline(spec, settings, options)
    if any(t.type in ("ray_serve_update", "batch_inference") for t in spec.tasks):
        from matih.monitoring.runner import monitor_specs

        plan.monitors = sorted(monitor_specs(ws))
    return plan


# -- runs --------------------------------------------------------------------------------------------
def new_run_id(pipeline_id: str) -> str:
    return f"{pipeline_id}-{utc_now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


async def start_run(
    client: Client, orch: Orchestrator, plan: P.PipelinePlan, *, run_id: str | None = None
) -> str:
    """Start a run of ``plan``; returns its run id (the Temporal workflow id)."""
    run_id = run_id or new_run_id(plan.pipeline_id)
    await client.start_workflow(
        P.WORKFLOW_NAME,
        plan,
        id=run_id,
        task_queue=orch.task_queue,
        # the workflow enforces the spec's timeout itself (and notifies); this only guards a stuck run
        execution_timeout=dt.timedelta(seconds=plan.timeout_s * 1.5 + 600),
    )
    return run_id


_STATUS = {
    WorkflowExecutionStatus.RUNNING: P.RUNNING,
    WorkflowExecutionStatus.COMPLETED: P.RUN_SUCCEEDED,
    WorkflowExecutionStatus.FAILED: P.RUN_FAILED,
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "continued",
}


async def get_run(client: Client, run_id: str) -> P.RunResult:
    """A run as Temporal has it, finished or not."""
    handle = client.get_workflow_handle(run_id, result_type=P.RunResult)
    try:
        desc = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise OrchestrationError(
                f"no pipeline run {run_id!r}; `matih pipeline history NAME` lists runs"
            ) from None
        raise OrchestrationError(f"Temporal refused to describe run {run_id}: {err}", transient=True) from err
    if desc.status == WorkflowExecutionStatus.COMPLETED:
        return await handle.result()
    if desc.status == WorkflowExecutionStatus.FAILED:
        try:
            await handle.result()
        except WorkflowFailureError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.details and isinstance(cause.details[0], dict):
                return run_from_dict(cause.details[0])
    run = await _from_events(client, run_id)
    run.status = _STATUS.get(desc.status, str(desc.status)) if desc.status else P.RUNNING
    for pending in desc.raw_description.pending_activities:
        task_id = pending.activity_id.split("#")[0]
        for task in run.tasks:
            if task.task_id == task_id and task.state == P.RUNNING:
                task.attempts = max(task.attempts, pending.attempt)
                if pending.HasField("last_failure"):
                    task.error = pending.last_failure.message
    return run


async def _from_events(client: Client, run_id: str) -> P.RunResult:
    """Rebuild a run from its event history: the plan from the start event, task states from the
    activity events. Used while a run is in progress and for runs cut short."""
    convert = client.data_converter
    handle = client.get_workflow_handle(run_id)
    runs: dict[str, P.TaskRun] = {}
    scheduled: dict[int, str] = {}
    attempts: dict[int, int] = {}
    started = ""
    pipeline_id = ""
    async for event in handle.fetch_history_events():
        at = event.event_time.ToDatetime(tzinfo=dt.UTC).isoformat()
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            first = event.workflow_execution_started_event_attributes
            (plan,) = await convert.decode(first.input.payloads, [P.PipelinePlan])
            started, pipeline_id = at, plan.pipeline_id
            runs = {t.task_id: P.TaskRun(t.task_id, t.type) for t in plan.tasks}
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            sch = event.activity_task_scheduled_event_attributes
            if sch.activity_type.name == P.LOAD_PLAN:
                scheduled[event.event_id] = P.LOAD_PLAN
                continue
            if sch.activity_type.name not in (P.RUN_TASK, P.ROLLBACK_TASK):
                continue
            task_id = sch.activity_id.split("#")[0].split(":")[0]
            scheduled[event.event_id] = task_id
            run = runs.setdefault(task_id, P.TaskRun(task_id, "?"))
            if sch.activity_type.name == P.RUN_TASK:
                run.state, run.started = P.RUNNING, run.started or at
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            st = event.activity_task_started_event_attributes
            attempts[st.scheduled_event_id] = st.attempt
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = event.activity_task_completed_event_attributes
            task_id = scheduled.get(done.scheduled_event_id, "")
            if task_id == P.LOAD_PLAN:
                (plan,) = await convert.decode(done.result.payloads, [P.PipelinePlan])
                runs = {t.task_id: P.TaskRun(t.task_id, t.type) for t in plan.tasks}
                continue
            if task_id not in runs:
                continue
            (out,) = await convert.decode(done.result.payloads, [P.TaskOutput])
            run = runs[task_id]
            if run.state == P.FAILED:  # the rollback after a failed task
                run.state, run.note = P.ROLLED_BACK, out.summary
                continue
            run.state, run.summary, run.metrics = P.SUCCEEDED, out.summary, out.metrics
            run.details, run.attempt_log = out.details, out.attempt_log
            run.attempts += out.attempt
            _close(run, at)
        elif event.event_type in (
            EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
            EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
        ):
            failed = event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
            bad = (
                event.activity_task_failed_event_attributes
                if failed
                else event.activity_task_timed_out_event_attributes
            )
            task_id = scheduled.get(bad.scheduled_event_id, "")
            if task_id not in runs:
                continue
            run = runs[task_id]
            run.state = P.FAILED
            run.attempts += attempts.get(bad.scheduled_event_id, 1)
            run.error = bad.failure.message if failed else f"timed out ({bad.failure.message})"
            _close(run, at)
    return P.RunResult(pipeline_id, run_id, P.RUNNING, list(runs.values()), started)


def _close(run: P.TaskRun, at: str) -> None:
    run.ended = at
    if run.started:
        run.seconds = round(
            (dt.datetime.fromisoformat(at) - dt.datetime.fromisoformat(run.started)).total_seconds(), 3
        )


def run_from_dict(raw: dict[str, Any]) -> P.RunResult:
    tasks = [P.TaskRun(**t) for t in raw.get("tasks", [])]
    fields = {f.name for f in dataclasses.fields(P.RunResult)} - {"tasks"}
    return P.RunResult(**{k: v for k, v in raw.items() if k in fields}, tasks=tasks)


async def wait_run(
    client: Client,
    run_id: str,
    *,
    on_progress: Callable[[P.RunResult], Awaitable[None] | None] | None = None,
    poll: float = 0.5,
) -> P.RunResult:
    """Wait until the run ends, reporting its state every ``poll`` seconds; returns the final state."""
    handle = client.get_workflow_handle(run_id, result_type=P.RunResult)
    waiter = asyncio.ensure_future(handle.result())
    try:
        while not waiter.done():
            if on_progress is not None:
                with contextlib.suppress(RPCError):
                    maybe = on_progress(await get_run(client, run_id))
                    if asyncio.iscoroutine(maybe):
                        await maybe
            await asyncio.wait({waiter}, timeout=poll)
    finally:
        if not waiter.done():
            waiter.cancel()
    with contextlib.suppress(WorkflowFailureError):
        waiter.result()
    final = await get_run(client, run_id)
    if on_progress is not None:
        maybe = on_progress(final)
        if asyncio.iscoroutine(maybe):
            await maybe
    return final


async def list_runs(client: Client, pipeline_id: str, *, limit: int = 20) -> list[P.RunResult]:
    """The latest ``limit`` runs of a pipeline, newest first, each with its per-task state."""
    query = f"WorkflowType = '{P.WORKFLOW_NAME}' AND WorkflowId STARTS_WITH '{pipeline_id}-'"
    ids = []
    async for execution in client.list_workflows(query, limit=limit):
        ids.append(execution.id)
    runs = [await get_run(client, run_id) for run_id in ids]
    return sorted(runs, key=lambda r: r.started, reverse=True)


# -- schedules ---------------------------------------------------------------------------------------
@dataclass
class ScheduleView:
    schedule_id: str
    cron: str
    next_runs: list[str]
    paused: bool


Kind = Literal["pipeline", "source", "deployment", "monitor", "experiment"]


def schedule_id(name: str, kind: Kind = "pipeline") -> str:
    return f"matih-{kind}-{name}"


async def schedule(
    client: Client,
    orch: Orchestrator,
    name: str,
    *,
    kind: Kind = "pipeline",
    catchup: dt.timedelta | None = None,
) -> ScheduleView:
    """Create (or update) the Temporal Schedule of a pipeline, a source's sync or a deployment's batch
    forecasts: its cron, overlap policy skip (a run still going makes the next one skip), catch-up off
    unless ``catchup`` is given. Each scheduled run reads the spec as it is when it starts."""
    options: dict[str, Any] = {"trigger": "schedule"}
    if kind != "pipeline":
        options[kind] = name
    plan = plan_for(orch.workspace, name, options)  # validates the spec now, so errors show here
    cron = str(plan.spec["schedule"])
    stub = P.PipelinePlan(
        plan.pipeline_id, plan.name, [], plan.timeout_s, plan.heartbeat_timeout_s, options=options
    )
    sid = schedule_id(name, kind)
    target = Schedule(
        action=ScheduleActionStartWorkflow(
            P.WORKFLOW_NAME,
            stub,
            id=f"{plan.pipeline_id}-scheduled",
            task_queue=orch.task_queue,
            execution_timeout=dt.timedelta(seconds=plan.timeout_s * 1.5 + 600),
        ),
        spec=ScheduleSpec(cron_expressions=[cron]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=catchup or MIN_CATCHUP),
    )
    try:
        await client.create_schedule(sid, target, memo={"cron": cron})
    except ScheduleAlreadyRunningError:
        # replaced rather than updated: the memo (the cron as written) cannot be updated in place
        await client.get_schedule_handle(sid).delete()
        await client.create_schedule(sid, target, memo={"cron": cron})
    return await describe_schedule(client, sid)


async def describe_schedule(client: Client, sid: str) -> ScheduleView:
    desc = await client.get_schedule_handle(sid).describe()
    try:
        cron = str(await desc.memo_value("cron"))
    except KeyError:
        cron = ", ".join(desc.schedule.spec.cron_expressions)
    return ScheduleView(
        sid,
        cron,
        [t.isoformat() for t in desc.info.next_action_times[:3]],
        desc.schedule.state.paused,
    )


async def unschedule(client: Client, name: str, *, kind: Kind = "pipeline") -> bool:
    """Delete the schedule; ``False`` when there was none."""
    try:
        await client.get_schedule_handle(schedule_id(name, kind)).delete()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def list_schedules(client: Client) -> list[ScheduleView]:
    views = []
    async for entry in await client.list_schedules():
        if entry.id.startswith("matih-"):
            views.append(await describe_schedule(client, entry.id))
    return views
