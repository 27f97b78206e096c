"""A workspace with the small world loaded, its own embedded Temporal, a sandbox and a Slack webhook.

Durations in these workspaces run at ``temporal.time_scale: 0.025``: the seed's 60 s retry interval
becomes 1.5 s. Workers lost for 2 s (``heartbeat_timeout``) hand their task to another worker.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import END, EXAMPLE, copy_example

SEED_PIPELINE = EXAMPLE / "pipelines" / "demand-forecast-daily.json"
TIME_SCALE = 0.025
SETTINGS = (
    "  max_attempts: 1\n"  # one HTTP attempt per sync attempt: a scripted 503 fails the attempt
    "  backoff_seconds: 0.05\n"
    "temporal:\n"
    f"  time_scale: {TIME_SCALE}\n"
    "  heartbeat_timeout: 2s\n"
)


def loaded_workspace_at(folder: Path, world: Any) -> Any:
    from matih.sandbox import load_world, save_world
    from matih.warehouse import warehouse_of
    from matih.workspace import Workspace

    ws = Workspace(copy_example(folder))
    with (ws.root / "matih.yaml").open("a") as out:
        out.write(SETTINGS)
    ws.ensure_state()
    save_world(world, ws.sandbox_dir)
    load_world(ws.sandbox_dir, warehouse_of(ws))
    return ws


def write_pipeline(ws: Any, pipeline_id: str, change: Callable[[dict[str, Any]], None]) -> str:
    """The seed's pipeline under another id, changed by ``change``; returns the id."""
    spec = json.loads(SEED_PIPELINE.read_text())
    spec["pipeline_id"] = pipeline_id
    change(spec)
    (ws.root / "pipelines" / f"{pipeline_id}.json").write_text(json.dumps(spec, indent=2))
    return pipeline_id


def without_sync(spec: dict[str, Any]) -> None:
    """Drop ``sync_sources``: the warehouse already holds the world."""
    spec["tasks"] = [t for t in spec["tasks"] if t["task_id"] != "sync_sources"]
    spec["tasks"][0].pop("depends_on", None)
    spec["failure_handling"]["task_level"].pop("sync_sources")


@pytest.fixture(scope="module")
def orch_ws(tmp_path_factory: pytest.TempPathFactory, small_world) -> Iterator[Any]:
    from matih.orchestrate import devserver

    ws = loaded_workspace_at(tmp_path_factory.mktemp("orchestrate") / "novamart", small_world)
    devserver.start(ws)  # one server for the module; commands find it running and leave it so
    try:
        yield ws
    finally:
        devserver.stop(ws)


@pytest.fixture(scope="module")
def sandbox(orch_ws) -> Iterator[Any]:
    from matih.sandbox import server

    with server.start(orch_ws, as_of=END - dt.timedelta(days=1)) as handle:
        yield handle
