"""The workspace's monitors as the orchestrator runs them, and the Production Health report.

One place for what ``monitor run`` on the command line, the ``monitor_run`` task and the monitors after a
publishing run share: each monitor spec run with its alerts to Slack and retraining started as a
Temporal workflow (:mod:`matih.monitoring` sits below this package and cannot start one itself).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from matih.monitoring.alerts import alert_channel, slack_alerts
from matih.monitoring.runner import MonitorReport, StartPipeline, monitor_spec, monitor_specs, run_monitors
from matih.orchestrate import client as C
from matih.serving.deployments import republish
from matih.specs import PipelineSpec, load_spec
from matih.workspace import Workspace

__all__ = [
    "monitor_lines",
    "retraining_starter",
    "run_workspace_monitors",
    "training_pipeline",
]

log = logging.getLogger(__name__)
RETRAINING_TRIGGER = "retraining"


def retraining_starter(ws: Workspace) -> StartPipeline:
    """``start(pipeline_id, why) -> run id``: the retraining run, started on this workspace's Temporal;
    the worker polling the queue runs it (the one running these monitors, when they run in a run)."""

    def start(pipeline_id: str, why: str) -> str:
        log.warning("retraining %s: %s", pipeline_id, why)
        plan = C.plan_for(ws, pipeline_id, {"trigger": RETRAINING_TRIGGER})

        async def go() -> str:
            with C.orchestrator(ws, keep_server=True) as orch:
                return await C.start_run(await C.connect(orch), orch, plan)

        return asyncio.run(go())  # called from a thread with no running loop (CLI, activity thread)

    return start


def run_workspace_monitors(
    ws: Workspace,
    names: list[str] | None = None,
    *,
    start_pipeline: StartPipeline | Literal["temporal"] | None = "temporal",
    act: bool = True,
) -> list[MonitorReport]:
    """Run the monitor specs (``None``: all of them) with alerts to each spec's Slack channel, retraining
    started by ``start_pipeline`` (default: :func:`retraining_starter`; ``None``: a dry run) and
    auto_reassign's routing changes served by a blue-green rollout (``act=False``: decided only)."""
    specs = monitor_specs(ws)
    start = retraining_starter(ws) if start_pipeline == "temporal" else start_pipeline
    reports: list[MonitorReport] = []
    for name in list(specs) if names is None else names:
        spec = monitor_spec(ws, name, specs)
        reports += run_monitors(
            ws,
            name,
            start_pipeline=start,
            notify=slack_alerts(ws, alert_channel(spec)),
            republish=(lambda why: republish(ws)) if act else None,
        )
    return reports


def monitor_lines(reports: list[MonitorReport]) -> list[str]:
    """One ``[spec] type: OK|ALERT ...`` line per monitor (what a pipeline run records)."""
    return [
        f"[{report.name}] {section.type}: {'OK' if section.ok else 'ALERT'} " + "; ".join(section.lines)
        for report in reports
        for section in report.sections
    ]


def training_pipeline(ws: Workspace) -> str | None:
    """The pipeline with a ``ray_train`` task (the seed's ``demand-forecast-daily``)."""
    for path in ws.spec_files("pipelines"):
        spec = load_spec(path, "pipelines")
        if isinstance(spec, PipelineSpec) and any(t.type == "ray_train" for t in spec.tasks):
            return spec.pipeline_id
    return None
