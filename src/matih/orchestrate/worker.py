"""MATIH workers: the processes that run pipeline workflows and their tasks.

``matih worker`` is a long-running worker (for a cluster, or for schedules on a laptop); ``matih
pipeline run --wait`` runs one inside the command while it waits. The Temporal SDK can crash at
interpreter exit (sdk-python issue 300), so worker processes leave with ``os._exit`` after a clean
shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
from collections.abc import AsyncIterator

from temporalio.client import Client
from temporalio.worker import Worker

from matih.orchestrate import plan as P
from matih.orchestrate.activities import Activities
from matih.orchestrate.client import Orchestrator, connect
from matih.orchestrate.workflow import PipelineWorkflow
from matih.workspace import Workspace

log = logging.getLogger(__name__)


def build_worker(client: Client, ws: Workspace, task_queue: str) -> Worker:
    acts = Activities(ws)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[PipelineWorkflow],
        activities=[acts.run_task, acts.rollback_task, acts.notify, acts.load_plan, acts.run_monitors],
        max_concurrent_activities=ws.settings().temporal.max_concurrent_tasks,
        # a graceful stop lets running tasks finish their attempt rather than abandon it
        graceful_shutdown_timeout=dt.timedelta(seconds=5),
    )


@contextlib.asynccontextmanager
async def running_worker(client: Client, orch: Orchestrator) -> AsyncIterator[Worker]:
    """A worker polling in the background of the current event loop while the block runs."""
    worker = build_worker(client, orch.workspace, orch.task_queue)
    async with worker:
        yield worker


async def serve(orch: Orchestrator, *, idle_exit: float | None = None) -> None:
    """Run a worker until SIGINT/SIGTERM, or until no pipeline run has been open for ``idle_exit``
    seconds (a background worker started for one run)."""
    client = await connect(orch)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker = build_worker(client, orch.workspace, orch.task_queue)
    runner = asyncio.ensure_future(worker.run())
    idle_since = loop.time()
    try:
        while not stop.is_set() and not runner.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            if idle_exit is not None:
                count = await client.count_workflows(
                    f"WorkflowType = '{P.WORKFLOW_NAME}' AND ExecutionStatus = 'Running'"
                )
                if count.count:
                    idle_since = loop.time()
                elif loop.time() - idle_since > idle_exit:
                    log.info("no pipeline run open for %.0fs: the worker stops", idle_exit)
                    break
    finally:
        await worker.shutdown()
        with contextlib.suppress(BaseException):
            await runner
