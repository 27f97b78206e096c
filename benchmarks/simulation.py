"""Production fast-forwarded at the demo's size: ``matih sandbox simulate`` timed, and its monitors judged.

    .venv/bin/python benchmarks/simulation.py [--days 30] [--products 2000] [--end-date 2026-10-15]
        [--shock 'level:Electronics:+30%@10'] [--skip-quiet]
        [--alert-threshold 0.15] [--condition 'mape_overall > 0.12 for 3 consecutive days']
        [--baseline 1.5] [--refit] [--seed 7] [--results simulation]

Runs the seed's workspace (``examples/novamart``, copied to a scratch folder) through ``--days`` quiet
production days: every day the sandbox moves on, ``demand-forecast-daily`` runs on Temporal as written
(incremental syncs, feature SQL, 500-tree training of 20 category models and the fallback, the gate, the
blue-green deployment), and the seed's monitors run after it. It prints where each day's time goes and
what the monitors did (alerts, retraining). With ``--shock`` it then runs the same period with the shock
and prints when the shock matured, was flagged, retrained and recovered. The monitors are the seed's
unless ``--alert-threshold`` / ``--condition`` / ``--baseline`` (alert only on categories also that many
times their own median of the 28 evaluated days before) say otherwise, and the pipeline trains as the seed
writes it unless ``--refit`` adds ``"refit": true`` (the results record which ran). Alerts are a function
of the accuracy table, so the results also count, for several baseline factors, the days each would
have alerted on in the same run (``alerts_by_baseline_factor``). ``--seed`` picks another world.
There is no peer: no other tool runs this loop. Writes benchmarks/results/simulation.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from results_file import write_results  # benchmarks/ is the script's folder
from rich.console import Console
from rich.table import Table

console = Console(width=120)
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "novamart"


def simulate(
    root: Path,
    *,
    days: int,
    products: int,
    end: dt.date,
    shocks: list[str],
    alert_threshold: float | dict[str, float] | None,
    condition: str | None,
    baseline: float | None = None,
    refit: bool = False,
    seed: int = 7,
) -> dict[str, Any]:
    from matih.cli.sandbox import day_line, outcome_line
    from matih.simulation import run_simulation
    from matih.workspace import Workspace

    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".matih"))
    spec_path = root / "monitors" / "demand-forecast-production.json"
    spec = json.loads(spec_path.read_text())
    if alert_threshold is not None:
        spec["monitors"][0]["alert_threshold"] = alert_threshold
    if condition is not None:
        spec["monitors"][3]["trigger"]["condition"] = condition
    if baseline is not None:
        spec["monitors"][0]["baseline"] = {"factor": baseline}
    spec_path.write_text(json.dumps(spec, indent=2))
    if refit:
        pipeline_path = root / "pipelines" / "demand-forecast-daily.json"
        pipeline = json.loads(pipeline_path.read_text())
        train = next(t for t in pipeline["tasks"] if t["type"] == "ray_train")
        train["config"]["hyperparameters"]["refit"] = True
        pipeline_path.write_text(json.dumps(pipeline, indent=2))
    started = time.perf_counter()
    result = run_simulation(
        Workspace(root),
        days=days,
        shocks=shocks,
        products=products,
        seed=seed,
        end_date=end,
        on_day=lambda record: console.print(day_line(record), highlight=False),
    )
    wall = time.perf_counter() - started
    for outcome in result.outcomes:
        console.print(outcome_line(outcome), highlight=False)
    daily = [d for d in result.days if d.number > 0]
    tasks: dict[str, list[float]] = {}
    outside: list[float] = []
    for day in daily:
        if not day.runs:  # a schedule that does not fire every day
            continue
        run = day.runs[0]
        seconds = [t["seconds"] or 0.0 for t in run["tasks"].values()]
        for task, t in run["tasks"].items():
            tasks.setdefault(task, []).append(t["seconds"] or 0.0)
        outside.append(day.seconds.get("pipeline", 0.0) - sum(seconds))
    where = {task: statistics.median(v) for task, v in tasks.items()}
    where["Temporal and the monitors (outside the tasks)"] = statistics.median(outside)
    where["sandbox advance"] = statistics.median(d.seconds.get("advance", 0.0) for d in daily)
    where["retraining runs (days that had one)"] = statistics.median(
        [d.seconds["retraining"] for d in daily if "retraining" in d.seconds] or [0.0]
    )
    table = Table(title=f"Where a simulated day goes ({products:,} products, median of {days} days)")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    for step, value in where.items():
        table.add_row(step, f"{value:.1f}")
    console.print(table)
    per_day = [d.seconds.get("total", 0.0) for d in daily]
    figures = {
        "days": days,
        "products": products,
        "start": result.start.isoformat(),
        "end": result.end.isoformat(),
        "shocks": shocks,
        "alert_threshold": spec["monitors"][0]["alert_threshold"],
        "alert_baseline": spec["monitors"][0].get("baseline"),
        "retraining_condition": spec["monitors"][3]["trigger"]["condition"],
        "refit": refit,
        "seed": seed,
        "wall_seconds": round(wall, 1),
        "bootstrap_seconds": round(sum(v for k, v in result.timings.items() if k != "days"), 1),
        "daily_loop_seconds": round(sum(per_day), 1),
        "per_day_median_seconds": round(statistics.median(per_day), 1),
        "per_day_max_seconds": round(max(per_day), 1),
        "median_seconds_by_step": {k: round(v, 2) for k, v in where.items()},
        "failed_runs": sum(1 for d in daily for r in d.runs if r["status"] != "succeeded"),
        "accuracy_alert_days": result.accuracy_alerts,
        "alerting_categories": sorted({c for d in result.days for c in d.breaches}),
        "retrainings": result.retrainings,
        "retraining_days": [d.today for d in result.days if d.retraining],
        "outcomes": [vars(o) for o in result.outcomes],
        "alerts_by_baseline_factor": alerts_by_factor(Workspace(root), spec, (1.5, 1.75, 2.0)),
        "overall_mape_by_scored_date": {
            d.scored: d.accuracy.get("ALL") for d in result.days if d.scored and "ALL" in d.accuracy
        },
    }
    f = figures
    console.print(
        f"{days} days in {f['daily_loop_seconds'] / 60:.1f} min "
        f"after a {f['bootstrap_seconds']:.0f} s first run "
        f"({f['per_day_median_seconds']:.0f} s a day, at most {f['per_day_max_seconds']:.0f} s); "
        f"{f['accuracy_alert_days']} day(s) with an accuracy alert, {f['retrainings']} retraining(s)"
    )
    return figures


def alerts_by_factor(ws: Any, spec: dict[str, Any], factors: tuple[float, ...]) -> dict[str, Any]:
    """For each baseline factor, the alerts the accuracy monitor would have raised on each scored date
    of this run, by the monitor's own rule (:func:`matih.monitoring.runner.judge`) on its own table:
    {factor: {"dates": n, "alerting": {date: [groups]}}}. Dates before a group has a baseline are left
    out (each group's reference period, whatever the factor)."""
    from matih.monitoring.accuracy import ACCURACY_TABLE
    from matih.monitoring.runner import judge
    from matih.specs.monitor import AccuracyBaseline, AccuracyTrackingMonitor
    from matih.warehouse import warehouse_of

    monitor = AccuracyTrackingMonitor.model_validate(spec["monitors"][0])
    rows = warehouse_of(ws).query(
        f"SELECT CAST(forecast_date AS VARCHAR) AS day, category, {monitor.metric} AS value "
        f"FROM {ACCURACY_TABLE} WHERE lead_days = 0 AND {monitor.metric} IS NOT NULL"
    )
    series: dict[str, dict[str, float]] = {}
    for day, group, value in zip(
        *(rows.column(c).to_pylist() for c in ("day", "category", "value")), strict=True
    ):
        series.setdefault(group, {})[day] = value
    out: dict[str, Any] = {}
    for factor in factors:
        baseline = {"factor": factor, "days": monitor.baseline.days if monitor.baseline else 28}
        judging = monitor.model_copy(update={"baseline": AccuracyBaseline.model_validate(baseline)})
        alerting: dict[str, list[str]] = {}
        judged = set()
        for group, values in series.items():
            for day in values:
                verdict = judge(judging, group, values, day)
                if verdict.baseline is None:
                    continue
                judged.add(day)
                if verdict.alert:
                    alerting.setdefault(day, []).append(group)
        out[str(factor)] = {
            "dates": len(judged),
            "alerting": {d: sorted(g) for d, g in sorted(alerting.items())},
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--end-date", type=dt.date.fromisoformat, default=dt.date(2026, 10, 15))
    parser.add_argument("--shock", action="append", default=[])
    parser.add_argument(
        "--alert-threshold",
        type=json.loads,
        help="override the seed's 0.15: a number or a JSON object per category",
    )
    parser.add_argument("--condition", help="override the seed's retraining condition")
    parser.add_argument("--baseline", type=float, help="alert only above this factor x the baseline")
    parser.add_argument("--refit", action="store_true", help='train with "refit": true')
    parser.add_argument("--skip-quiet", action="store_true")
    parser.add_argument("--seed", type=int, default=7, help="the world's seed")
    parser.add_argument("--results", default="simulation", help="results/<name>.json to write")
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/matih-bench-simulation"))
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    common: dict[str, Any] = {
        "days": args.days,
        "products": args.products,
        "end": args.end_date,
        "alert_threshold": args.alert_threshold,
        "condition": args.condition,
        "baseline": args.baseline,
        "refit": args.refit,
        "seed": args.seed,
    }
    if not args.skip_quiet:
        figures["quiet"] = simulate(args.scratch / "quiet", shocks=[], **common)
    if args.shock:
        figures["shocked"] = simulate(args.scratch / "shocked", shocks=args.shock, **common)
    console.print(f"written to {write_results(args.results, figures)}")


if __name__ == "__main__":
    main()
