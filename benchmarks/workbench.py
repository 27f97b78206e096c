"""Workbench page speed at seed scale: every page in headless Chromium against `matih serve`, the p95 of
its API calls and the time until it has drawn its data.

    .venv/bin/python benchmarks/workbench.py [--workdir /tmp/matih-bench] [--visits 10]

Uses the seed-scale workspace of ``seed_workspace.py`` (45,291 products, 19.6M feature rows; built
when missing, about 10 minutes). Starts ``matih serve`` on it, visits each page once to warm up and
then ``--visits`` times, each in a fresh browser context. For each visit: the API calls the page made
(from the browser's Resource Timing: request start to response end) and the moment the page had drawn
its data (``document.body.dataset.ready``, ms after navigation start). The query page also runs its
default query. Peer: the same API calls made with httpx from this process, so the browser's share of
each figure shows.

Prints a table and writes benchmarks/results/workbench.json; RESULTS.md quotes it. Goals (issue 18):
each page's API calls under 300 ms at p95, interactive under 1.5 s.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
from results_file import write_results  # benchmarks/ is the script's folder
from rich.console import Console
from rich.table import Table
from seed_workspace import ensure_champion, served

console = Console(width=140)
CHROMIUM = "/usr/bin/chromium"
GOALS = {"api_p95_ms": 300, "interactive_ms": 1500}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def pages(url: str) -> dict[str, str]:
    """Each page as a user opens it, with a realistic subject where the page takes one."""
    product = httpx.get(f"{url}/ml/products", params={"q": "", "limit": 1}, timeout=60).json()[0][
        "product_id"
    ]
    return {
        "sources": "/ui/sources",
        "catalog search": "/ui/catalog?column=product_id",
        "table card": "/ui/tables/analytics.derived.demand_features",
        "lineage": "/ui/lineage",
        "query": "/ui/query",
        "pipelines": "/ui/pipelines",
        "models": "/ui/models",
        "experiments": "/ui/experiments",
        "monitoring": "/ui/monitoring",
        "forecast explorer": f"/ui/forecasts?product={product}",
    }


API_CALLS = """() => performance.getEntriesByType('resource')
  .filter(e => !new URL(e.name).pathname.startsWith('/ui/'))
  .map(e => ({path: new URL(e.name).pathname + new URL(e.name).search, ms: e.responseEnd - e.startTime}))"""


def visit(browser: Any, url: str, path: str, *, query: bool) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))
    page.goto(url + path)
    page.wait_for_function("document.body.dataset.ready !== undefined", timeout=120_000)
    ready = float(page.evaluate("Number(document.body.dataset.ready)"))
    calls = page.evaluate(API_CALLS)
    if query:  # the editor's default query, run as a user would
        page.evaluate("performance.clearResourceTimings()")
        page.click("#run")
        page.wait_for_selector("#grid tbody tr", timeout=120_000)
        calls += page.evaluate(API_CALLS)
    context.close()
    return {"ready_ms": ready, "calls": calls, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/matih-bench")
    parser.add_argument("--visits", type=int, default=10)
    parser.add_argument("--port", type=int, default=8797)
    args = parser.parse_args()
    root = Path(args.workdir)
    figures: dict[str, Any] = {"build": ensure_champion(root, console)}

    with served(root, args.port, "serve-workbench-bench.log") as (url, ready):
        figures["serve_ready_s"] = ready
        from playwright.sync_api import sync_playwright

        results: dict[str, dict[str, Any]] = {}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            for name, path in pages(url).items():
                query = name == "query"
                first = visit(browser, url, path, query=query)  # warm-up: caches, the Temporal dev server
                runs = [visit(browser, url, path, query=query) for _ in range(args.visits)]
                calls = [c["ms"] for r in runs for c in r["calls"]]
                # peer: the same calls from this process, without a browser
                peer = []
                for call in first["calls"]:
                    if call["path"].startswith("/query"):
                        continue  # a POST with a body; the browser's figure stands
                    t = time.perf_counter()
                    httpx.get(url + call["path"], timeout=120)
                    peer.append(1000 * (time.perf_counter() - t))
                results[name] = {
                    "path": path,
                    "first_visit_ready_ms": first["ready_ms"],
                    "first_visit_slowest_call_ms": max((c["ms"] for c in first["calls"]), default=0.0),
                    "calls_per_visit": len(first["calls"]),
                    "api_p50_ms": pct(calls, 0.5),
                    "api_p95_ms": pct(calls, 0.95),
                    "slowest_call": max(
                        (c for r in runs for c in r["calls"]), key=lambda c: c["ms"], default=None
                    ),
                    "ready_p50_ms": statistics.median(r["ready_ms"] for r in runs),
                    "ready_p95_ms": pct([r["ready_ms"] for r in runs], 0.95),
                    "httpx_p50_ms": statistics.median(peer) if peer else None,
                    "errors": sorted({e for r in [first, *runs] for e in r["errors"]}),
                }
                console.print(
                    f"{name}: api p95 {results[name]['api_p95_ms']:.0f} ms, ready p95 "
                    f"{results[name]['ready_p95_ms']:.0f} ms"
                )
            browser.close()
    figures["pages"] = results
    figures["goals"] = GOALS
    table = Table(title=f"Workbench pages at seed scale ({figures['build']['batch_products']:,} products)")
    for column in (
        "page",
        "calls",
        "API p50",
        "API p95",
        "httpx p50",
        "ready p50",
        "ready p95",
        "first visit",
        "goals",
    ):
        table.add_column(column, justify="left" if column in ("page", "goals") else "right")
    for name, r in results.items():
        ok = r["api_p95_ms"] < GOALS["api_p95_ms"] and r["ready_p95_ms"] < GOALS["interactive_ms"]
        table.add_row(
            name,
            str(r["calls_per_visit"]),
            f"{r['api_p50_ms']:.0f} ms",
            f"{r['api_p95_ms']:.0f} ms",
            "–" if r["httpx_p50_ms"] is None else f"{r['httpx_p50_ms']:.0f} ms",
            f"{r['ready_p50_ms']:.0f} ms",
            f"{r['ready_p95_ms']:.0f} ms",
            f"{r['first_visit_ready_ms']:.0f} ms",
            "[green]met[/]" if ok else "[red]missed[/]",
        )
    console.print(table)
    console.print(f"matih serve start to ready: {figures['serve_ready_s']:.1f} s")
    for name, r in results.items():
        if r["errors"]:
            console.print(f"[red]{name}: {r['errors']}[/]")
    console.print(f"wrote {write_results('workbench', figures)}")


if __name__ == "__main__":
    main()
