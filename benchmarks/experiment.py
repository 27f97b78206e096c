"""The model-family experiment, measured: NovaMart at 2,000 products and the two real data sets.

    .venv/bin/python benchmarks/experiment.py [--workspace DIR] [--products 2000] [--real uci,oj]
        [--families lightgbm,lstm,prophet,autoets,seasonal_naive] [--cutoffs 3] [--skip-novamart]

NovaMart: a workspace made by the demo (``--workspace`` reuses one), the seed's pipeline, and
``experiments/demand-model-comparison.json``: every family trained and scored at 3 rolling origins 14
days apart, the last at the holdout, exactly as ``matih experiment run`` does. The real sets use the
workspaces of ``benchmarks/real_data.py`` (same queries, pipelines, holdouts), with cutoffs one holdout
apart. statsforecast's AutoETS, SeasonalNaive and CrostonSBA are MATIH families here, so the peers run in
the same process on the same grid and origins.

Prints each Results Matrix, per-family fit and predict times, the routed ensemble against LightGBM on
the last holdout (routes chosen on the earlier cutoffs), and a linear extrapolation of each family's
time to the seed's 45,291 products; writes benchmarks/results/experiment.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from results_file import write_results  # benchmarks/ is the script's folder

SEED_PRODUCTS = 45_291
HERE = Path(__file__).resolve().parent
FAMILIES = ["lightgbm", "lstm", "prophet", "autoets", "seasonal_naive"]


def novamart(workspace: Path | None, products: int, scratch: Path) -> Any:
    from matih.demo import run_demo
    from matih.workspace import Workspace

    if workspace is not None:
        return Workspace(workspace)
    root = scratch / "novamart"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(HERE.parent / "examples" / "novamart", root, ignore=shutil.ignore_patterns(".matih"))
    ws = Workspace(root)
    run_demo(ws, products=products)
    return ws


def real(name: str, scratch: Path) -> tuple[Any, str]:
    sys.path.insert(0, str(HERE))
    from real_data import SETS, prepare, workspace_for

    data = SETS[name]
    ws = workspace_for(scratch / name, data, trees=300)
    prepare(ws, data)
    return ws, f"{name}-forecast"


def run(
    ws: Any, pipeline: str, name: str, families: list[str], cutoffs: int, step_days: int
) -> dict[str, Any]:
    from matih.cli.experiment import print_report
    from matih.experiment import run_experiment

    (ws.root / "experiments").mkdir(exist_ok=True)
    (ws.root / "experiments" / f"{name}.json").write_text(
        json.dumps(
            {
                "experiment": name,
                "pipeline": pipeline,
                "models": families,
                "cutoffs": {"count": cutoffs, "step_days": step_days},
                "output_table": f"analytics.experiments.{name.replace('-', '_')}",
            }
        )
    )
    started = time.perf_counter()
    report = run_experiment(ws, name)
    seconds = time.perf_counter() - started
    print_report(report)
    per_product = {
        f: (report.fit_seconds[f] + report.predict_seconds[f]) / max(report.products, 1) for f in families
    }
    return {
        **asdict(report),
        "wall_seconds": round(seconds, 1),
        "seed_scale_minutes": {f: round(s * SEED_PRODUCTS / 60, 1) for f, s in per_product.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workspace", type=Path)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--real", default="", help="comma-separated: uci, oj")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--cutoffs", type=int, default=3)
    parser.add_argument("--skip-novamart", action="store_true")
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/matih-bench-experiment"))
    args = parser.parse_args()
    families = args.families.split(",")
    figures: dict[str, Any] = {"families": families}
    results = HERE / "results" / "experiment.json"
    if results.exists():  # keep the figures of the parts not run this time
        figures = {**json.loads(results.read_text()), **figures}
    if not args.skip_novamart:
        ws = novamart(args.workspace, args.products, args.scratch)
        figures["novamart"] = run(
            ws, "demand-forecast-daily", "demand-model-comparison", families, args.cutoffs, 14
        )
    for name in filter(None, args.real.split(",")):
        ws, pipeline = real(name, args.scratch)
        step = {"uci": 28, "oj": 84}[name]
        chosen = families + (["croston_sba"] if name == "uci" and "croston_sba" not in families else [])
        figures[name] = run(ws, pipeline, f"{name}-comparison", chosen, args.cutoffs, step)
    print(f"wrote {write_results('experiment', figures)}")


if __name__ == "__main__":
    main()
