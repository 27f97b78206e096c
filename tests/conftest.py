"""Shared fixtures: one small NovaMart world and one demo workspace per test session.

Building them once keeps the suite fast; tests that change state work on their own copies.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

for key, value in (("MLFLOW_DISABLE_TELEMETRY", "true"), ("DO_NOT_TRACK", "true")):
    os.environ.setdefault(key, value)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "novamart"
END = dt.date(2026, 6, 30)
PRODUCTS = 300
TREES = 120


@pytest.fixture(scope="session")
def small_world():
    from matih.sandbox import WorldConfig, generate_world

    return generate_world(WorldConfig(products=PRODUCTS, seed=3, end_date=END, days=730))


def copy_example(dest: Path) -> Path:
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(".matih"))
    return dest


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory):
    """The demo, end to end, at a few hundred products."""
    from matih.demo import run_demo
    from matih.workspace import Workspace

    ws = Workspace(copy_example(tmp_path_factory.mktemp("demo") / "novamart"))
    return run_demo(ws, products=PRODUCTS, seed=3, end_date=END, n_estimators=TREES)


@pytest.fixture(scope="session")
def loaded_workspace(tmp_path_factory: pytest.TempPathFactory, small_world):
    """A workspace whose warehouse holds the small world and the seed's demand_features."""
    from matih.forecast.service import warehouse_of
    from matih.sandbox import load_world, save_world
    from matih.workspace import Workspace

    ws = Workspace(copy_example(tmp_path_factory.mktemp("loaded") / "novamart"))
    ws.ensure_state()
    save_world(small_world, ws.sandbox_dir)
    wh = warehouse_of(ws)
    load_world(ws.sandbox_dir, wh)
    wh.run(ws.query_path("demand_features").read_text())
    return ws
