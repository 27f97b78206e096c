"""What travels through Temporal: the run plan a pipeline spec becomes, and what tasks report back.

Plain dataclasses only: they are workflow inputs and results (JSON in Temporal's history), and the
workflow sandbox imports this module, so it must not pull in pydantic models, DuckDB or MLflow.
``plan_pipeline`` (which does need the spec models) builds a plan on the client side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matih.specs import PipelineSpec, WorkspaceSettings

WORKFLOW_NAME = "MatihPipeline"
RUN_TASK = "run_task"
ROLLBACK_TASK = "rollback_task"
NOTIFY = "notify"
LOAD_PLAN = "load_plan"
RUN_MONITORS = "run_monitors"

#: task states, as ``pipeline status`` shows them
PENDING, RUNNING, SUCCEEDED, FAILED, SKIPPED, ROLLED_BACK = (
    "pending",
    "running",
    "succeeded",
    "failed",
    "skipped",
    "rolled_back",
)
#: run outcomes
RUN_SUCCEEDED, RUN_FAILED, RUN_VALIDATION_FAILED = "succeeded", "failed", "validation_failed"
#: the errors by which a gate refuses a model (validation thresholds, a failed quality suite). Temporal
#: carries an error's type as its class name, and this module may not import the exception classes
#: (the workflow sandbox imports it), so the names are listed here and a test pins them to the classes.
GATE_ERRORS = frozenset({"ValidationGateError", "QualityError"})


@dataclass
class RetryPlan:
    """A task's ``retry_policy``, with the workspace's time scale applied."""

    max_attempts: int
    initial_interval_s: float
    backoff_coefficient: float


@dataclass
class NotificationPlan:
    """One ``notifications`` entry."""

    channel: str
    target: str
    include_logs: bool = False
    include_metrics: bool = False


@dataclass
class TaskPlan:
    """One task as the workflow schedules it; ``spec`` is the task's JSON as submitted."""

    task_id: str
    type: str
    depends_on: list[str]
    spec: dict[str, Any]
    retry: RetryPlan | None
    timeout_s: float | None
    on_failure: str = "retry_then_fail"
    wait_for_completion: bool = True


@dataclass
class PipelinePlan:
    """Everything a run needs, fixed when it starts: a spec edited mid-run does not change the run."""

    pipeline_id: str
    name: str
    tasks: list[TaskPlan]
    timeout_s: float
    heartbeat_timeout_s: float
    time_scale: float = 1.0
    on_success: NotificationPlan | None = None
    on_failure: NotificationPlan | None = None
    spec: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    """Run options: ``full_refresh`` (syncs), ``n_estimators`` (training), ``trigger``."""
    monitors: list[str] = field(default_factory=list)
    """Monitor specs to run once the tasks are done (a run that publishes forecasts is followed by the
    workspace's monitors)."""


@dataclass
class TaskInput:
    """What one activity attempt receives."""

    pipeline_id: str
    run_id: str
    task_id: str
    spec: dict[str, Any]
    pipeline_spec: dict[str, Any]
    time_scale: float
    options: dict[str, Any]
    upstream: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Metrics of the tasks that already succeeded in this run, by task id."""


@dataclass
class TaskOutput:
    """What a successful task reports."""

    summary: str
    metrics: dict[str, Any]
    attempt: int
    attempt_log: list[dict[str, Any]]
    details: dict[str, Any] = field(default_factory=dict)
    """Larger results for reports (an evaluation report, a training summary); not sent to Slack."""


@dataclass
class TaskRun:
    """A task's state within a run."""

    task_id: str
    type: str
    state: str = PENDING
    attempts: int = 0
    started: str | None = None
    ended: str | None = None
    seconds: float | None = None
    summary: str = ""
    error: str | None = None
    error_type: str | None = None
    log_tail: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    attempt_log: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def backoffs(self) -> list[float]:
        """Seconds between each attempt's end and the next attempt's start: the retry policy at work."""
        from datetime import datetime
        from itertools import pairwise

        return [
            (
                datetime.fromisoformat(after["started"]) - datetime.fromisoformat(before["ended"])
            ).total_seconds()
            for before, after in pairwise(self.attempt_log)
        ]


@dataclass
class RunResult:
    """A run's outcome: also the workflow's result, and the details of its failure."""

    pipeline_id: str
    run_id: str
    status: str
    tasks: list[TaskRun]
    started: str
    ended: str | None = None
    seconds: float | None = None
    message: str = ""
    notifications: list[str] = field(default_factory=list)
    monitors: list[str] = field(default_factory=list)
    """What the monitors run after the tasks said (``[name] type: OK|ALERT ...`` lines)."""

    def task(self, task_id: str) -> TaskRun:
        return next(t for t in self.tasks if t.task_id == task_id)

    def of_type(self, type_: str) -> TaskRun | None:
        return next((t for t in self.tasks if t.type == type_), None)


@dataclass
class NotifyInput:
    """One notification of a run's outcome; the activity builds the message and resolves the webhook."""

    note: NotificationPlan
    run: RunResult


def _default_action(task: Any) -> str:
    """Without a ``failure_handling`` entry: a deployment with ``rollback_on_failure`` rolls back."""
    if task.type == "ray_serve_update" and task.config.rollback_on_failure:
        return "rollback_to_previous"
    return "retry_then_fail"


def _one_task_pipeline(
    pipeline_id: str, name: str, cron: str, timeout: str, task_id: str, kind: str, config: dict[str, Any]
) -> dict[str, Any]:
    return {
        "pipeline_id": pipeline_id,
        "name": name,
        "schedule": cron,
        "timeout": timeout,
        "tasks": [{"task_id": task_id, "type": kind, "config": config}],
    }


def source_pipeline(name: str, cron: str) -> dict[str, Any]:
    """The one-task pipeline spec a source's schedule runs: sync that source."""
    return _one_task_pipeline(
        f"sync-{name}",
        f"Sync source {name}",
        cron,
        "6h",
        "sync",
        "ingestion_trigger",
        {"connections": [name]},
    )


def monitor_pipeline(name: str, cron: str) -> dict[str, Any]:
    """The one-task pipeline a monitor spec's schedule runs: its monitors."""
    return _one_task_pipeline(
        f"monitor-{name}", f"Monitors {name}", cron, "1h", "monitors", "monitor_run", {"monitor_name": name}
    )


def experiment_pipeline(name: str, cron: str) -> dict[str, Any]:
    """The one-task pipeline the routing document's ``evaluation_schedule`` runs: the experiment."""
    return _one_task_pipeline(
        f"experiment-{name}",
        f"Experiment {name}",
        cron,
        "6h",
        "experiment",
        "experiment_run",
        {"experiment": name},
    )


def deployment_pipeline(name: str, cron: str, output_table: str) -> dict[str, Any]:
    """The one-task pipeline a deployment's ``batch_inference.schedule`` runs: its batch forecasts."""
    return _one_task_pipeline(
        f"batch-{name}",
        f"Batch forecasts of {name}",
        cron,
        "2h",
        "batch_inference",
        "batch_inference",
        {"deployment_name": name, "output_table": output_table},
    )


def plan_pipeline(
    spec: PipelineSpec, settings: WorkspaceSettings, options: dict[str, Any] | None = None
) -> PipelinePlan:
    """The run plan of ``spec``: task order and edges, retry policies and timeouts scaled by
    ``temporal.time_scale``, failure actions and notifications."""
    scale = settings.temporal.time_scale
    actions = spec.failure_handling.task_level if spec.failure_handling else {}
    tasks = []
    for task in spec.tasks:
        retry = (
            RetryPlan(
                task.retry_policy.max_attempts,
                task.retry_policy.initial_interval.total_seconds() * scale,
                task.retry_policy.backoff_coefficient,
            )
            if task.retry_policy
            else None
        )
        timeout = getattr(task.config, "timeout", None)
        tasks.append(
            TaskPlan(
                task_id=task.task_id,
                type=task.type,
                depends_on=list(task.depends_on),
                spec=task.model_dump(mode="json", by_alias=True, exclude_unset=True),
                retry=retry,
                timeout_s=timeout.total_seconds() * scale if timeout is not None else None,
                on_failure=actions.get(task.task_id, _default_action(task)),
                wait_for_completion=bool(getattr(task.config, "wait_for_completion", True)),
            )
        )
    notes = spec.notifications

    def notification(entry: Any) -> NotificationPlan | None:
        if entry is None:
            return None
        return NotificationPlan(entry.channel, entry.target, entry.include_logs, entry.include_metrics)

    return PipelinePlan(
        pipeline_id=spec.pipeline_id,
        name=spec.name,
        tasks=tasks,
        timeout_s=spec.timeout.total_seconds() * scale,
        heartbeat_timeout_s=settings.temporal.heartbeat_timeout.total_seconds(),
        time_scale=scale,
        on_success=notification(notes.on_success if notes else None),
        on_failure=notification(notes.on_failure if notes else None),
        spec=spec.model_dump(mode="json", by_alias=True, exclude_unset=True),
        options=dict(options or {}),
    )
