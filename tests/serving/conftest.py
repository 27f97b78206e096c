"""A private copy of the demo's workspace (trained, validated, deployed): serving tests change what it
serves."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="module")
def serving_ws(tmp_path_factory: pytest.TempPathFactory, demo_run) -> Any:
    from matih.workspace import Workspace

    root = tmp_path_factory.mktemp("serving") / "novamart"
    # the MLflow database names its artifacts by absolute path: the copy reads the demo's artifacts
    shutil.copytree(demo_run.workspace.root, root, ignore=shutil.ignore_patterns("temporal", "sandbox"))
    return Workspace(root)


@pytest.fixture(scope="module")
def live(serving_ws) -> Iterator[Any]:
    from matih.serving.online import LiveModel

    model = LiveModel(serving_ws, "demand-forecaster", poll_seconds=0.2)
    model.switch(None)
    yield model
    model.stop()
