"""The Temporal workflow every pipeline runs as: its tasks' DAG, retries, failure actions, notifications.

Workflow code must be deterministic and runs in Temporal's sandbox: it only schedules activities and
keeps state; the work itself happens in :mod:`matih.orchestrate.activities`. Task outcomes follow the
spec's ``failure_handling.task_level``:

- ``retry_then_fail`` (the default): the task is retried per its ``retry_policy``; if it still fails,
  the tasks depending on it are skipped and the run fails.
- ``skip_deployment_keep_current``: a failure skips the tasks depending on it (the deployment), so the
  current champion keeps serving; a failed validation gate ends the run as ``validation_failed``.
- ``rollback_to_previous``: a failure runs the task's rollback (the previous deployment and model alias
  are restored), then the run fails.

A task whose worker dies is handed to another worker (heartbeat timeout) without counting as a failure.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, TimeoutType

with workflow.unsafe.imports_passed_through():
    from matih.orchestrate import plan as P

#: hand-overs after a worker loss before the task counts as failed
MAX_HANDOVERS = 3
NOTIFY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2, maximum_attempts=5)


@workflow.defn(name=P.WORKFLOW_NAME)
class PipelineWorkflow:
    def __init__(self) -> None:
        self.runs: dict[str, P.TaskRun] = {}
        self.plan: P.PipelinePlan | None = None
        self.started = ""
        self.background: list[asyncio.Task[bool]] = []

    @workflow.run
    async def run(self, plan: P.PipelinePlan) -> P.RunResult:
        if not plan.tasks:
            # a scheduled run: the worker reads the spec as it is now
            plan = await workflow.execute_activity(
                P.LOAD_PLAN,
                plan,
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=RetryPolicy(maximum_attempts=3),
                result_type=P.PipelinePlan,
            )
        self.plan = plan
        self.started = workflow.now().isoformat()
        self.runs = {t.task_id: P.TaskRun(t.task_id, t.type) for t in plan.tasks}
        futures: dict[str, asyncio.Task[bool]] = {}
        for task in plan.tasks:  # the spec's validation guarantees dependencies come from the same list
            futures[task.task_id] = asyncio.create_task(self._after_deps(task, futures))
        try:
            await asyncio.wait_for(
                asyncio.gather(*futures.values(), *self.background), timeout=plan.timeout_s
            )
        except TimeoutError_:
            for run in self.runs.values():
                # a task may already have seen its cancellation as a failure ("Cancelled")
                cancelled = run.state == P.FAILED and run.error_type == "CancelledError"
                if run.state in (P.RUNNING, P.PENDING) or cancelled:
                    run.state, run.error = (
                        P.SKIPPED if run.state == P.PENDING else P.FAILED,
                        "pipeline timeout",
                    )
            for future in futures.values():
                future.cancel()
            status, message = P.RUN_FAILED, f"pipeline timed out after {_seconds(plan.timeout_s)}"
        else:
            status, message = self._outcome()
        result = self._result(status, message)
        if plan.monitors and status == P.RUN_SUCCEEDED:
            result.monitors = await self._monitors(plan.monitors)
        note = plan.on_success if status == P.RUN_SUCCEEDED else plan.on_failure
        if note is not None:
            result.notifications.append(await self._notify(note, result))
        if status == P.RUN_FAILED:
            # Failed in Temporal's eyes too, with the whole run attached for `matih pipeline status`
            raise ApplicationError(message, result, type="PipelineFailed", non_retryable=True)
        return result

    # -- scheduling ----------------------------------------------------------------------------------
    async def _after_deps(self, task: P.TaskPlan, futures: dict[str, asyncio.Task[bool]]) -> bool:
        """Run ``task`` once every dependency succeeded; ``False`` (and skipped) when one did not."""
        # futures are created in spec order, but a dependency may be declared later in the list
        while not all(dep in futures for dep in task.depends_on):
            await asyncio.sleep(0)
        proceed = all(await asyncio.gather(*(futures[d] for d in task.depends_on)))
        run = self.runs[task.task_id]
        if not proceed:
            run.state = P.SKIPPED
            failed = [d for d in task.depends_on if self.runs[d].state != P.SUCCEEDED]
            run.note = f"skipped: {', '.join(failed)} did not succeed"
            return False
        if task.type == "ingestion_trigger" and not task.wait_for_completion:
            # downstream tasks go ahead at once; the run still waits for the syncs before it ends
            self.background.append(asyncio.create_task(self._execute(task)))
            run.note = "wait_for_completion is false: downstream tasks did not wait for it"
            return True
        return await self._execute(task)

    async def _execute(self, task: P.TaskPlan) -> bool:
        assert self.plan is not None
        plan, run = self.plan, self.runs[task.task_id]
        run.state, run.started = P.RUNNING, workflow.now().isoformat()
        retry = (
            RetryPolicy(
                initial_interval=timedelta(seconds=task.retry.initial_interval_s),
                backoff_coefficient=task.retry.backoff_coefficient,
                maximum_attempts=task.retry.max_attempts,
            )
            if task.retry
            else RetryPolicy(maximum_attempts=1)
        )
        timeout = timedelta(seconds=task.timeout_s or plan.timeout_s)
        upstream = {r.task_id: r.metrics for r in self.runs.values() if r.state == P.SUCCEEDED and r.metrics}
        handovers = 0
        while True:
            try:
                out: P.TaskOutput = await workflow.execute_activity(
                    P.RUN_TASK,
                    P.TaskInput(
                        pipeline_id=plan.pipeline_id,
                        run_id=workflow.info().workflow_id,
                        task_id=task.task_id,
                        spec=task.spec,
                        pipeline_spec=plan.spec,
                        time_scale=plan.time_scale,
                        options=plan.options,
                        upstream=upstream,
                    ),
                    activity_id=task.task_id if handovers == 0 else f"{task.task_id}#{handovers + 1}",
                    start_to_close_timeout=timeout,
                    schedule_to_close_timeout=timeout if task.timeout_s else None,
                    heartbeat_timeout=timedelta(seconds=plan.heartbeat_timeout_s),
                    retry_policy=retry,
                    result_type=P.TaskOutput,
                )
            except ActivityError as err:
                cause = err.cause
                if (
                    isinstance(cause, TimeoutError)
                    and cause.type == TimeoutType.HEARTBEAT
                    and handovers < MAX_HANDOVERS
                ):
                    handovers += 1
                    run.attempts += _attempts(cause)
                    run.note = f"worker lost {handovers} time(s); handed to another worker"
                    continue
                return await self._failed(task, err)
            run.state = P.SUCCEEDED
            run.attempts += out.attempt
            run.summary, run.metrics, run.attempt_log = out.summary, out.metrics, out.attempt_log
            run.details = out.details
            self._finish(run)
            return True

    async def _failed(self, task: P.TaskPlan, err: ActivityError) -> bool:
        run = self.runs[task.task_id]
        cause = err.cause
        details = _details(cause)
        run.state = P.FAILED
        run.error = str(getattr(cause, "message", None) or cause or err)
        run.error_type = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
        if isinstance(cause, TimeoutError):
            run.error = f"timed out ({cause.type.name.lower() if cause.type else 'timeout'})"
        run.attempts += int(details.get("attempt") or _attempts(cause) or 1)
        run.log_tail = list(details.get("log_tail") or [])
        run.attempt_log = list(details.get("attempt_log") or [])
        if details.get("details"):
            run.details = dict(details["details"])
        self._finish(run)
        if task.on_failure == "rollback_to_previous":
            try:
                out: P.TaskOutput = await workflow.execute_activity(
                    P.ROLLBACK_TASK,
                    P.TaskInput(
                        pipeline_id=self.plan.pipeline_id if self.plan else "",
                        run_id=workflow.info().workflow_id,
                        task_id=task.task_id,
                        spec=task.spec,
                        pipeline_spec=self.plan.spec if self.plan else {},
                        time_scale=self.plan.time_scale if self.plan else 1.0,
                        options={},
                    ),
                    activity_id=f"{task.task_id}:rollback",
                    start_to_close_timeout=timedelta(minutes=10),
                    retry_policy=RetryPolicy(maximum_attempts=3),
                    result_type=P.TaskOutput,
                )
                run.state = P.ROLLED_BACK
                run.note = out.summary
            except ActivityError as rollback_err:
                run.note = f"rollback failed too: {rollback_err.cause or rollback_err}"
        return False

    def _finish(self, run: P.TaskRun) -> None:
        run.ended = workflow.now().isoformat()
        if run.started:
            run.seconds = round(
                (workflow.now() - _parse(run.started)).total_seconds(),
                3,
            )

    # -- outcome -------------------------------------------------------------------------------------
    def _outcome(self) -> tuple[str, str]:
        assert self.plan is not None
        failed = [t for t in self.plan.tasks if self.runs[t.task_id].state in (P.FAILED, P.ROLLED_BACK)]
        if not failed:
            return P.RUN_SUCCEEDED, f"all {len(self.plan.tasks)} tasks succeeded"
        hard = [t for t in failed if t.on_failure != "skip_deployment_keep_current"]
        first = hard[0] if hard else failed[0]
        run = self.runs[first.task_id]
        what = f"task {first.task_id} failed after {run.attempts} attempt(s): {run.error}"
        if run.state == P.ROLLED_BACK:
            what += f"; {run.note}"
        if hard:
            return P.RUN_FAILED, what
        if run.error_type in P.GATE_ERRORS:
            skipped = [r.task_id for r in self.runs.values() if r.state == P.SKIPPED]
            return P.RUN_VALIDATION_FAILED, (
                f"{what}; skipped {', '.join(skipped) or 'nothing'}, the current champion keeps serving"
            )
        return P.RUN_FAILED, what

    def _result(self, status: str, message: str = "") -> P.RunResult:
        assert self.plan is not None
        now = workflow.now()
        return P.RunResult(
            pipeline_id=self.plan.pipeline_id,
            run_id=workflow.info().workflow_id,
            status=status,
            tasks=[self.runs[t.task_id] for t in self.plan.tasks],
            started=self.started,
            ended=now.isoformat(),
            seconds=round((now - _parse(self.started)).total_seconds(), 3),
            message=message,
        )

    async def _monitors(self, names: list[str]) -> list[str]:
        """Run the workspace's monitors on what the run published; a failure is recorded, never fails
        the run (the forecasts are already live)."""
        try:
            lines: list[str] = await workflow.execute_activity(
                P.RUN_MONITORS,
                names,
                activity_id="monitors",
                start_to_close_timeout=timedelta(minutes=30),
                retry_policy=RetryPolicy(maximum_attempts=2),
                result_type=list[str],
            )
            return lines
        except ActivityError as err:
            return [f"monitors did not run: {err.cause or err}"]

    async def _notify(self, note: P.NotificationPlan, result: P.RunResult) -> str:
        """Deliver one notification; a delivery failure is recorded, never fails the run."""
        try:
            return str(
                await workflow.execute_activity(
                    P.NOTIFY,
                    P.NotifyInput(note, result),
                    activity_id=f"notify:{note.target}",
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=NOTIFY_RETRY,
                    result_type=str,
                )
            )
        except ActivityError as err:
            return f"{note.channel} {note.target}: not delivered ({err.cause or err})"


TimeoutError_ = asyncio.TimeoutError


def _details(cause: BaseException | None) -> dict[str, Any]:
    if isinstance(cause, ApplicationError) and cause.details and isinstance(cause.details[0], dict):
        return cause.details[0]
    if isinstance(cause, TimeoutError) and cause.last_heartbeat_details:
        first = cause.last_heartbeat_details[0]
        return first if isinstance(first, dict) else {}
    return {}


def _attempts(cause: BaseException | None) -> int:
    """Attempts a lost or timed-out task made, from its last heartbeat (at least one)."""
    details = _details(cause)
    return max(1, len(details.get("attempt_log") or []) + (1 if details.get("running") else 0))


def _parse(stamp: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(stamp)


def _seconds(value: float) -> str:
    return f"{value:g}s"
