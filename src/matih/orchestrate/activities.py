"""The Temporal activities a MATIH worker runs: one per task attempt, a rollback, a notification.

``run_task`` runs the task's library call in a thread and heartbeats while it works, so a lost worker
is noticed within ``temporal.heartbeat_timeout`` and the task handed to another worker. The heartbeat
carries the attempt log (start, end and error of every attempt) and the task's progress, which Temporal
hands to the next attempt: retries resume (an ingestion skips the sources it already synced) and the
backoff between attempts is on record. Errors become ApplicationErrors typed by the MATIH exception,
non-retryable unless the error is transient, with the task's log tail attached.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import logging
from collections import deque
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from matih.exceptions import DeliveryError, MatihError, SecretError, is_transient
from matih.orchestrate import plan as P
from matih.orchestrate import tasks
from matih.orchestrate.notify import post, slack_message
from matih.specs import PipelineSpec
from matih.specs.common import resolve_secrets
from matih.state import utc_stamp
from matih.workspace import Workspace

log = logging.getLogger(__name__)
LOG_TAIL = 40
_CURRENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("matih_task", default=None)


class _TaskLog(logging.Handler):
    """Collects the log records emitted while one task runs (in its thread) into a tail and a file."""

    def __init__(self, token: str, path: Path) -> None:
        super().__init__(logging.INFO)
        self.token = token
        self.tail: deque[str] = deque(maxlen=LOG_TAIL)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = path.open("a", encoding="utf-8")
        self.layout = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        if _CURRENT.get() != self.token:
            return
        text = self.layout.format(record)  # with the traceback, for the file
        self.file.write(text + "\n")
        self.file.flush()
        line = f"{self.layout.formatTime(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            err = record.exc_info[1]
            line += f" ({type(err).__name__}: {err})"
        self.tail.append(line)

    def close(self) -> None:
        self.file.close()
        super().close()


class OutsideTasks(logging.Filter):
    """Passes only records emitted outside a task attempt (for a console that shows runs, not logs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _CURRENT.get() is None


class Activities:
    """The activities of one worker, bound to its workspace."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    @activity.defn(name=P.RUN_TASK)
    async def run_task(self, inp: P.TaskInput) -> P.TaskOutput:
        return await self._attempt(inp, rollback=False)

    @activity.defn(name=P.ROLLBACK_TASK)
    async def rollback_task(self, inp: P.TaskInput) -> P.TaskOutput:
        return await self._attempt(inp, rollback=True)

    @activity.defn(name=P.LOAD_PLAN)
    async def load_plan(self, stub: P.PipelinePlan) -> P.PipelinePlan:
        """The plan of a scheduled run, from the spec in the worker's workspace as it is now."""
        from matih.orchestrate.client import plan_for

        try:
            return plan_for(self.ws, stub.pipeline_id, stub.options)
        except MatihError as err:
            raise ApplicationError(str(err), type=type(err).__name__, non_retryable=True) from err

    @activity.defn(name=P.NOTIFY)
    async def notify(self, inp: P.NotifyInput) -> str:
        """Post one notification. An unset webhook variable skips it (with a warning), never fails."""
        where = f"{inp.note.channel} {inp.note.target}"
        ref = self.ws.settings().notifications.slack_webhook_url
        if ref is None:
            return f"{where}: skipped (notifications.slack_webhook_url is null in matih.yaml)"
        try:
            url = resolve_secrets(ref, file="matih.yaml", path="$.notifications.slack_webhook_url")
        except SecretError as err:
            log.warning("notification to %s skipped: %s", where, err)
            return f"{where}: skipped ({err.name} is not set)"
        try:
            await asyncio.to_thread(post, url, slack_message(inp.note, inp.run))
        except DeliveryError as err:
            raise ApplicationError(
                f"{where}: {err}",
                type="DeliveryError",
                non_retryable=not is_transient(err),
                next_retry_delay=dt.timedelta(seconds=err.retry_after) if err.retry_after else None,
            ) from None
        return f"{where}: delivered"

    @activity.defn(name=P.RUN_MONITORS)
    async def run_monitors(self, names: list[str]) -> list[str]:
        """The monitors after a run that published forecasts (one line per monitor)."""
        return await asyncio.to_thread(tasks.monitors_of_workspace, self.ws, names)

    async def _attempt(self, inp: P.TaskInput, *, rollback: bool) -> P.TaskOutput:
        info = activity.info()
        prior = info.heartbeat_details[0] if info.heartbeat_details else {}
        attempt_log: list[dict[str, Any]] = list(prior.get("attempt_log", []))
        progress: dict[str, Any] = dict(prior.get("progress", {}))
        spec = PipelineSpec.model_validate(inp.pipeline_spec)
        task = spec.task(inp.task_id)
        ctx = tasks.TaskContext(spec, inp.run_id, inp.time_scale, inp.options, inp.upstream, progress)
        name = f"{inp.task_id}.rollback" if rollback else inp.task_id
        handler = _TaskLog(
            f"{inp.run_id}/{name}/{info.attempt}",
            self.ws.state / "pipelines" / "logs" / inp.run_id / f"{name}.log",
        )
        logging.getLogger().addHandler(handler)
        if logging.getLogger().level > logging.INFO:
            logging.getLogger("matih").setLevel(logging.INFO)
        started = utc_stamp("milliseconds")

        def heartbeat(running: bool) -> None:
            activity.heartbeat(
                {
                    "attempt_log": attempt_log,
                    "progress": progress,
                    "running": running,
                    "attempt": info.attempt,
                }
            )

        def body() -> tasks.Outcome:
            log.info("%s attempt %d started", name, info.attempt)
            try:
                outcome = tasks.run(task, self.ws, ctx, rollback=rollback)
            except BaseException:
                log.exception("%s attempt %d failed", name, info.attempt)
                raise
            log.info("%s: %s", name, outcome.summary)
            return outcome

        token = _CURRENT.set(handler.token)
        try:
            future = asyncio.ensure_future(asyncio.to_thread(body))
            interval = max(0.2, (info.heartbeat_timeout or dt.timedelta(seconds=30)).total_seconds() / 4)
            try:
                while not future.done():
                    heartbeat(True)
                    await asyncio.wait({future}, timeout=interval)
            except asyncio.CancelledError:
                for hook in ctx.cancel_hooks:
                    hook()
                raise
            err = future.exception()
            entry = {"attempt": info.attempt, "started": started, "ended": utc_stamp("milliseconds")}
            if err is None:
                attempt_log.append({**entry, "status": "succeeded"})
                outcome = future.result()
                return P.TaskOutput(
                    outcome.summary, outcome.metrics, info.attempt, attempt_log, outcome.details
                )
            attempt_log.append({**entry, "status": "failed", "error": str(err)[:500]})
            heartbeat(False)  # the next attempt starts from this log and progress
            raise ApplicationError(
                str(err),
                {
                    "attempt": info.attempt,
                    "attempt_log": attempt_log,
                    "log_tail": list(handler.tail),
                    "details": progress.get("details") or {},
                },
                type=type(err).__name__,
                non_retryable=not is_transient(err),
            ) from err
        finally:
            _CURRENT.reset(token)
            logging.getLogger().removeHandler(handler)
            handler.close()
