"""A served NovaMart world for the connector tests: one sandbox process for the whole session.

The clock starts three days before the world ends, so tests can advance it. Tests that advance it
compute what they expect from the clock they find, never from a fixed date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import httpx
import pytest

from tests.conftest import END, copy_example


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


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory, small_world) -> Iterator[Served]:
    from matih.sandbox import save_world, server
    from matih.workspace import Workspace

    ws = Workspace(copy_example(tmp_path_factory.mktemp("served") / "novamart"))
    # fast retries: the tests make servers fail on purpose
    with (ws.root / "matih.yaml").open("a") as out:
        out.write("  max_attempts: 3\n  backoff_seconds: 0.05\n")
    ws.ensure_state()
    save_world(small_world, ws.sandbox_dir)
    handle = server.start(ws, as_of=END - dt.timedelta(days=3))
    try:
        yield Served(ws, handle)
    finally:
        handle.stop()
