"""Slack notifications of pipeline outcomes, posted to an incoming webhook.

The webhook URL is a secret (it alone authorises posting): it comes from ``${SLACK_WEBHOOK_URL}`` (or the
reference in ``matih.yaml``'s ``notifications.slack_webhook_url``) in the worker's environment and is
never put in a workflow input, a log line or an error message. The spec's ``target`` goes in the
payload's ``channel``. The standard library's client is used on purpose: httpx logs request URLs.
"""

from __future__ import annotations

from typing import Any

from matih.orchestrate import plan as P
from matih.slack import post

__all__ = ["post", "slack_message"]

LOG_LINES = 20
STATUS_ICON = {
    P.RUN_SUCCEEDED: ":white_check_mark:",
    P.RUN_FAILED: ":x:",
    P.RUN_VALIDATION_FAILED: ":warning:",
}


def slack_message(note: P.NotificationPlan, run: P.RunResult) -> dict[str, Any]:
    """The webhook payload: ``channel``, a plain ``text`` fallback and Block Kit ``blocks``."""
    icon = STATUS_ICON.get(run.status, ":grey_question:")
    headline = f"{icon} Pipeline {run.pipeline_id} {run.status.replace('_', ' ')}"
    lines = [f"*{headline}*", f"Run `{run.run_id}`" + (f" in {_dur(run.seconds)}" if run.seconds else "")]
    if run.message:
        lines.append(run.message)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}]
    failed = [t for t in run.tasks if t.state in (P.FAILED, P.ROLLED_BACK)]
    for task in failed:
        text = f"*{task.task_id}* ({task.type}) {task.state} after {task.attempts} attempt(s): {task.error}"
        if task.note:
            text += f"\n{task.note}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
        if note.include_logs and task.log_tail:
            tail = "\n".join(task.log_tail[-LOG_LINES:])
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```{tail[-2800:]}```"}})
    if note.include_metrics:
        rows = [
            f"{t.task_id}: {t.state}, {t.attempts} attempt(s), {_dur(t.seconds)}" + _metric_text(t.metrics)
            for t in run.tasks
        ]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(rows)}})
    return {
        "channel": note.target,
        "text": f"{headline}: {run.message}" if run.message else headline,
        "blocks": blocks,
        "metadata": {"event_type": "matih_pipeline_run", "event_payload": metrics_of(run)},
    }


def metrics_of(run: P.RunResult) -> dict[str, Any]:
    """Machine-readable run metrics: status, duration, per-task durations and attempts, MAPE, rows."""
    out: dict[str, Any] = {
        "pipeline_id": run.pipeline_id,
        "run_id": run.run_id,
        "status": run.status,
        "seconds": run.seconds,
        "tasks": {
            t.task_id: {"state": t.state, "attempts": t.attempts, "seconds": t.seconds} for t in run.tasks
        },
    }
    for task in run.tasks:
        for key in ("mape", "bias", "rmse", "rows", "model_version"):
            if key in task.metrics:
                out.setdefault(key if key != "rows" else f"rows.{task.task_id}", task.metrics[key])
    return out


def _metric_text(metrics: dict[str, Any]) -> str:
    parts = []
    if "mape" in metrics:
        parts.append(f"MAPE {float(metrics['mape']):.1%}")
    if "bias" in metrics:
        parts.append(f"bias {float(metrics['bias']):+.3f}")
    if "rows" in metrics:
        parts.append(f"{int(metrics['rows']):,} rows")
    if "model_version" in metrics:
        parts.append(f"model {metrics['model_version']}")
    return f" ({', '.join(parts)})" if parts else ""


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}m {secs:04.1f}s" if minutes else f"{secs:.1f}s"
