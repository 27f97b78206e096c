"""The workbench in a real browser: Debian's chromium, driven by Playwright, against a real `matih serve`
on a copy of the demo's workspace (with an editor and a viewer key in its matih.yaml). Every page loads
without console errors or failed requests; the numbers it shows are the CLI's; the key flows work end to
end (search, query and download, lineage, sign in, sync a source, start a run and watch it finish); a
viewer is refused a write; it stays usable at a phone's width. Screenshots of each page go to
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
import yaml
from typer.testing import CliRunner

from matih.cli.main import app
from matih.processes import free_port
from matih.workspace import Workspace

pytestmark = pytest.mark.server

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / ".test-artifacts" / "workbench"


KEYS = {"WB_EDITOR_KEY": "editor-key-for-tests", "WB_VIEWER_KEY": "viewer-key-for-tests"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, demo_run) -> Iterator[tuple[str, Workspace]]:
    root = tmp_path_factory.mktemp("workbench") / "novamart"
    # the sandbox's files stay (the product-categories source reads one); its servers do not run here
    shutil.copytree(demo_run.workspace.root, root, ignore=shutil.ignore_patterns("temporal", "postgres"))
    settings = yaml.safe_load((root / "matih.yaml").read_text())  # other tests may have added keys
    settings["api_keys"] = [
        {"key": "${WB_EDITOR_KEY}", "role": "editor"},
        {"key": "${WB_VIEWER_KEY}", "role": "reader"},
    ]
    (root / "matih.yaml").write_text(yaml.safe_dump(settings))
    port = free_port()
    log = (root.parent / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "matih.cli.main", "serve", "--port", str(port), "-w", str(root)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **KEYS, "OMP_WAIT_POLICY": "PASSIVE"},
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
    from matih.orchestrate import devserver

    # the server stopped the Temporal dev server its pages started
    assert devserver.running(Workspace(root)) is None


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
    """A page whose console errors, failed requests and error responses are collected; ``expected``
    are statuses a test provokes on purpose (a refusal, a syntax error)."""

    def __init__(
        self, browser: Any, width: int = 1280, height: int = 800, *, expected: tuple[int, ...] = ()
    ) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.expected = expected

        def console(m: Any) -> None:
            # the browser reports every error response in the console too; those are judged below
            if m.type == "error" and "Failed to load resource" not in m.text:
                self.problems.append(f"console: {m.text}")

        def response(r: Any) -> None:
            if r.status >= 400 and r.status not in self.expected:
                self.problems.append(f"{r.status}: {r.url}")

        self.page.on("console", console)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))
        self.page.on("response", response)

    def sign_in(self, url: str, key: str) -> None:
        self.page.goto(f"{url}/ui/signin?next=/ui/sources")
        self.page.fill("#key", key)
        self.page.keyboard.press("Enter")
        self.page.wait_for_url(lambda u: u.endswith("/ui/sources"))
        self.page.wait_for_function("document.getElementById('who').textContent.startsWith('key:')")

    def wait(self, selector: str, timeout: float = 30_000) -> None:
        """Wait for ``selector``; a time-out says what the page's status line and the browser said."""
        from playwright.sync_api import TimeoutError as Timeout

        try:
            self.page.wait_for_selector(selector, timeout=timeout)
        except Timeout:
            said = self.page.text_content("#status")
            error = self.page.text_content("#error") if self.page.locator("#error").count() else ""
            raise AssertionError(
                f"{selector} never appeared; status: {said!r} {error!r}; {self.problems}"
            ) from None

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()
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
    from matih.api.workbench import PAGES

    url, _ = site
    for page in PAGES:
        w = Watched(browser, width=390, height=844)
        w.page.goto(f"{url}/ui/{page}")
        w.page.wait_for_function("document.getElementById('status').textContent.length > 0")
        overflow = w.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{page} is {overflow}px wider than a phone"
        w.shot(f"{page}-phone")
        w.close()


def test_every_page_loads_clean(site, browser):
    from matih.api.workbench import PAGES

    url, _ = site
    for page in PAGES:
        w = Watched(browser)
        w.page.goto(f"{url}/ui/{page}")
        w.page.wait_for_function("document.getElementById('status').textContent.length > 0", timeout=60_000)
        w.page.wait_for_load_state("networkidle")
        assert not w.page.locator("#status.error").count(), (page, w.page.text_content("#status"))
        w.shot(page)
        w.close()


def test_a_query_runs_pages_explains_downloads_and_points_at_its_error(site, browser, tmp_path):
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    url, _ = site
    sql = "SELECT product_id, product_type, price FROM postgresql.shopify.products ORDER BY product_id"
    expected = httpx.post(f"{url}/query", json={"sql": sql, "limit": 10_000}).json()
    assert expected["row_count"] > 100, expected
    w = Watched(browser, expected=(400,))
    w.page.goto(f"{url}/ui/query")
    w.wait("#sql")
    w.page.fill("#sql", sql)
    assert w.page.locator("#highlight .token.keyword").count() >= 3  # Prism highlighted the SQL
    w.page.press("#sql", "Control+Enter")
    w.wait("#grid tbody tr")
    shown = texts(w.page, "#grid tbody tr")
    assert len(shown) == 50 and shown[0][0] == str(expected["rows"][0][0])  # the first of several pages
    assert f"of {expected['row_count']:,}" in w.page.text_content("#page")
    w.page.click("#next")
    assert texts(w.page, "#grid tbody tr")[0][0] == str(expected["rows"][50][0])
    w.shot("query")
    for fmt in ("csv", "parquet"):
        with w.page.expect_download() as got:
            w.page.click(f"#{fmt}")
        path = tmp_path / f"query.{fmt}"
        got.value.save_as(path)
        data = pacsv.read_csv(path) if fmt == "csv" else pq.read_table(path)
        assert data.num_rows == expected["row_count"]
        assert data.column("product_id").to_pylist()[:3] == [r[0] for r in expected["rows"][:3]]
    w.page.click("#explain")
    w.wait("#plan:not([hidden])")
    assert "SCAN" in w.page.text_content("#plan").upper()
    # an error is shown at its line and column, and the editor's caret goes there
    w.page.fill("#sql", "SELECT 1\nFROM postgresql.shopify.products\nWHERE price >> AND")
    w.page.press("#sql", "Control+Enter")
    w.wait("#error:not([hidden])")
    assert w.page.text_content("#error").startswith("line 3")
    caret = w.page.evaluate("document.getElementById('sql').selectionStart")
    assert caret >= len("SELECT 1\nFROM postgresql.shopify.products\n")
    w.shot("query-error")
    w.close()


def test_a_long_query_is_cancelled_without_blocking_the_page(site, browser):
    url, _ = site
    w = Watched(browser, expected=(400,))
    w.page.goto(f"{url}/ui/query")
    w.wait("#sql")
    w.page.fill(
        "#sql", "SELECT count(*) FROM range(100000000) a, range(100000) b WHERE (a.range + b.range) % 7 = 3"
    )
    w.page.click("#run")
    w.page.wait_for_function("document.getElementById('status').textContent.startsWith('running')")
    # the page stays alive meanwhile: its status ticks, its buttons answer
    assert w.page.is_enabled("#cancel") and w.page.is_disabled("#run")
    w.page.click("#cancel")
    w.wait("#error:not([hidden])")
    assert "cancel" in w.page.text_content("#error").lower()
    assert w.page.is_enabled("#run")
    w.close()


def test_lineage_graph_and_a_columns_lineage(site, browser):
    url, _ = site
    table = "analytics.derived.demand_features"
    api = httpx.get(f"{url}/lineage/{table}", params={"columns": "true", "direction": "upstream"}).json()
    w = Watched(browser)
    w.page.goto(f"{url}/ui/lineage")
    w.wait("#edges tbody tr")
    assert w.page.locator("#graph canvas").count() >= 1  # Cytoscape drew the graph
    assert w.page.text_content("#cycles") == "No cycles."
    w.page.locator("#edges button", has_text=table).first.click()
    w.wait("#columns .chip")
    column = next(c for c, sources in sorted(api["columns"].items()) if sources)
    w.page.locator("#columns .chip", has_text=column).first.click()
    w.wait("#column-lineage tbody tr")
    row = texts(w.page, "#column-lineage tbody tr")[0]
    assert row == [column, ", ".join(api["columns"][column])]
    assert "source:shopify-orders" in w.page.text_content("#edges")
    w.shot("lineage-column")
    w.close()


def test_a_viewer_is_refused_and_an_editor_syncs_and_runs(site, browser):
    from matih.api.audit import entries
    from matih.sources import history

    url, ws = site
    # a viewer signs in, and is refused the sync: the page says why
    viewer = Watched(browser, expected=(403,))
    viewer.sign_in(url, KEYS["WB_VIEWER_KEY"])
    assert "key:WB_VIEWER_KEY (reader)" in viewer.page.text_content("#who")
    viewer.wait("#source-product-categories button.sync")
    viewer.page.click("#source-product-categories button.sync")
    viewer.page.wait_for_selector("#source-product-categories .progress.fail")
    assert "editor role" in viewer.page.text_content("#source-product-categories .progress")
    viewer.close()
    refused = [e for e in entries(ws) if e["outcome"] == "refused"]
    assert refused and refused[-1]["who"] == "key:WB_VIEWER_KEY"
    # a wrong key is refused too, and signs nobody in
    assert httpx.post(f"{url}/ui/signin", json={"key": "nope"}).status_code == 401

    editor = Watched(browser)
    editor.sign_in(url, KEYS["WB_EDITOR_KEY"])
    cookie = next(c for c in editor.context.cookies() if c["name"] == "matih_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert KEYS["WB_EDITOR_KEY"] not in cookie["value"]
    before = len(history(ws, "product-categories"))
    editor.wait("#source-product-categories button.sync")
    editor.page.click("#source-product-categories button.sync")
    editor.page.wait_for_selector("#source-product-categories .progress.pass", timeout=180_000)
    assert "succeeded" in editor.page.text_content("#source-product-categories .progress")
    assert len(history(ws, "product-categories")) == before + 1
    editor.shot("sources-synced")

    # start the deployment's batch forecasts and watch the run finish, task by task
    editor.page.goto(f"{url}/ui/pipelines?pipeline=batch-demand-forecaster")
    editor.wait("#dag .task")
    editor.page.click("#start")
    editor.page.wait_for_function(
        "/^run \\S+ (succeeded|failed)/.test(document.getElementById('status').textContent)", timeout=180_000
    )
    said = editor.page.text_content("#status")
    assert "succeeded" in said, said
    run_id = said.split()[1]
    assert editor.page.locator("#dag .task.state-succeeded").count() == 1
    assert texts(editor.page, "#runs tbody tr")[0][0] == run_id
    editor.page.click("#tasks tbody tr:first-child button")
    editor.wait("#log:not([hidden])")
    assert "batch" in editor.page.text_content("#log").lower()
    editor.shot("pipeline-run")
    editor.close()
    done = [e for e in entries(ws) if e["outcome"] == "ok" and e["who"] == "key:WB_EDITOR_KEY"]
    assert {e["pipeline_id"] for e in done if "pipeline_id" in e} >= {
        "sync-product-categories",
        "batch-demand-forecaster",
    }


def test_the_monitoring_page_shows_the_health_report(site, browser):
    url, _ = site
    report = httpx.get(f"{url}/monitoring/health", timeout=60).json()
    w = Watched(browser)
    w.page.goto(f"{url}/ui/monitoring")
    w.wait("#freshness tbody tr")
    rows = texts(w.page, "#freshness tbody tr")
    assert len(rows) == len(report["freshness_detail"])
    for row, f in zip(rows, report["freshness_detail"], strict=True):
        assert row[3] == f"{100 * f['within_sla']:.1f}%"
    assert str(report["pipeline_runs"]["total"]) in w.page.text_content("#runs")
    w.close()
