"""Fixtures: a private copy of the NovaMart example workspace that tests may break."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "novamart"

Editor = Callable[[str, Callable[[Any], Any]], Path]


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of examples/novamart; the cwd is the copy so error files read like 'pipelines/x.json'."""
    root = tmp_path / "novamart"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".matih"))
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def edit(workspace: Path) -> Editor:
    """``edit("pipelines/x.json", fn)``: load the JSON, let ``fn`` mutate it (or return a new value), save."""

    def apply(relative: str, change: Callable[[Any], Any]) -> Path:
        path = workspace / relative
        data = json.loads(path.read_text())
        result = change(data)
        path.write_text(json.dumps(data if result is None else result, indent=2))
        return path

    return apply


@pytest.fixture(autouse=True)
def _no_seed_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    # The seed references these; a developer's shell may have them set, which would change warnings.
    for name in ("SHOPIFY_API_KEY", "GA_SERVICE_ACCOUNT_JSON"):
        monkeypatch.delenv(name, raising=False)
