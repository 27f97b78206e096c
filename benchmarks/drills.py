"""Kill drills: processes die at random points, and the warehouse must end equal to the source's truth.

    .venv/bin/python benchmarks/drills.py [--only shopify,postgres,ga4,pipeline,serve] [--kills 20]

Each drill runs against real processes in a fresh workspace under ``--workdir`` (the NovaMart sandbox's
Shopify, GA4 and PostgreSQL servers, a Temporal dev server, ``matih serve``):

- **shopify**: ``matih sources sync shopify-orders`` is SIGKILLed at ``--kills`` random moments (a day
  of new and edited orders between kills; every fourth a full refresh), then run again to its end. The
  warehouse must then equal the shop as of the sandbox clock: every order once with its status, every
  line once with its quantity, every product.
- **postgres**: the inventory database is restarted (``pg_ctl stop -m fast``, then start) while
  ``matih sources sync inventory-db`` copies it; the sync retries or fails clearly, a rerun completes,
  and each table equals PostgreSQL's.
- **ga4**: the process serving the GA4 Data API is SIGKILLed mid-report and started again; the sync
  fails clearly, a rerun completes, and ``ga4.pages`` equals the world's page views.
- **pipeline**: the seed's pipeline runs five times on Temporal; each time the worker process is
  SIGKILLed while one of the five tasks runs. Every run must complete, no task that had finished runs
  again, and the tables it writes are whole (the feature table once per run, the forecast table from the
  version the deployment record names).
- **serve**: ``matih serve`` is SIGKILLed while a blue-green rollout switches it to a new version, then
  started again: it must answer with the version the deployment record names live. The rollout process
  itself is SIGKILLed too: what the record names live and what the batch table holds must agree.

Every drill finally greps the workspace's files (journals, logs, warehouse files, dlt state) and every
captured output for the values of the sources' secrets: none may appear. Prints a table per drill and
writes benchmarks/results/drills.json; RESULTS.md quotes the counts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from results_file import RESULTS, write_results  # benchmarks/ is the script's folder
from rich.console import Console
from rich.table import Table

console = Console(width=130)
MATIH = [sys.executable, "-c", "from matih.cli.main import main; main()"]
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "novamart"
END = dt.date(2026, 6, 30)


# -- plumbing -------------------------------------------------------------------------------------------


@dataclass
class Drill:
    """One drill's outcomes: a row per kill, and the outputs captured for the secret grep."""

    name: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def add(self, **row: Any) -> None:
        self.rows.append(row)
        console.print(f"  [dim]{self.name} {len(self.rows)}:[/] {row}")


def matih(ws: Any, *args: str, drill: Drill, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run the CLI to its end; its output joins the drill's captured outputs."""
    done = subprocess.run(
        [*MATIH, *args, "--workspace", str(ws.root)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    drill.outputs += [done.stdout, done.stderr]
    return done


def killed_at(ws: Any, args: list[str], delay: float, drill: Drill, log: Path) -> bool:
    """Start the CLI, SIGKILL it after ``delay`` seconds; True when it was still running then."""
    with log.open("w") as out:
        process = subprocess.Popen(
            [*MATIH, *args, "--workspace", str(ws.root)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        process.wait(delay)
        alive = False
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        alive = True
    drill.outputs.append(log.read_text(errors="replace"))
    return alive


def disrupted(
    ws: Any, args: list[str], delay: float, disrupt: Callable[[], None], drill: Drill, log: Path
) -> tuple[subprocess.Popen[bytes], bool, str]:
    """Run the CLI, call ``disrupt`` after ``delay`` seconds, wait for the CLI to end: (its process,
    whether it was still running when disrupted, its output)."""
    with log.open("w") as out:
        process = subprocess.Popen(
            [*MATIH, *args, "--workspace", str(ws.root)], stdout=out, stderr=subprocess.STDOUT
        )
    time.sleep(delay)
    during = process.poll() is None
    disrupt()
    process.wait(600)
    text = log.read_text(errors="replace")
    drill.outputs.append(text)
    return process, during, text


def timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def fresh_workspace(root: Path, settings: str = "", extra: str = "") -> Any:
    """A copy of the example workspace holding the drills' NovaMart world (300 products, two years)."""
    import shutil

    from matih.sandbox import WorldConfig, generate_world, save_world
    from matih.workspace import Workspace

    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".matih"))
    path = root / "matih.yaml"
    # ``settings``: lines for matih.yaml's `sources:` block; ``extra``: blocks of their own
    path.write_text(path.read_text().replace("sources:\n", f"sources:\n{settings}", 1) + extra)
    ws = Workspace(root)
    ws.ensure_state()
    save_world(generate_world(WorldConfig(products=300, seed=3, end_date=END, days=730)), ws.sandbox_dir)
    return ws


def world(ws: Any, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    from matih.sandbox.store import world_path

    with duckdb.connect(str(world_path(ws.sandbox_dir)), read_only=True) as con:
        return con.execute(sql, params or {}).fetchall()


def warehouse(ws: Any, sql: str, catalog: str = "postgresql") -> list[tuple[Any, ...]]:
    with duckdb.connect(str(ws.warehouse_dir / f"{catalog}.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def clock_cutoff(ws: Any) -> dt.datetime:
    from matih.sandbox.clock import SandboxClock

    return SandboxClock(ws.sandbox_dir / "clock.json").cutoff().replace(tzinfo=None)


def secret_values(ws: Any) -> list[str]:
    """The values of every secret the sources use (and their long-enough parts, such as the private key
    inside the service-account JSON)."""
    from matih.sandbox.server import sandbox_secrets

    values = []
    for value in sandbox_secrets(ws).values():
        values.append(value)
        with suppress(ValueError, TypeError, AttributeError):
            values += [v for v in json.loads(value).values() if isinstance(v, str) and len(v) >= 40]
    return [v for v in values if len(v) >= 8]


def secrets_found(ws: Any, outputs: list[str]) -> list[str]:
    """Where a secret's value appears: workspace files outside the sandbox's own store, and outputs."""
    secrets = [s.encode() for s in secret_values(ws)]
    found = []
    for path in ws.root.rglob("*"):
        if not path.is_file() or ws.sandbox_dir in path.parents:
            continue  # the simulator keeps its servers' credentials: it plays the vendor
        data = path.read_bytes()
        found += [str(path.relative_to(ws.root)) for s in secrets if s in data]
    for i, text in enumerate(outputs):
        found += [f"output {i}" for s in secrets if s in text.encode()]
    return found


@contextmanager
def sandbox(ws: Any, as_of: dt.date) -> Iterator[Any]:
    from matih.sandbox import server

    handle = server.start(ws, as_of=as_of)
    try:
        yield handle
    finally:
        server.stop(ws)
        with suppress(Exception):
            handle.stop()


# -- the sources --------------------------------------------------------------------------------------


def shop_mismatches(ws: Any) -> dict[str, int]:
    """How the warehouse's Shopify tables differ from the shop as of the sandbox clock."""
    cut = clock_cutoff(ws)
    truth = dict(
        world(
            ws,
            "SELECT order_id, CASE WHEN updated_at < $t THEN financial_status::VARCHAR ELSE 'paid' END"
            " FROM source.orders WHERE created_at < $t",
            {"t": cut},
        )
    )
    loaded = warehouse(ws, "SELECT order_id, financial_status FROM shopify.orders")
    got = dict(loaded)
    lines = warehouse(ws, "SELECT order_id, order_item_id, quantity FROM shopify.order_items")
    want_lines = world(
        ws,
        "SELECT i.order_id, i.quantity FROM source.order_items i JOIN source.orders o USING (order_id)"
        " WHERE o.created_at < $t",
        {"t": cut},
    )
    units: dict[int, int] = {}
    for order, quantity in want_lines:
        units[order] = units.get(order, 0) + quantity
    got_units: dict[int, int] = {}
    for order, _line, quantity in lines:
        got_units[order] = got_units.get(order, 0) + quantity
    (products,) = world(ws, "SELECT count(*) FROM source.products WHERE created_at < $t", {"t": cut})[0]
    return {
        "duplicate_orders": len(loaded) - len(got),
        "duplicate_lines": len(lines) - len({line for _o, line, _q in lines}),
        "missing_orders": len(truth.keys() - got.keys()),
        "extra_orders": len(got.keys() - truth.keys()),
        "wrong_status": sum(1 for o, s in got.items() if o in truth and truth[o] != s),
        "wrong_units": sum(1 for o, n in units.items() if got_units.get(o) != n),
        "missing_products": products
        - warehouse(ws, "SELECT count(DISTINCT product_id) FROM shopify.products")[0][0],
    }


def drill_shopify(root: Path, kills: int, rng: random.Random) -> Drill:
    from matih.sandbox import server

    drill = Drill("shopify")
    ws = fresh_workspace(root / "shopify")
    with sandbox(ws, END - dt.timedelta(days=kills + 2)):
        full = timed(lambda: matih(ws, "sources", "sync", "shopify-orders", "--full-refresh", drill=drill))
        server.advance(ws)
        incremental = timed(lambda: matih(ws, "sources", "sync", "shopify-orders", drill=drill))
        console.print(f"shopify: a full sync takes {full:.1f} s, a day's incremental {incremental:.1f} s")
        for k in range(kills):
            server.advance(ws)
            mode = ["--full-refresh"] if k % 4 == 0 else []
            delay = rng.uniform(0.5, full if mode else incremental)
            args = ["sources", "sync", "shopify-orders", *mode]
            alive = killed_at(ws, args, delay, drill, root / f"shopify-kill-{k}.log")
            rerun = matih(ws, *args, drill=drill)
            drill.add(
                mode="full" if mode else "incremental",
                kill_at_s=round(delay, 2),
                killed=alive,
                rerun_ok=rerun.returncode == 0,
                **shop_mismatches(ws),
            )
        drill.rows.append({"secrets_found": len(secrets_found(ws, drill.outputs))})
    return drill


def _pg_connect(ws: Any) -> Any:
    import psycopg2

    from matih.sandbox import server

    ep = server.running(ws)
    return psycopg2.connect(
        host=ep.postgres_host,
        port=ep.postgres_port,
        dbname=ep.postgres_database,
        user=ep.postgres_user,
        password=server.sandbox_secrets(ws)["INVENTORY_DB_PASSWORD"],
    )


PG_CHECKS = {
    "inventory": "count(*), sum(quantity_on_hand)",
    "supplier_shipments": "count(*), count(DISTINCT shipment_id), sum(quantity)",
    "warehouses": "count(*)",
}


def inventory_mismatches(ws: Any) -> int:
    """Tables of inventory-db whose checks differ between PostgreSQL and the warehouse."""
    wrong = 0
    with _pg_connect(ws) as con, con.cursor() as cur:
        for table, check in PG_CHECKS.items():
            cur.execute(f"SELECT {check} FROM {table}")
            source = tuple(int(v or 0) for v in cur.fetchone())
            loaded = tuple(int(v or 0) for v in warehouse(ws, f"SELECT {check} FROM inventory.{table}")[0])
            wrong += source != loaded
    return wrong


def first_error_line(text: str) -> str:
    """The first line of a CLI's output that reports an error (empty when none does)."""
    return next((line.strip()[:120] for line in text.splitlines() if "rror" in line), "")


def drill_postgres(root: Path, restarts: int, rng: random.Random) -> Drill:
    from matih.sandbox import server
    from matih.sandbox.postgres import PostgresServer

    drill = Drill("postgres")
    ws = fresh_workspace(root / "postgres")
    with sandbox(ws, END - dt.timedelta(days=restarts + 2)):
        full = timed(lambda: matih(ws, "sources", "sync", "inventory-db", "--full-refresh", drill=drill))
        console.print(f"postgres: a full sync takes {full:.1f} s")
        for k in range(restarts):
            server.advance(ws)
            ep = server.running(ws)
            pg = PostgresServer(Path(ep.extra["postgres_folder"]), port=ep.postgres_port)
            mode = ["--full-refresh"] if k % 2 == 0 else []
            delay = rng.uniform(0.5, full)

            def restart(pg: PostgresServer = pg) -> None:
                pg.stop()
                time.sleep(rng.uniform(0.0, 2.0))
                pg.start()

            args = ["sources", "sync", "inventory-db", *mode]
            process, during, text = disrupted(
                ws, args, delay, restart, drill, root / f"postgres-restart-{k}.log"
            )
            rerun = matih(ws, "sources", "sync", "inventory-db", *mode, drill=drill)
            drill.add(
                mode="full" if mode else "incremental",
                restart_at_s=round(delay, 2),
                during_sync=during,
                sync_ok=process.returncode == 0,
                error=first_error_line(text),
                rerun_ok=rerun.returncode == 0,
                tables_differing=inventory_mismatches(ws),
            )
        drill.rows.append({"secrets_found": len(secrets_found(ws, drill.outputs))})
    return drill


def pages_mismatch(ws: Any) -> int:
    """(date, page) rows that differ between ga4.pages and the world's page views up to the clock."""
    from matih.sandbox.clock import SandboxClock

    last = SandboxClock(ws.sandbox_dir / "clock.json").as_of
    truth = {
        (d, p): (s, v)
        for d, p, s, v in world(
            ws,
            "SELECT date, page_path, sum(sessions), sum(page_views) FROM source.web_sessions"
            " WHERE date >= DATE '2024-01-01' AND date <= $d GROUP BY ALL",
            {"d": last},
        )
    }
    got = {
        (d, p): (s, v)
        for d, p, s, v in warehouse(
            ws, "SELECT date, page_url, sessions, screen_page_views FROM ga4.pages", "google_analytics"
        )
    }
    # GA4 still processes the last two days (the sandbox serves 90% and 97% of them): their rows must be
    # there, their numbers may still grow
    final = last - dt.timedelta(days=2)
    settled = {k: v for k, v in truth.items() if k[0] <= final}
    loaded = {k: v for k, v in got.items() if k[0] <= final}
    return len(set(settled.items()) ^ set(loaded.items())) + len(truth.keys() ^ got.keys())


def drill_ga4(root: Path, kills: int, rng: random.Random) -> Drill:
    from matih.sandbox import server

    drill = Drill("ga4")
    ws = fresh_workspace(root / "ga4", "  max_attempts: 2\n  backoff_seconds: 0.2\n")
    as_of = END - dt.timedelta(days=kills + 2)
    handle = server.start(ws, as_of=as_of)
    try:
        full = timed(lambda: matih(ws, "sources", "sync", "google-analytics", "--full-refresh", drill=drill))
        console.print(f"ga4: a full sync takes {full:.1f} s")
        for k in range(kills):
            mode = ["--full-refresh"] if k % 2 == 0 else []
            delay = rng.uniform(0.3, full)

            def kill_servers(servers: Any = handle.process) -> None:
                servers.send_signal(signal.SIGKILL)  # the servers' process: GA4, Shopify, the clock
                servers.wait()

            args = ["sources", "sync", "google-analytics", *mode]
            process, during, text = disrupted(
                ws, args, delay, kill_servers, drill, root / f"ga4-kill-{k}.log"
            )
            as_of += dt.timedelta(days=1)
            handle = server.start(ws, as_of=as_of)
            rerun = matih(ws, "sources", "sync", "google-analytics", *mode, drill=drill)
            drill.add(
                mode="full" if mode else "incremental",
                kill_at_s=round(delay, 2),
                during_sync=during,
                sync_ok=process.returncode == 0,
                error=first_error_line(text),
                rerun_ok=rerun.returncode == 0,
                rows_differing=pages_mismatch(ws),
            )
        drill.rows.append({"secrets_found": len(secrets_found(ws, drill.outputs))})
    finally:
        server.stop(ws)
        handle.stop()
    return drill


# -- the pipeline and serving -------------------------------------------------------------------------

PIPELINE = "demand-forecast-daily"
DEPLOYMENT = "demand-forecaster"
TASKS = ("sync_sources", "feature_engineering", "model_training", "model_validation", "model_deployment")
# the seed's durations at 1/10 (retries after 6 s, the 2 h run timeout 12 min), a lost worker noticed in 2 s
PIPELINE_SETTINGS = "temporal:\n  time_scale: 0.1\n  heartbeat_timeout: 2s\n"


def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def table_fingerprints(ws: Any) -> dict[str, tuple[int, int]]:
    """(rows, a hash of every row) of the tables the pipeline writes."""
    from matih.warehouse import warehouse_of

    wh = warehouse_of(ws)
    found = {}
    for table in ("analytics.derived.demand_features", "analytics.forecasts.demand_14d"):
        row = wh.query(f"SELECT count(*) AS n, sum(hash(t)) AS h FROM {table} t").to_pylist()[0]
        found[table] = (int(row["n"]), int(row["h"] or 0))
    return found


def served_versions(ws: Any) -> set[str]:
    from matih.warehouse import warehouse_of

    table = warehouse_of(ws).query("SELECT DISTINCT model_version FROM analytics.forecasts.demand_14d")
    return set(table.column(0).to_pylist())


def live_version(ws: Any) -> str | None:
    from matih.serving.deployments import load_state

    return (load_state(ws, DEPLOYMENT).live or {}).get("version")


def feature_writes(ws: Any) -> int:
    path = ws.warehouse_dir / "writes.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    return sum(json.loads(line)["table"] == "analytics.derived.demand_features" for line in lines)


def drill_pipeline(root: Path, _count: int, rng: random.Random) -> Drill:
    from matih.orchestrate import devserver, runner
    from matih.orchestrate import plan as P

    drill = Drill("pipeline")
    ws = fresh_workspace(root / "pipeline", extra=PIPELINE_SETTINGS)
    options = {"n_estimators": 150}
    with sandbox(ws, END - dt.timedelta(days=1)):
        devserver.start(ws)
        try:
            matih(
                ws, "sources", "sync", "product-categories", drill=drill
            )  # the one the pipeline does not sync
            clean = runner.run_pipeline(ws, PIPELINE, options=options)
            assert clean.status == P.RUN_SUCCEEDED, clean.message
            baseline = table_fingerprints(ws)
            console.print(f"pipeline: a clean run takes {clean.seconds:.0f} s")
            for task in TASKS:
                writes = feature_writes(ws)
                started = runner.run_pipeline(ws, PIPELINE, options=options, wait=False)
                first = runner.background_worker_pid(ws)

                def running(task: str = task, run_id: str = started.run_id) -> bool:
                    run = runner.run_status(ws, run_id)
                    if run.status != P.RUNNING:
                        raise RuntimeError(f"the run ended before {task} ran: {run.message}")
                    return run.task(task).state == P.RUNNING

                until(running, 600, f"{task} to start")
                time.sleep(rng.uniform(0.0, 1.0))  # somewhere inside the task
                os.kill(first, signal.SIGKILL)
                until(lambda: runner.background_worker_pid(ws) is None, 10, "the worker to die")
                runner.ensure_background_worker(ws)
                final = until(
                    lambda run_id=started.run_id: (
                        (r := runner.run_status(ws, run_id)).status != P.RUNNING and r
                    ),
                    900,
                    "the run to finish",
                )
                attempts = {t.task_id: t.attempts for t in final.tasks}
                before = TASKS[: TASKS.index(task)]
                fingerprints = table_fingerprints(ws)
                drill.add(
                    killed_in=task,
                    run_ok=final.status == P.RUN_SUCCEEDED,
                    killed_task_attempts=attempts[task],
                    finished_tasks_redone=sum(attempts[t] > 1 for t in before),
                    worker_loss_noted="worker lost" in (final.task(task).note or ""),
                    feature_table_writes=feature_writes(ws) - writes,
                    features_equal_clean_run=fingerprints["analytics.derived.demand_features"]
                    == baseline["analytics.derived.demand_features"],
                    forecast_rows_equal_clean_run=fingerprints["analytics.forecasts.demand_14d"][0]
                    == baseline["analytics.forecasts.demand_14d"][0],
                    batch_matches_record=served_versions(ws) == {live_version(ws)},
                )
            with suppress(Exception):
                if (pid := runner.background_worker_pid(ws)) is not None:
                    os.kill(pid, signal.SIGTERM)
        finally:
            devserver.stop(ws)
        drill.rows.append({"secrets_found": len(secrets_found(ws, drill.outputs))})
    return drill


def register_copy_of_champion(ws: Any) -> int:
    """A new registered version: the champion's model again (a rollout needs a version to switch to)."""
    from matih.forecast.adapt import configs_from_pipeline
    from matih.forecast.registry import CHAMPION, Registry

    train, _, _ = configs_from_pipeline(ws)
    registry = Registry(ws)
    model = registry.load(train.experiment, registry.resolve(train.experiment, CHAMPION))
    registered = registry.log_training(
        model,
        experiment=train.experiment,
        fallback_name=train.fallback_name,
        params={"made_by": "drills"},
        metrics={},
        summary="the champion again, registered by benchmarks/drills.py",
    )
    return int(registered.version)


def start_server(ws: Any, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*MATIH, "serve", "--port", str(port), "--workspace", str(ws.root)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    until(lambda: ready(port) is not None, 300, "matih serve to be ready")
    return process


def ready(port: int) -> dict[str, Any] | None:
    import httpx

    with suppress(httpx.HTTPError):
        answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        if answer.status_code == 200:
            return dict(answer.json())
    return None


def drill_serve(root: Path, count: int, rng: random.Random) -> Drill:
    from matih.processes import free_port
    from matih.serving.deployments import heal

    drill = Drill("serve")
    ws = trained_workspace(root)
    port = free_port()
    log = root / "serve.log"
    server = start_server(ws, port, log)
    deploy_seconds = timed(lambda: matih(ws, "deploy", DEPLOYMENT, drill=drill))
    console.print(f"serve: a rollout takes {deploy_seconds:.1f} s")
    try:
        for k in range(2 * count):
            version = register_copy_of_champion(ws)
            deploy_log = root / f"deploy-{k}.log"
            with deploy_log.open("w") as out:
                deploying = subprocess.Popen(
                    [
                        *MATIH,
                        "deploy",
                        DEPLOYMENT,
                        "--model-source",
                        str(version),
                        "--workspace",
                        str(ws.root),
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            # the server's switch follows the record within a second; the rollout's own work ends with it
            delay = rng.uniform(0.5, deploy_seconds + (3.0 if k % 2 == 0 else 0.0))
            time.sleep(delay)
            if k % 2 == 0:  # the server dies while it switches to green (or while green is computed)
                victim = "serve"
                server.send_signal(signal.SIGKILL)
                server.wait()
                deploying.wait(600)
                server = start_server(ws, port, log)
            else:  # the rollout's own process dies
                victim = "deploy"
                deploying.send_signal(signal.SIGKILL)
                deploying.wait()
            drill.outputs.append(deploy_log.read_text(errors="replace"))
            torn = served_versions(ws) != {live_version(ws)}
            heal(ws, DEPLOYMENT)  # what the next rollout or `matih serve` does first
            live = live_version(ws)
            answering = until(
                lambda live=live: (r := ready(port)) and r["model_version"] == live and r,
                120,
                "the server to follow",
            )
            drill.add(
                killed=victim,
                kill_at_s=round(delay, 2),
                record_live=live,
                green=f"v{version}",
                torn_before_heal=torn,
                serves_record=answering["model_version"] == live,
                batch_matches_record=served_versions(ws) == {live},
            )
    finally:
        server.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            server.wait(30)
    drill.outputs.append(log.read_text(errors="replace"))
    drill.rows.append({"secrets_found": len(secrets_found(ws, drill.outputs))})
    return drill


def trained_workspace(root: Path) -> Any:
    """The pipeline drill's workspace (trained, validated, deployed); made by one clean run if absent."""
    from matih.orchestrate import devserver, runner
    from matih.workspace import Workspace

    folder = root / "pipeline"
    if (folder / ".matih" / "deployments" / f"{DEPLOYMENT}.json").is_file():
        return Workspace(folder)
    ws = fresh_workspace(folder, extra=PIPELINE_SETTINGS)
    with sandbox(ws, END - dt.timedelta(days=1)):
        devserver.start(ws)
        try:
            matih(ws, "sources", "sync", "product-categories", drill=Drill("setup"))
            runner.run_pipeline(ws, PIPELINE, options={"n_estimators": 150})
        finally:
            devserver.stop(ws)
    return ws


# -- running ------------------------------------------------------------------------------------------

DRILLS: dict[str, Callable[[Path, int, random.Random], Drill]] = {
    "shopify": drill_shopify,
    "postgres": drill_postgres,
    "ga4": drill_ga4,
    "pipeline": drill_pipeline,
    "serve": drill_serve,
}


def summary(drill: Drill) -> dict[str, Any]:
    rows = [r for r in drill.rows if "secrets_found" not in r]
    totals: dict[str, Any] = {"runs": len(rows)}
    for row in rows:
        for key, value in row.items():
            if isinstance(value, bool):
                totals[key] = totals.get(key, 0) + int(value)
            elif isinstance(value, int) and key not in ("kill_at_s", "restart_at_s"):
                totals[key] = totals.get(key, 0) + value
    totals["secrets_found"] = sum(r.get("secrets_found", 0) for r in drill.rows)
    errors = sorted({r["error"] for r in rows if r.get("error")})
    if errors:
        totals["errors"] = errors
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/matih-drills")
    parser.add_argument("--only", default=",".join(DRILLS))
    parser.add_argument("--kills", type=int, default=20, help="Kills of the Shopify sync.")
    parser.add_argument("--others", type=int, default=5, help="Restarts and kills in the other drills.")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    root = Path(args.workdir)
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    results: dict[str, Any] = {}
    for name in args.only.split(","):
        count = args.kills if name == "shopify" else args.others
        started = time.perf_counter()
        drill = DRILLS[name](root, count, rng)
        results[name] = {
            "summary": summary(drill),
            "rows": drill.rows,
            "seconds": round(time.perf_counter() - started),
        }
        table = Table(title=f"drill: {name} ({results[name]['seconds']} s)")
        table.add_column("figure")
        table.add_column("value", justify="right")
        for key, value in results[name]["summary"].items():
            table.add_row(key, "\n".join(value) if isinstance(value, list) else str(value))
        console.print(table)
        # after each drill, beside the earlier runs of the others: `--only` reruns one drill
        path = RESULTS / "drills.json"
        earlier = json.loads(path.read_text()) if path.is_file() else {}
        earlier = {k: v for k, v in earlier.items() if k in DRILLS}
        write_results("drills", {**earlier, **results})
    console.print(f"written to {RESULTS / 'drills.json'}")


if __name__ == "__main__":
    main()
