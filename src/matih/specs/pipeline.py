"""``pipelines/<pipeline_id>.json``: a scheduled DAG of tasks, from ingestion to deployment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from matih.specs.common import CronExpression, Duration, Identifier, SpecModel, raise_spec_errors
from matih.specs.tasks import TASK_TYPES, Task

__all__ = [
    "TASK_TYPES",
    "FailureAction",
    "FailureHandling",
    "Notification",
    "Notifications",
    "PipelineSpec",
    "Task",
]

#: task types with a rollback (what ``rollback_to_previous`` restores)
ROLLBACK_TYPES: tuple[str, ...] = ("ray_serve_update",)
FailureAction = Literal["retry_then_fail", "skip_deployment_keep_current", "rollback_to_previous"]


class Notification(SpecModel):
    """Where a pipeline outcome is announced."""

    channel: Literal["slack"]
    """Notification channel kind."""
    target: str = Field(min_length=1)
    """Channel name, e.g. ``"#ml-ops-alerts"``."""
    include_logs: bool = False
    """Attach the failing task's log tail."""
    include_metrics: bool = False
    """Attach the evaluation metrics."""


class Notifications(SpecModel):
    """Notifications per outcome."""

    on_failure: Notification | None = None
    """Sent when the run fails."""
    on_success: Notification | None = None
    """Sent when the run succeeds."""


class FailureHandling(SpecModel):
    """What happens when a task fails for good."""

    task_level: dict[str, FailureAction] = Field(default_factory=dict)
    """Action per task id."""


class PipelineSpec(SpecModel):
    """A scheduled pipeline: a DAG of tasks with retries, notifications and failure handling."""

    pipeline_id: Identifier
    """Stable id, used by monitors to trigger the pipeline and as the MLflow model name."""
    name: str = Field(min_length=1)
    """Human-readable name."""
    schedule: CronExpression
    """When the pipeline runs, e.g. ``"0 2 * * *"``."""
    timeout: Duration
    """Whole-run timeout, e.g. ``"2h"``."""
    tasks: list[Task] = Field(min_length=1)
    """Tasks; ``depends_on`` edges must form a DAG."""
    notifications: Notifications | None = None
    """Outcome notifications."""
    failure_handling: FailureHandling | None = None
    """Per-task failure actions."""

    def task(self, task_id: str) -> Task:
        """The task with this id; KeyError listing the known ids otherwise."""
        for task in self.tasks:
            if task.task_id == task_id:
                return task
        raise KeyError(f"no task {task_id!r}; known tasks: {', '.join(t.task_id for t in self.tasks)}")

    def topological_order(self) -> list[Task]:
        """Tasks ordered so each comes after its dependencies; ties keep declaration order."""
        remaining = {t.task_id: set(t.depends_on) for t in self.tasks}
        ordered: list[Task] = []
        while remaining:
            ready = [t for t in self.tasks if t.task_id in remaining and not remaining[t.task_id]]
            if not ready:  # unreachable after validation; guards models built with model_construct
                raise ValueError(f"pipeline {self.pipeline_id!r} has a dependency cycle")
            for task in ready:
                del remaining[task.task_id]
                ordered.append(task)
            done = {t.task_id for t in ready}
            for deps in remaining.values():
                deps -= done
        return ordered

    @model_validator(mode="after")
    def _check_graph(self) -> PipelineSpec:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        first_index: dict[str, int] = {}
        for i, task in enumerate(self.tasks):
            if task.task_id in first_index:
                problems.append(
                    (
                        ("tasks", i, "task_id"),
                        f"task id {task.task_id!r} is already used by tasks[{first_index[task.task_id]}]",
                    )
                )
            first_index.setdefault(task.task_id, i)
        known = ", ".join(repr(t) for t in first_index)
        for i, task in enumerate(self.tasks):
            for j, dep in enumerate(task.depends_on):
                if dep not in first_index:
                    problems.append(
                        (
                            ("tasks", i, "depends_on", j),
                            f"depends on unknown task {dep!r}; known tasks: {known}",
                        )
                    )
                elif dep == task.task_id:
                    problems.append((("tasks", i, "depends_on", j), f"task {dep!r} cannot depend on itself"))
        if not problems:
            cycle = _find_cycle({t.task_id: t.depends_on for t in self.tasks})
            if cycle:
                where = first_index[cycle[0]]
                problems.append(
                    (
                        ("tasks", where, "depends_on"),
                        f"dependency cycle {' -> '.join(cycle)} (each task depends on the next); "
                        "remove one of these depends_on entries",
                    )
                )
        if self.failure_handling is not None:
            types = {t.task_id: t.type for t in self.tasks}
            for task_id, action in self.failure_handling.task_level.items():
                if task_id not in first_index:
                    problems.append(
                        (
                            ("failure_handling", "task_level", task_id),
                            f"unknown task {task_id!r}; known tasks: {known}",
                        )
                    )
                elif action == "rollback_to_previous" and types[task_id] not in ROLLBACK_TYPES:
                    problems.append(
                        (
                            ("failure_handling", "task_level", task_id),
                            f"rollback_to_previous restores a deployment, so it applies to "
                            f"{', '.join(ROLLBACK_TYPES)} tasks; {task_id!r} is a {types[task_id]} task: "
                            "use retry_then_fail or skip_deployment_keep_current",
                        )
                    )
        raise_spec_errors("PipelineSpec", problems)
        return self


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """First cycle found by depth-first search, as ``[a, b, a]``; edges point at dependencies."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = fully explored
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, []):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (found := visit(node)):
            return found
    return None
