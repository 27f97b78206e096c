"""Shared fixtures: one small NovaMart world and one demo workspace per test session.

Building them once keeps the suite fast; tests that change state work on their own copies. ``served``
is the world behind the sandbox's servers (Shopify, GA4, PostgreSQL), started once per session.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

for key, value in (("MLFLOW_DISABLE_TELEMETRY", "true"), ("DO_NOT_TRACK", "true")):
    os.environ.setdefault(key, value)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "novamart"
END = dt.date(2026, 6, 30)
PRODUCTS = 300
TREES = 120


#: fixtures that start a server or child process (the sandbox's HTTP servers and PostgreSQL, Temporal,
#: uvicorn, a Slack webhook) or a Ray cluster: a test that uses one is marked for it, so the fast lane
#: (`make test-fast`) never waits for them
SERVER_FIXTURES = frozenset(
    {"served", "demo_run", "orch_ws", "sandbox", "slack", "api_url", "serving_ws", "live"}
)
CLUSTER_FIXTURES = frozenset({"ray_instance", "ray_serve"})
#: fixtures that start Spark (a JVM): the engine-parametrised warehouse tests run them as their "spark" case
SPARK_FIXTURES = frozenset({"spark_warehouse", "spark_ws"})

_EXIT_STATUS: list[int] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & SERVER_FIXTURES:
            item.add_marker(pytest.mark.server)
        if used & CLUSTER_FIXTURES:
            item.add_marker(pytest.mark.cluster)
        callspec = getattr(item, "callspec", None)
        if used & SPARK_FIXTURES or (callspec is not None and "spark" in callspec.params.values()):
            item.add_marker(pytest.mark.spark)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _EXIT_STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """The Temporal SDK can crash while the interpreter tears down (sdk-python issue 300), which would
    turn a green run red after the report: once everything is reported, leave with the real status."""
    if "temporalio" in sys.modules and _EXIT_STATUS:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS[-1])


@pytest.fixture(scope="session")
def small_world():
    from matih.sandbox import WorldConfig, generate_world

    return generate_world(WorldConfig(products=PRODUCTS, seed=3, end_date=END, days=730))


@pytest.fixture(scope="session")
def spark_warehouse() -> Iterator[Any]:
    """Builds Spark warehouses in given folders; they share this process's one Spark session (local[2])."""
    from matih.warehouse.spark_session import stop_sessions
    from matih.warehouse.spark_warehouse import SparkWarehouse

    yield lambda directory: SparkWarehouse(directory, threads=2, memory_limit="2GB")
    stop_sessions()


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
    from matih.sandbox import load_world, save_world
    from matih.warehouse import warehouse_of
    from matih.workspace import Workspace

    ws = Workspace(copy_example(tmp_path_factory.mktemp("loaded") / "novamart"))
    ws.ensure_state()
    save_world(small_world, ws.sandbox_dir)
    wh = warehouse_of(ws)
    load_world(ws.sandbox_dir, wh)
    wh.run(ws.query_path("demand_features").read_text())
    return ws


@dataclass
class Served:
    ws: object
    sandbox: object

    @property
    def endpoints(self):
        return self.sandbox.endpoints

    def shop(self, path: str, **body) -> dict:
        url = f"{self.endpoints.shopify_url}/_sandbox/{path}"
        response = httpx.post(url, json=body) if body else httpx.get(url)
        return response.json()

    def clock(self) -> dt.date:
        from matih.sandbox.clock import SandboxClock

        return SandboxClock(self.ws.sandbox_dir / "clock.json").as_of

    def warehouse(self, sql: str, catalog: str = "postgresql") -> list[tuple]:
        path = self.ws.warehouse_dir / f"{catalog}.duckdb"
        with duckdb.connect(str(path), read_only=True) as con:
            return con.execute(sql).fetchall()

    def world(self, sql: str, params: dict | None = None) -> list[tuple]:
        from matih.sandbox.store import world_path

        with duckdb.connect(str(world_path(self.ws.sandbox_dir)), read_only=True) as con:
            return con.execute(sql, params or {}).fetchall()


@contextmanager
def serving(dest: Path, world, as_of: dt.date, settings: str = "") -> Iterator[Served]:
    """A copy of the example workspace at ``dest`` with ``world`` served as of ``as_of`` (its sandbox's
    servers and PostgreSQL), stopped on leaving; ``settings`` is appended to its matih.yaml."""
    from matih.sandbox import save_world, server
    from matih.workspace import Workspace

    ws = Workspace(copy_example(dest))
    if settings:
        with (ws.root / "matih.yaml").open("a") as out:
            out.write(settings)
    ws.ensure_state()
    save_world(world, ws.sandbox_dir)
    handle = server.start(ws, as_of=as_of)
    try:
        yield Served(ws, handle)
    finally:
        handle.stop()


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory, small_world) -> Iterator[Served]:
    # fast retries: the tests make servers fail on purpose
    retries = "  max_attempts: 3\n  backoff_seconds: 0.05\n"
    dest = tmp_path_factory.mktemp("served") / "novamart"
    with serving(dest, small_world, END - dt.timedelta(days=3), retries) as handle:
        yield handle


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A Slack incoming webhook double on 127.0.0.1, named by ``SLACK_WEBHOOK_URL`` (the demo's
    ``notifications.slack_webhook_url`` reference)."""
    from tests.doubles.slack_webhook import SlackWebhookSandbox
    from tests.servers import serve_in_thread

    hook = SlackWebhookSandbox(channels={"#ml-ops-alerts", "#data-pipelines"})
    with serve_in_thread(hook.app) as url:
        hook.url = url + hook.path
        monkeypatch.setenv("SLACK_WEBHOOK_URL", hook.url)
        yield hook
