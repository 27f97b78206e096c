"""The workbench in a real browser: Debian's chromium, driven by Playwright, against a real `matih serve`
on a copy of the demo's workspace. Every page loads without console errors or failed requests; the
numbers it shows are the CLI's; it stays usable at a phone's width. Screenshots of each page go to
``.test-artifacts/workbench/`` for review."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from matih.cli.main import app
from matih.processes import free_port
from matih.workspace import Workspace

pytestmark = pytest.mark.server

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / ".test-artifacts" / "workbench"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, demo_run) -> Iterator[tuple[str, Workspace]]:
    root = tmp_path_factory.mktemp("workbench") / "novamart"
    shutil.copytree(demo_run.workspace.root, root, ignore=shutil.ignore_patterns("temporal", "sandbox"))
    port = free_port()
    log = (root.parent / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "matih.cli.main", "serve", "--port", str(port), "-w", str(root)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (root.parent / "serve.log").read_text()
            time.sleep(0.3)
        yield url, Workspace(root)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


class Watched:
    """A page whose console errors, failed requests and error responses are collected."""

    def __init__(self, browser: Any, width: int = 1280, height: int = 800) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.problems: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(f"{r.status}: {r.url}"))

    def wait(self, selector: str) -> None:
        """Wait for ``selector``; a time-out says what the page's status line and the browser said."""
        from playwright.sync_api import TimeoutError as Timeout

        try:
            self.page.wait_for_selector(selector, timeout=30_000)
        except Timeout:
            said = self.page.text_content("#status")
            raise AssertionError(f"{selector} never appeared; status: {said!r}; {self.problems}") from None

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.page.close()
        assert not self.problems, self.problems


def texts(page: Any, selector: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        selector, "rows => rows.map(r => [...r.querySelectorAll('td')].map(td => td.textContent.trim()))"
    )


def test_the_catalog_search_shows_what_the_cli_shows(site, browser):
    url, ws = site
    w = Watched(browser)
    w.page.goto(f"{url}/")  # the root is the workbench
    assert w.page.url.endswith("/ui/catalog")
    w.wait("#tables tbody tr")
    w.page.fill("#column", "product_id")
    w.page.keyboard.press("Enter")
    w.wait("#results tbody tr")
    shown = texts(w.page, "#results tbody tr")
    w.shot("catalog-search")
    cli = CliRunner().invoke(app, ["catalog", "search", "product_id", "-w", str(ws.root)], terminal_width=200)
    assert cli.exit_code == 0, cli.output
    lines = [line for line in cli.output.splitlines() if "│" in line or "|" in line]
    assert len(shown) == sum(1 for line in lines if any(c.isdigit() for c in line))
    for table, column, _type, _role, rows in shown:
        short = table.rsplit(".", 1)[-1]
        assert column == "product_id"
        assert any(short in line and rows in line for line in lines), (table, rows, cli.output)
    # a table's card: columns, lineage and sample rows from the warehouse
    w.page.click("#results tbody tr:first-child a")
    w.wait("#sample tbody tr")
    assert len(texts(w.page, "#columns tbody tr")) > 0
    w.shot("table-card")
    w.close()


def test_a_products_forecast_is_the_batch_tables(site, browser):
    url, _ = site
    # the batch table as the SQL API reads it (the server holds the warehouse open)
    answer = httpx.post(
        f"{url}/query",
        json={
            "sql": "SELECT CAST(product_id AS VARCHAR) AS p, CAST(forecast_date AS VARCHAR) AS "
            "forecast_date, predicted_units, model_version FROM analytics.forecasts.demand_14d "
            "ORDER BY p, forecast_date",
            "limit": 10_000,
        },
    ).json()
    names = [c["name"] for c in answer["columns"]]
    batch = [dict(zip(names, row, strict=True)) for row in answer["rows"]]
    product = batch[0]["p"]
    mine = [r for r in batch if r["p"] == product]
    w = Watched(browser)
    w.page.goto(f"{url}/ui/forecasts?product={product}")
    w.wait("#forecast tbody tr")
    rows = texts(w.page, "#forecast tbody tr")
    assert [r[0] for r in rows] == [str(m["forecast_date"]) for m in mine]
    assert [r[2] for r in rows] == [f"{m['predicted_units']:,.2f}" for m in mine]
    assert {r[6] for r in rows} == {m["model_version"] for m in mine}
    assert w.page.locator("#chart canvas").count() >= 1  # uPlot drew the history and the band
    w.shot("forecast-explorer")
    w.close()


def test_the_models_page_shows_the_gates_validation_table_as_the_cli_does(site, browser, demo_run):
    from matih.cli.render import validation_rows

    url, _ = site
    w = Watched(browser)
    w.page.goto(f"{url}/ui/models")
    w.wait("#validation tbody tr")
    shown = [tuple(row) for row in texts(w.page, "#validation tbody tr")]
    assert shown == validation_rows(demo_run.evaluation)  # the demo printed these rows
    versions = texts(w.page, "#models table tbody tr")
    assert versions[0][1] == "champion" and versions[0][2] == "passed"
    assert "Training" in w.page.text_content("#summary")
    w.shot("models")
    w.close()


def test_experiments_and_routing_page_shows_the_routing_document(site, browser):
    url, _ = site
    w = Watched(browser)
    w.page.goto(f"{url}/ui/experiments")
    w.wait("#routes tbody tr")
    routes = texts(w.page, "#routes tbody tr")
    assert ["Swimwear", "prophet"] in routes and ["Clothing", "lstm"] in routes  # the seed's document
    w.shot("experiments")
    w.close()


def test_pages_fit_a_phone(site, browser):
    url, _ = site
    for page in ("catalog", "models", "forecasts", "experiments"):
        w = Watched(browser, width=390, height=844)
        w.page.goto(f"{url}/ui/{page}")
        w.page.wait_for_function("document.getElementById('status').textContent.length > 0")
        overflow = w.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{page} is {overflow}px wider than a phone"
        w.shot(f"{page}-phone")
        w.close()
