"""The scaling curve: the seed's daily pipeline (load the sources, the feature SQL, read the training grid,
train, batch inference) at growing catalogues, on the embedded DuckDB warehouse, on the Spark warehouse,
and on Spark with training and batch forecasts in ``--shards`` shards of categories as tasks on a local Ray
cluster (``spark+ray``: ``ray_config.data_shards``, :mod:`matih.forecast.shards`), each stage's time and
peak memory, and a projection to 1M series from the measured slopes.

    .venv/bin/python benchmarks/scaling.py [--products 10000,45291] [--engines duckdb,spark,spark+ray]
        [--trees 500] [--workdir /tmp/matih-scaling] [--spark-memory 8GB] [--shards 20] [--add]

Each (catalogue, engine) runs in a process of its own. ``spark+ray`` starts a Ray cluster there with
``ray start`` (a head that schedules and one worker node with this machine's cores, separate processes
reached by address, as a cluster elsewhere would be) and stops it after. Peak memory is sampled every
0.2 s, per stage: the resident memory of the process and its descendants (Spark's JVM included) and of
Ray's daemons and workers (detached by ``ray start``, found by the cluster's temp dir). Worlds are
generated once per size (in pieces past 200,000 products) and kept in ``--workdir`` for later
invocations. Writes
benchmarks/results/scaling.json and benchmarks/results/scaling.png.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from results_file import RESULTS, write_results  # benchmarks/ is the script's folder
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "novamart"
STAGES = ("load", "feature_sql", "load_grid", "train", "batch_inference")
console = Console(width=150)


class PeakSampler:
    """A run's peak memory, wherever it is held, sampled from /proc every 0.2 s: the resident memory of
    this process and its descendants together (Spark's JVM is a child that outlives the session), and
    of every process whose command line names ``marker`` and their descendants (``ray start`` detaches
    Ray's daemons; each names the cluster's temp dir, and the fits run in the raylet's children)."""

    def __init__(self) -> None:
        self.peak = 0
        self.stage_peak = 0
        self.marker: str | None = None
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _roots(self, pids: list[int]) -> set[int]:
        roots = {os.getpid()}
        if self.marker:
            for pid in pids:
                with contextlib.suppress(OSError):
                    if self.marker in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                        roots.add(pid)
        return roots

    def _tree_rss(self) -> int:
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    # the field after the parenthesised command name: state, then the parent's pid
                    parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        mine = self._roots(list(parents))
        frontier = list(mine)
        while frontier:
            parent = frontier.pop()
            for pid, ppid in parents.items():
                if ppid == parent and pid not in mine:
                    mine.add(pid)
                    frontier.append(pid)
        total = 0
        for pid in mine:
            with contextlib.suppress(OSError, ValueError, IndexError):
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * self._page
        return total

    def sample(self) -> None:
        now = self._tree_rss()
        self.peak = max(self.peak, now)
        self.stage_peak = max(self.stage_peak, now)

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.sample()

    def next_stage(self) -> float:
        """The peak since the previous call, in GB; starts the next stage's."""
        self.sample()
        peak, self.stage_peak = self.stage_peak, 0
        return peak / 2**30

    def gb(self) -> float:
        # not getrusage's ru_maxrss: Linux carries the parent's high-water mark through fork and exec,
        # so a run started by a parent that generated a large world would report the parent's size
        self.sample()
        return self.peak / 2**30


@contextlib.contextmanager
def local_ray_cluster(temp: Path) -> Iterator[str]:
    """A head with no CPUs (it schedules, it does not fit) and one worker node with this machine's cores,
    each started by ``ray start``; yields the address. Authentication is stated, not left to ~/.ray."""
    from matih.processes import free_port

    ray = str(Path(sys.executable).with_name("ray"))
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    os.environ["RAY_AUTH_MODE"] = "disabled"  # the driver (this process) must agree with the cluster
    address = f"127.0.0.1:{free_port()}"
    common = ["--disable-usage-stats", "--node-ip-address=127.0.0.1"]
    head = ["--head", f"--port={address.rsplit(':', 1)[1]}", "--num-cpus=0", "--include-dashboard=false"]
    try:
        for args in (
            [*head, f"--temp-dir={temp}"],
            [f"--address={address}", f"--num-cpus={os.cpu_count() or 1}"],
        ):
            subprocess.run(
                [ray, "start", *args, *common], env=env, check=True, capture_output=True, timeout=180
            )
        yield address
    finally:
        import ray as ray_api

        if ray_api.is_initialized():
            ray_api.shutdown()
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120, check=False)
        shutil.rmtree(temp, ignore_errors=True)


def world_dir(workdir: Path, products: int) -> Path:
    return workdir / f"world-{products}"


#: worlds larger than this are generated in pieces of 25,000 products (one pass holds 15 GB at 200,000)
PIECES_FROM = 200_000


def ensure_world(workdir: Path, products: int) -> float:
    """Generate and save the world of ``products`` once; the seconds it took (0 when reused)."""
    from matih.sandbox import WorldConfig, generate_world, save_world
    from matih.sandbox.pieces import save_world_in_pieces
    from matih.sandbox.store import world_path

    folder = world_dir(workdir, products)
    if world_path(folder).exists():
        return 0.0
    started = time.perf_counter()
    config = WorldConfig(products=products, seed=7, end_date=dt.date(2025, 12, 15), days=715)
    if products > PIECES_FROM:
        save_world_in_pieces(
            config, folder, progress=lambda i, n: print(f"  world: piece {i} of {n}", file=sys.stderr)
        )
    else:
        save_world(generate_world(config), folder)
    return time.perf_counter() - started


def run_one(
    workdir: Path, products: int, engine: str, trees: int, spark_memory: str, shards: int
) -> dict[str, Any]:
    """The pipeline's stages on one engine, in this process."""
    from matih.forecast.batch import forecast_table
    from matih.forecast.config import TrainConfig
    from matih.forecast.dataset import business_calendar
    from matih.forecast.features import FeatureContext
    from matih.forecast.fit import fit_forecaster
    from matih.forecast.fitters import RayFitter, fitter_for
    from matih.forecast.grid import load_grid
    from matih.forecast.shards import RayShards, fit_shards, forecast_shards, plan_shards
    from matih.sandbox import load_world
    from matih.warehouse import warehouse_of
    from matih.workspace import Workspace

    root = workdir / f"ws-{products}-{engine}"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".matih"))
    if engine.startswith("spark"):
        settings = (root / "matih.yaml").read_text()
        (root / "matih.yaml").write_text(
            settings.replace("  engine: duckdb\n", f"  engine: spark\n  memory_limit: {spark_memory}\n")
        )
    ws = Workspace(root)
    ws.ensure_state()
    wh = warehouse_of(ws)
    seconds: dict[str, float] = {}
    peaks: dict[str, float] = {}
    sampler = PeakSampler()

    def timed(name: str, fn: Any) -> Any:
        sampler.next_stage()
        started = time.perf_counter()
        out = fn()
        seconds[name] = round(time.perf_counter() - started, 1)
        peaks[name] = round(sampler.next_stage(), 2)
        print(f"  {engine} {products}: {name} {seconds[name]} s, peak {peaks[name]} GB", file=sys.stderr)
        return out

    if engine.startswith("spark"):
        timed("start", lambda: wh.spark)  # type: ignore[attr-defined]
    timed("load", lambda: load_world(world_dir(workdir, products), wh))
    features = timed("feature_sql", lambda: wh.run(ws.query_path("demand_features").read_text()))
    config = TrainConfig(n_estimators=trees)
    if engine.endswith("+ray"):
        # as a pipeline's ray_config would say it: one single-threaded task per core at once, and the
        # dataset read in data_shards shards of categories, each by its own task (matih.forecast.shards)
        cpus = os.cpu_count() or 1
        config = dataclasses.replace(config, ray_workers=cpus, ray_resources=(("CPU", 1.0),), shards=shards)
        temp = workdir / f"ray-{os.getpid()}"
        sampler.marker = str(temp)
        with local_ray_cluster(temp) as address:
            runner = timed("ray_start", lambda: RayShards(config, address))
            # the read stage: the dataset exported by the warehouse engine, partitioned by shard
            plan = timed("load_grid", lambda: plan_shards(wh, config, business_calendar(ws), shards))
            model_dir = Path(plan.folder) / "model"
            fitter = RayFitter(config, address)
            _, stats, _ = timed("train", lambda: fit_shards(plan, config, runner, fitter, model_dir))
            forecast_rows = timed(
                "batch_inference",
                lambda: forecast_shards(
                    plan, config, runner, model_dir, "scaling", wh, "analytics.forecasts.demand_14d"
                ),
            )
            shutil.rmtree(plan.folder, ignore_errors=True)
    else:
        grid = timed("load_grid", lambda: load_grid(wh, config.dataset, config.roles))
        context = FeatureContext.build(grid)
        fitter = fitter_for(config, None, grid.Y.size)
        model, stats = timed("train", lambda: fit_forecaster(context, config, fitter=fitter))

        def batch() -> int:
            origin = grid.n_days - 1
            table = forecast_table(grid, model.predict(context, origin), model, "scaling", origin)
            return wh.write_arrow("analytics.forecasts.demand_14d", table)

        forecast_rows = timed("batch_inference", batch)
    return {
        "products": products,
        "engine": engine,
        "seconds": seconds,
        "peak_gb": peaks,
        "peak_gb_run": round(sampler.gb(), 2),
        "feature_rows": features[-1].rows,
        "training_rows": stats.total_rows,
        "forecast_rows": forecast_rows,
        "fitted": stats.where,
        "trees": trees,
        "shards": config.shards,
    }


def project(
    runs: list[dict[str, Any]], engine: str, target: int = 1_000_000, usd_per_core_hour: float = 0.05
) -> dict[str, Any] | None:
    """Each stage's seconds and the run's peak memory as straight lines in the catalogue, fitted by least
    squares to every measured size of ``engine`` (two sizes give the line through them; a slope below
    zero, which only noise between runs produces, counts as flat), extended to ``target`` series.

    The cost model is the work, not the wall time: core-hours per daily run on this machine's cores,
    which on a cluster is a lower bound (Spark's shuffles then cross the network, which one machine never
    measures), and their price at ``usd_per_core_hour`` (an on-demand general-purpose vCPU-hour)."""
    import numpy as np

    mine = sorted((r for r in runs if r["engine"] == engine), key=lambda r: r["products"])
    if len(mine) < 2:
        return None
    x = np.array([r["products"] for r in mine], dtype=float)

    def line(values: list[float]) -> tuple[float, float]:
        slope, intercept = np.polyfit(x, np.asarray(values, dtype=float), 1)
        slope = max(0.0, float(slope))
        if slope == 0.0:
            intercept = float(np.mean(values))
        return slope, float(intercept)

    stages = {}
    for stage in STAGES:
        slope, intercept = line([r["seconds"][stage] for r in mine])
        stages[stage] = round(intercept + slope * target, 0)
    slope, intercept = line([r["peak_gb_run"] for r in mine])
    total = sum(stages.values())
    cores = os.cpu_count() or 1
    core_hours = total * cores / 3600
    return {
        "series": target,
        "from": [int(v) for v in x],
        "seconds": stages,
        "total_seconds": total,
        "core_hours_per_daily_run": round(core_hours, 1),
        "usd_per_daily_run": round(core_hours * usd_per_core_hour, 2),
        "usd_per_core_hour": usd_per_core_hour,
        "peak_gb": round(intercept + slope * target, 1),
        "gb_per_1000_products": round(slope * 1000, 3),
        "largest_within_24gb": int((24 - intercept) / slope) if slope > 0 else None,
    }


def plot(runs: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for engine in sorted({r["engine"] for r in runs}):
        mine = sorted((r for r in runs if r["engine"] == engine), key=lambda r: r["products"])
        x = [r["products"] for r in mine]
        left.plot(x, [sum(r["seconds"][s] for s in STAGES) for r in mine], marker="o", label=engine)
        (line,) = right.plot(x, [r["peak_gb_run"] for r in mine], marker="o", label=engine)
        p = project(runs, engine)
        reach = p["largest_within_24gb"] if p else None
        if reach and x[-1] < reach < 1.5 * max(r["products"] for r in runs):
            # where this engine's memory line meets 24 GB, when that is in sight: a projection
            right.plot([x[-1], reach], [mine[-1]["peak_gb_run"], 24], linestyle=":", color=line.get_color())
            right.annotate(
                f"{reach:,} projected",
                (reach, 24),
                textcoords="offset points",
                xytext=(-40, -14 - 12 * len(right.texts)),
                fontsize=8,
                color=line.get_color(),
            )
    left.set(xlabel="products", ylabel="seconds, daily pipeline", title="time")
    right.set(xlabel="products", ylabel="peak GB", title="memory")
    right.axhline(24, color="grey", linestyle="--", linewidth=1)
    for ax in (left, right):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", default="10000,45291")
    parser.add_argument("--engines", default="duckdb,spark,spark+ray")
    parser.add_argument("--trees", type=int, default=500)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/matih-scaling"))
    parser.add_argument("--spark-memory", default="8GB")
    parser.add_argument(
        "--shards", type=int, default=20, help="spark+ray: data_shards (shards of whole categories)"
    )
    parser.add_argument(
        "--add", action="store_true", help="keep the sizes already in results/scaling.json (same trees)"
    )
    parser.add_argument("--one", nargs=2, metavar=("PRODUCTS", "ENGINE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.one:
        result = run_one(
            args.workdir, int(args.one[0]), args.one[1], args.trees, args.spark_memory, args.shards
        )
        print(json.dumps(result))
        return

    runs: list[dict[str, Any]] = []
    generated: dict[str, float] = {}
    earlier = RESULTS / "scaling.json"
    if args.add and earlier.exists():
        kept = json.loads(earlier.read_text())
        if kept.get("trees") == args.trees:
            wanted = {(int(p), e) for p in args.products.split(",") for e in args.engines.split(",")}
            runs = [r for r in kept["runs"] if (r["products"], r["engine"]) not in wanted]
            generated = dict(kept.get("generate_seconds", {}))
    for products in (int(p) for p in args.products.split(",")):
        generated[str(products)] = round(ensure_world(args.workdir, products), 1)
        for engine in args.engines.split(","):
            console.print(f"[bold]{products:,} products on {engine}[/] ...")
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--one",
                    str(products),
                    engine,
                    "--trees",
                    str(args.trees),
                    "--workdir",
                    str(args.workdir),
                    "--spark-memory",
                    args.spark_memory,
                    "--shards",
                    str(args.shards),
                ],
                stdout=subprocess.PIPE,  # the result; the run's progress and Spark's errors go to stderr
                text=True,
                check=False,
            )
            if done.returncode != 0:
                console.print(f"[red]failed[/] (exit {done.returncode}; its stderr is above)")
                runs.append({"products": products, "engine": engine, "failed": f"exit {done.returncode}"})
                continue
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))

    runs.sort(key=lambda r: (r["products"], r["engine"]))
    measured = [r for r in runs if "failed" not in r]
    table = Table(title=f"The daily pipeline by catalogue size ({args.trees} trees)")
    for column in ("products", "engine", *STAGES, "total s", "peak GB"):
        table.add_column(column, justify="right")
    for r in measured:
        table.add_row(
            f"{r['products']:,}",
            r["engine"],
            *(f"{r['seconds'][s]:.1f}" for s in STAGES),
            f"{sum(r['seconds'][s] for s in STAGES):.0f}",
            f"{r['peak_gb_run']:.1f}",
        )
    console.print(table)
    projections = {e: project(measured, e) for e in sorted({r["engine"] for r in measured})}
    for engine, p in projections.items():
        if p:
            console.print(
                f"{engine}: 1M series projected {p['total_seconds'] / 3600:.1f} h a day on "
                f"{os.cpu_count()} cores ({p['core_hours_per_daily_run']} core-hours, "
                f"${p['usd_per_daily_run']} at ${p['usd_per_core_hour']}/core-hour), peak {p['peak_gb']} GB "
                f"({p['gb_per_1000_products']} GB per 1,000 products); largest within 24 GB about "
                f"{p['largest_within_24gb'] or 0:,} products"
            )
    if measured:
        plot(measured, RESULTS / "scaling.png")
    out = write_results(
        "scaling",
        {
            "runs": runs,
            "generate_seconds": generated,
            "projection_1m": projections,
            "trees": args.trees,
        },
    )
    console.print(f"wrote {out} and {RESULTS / 'scaling.png'}")


if __name__ == "__main__":
    main()
