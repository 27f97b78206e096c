"""Everything a workspace can run on Temporal, by pipeline id: its own pipelines, and the one-task
pipelines that sync a source, publish a deployment's batch forecasts, run a monitor spec or an experiment.

A workbench lists these to start runs and draw their DAGs; each entry carries the ``options`` that
:func:`matih.orchestrate.client.plan_for` turns into its plan, so starting one here and from the CLI
(``matih pipeline run``, ``matih sources sync``' schedule, ``matih monitor schedule``) are the same run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from matih.exceptions import MatihError, SpecError
from matih.orchestrate import client as C
from matih.workspace import Workspace

__all__ = ["Runnable", "runnable", "runnables"]


@dataclass
class Runnable:
    """One pipeline the workspace can start: its id (runs are ``<id>-<time>-<hex>``), what it is, and
    its tasks with their dependencies."""

    pipeline_id: str
    name: str
    kind: C.Kind
    target: str
    """The pipeline id, or the source, deployment, monitor spec or experiment it runs."""
    schedule: str
    tasks: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None
    """Why its spec cannot run now (it is listed anyway, so the user sees what to fix)."""

    @property
    def options(self) -> dict[str, Any]:
        return {} if self.kind == "pipeline" else {self.kind: self.target}


def _targets(ws: Workspace) -> list[tuple[C.Kind, str]]:
    from matih.monitoring.runner import monitor_specs
    from matih.serving.deployments import deployment_spec
    from matih.sources import source_names
    from matih.specs import load_spec

    found: list[tuple[C.Kind, str]] = []
    for path in ws.spec_files("pipelines"):
        found.append(("pipeline", str(getattr(load_spec(path, "pipelines"), "pipeline_id", path.stem))))
    found += [("source", name) for name in source_names(ws)]
    for path in ws.spec_files("deployments"):
        name = str(getattr(load_spec(path, "deployments"), "deployment_name", path.stem))
        batch = deployment_spec(ws, name).batch_inference
        if batch is not None and batch.enabled:
            found.append(("deployment", name))
    found += [("monitor", name) for name in monitor_specs(ws)]
    for path in ws.spec_files("experiments"):
        found.append(("experiment", str(getattr(load_spec(path, "experiments"), "experiment", path.stem))))
    return found


#: the pipeline id prefix of each kind's one-task pipeline (see :mod:`matih.orchestrate.plan`)
PREFIX = {
    "pipeline": "",
    "source": "sync-",
    "deployment": "batch-",
    "monitor": "monitor-",
    "experiment": "experiment-",
}


def _entry(ws: Workspace, kind: C.Kind, target: str) -> Runnable:
    options: dict[str, Any] = {} if kind == "pipeline" else {kind: target}
    try:
        plan = C.plan_for(ws, target, options)
    except MatihError as err:
        return Runnable(f"{PREFIX[kind]}{target}", target, kind, target, "", problem=str(err))
    tasks = [{"task_id": t.task_id, "type": t.type, "depends_on": list(t.depends_on)} for t in plan.tasks]
    return Runnable(plan.pipeline_id, plan.name, kind, target, str(plan.spec.get("schedule", "")), tasks)


def runnables(ws: Workspace) -> list[Runnable]:
    """Every pipeline the workspace can run, its own first."""
    return [_entry(ws, kind, target) for kind, target in _targets(ws)]


def runnable(ws: Workspace, pipeline_id: str) -> Runnable:
    """The runnable with this pipeline id; a :class:`SpecError` listing the known ones otherwise."""
    found = runnables(ws)
    for entry in found:
        if entry.pipeline_id == pipeline_id:
            return entry
    known = ", ".join(r.pipeline_id for r in found)
    raise SpecError(f"no pipeline {pipeline_id!r} in this workspace (pipelines: {known})")
