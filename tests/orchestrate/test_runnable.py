"""What a workspace can run, as the Pipeline Service lists it (no Temporal needed)."""

from __future__ import annotations

import json

import pytest

from matih.exceptions import SpecError
from matih.orchestrate.runnable import runnable, runnables
from matih.workspace import Workspace
from tests.conftest import copy_example


def test_the_seeds_workspace_lists_its_pipeline_and_each_one_task_pipeline(tmp_path) -> None:
    ws = Workspace(copy_example(tmp_path / "novamart"))
    found = {r.pipeline_id: r for r in runnables(ws)}
    assert next(iter(found)) == "demand-forecast-daily"  # the workspace's own first
    assert {"sync-shopify-orders", "sync-inventory-db", "batch-demand-forecaster"} <= set(found)
    assert any(k.startswith("monitor-") for k in found) and any(k.startswith("experiment-") for k in found)
    sync = found["sync-shopify-orders"]
    assert (sync.kind, sync.target, sync.options) == (
        "source",
        "shopify-orders",
        {"source": "shopify-orders"},
    )
    assert [t["type"] for t in sync.tasks] == ["ingestion_trigger"]
    daily = found["demand-forecast-daily"]
    assert daily.options == {} and daily.schedule == "0 2 * * *"
    assert {t["task_id"]: t["depends_on"] for t in daily.tasks}["model_training"] == ["feature_engineering"]


def test_an_invalid_spec_is_a_clear_error_and_unknown_ids_name_the_known(tmp_path) -> None:
    ws = Workspace(copy_example(tmp_path / "novamart"))
    path = ws.root / "deployments" / "demand-forecaster.json"
    spec = json.loads(path.read_text())
    spec["batch_inference"]["output_table"] = "not a table"
    path.write_text(json.dumps(spec))
    with pytest.raises(SpecError):
        runnables(ws)  # an invalid spec is named, never silently left out of the list
    path.write_text(
        json.dumps({**spec, "batch_inference": {**spec["batch_inference"], "output_table": "a.b.c"}})
    )
    with pytest.raises(SpecError, match="sync-shopify-orders"):
        runnable(ws, "nope")
