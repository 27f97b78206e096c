"""``matih sandbox``: the NovaMart simulated retailer, generated, served and moved on day by day."""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from matih.cli.common import WorkspaceOpt, handled
from matih.cli.common import workspace as _workspace

if TYPE_CHECKING:
    from matih.simulation import DayRecord, ShockOutcome

sandbox_app = typer.Typer(help="The NovaMart simulated retailer.", no_args_is_help=True)


@sandbox_app.command("generate")
@handled
def sandbox_generate(
    workspace: WorkspaceOpt = None,
    products: Annotated[
        int, typer.Option(help="Number of products (100 to 1,000,000; the seed's catalogue is 45,291).")
    ] = 2_000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed builds the same world.")] = 7,
    end_date: Annotated[
        str | None, typer.Option(help="Last day of sales, YYYY-MM-DD (default: yesterday).")
    ] = None,
    days: Annotated[int, typer.Option(help="Days of history.")] = 730,
    load: Annotated[bool, typer.Option(help="Load the world into the warehouse.")] = True,
) -> None:
    """Generate the NovaMart world and load it into the warehouse."""
    from matih.cli.render import console, rows_table
    from matih.sandbox import WorldConfig, generate_world, load_world, save_world
    from matih.warehouse import warehouse_of

    ws = _workspace(workspace)
    ws.ensure_state()
    cfg = WorldConfig(
        products=products,
        seed=seed,
        days=days,
        end_date=dt.date.fromisoformat(end_date) if end_date else None,
    )
    started = time.perf_counter()
    with console.status(f"Generating {products:,} products x {days} days"):
        world = generate_world(cfg)
        save_world(world, ws.sandbox_dir)
    console.print(f"generated in {time.perf_counter() - started:.1f}s ({cfg.first_day} .. {cfg.last_day})")
    rows = [(name, f"{n:,}") for name, n in world.row_counts().items()]
    if load:
        with console.status("Loading into the warehouse"):
            loaded = load_world(ws.sandbox_dir, warehouse_of(ws))
        rows = [(target, f"{n:,}") for target, n in loaded.items()]
    console.print(rows_table(("Table", "Rows"), rows, right=(1,)))


@sandbox_app.command("serve")
@handled
def sandbox_serve(
    workspace: WorkspaceOpt = None,
    as_of: Annotated[
        str | None, typer.Option(help="Last day the servers show, YYYY-MM-DD (default: the world's end).")
    ] = None,
    rate_limit: Annotated[
        float, typer.Option(help="Shopify API requests per second before 429 (0: unlimited).")
    ] = 0.0,
    bucket: Annotated[int, typer.Option(help="Shopify leaky-bucket size (burst).")] = 40,
) -> None:
    """Serve the world as Shopify, GA4 and PostgreSQL on 127.0.0.1 until Ctrl-C."""
    from matih.cli.render import console
    from matih.sandbox import server

    ws = _workspace(workspace)
    handle = server.start(
        ws, as_of=dt.date.fromisoformat(as_of) if as_of else None, rate_limit=rate_limit, bucket=bucket
    )
    ep = handle.endpoints
    console.print(f"NovaMart sandbox serving the world as of [bold]{ep.as_of}[/] (pid {ep.pid})")
    console.print(f"  Shopify Admin API  {ep.shopify_url}/admin/api/2025-10/")
    console.print(f"  GA4 Data API       {ep.ga_url}/v1beta/   (tokens: {ep.token_uri})")
    console.print(
        f"  PostgreSQL         host=127.0.0.1 port={ep.postgres_port} dbname={ep.postgres_database}"
        f" user={ep.postgres_user}"
    )
    console.print("Connectors reach it when matih.yaml has `sources: {endpoints: sandbox}`. Ctrl-C stops it.")
    try:
        handle.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()


@sandbox_app.command("advance")
@handled
def sandbox_advance(
    workspace: WorkspaceOpt = None,
    days: Annotated[int, typer.Option(min=1, help="Days to move the clock on.")] = 1,
) -> None:
    """Move the running sandbox on by whole days: new and edited orders, stock, shipments, traffic."""
    from matih.cli.render import console, rows_table
    from matih.sandbox import server

    done = server.advance(_workspace(workspace), days)
    rows = [(day, *(f"{v:,}" for v in change.values())) for day, change in done["changes"].items()]
    console.print(rows_table(("Day", "New shipments", "Received", "Stock rows moved"), rows, right=(1, 2, 3)))
    console.print(f"the sandbox now shows the world up to {done['as_of']}")


@sandbox_app.command("stop")
@handled
def sandbox_stop(workspace: WorkspaceOpt = None) -> None:
    """Stop this workspace's sandbox if it runs."""
    from matih.cli.render import console
    from matih.sandbox import server

    console.print("stopped" if server.stop(_workspace(workspace)) else "the sandbox was not running")


@sandbox_app.command("simulate")
@handled
def sandbox_simulate(
    workspace: WorkspaceOpt = None,
    days: Annotated[int, typer.Option(min=1, max=365, help="Production days to simulate.")] = 30,
    shock: Annotated[
        list[str] | None,
        typer.Option(
            help="A change the model has not seen, KIND:CATEGORY[:CHANGE]@DAY[+DAYS]: "
            "'level:Electronics:+30%@10' or 'outage:Beauty@12+7'. Repeatable."
        ),
    ] = None,
    products: Annotated[int, typer.Option(help="Products in the simulated store.")] = 2_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    end_date: Annotated[
        str | None, typer.Option(help="The last simulated day, YYYY-MM-DD (default: yesterday).")
    ] = None,
    history_days: Annotated[
        int, typer.Option(min=120, help="Days of history before the first simulated day.")
    ] = 730,
    n_estimators: Annotated[int | None, typer.Option(help="Override the pipeline's tree count.")] = None,
    plot: Annotated[str | None, typer.Option(help="Also write the accuracy trend to this PNG.")] = None,
) -> None:
    """Run N production days on the sandbox clock: each day the sandbox moves on, the daily pipeline runs
    on Temporal, actuals arrive, the monitors score and alert, retraining fires when its condition holds;
    then the Production Health report."""
    from matih.cli.common import quiet_logs, quiet_task_logs
    from matih.cli.render import console
    from matih.monitoring.health import plot as plot_report
    from matih.simulation import run_simulation

    quiet_logs()
    quiet_task_logs()
    # a skipped Slack delivery is warned on every failed run; the report keeps the runs' notifications
    for name in ("matih.orchestrate.activities", "matih.orchestrate.monitors"):  # the day lines say it
        logging.getLogger(name).setLevel(logging.ERROR)
    ws = _workspace(workspace)

    def on_stage(key: str, label: str, seconds: float | None) -> None:
        if seconds is not None and key in ("generate", "ingest", "pipeline"):
            console.print(f"[dim]{label} ({seconds:.1f}s)[/]")

    result = run_simulation(
        ws,
        days=days,
        shocks=shock or [],
        products=products,
        seed=seed,
        end_date=dt.date.fromisoformat(end_date) if end_date else None,
        history_days=history_days,
        n_estimators=n_estimators,
        on_stage=on_stage,
        on_day=lambda record: console.print(day_line(record), highlight=False),
    )
    for outcome in result.outcomes:
        console.print(outcome_line(outcome), highlight=False)
    assert result.health is not None
    console.print(result.health.text(), markup=False, highlight=False)
    if plot:
        console.print(f"plot: {plot_report(result.health, Path(plot))}")
    console.print(f"report: {result.report_path}")


def day_line(record: DayRecord) -> str:
    """One simulated day as a line: its runs, the latest scored accuracy, alerts and retraining."""
    runs = ", ".join(
        f"{run['status']} {sum(t['seconds'] or 0 for t in run['tasks'].values()):.0f}s" for run in record.runs
    )
    parts = [f"day {record.number:>3} {record.today}", f"runs: {runs or 'none'}"]
    if record.scored:
        overall = record.accuracy.get("ALL")
        parts.append(f"scored {record.scored}" + (f" MAPE {overall:.3f}" if overall is not None else ""))
    if record.breaches:
        parts.append("[red]accuracy alert: " + ", ".join(escape(b) for b in record.breaches) + "[/]")
    if record.retraining:
        parts.append(f"[yellow]retraining: {', '.join(record.retraining)}[/]")
    failed = [run["message"] for run in record.runs if run["status"] != "succeeded" and run["message"]]
    return " | ".join(parts) + "".join(f"\n      [dim]{escape(message)}[/]" for message in failed)


def outcome_line(outcome: ShockOutcome) -> str:
    shock = outcome.shock
    pre = f"{outcome.pre_level:.3f}" if outcome.pre_level is not None else "n/a"
    last = f"{outcome.last_level:.3f}" if outcome.last_level is not None else "n/a"
    return (
        f"shock {shock['kind']} {escape(str(shock['category']))} from {shock['start']}: "
        f"matured {outcome.matured_on or 'not yet'}, flagged {outcome.flagged_on or 'never'}"
        + (f" ({outcome.flagged_after_days} evaluation day(s) later)" if outcome.flagged_on else "")
        + f", retraining {outcome.retrained_on or 'never'}, recovered {outcome.recovered_on or 'not yet'}"
        f" (MAPE before {pre}, last {last})"
    )
