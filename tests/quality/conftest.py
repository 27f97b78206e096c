"""A private copy of the loaded workspace: these tests write defective tables into its warehouse."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="module")
def quality_ws(tmp_path_factory: pytest.TempPathFactory, loaded_workspace):
    from matih.workspace import Workspace

    root = tmp_path_factory.mktemp("quality") / "novamart"
    shutil.copytree(loaded_workspace.root, root, ignore=shutil.ignore_patterns("mlflow", "temporal"))
    return Workspace(root)
