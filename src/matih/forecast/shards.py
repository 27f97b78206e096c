"""Training and batch forecasts in shards of whole categories, for catalogues one process should not
hold (``ray_config.data_shards``; the LightGBM family).

The default path reads the whole dataset into one grid in one process (:mod:`matih.forecast.fit`): at
the seed's 715 days that costs about 55 MB per 1,000 products, so one 24 GB machine stops near 400,000.
Here no process holds more than one shard:

1. **Plan** (this process): one query for each series' category and static values and one for the
   dataset's dates. Categories are packed into shards of about equal numbers of series. The vocabulary
   that codes the categorical features, and the first and last period, are the whole dataset's, so every
   shard's grid lines up with the grid the gate and the batch read later.
2. **Export**: the warehouse engine writes the dataset as Parquet partitioned by shard
   (:meth:`~matih.warehouse.Engine.export_partitioned`: DuckDB's ``COPY ... PARTITION_BY``, Spark's
   ``partitionBy``) under the warehouse's own path, which every worker of a cluster reads.
3. **Fit**: each shard is a task (one after another here, or Ray tasks asking for the ``ray_config``'s
   resources) that reads its partition with an in-process DuckDB, builds its grid and features, fits
   its categories' models, and draws its share of the fallback's training rows (the budget split by its
   series).
4. **Fallback** (this process, or one more Ray task): fitted on the rows every shard drew, re-weighted
   so each row stands for as many candidate rows as it would in one draw over the whole dataset.
5. **Calibrate**: each shard forecasts its calibration window with the whole model; its categories'
   intervals are fitted there, and the fallback's residuals come back to be pooled.
6. **Batch** (:func:`forecast_shards`): each shard forecasts its series and writes its rows as a Parquet
   part; the forecast table is written from the parts as one stream.

What differs from the default path: the fallback's rows are drawn within each shard, and the special
periods' error factor of a model too small to measure its own is pooled over its shard, not over
every model. Category models are the same method on the same series with rows drawn by a stream of
their shard's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import duckdb
import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from matih.calendar import BusinessCalendar
from matih.exceptions import TrainingError
from matih.forecast.batch import forecast_table
from matih.forecast.calibration import Conformal
from matih.forecast.config import TrainConfig
from matih.forecast.dataset import read_grid
from matih.forecast.features import FeatureContext, Vocabulary, cadence_of, covariate_names
from matih.forecast.fit import (
    MIN_ROWS,
    OBJECTIVES,
    ModelRows,
    Progress,
    TrainStats,
    apply_calibration,
    assemble_model,
    calibration_mape,
    calibration_residuals,
    count_rows,
    earlier_models,
    fit_categories,
    fit_ends,
    fit_streams,
    intermittent_counts,
    intermittent_share,
    model_meta,
    model_rows,
    objective_of,
    periods,
    split_points,
)
from matih.forecast.fitters import Fitter, LocalFitter, RayAsks, connect_ray
from matih.forecast.frequency import frequency_of, parse_frequency
from matih.forecast.grid import DenseGrid, quoted, series_meta_sql
from matih.forecast.metrics import wape
from matih.forecast.model import FALLBACK, ForecastModel
from matih.warehouse import Engine
from matih.warehouse.names import TableName

__all__ = [
    "SHARD_COLUMN",
    "LocalShards",
    "RayShards",
    "ShardPlan",
    "ShardRunner",
    "fit_shards",
    "forecast_shards",
    "plan_shards",
]

log = logging.getLogger(__name__)

SHARD_COLUMN = "__matih_shard"
"""The partition column of a shard export (not a column of the files)."""


@dataclass(frozen=True)
class ShardPlan:
    """Which categories each shard holds, and what every shard's grid shares with the whole dataset's."""

    dataset: str
    folder: str
    """Where the dataset was exported, one ``<SHARD_COLUMN>=<k>`` directory per shard."""
    categories: tuple[tuple[str, ...], ...]
    series: tuple[int, ...]
    """Series per shard."""
    start: np.datetime64
    end: np.datetime64
    frequency: str
    vocabulary: Vocabulary
    calendar: BusinessCalendar
    all_series: np.ndarray = field(repr=False)
    all_categories: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.categories)

    def files(self, k: int) -> str:
        return f"{self.folder}/{SHARD_COLUMN}={k}/*.parquet"

    def skeleton(self, config: TrainConfig) -> DenseGrid:
        """The whole dataset's grid without its values: its series, categories, periods and calendar
        (what the model, its metadata and the training summary are described by)."""
        freq = parse_frequency(self.frequency)
        P, D = len(self.all_series), freq.index_of(self.start, self.end) + 1
        nothing = np.broadcast_to(np.float32(np.nan), (P, D))  # a view: no memory per cell
        return DenseGrid(
            series=self.all_series,
            category=self.all_categories,
            start=self.start,
            Y=nothing,
            price=nothing,
            discount=nothing,
            first=np.zeros(P, dtype=np.int64),
            selling_days=np.zeros(P, dtype=np.int64),
            frequency=freq,
            covariate_roles=tuple(config.covariates),
            calendar=self.calendar,
        )


def plan_shards(warehouse: Engine, config: TrainConfig, calendar: BusinessCalendar, shards: int) -> ShardPlan:
    """Pack the dataset's categories into at most ``shards`` shards of about equal numbers of series, and
    have the warehouse export the dataset partitioned by shard (under its own directory)."""
    refuse_unsupported(config)
    dataset, roles = config.dataset, config.roles
    warehouse.require_table(dataset)
    columns = {c for c, _ in warehouse.columns(dataset)}
    if roles.category_column not in columns:
        raise TrainingError(
            f"ray_config.data_shards needs a category column to shard by; {dataset} has no "
            f"{roles.category_column!r} (set hyperparameters.category_column, or remove data_shards)"
        )
    meta = warehouse.query(series_meta_sql(dataset, roles, columns))
    if meta.num_rows == 0:
        raise TrainingError(f"dataset {dataset} has no rows to train on")
    d = quoted(roles.date_column)
    days = warehouse.query(f"SELECT DISTINCT CAST({d} AS DATE) AS day FROM {dataset}")
    dates = np.sort(days.column("day").to_numpy().astype("datetime64[D]"))
    freq = frequency_of(config.frequency, dates)
    _, start = freq.positions(dates)
    category = np.asarray(meta.column("category").to_pylist(), dtype=object)
    sub = (
        meta.column("subcategory").to_numpy(zero_copy_only=False)
        if "subcategory" in meta.column_names
        else None
    )
    names, counts = np.unique(np.asarray(category, dtype=str), return_counts=True)
    packed = pack(dict(zip(names.tolist(), counts.tolist(), strict=True)), shards)
    folder = Path(warehouse.directory) / "_shards" / uuid.uuid4().hex[:12]
    folder.parent.mkdir(parents=True, exist_ok=True)
    plan = ShardPlan(
        dataset=dataset,
        folder=str(folder),
        categories=tuple(tuple(c for c, _ in shard) for shard in packed),
        series=tuple(sum(n for _, n in shard) for shard in packed),
        start=start,
        end=dates[-1],
        frequency=freq.code,
        vocabulary=Vocabulary.of(category, sub),
        calendar=calendar,
        all_series=meta.column("sid").to_numpy(zero_copy_only=False).astype(str),
        all_categories=category,
    )
    started = time.perf_counter()
    warehouse.export_partitioned(export_sql(plan, config), folder, SHARD_COLUMN)
    log.info("exported %s in %d shards in %.1f s", dataset, len(plan), time.perf_counter() - started)
    return plan


def refuse_unsupported(config: TrainConfig) -> None:
    """What sharded training does not do yet, each refused naming the setting."""
    for setting, value in (
        ("closures_table", config.closures_table),
        ("planned_values", config.planned_values),
    ):
        if value:
            raise TrainingError(
                f"hyperparameters.{setting} is not available with ray_config.data_shards yet; remove one of "
                "the two"
            )
    if config.model_type != "lightgbm":
        raise TrainingError(
            f"ray_config.data_shards trains the LightGBM family only, not {config.model_type!r}; remove it"
        )
    if not config.per_category_models:
        raise TrainingError(
            "ray_config.data_shards shards by category, which needs per_category_models: true"
        )


def pack(counts: dict[str, int], shards: int) -> list[list[tuple[str, int]]]:
    """Categories into at most ``shards`` bins of about equal size: the largest first, each into the bin
    holding fewest series so far (Graham's longest-processing-time rule)."""
    bins: list[list[tuple[str, int]]] = [[] for _ in range(max(1, min(shards, len(counts))))]
    sizes = [0] * len(bins)
    for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        i = sizes.index(min(sizes))
        bins[i].append((name, n))
        sizes[i] += n
    return [sorted(b) for b in bins]


def export_sql(plan: ShardPlan, config: TrainConfig) -> str:
    """The dataset's rows, each with its series' shard: by the series' latest category, as the grid
    routes it (a series that changed category stays whole)."""
    r = config.roles
    s, d, c = quoted(r.series_column), quoted(r.date_column), quoted(r.category_column)
    cases = " ".join(
        f"WHEN {_literal(name)} THEN {k}" for k, names in enumerate(plan.categories) for name in names
    )
    return f"""
        SELECT data.*, CASE latest.category {cases} ELSE 0 END AS {SHARD_COLUMN}
        FROM {plan.dataset} AS data
        JOIN (SELECT CAST({s} AS VARCHAR) AS sid, CAST(arg_max({c}, {d}) AS VARCHAR) AS category
              FROM {plan.dataset} GROUP BY ALL) AS latest
          ON CAST(data.{s} AS VARCHAR) = latest.sid"""


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class ShardSource:
    """A shard's partition read as the dataset: an in-process DuckDB where the dataset's name is a view
    over the shard's Parquet files (what :func:`~matih.forecast.grid.load_grid` reads)."""

    def __init__(self, dataset: str, files: str) -> None:
        self.dataset = TableName.parse(dataset)
        self.files = files

    def require_table(self, name: str) -> TableName:
        return TableName.parse(name)

    def columns(self, name: str) -> list[tuple[str, str]]:
        with self.cursor() as con:
            rows = con.execute(f"DESCRIBE {name}").fetchall()
        return [(str(r[0]), str(r[1])) for r in rows if r[0] != SHARD_COLUMN]

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        t = self.dataset
        con = duckdb.connect()
        try:
            con.execute(f"ATTACH ':memory:' AS {quoted(t.catalog)}")
            con.execute(f"USE {quoted(t.catalog)}")
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted(t.schema)}")
            files = self.files.replace("'", "''")
            con.execute(
                f"CREATE VIEW {quoted(t.schema)}.{quoted(t.name)} AS SELECT * FROM read_parquet('{files}', "
                "hive_partitioning = false)"
            )
            yield con
        finally:
            con.close()


def load_shard(plan: ShardPlan, k: int, config: TrainConfig) -> FeatureContext:
    """Shard ``k``'s grid and features, spanning the whole dataset's periods and coded by its
    vocabulary."""
    source = ShardSource(plan.dataset, plan.files(k))
    fixed = {"start": plan.start, "end": plan.end, "frequency": plan.frequency}
    grid = read_grid(source, config, plan.calendar, **fixed)  # type: ignore[arg-type]
    return FeatureContext.build(grid, plan.vocabulary)


# -- the shards' tasks ------------------------------------------------------------------------------
@dataclass
class ShardFit:
    """What fitting one shard gives back: its models as LightGBM's text (boosters do not pickle), its
    share of the fallback's rows, and how intermittent its series are."""

    shard: int
    boosters: dict[str, str]
    stats: TrainStats
    fallback: ModelRows
    extra_fallback: dict[str, ModelRows]
    """Its share of the fallback's rows for each other fit (the refit, the earlier fits) by prefix."""
    intermittent: tuple[int, int]
    notes: list[str]
    seconds: float
    pid: int
    """The process it ran in."""


def fit_shard(plan: ShardPlan, k: int, config: TrainConfig, threads: int) -> ShardFit:
    """Fit shard ``k``'s category models here and draw its share of the fallback's rows."""
    started = time.perf_counter()
    config = dataclasses.replace(config, num_threads=threads)
    ctx = load_shard(plan, k, config)
    grid = ctx.grid
    stats = TrainStats()
    ends = fit_ends(config, grid)
    rngs = fit_streams(config, ends, k)
    fitter = LocalFitter(config)
    fit_categories(ctx, config, fitter, stats, rngs)
    share = max(1, round(config.max_rows_per_model * plan.series[k] / sum(plan.series)))
    budget = dataclasses.replace(config, max_rows_per_model=share)
    everyone = np.arange(len(grid.series))
    age = min(3, periods(config.min_history_days, grid.frequency))
    fallback = model_rows(ctx, budget, everyone, ends[""], rngs[""], age)
    extra = {
        prefix: model_rows(ctx, budget, everyone, last, rngs[prefix], age)
        for prefix, last in ends.items()
        if prefix
    }
    cal_origin = ends[""]
    texts = {name: b.model_to_string() for name, b in fitter.results().items()}
    return ShardFit(
        k,
        texts,
        stats,
        fallback,
        extra,
        intermittent_counts(grid, everyone, cal_origin),
        list(grid.notes),
        time.perf_counter() - started,
        os.getpid(),
    )


@dataclass
class ShardCalibration:
    """Shard ``k``'s calibrated intervals for its own models, and the fallback's residuals."""

    shard: int
    conformal: dict[str, dict[str, Any]]
    calibration_mape: dict[str, float]
    fallback: tuple[np.ndarray, ...]
    """y, yhat, lead, special, first-origin flag, promoted of the forecasts the fallback answered."""
    everyone: tuple[np.ndarray, ...] | None
    """The fallback's forecasts for every series of the shard, when too few were routed to it there."""
    pooled_factor: float


def calibrate_shard(
    plan: ShardPlan, k: int, config: TrainConfig, model_dir: str, earlier_dirs: Sequence[str] = ()
) -> ShardCalibration:
    """Forecast shard ``k``'s calibration window with the whole model (and the earlier fits' windows
    with theirs, saved in ``earlier_dirs``) and calibrate its categories' models; the fallback's
    residuals go back to be pooled with the other shards'."""
    ctx = load_shard(plan, k, config)
    model = ForecastModel.load(Path(model_dir))
    earlier = [ForecastModel.load(Path(d)) for d in earlier_dirs]
    cal_origin, holdout_origin = split_points(ctx.grid.n_days, config.forecast_horizon, ctx.grid.frequency)
    res = calibration_residuals(
        ctx,
        model,
        cal_origin,
        holdout_origin,
        np.random.default_rng([config.seed, 4, k]),
        share=plan.series[k] / sum(plan.series),
        earlier=earlier,
    )
    mine = set(plan.categories[k]) & set(model.boosters)
    apply_calibration(model, res, only=mine)
    routed = res.answered == FALLBACK
    return ShardCalibration(
        k,
        {name: model.conformal[name].to_dict() for name in mine if name in model.conformal},
        {name: v for name, v in calibration_mape(res).items() if name in mine},
        (
            res.y[routed],
            res.yhat[routed],
            res.lead[routed],
            res.special[routed],
            res.first[routed],
            res.promoted[routed],
        ),
        res.everyone,
        res.factors.get("", 1.0),
    )


def forecast_shard(plan: ShardPlan, k: int, config: TrainConfig, model_dir: str, label: str, out: str) -> int:
    """Forecast shard ``k``'s series from the data's last period and write their rows as a Parquet part
    in ``out``; the rows written."""
    ctx = load_shard(plan, k, config)
    model = ForecastModel.load(Path(model_dir))
    origin = ctx.grid.n_days - 1
    table = forecast_table(ctx.grid, model.predict(ctx, origin), model, label, origin)
    pq.write_table(table, Path(out) / f"part-{k:05d}.parquet")
    return table.num_rows


# -- where the shards run ---------------------------------------------------------------------------
T = TypeVar("T")


class ShardRunner(Protocol):
    where: str
    threads: int
    """LightGBM threads each shard's fits use."""

    def map(
        self, fn: Callable[..., T], calls: Sequence[tuple[Any, ...]], progress: Progress | None
    ) -> list[T]:
        """``fn(*call)`` for every call, results in the calls' order."""
        ...


class LocalShards:
    """The shards one after another in this process: one shard's grid in memory at a time."""

    def __init__(self, threads: int = 0) -> None:
        self.threads = threads or (os.cpu_count() or 1)
        self.where = "local process, one shard at a time"

    def map(
        self, fn: Callable[..., T], calls: Sequence[tuple[Any, ...]], progress: Progress | None
    ) -> list[T]:
        out = []
        for i, call in enumerate(calls):
            if progress:
                progress(f"shard {i + 1} of {len(calls)}", i, len(calls))
            out.append(fn(*call))
        return out


class RayShards:
    """Each shard a Ray task asking for the ``ray_config``'s ``resources_per_worker``, ``num_workers`` in
    flight; a task reads its own partition from the shared warehouse path."""

    def __init__(self, config: TrainConfig, address: str) -> None:
        self.ray = connect_ray(address)
        self.asks = RayAsks.of(config, address)
        self.threads = self.asks.threads
        self.where = self.asks.where

    def map(
        self, fn: Callable[..., T], calls: Sequence[tuple[Any, ...]], progress: Progress | None
    ) -> list[T]:
        remote = self.ray.remote(max_retries=2, **self.asks.options)(fn)
        # the plan and the config go to the object store once, not once per task (the plan holds every
        # series' id: 20 MB at 450,000 products); Ray hands tasks the values of top-level references
        refs: dict[int, Any] = {}

        def shared(arg: Any) -> Any:
            if isinstance(arg, int | float | str):
                return arg
            if id(arg) not in refs:
                refs[id(arg)] = self.ray.put(arg)
            return refs[id(arg)]

        pending: dict[Any, int] = {}
        done: dict[int, T] = {}
        queue = [(i, tuple(shared(a) for a in call)) for i, call in enumerate(calls)]
        while queue or pending:
            while queue and len(pending) < self.asks.workers:
                i, call = queue.pop(0)
                pending[remote.remote(*call)] = i
            ready, _ = self.ray.wait(list(pending), num_returns=1)
            for handle in ready:
                done[pending.pop(handle)] = self.ray.get(handle)
                if progress:
                    progress(f"shard {len(done)} of {len(calls)} done", len(done), len(calls))
        return [done[i] for i in range(len(calls))]


# -- the driver ---------------------------------------------------------------------------------------
def fit_shards(
    plan: ShardPlan,
    config: TrainConfig,
    runner: ShardRunner,
    fitter: Fitter,
    model_dir: Path,
    *,
    progress: Progress | None = None,
) -> tuple[ForecastModel, TrainStats, DenseGrid]:
    """Fit every shard's models, then the fallback on the rows they drew, then calibrate in the shards.
    The model is saved in ``model_dir`` (which the shards read); also returns the whole dataset's
    :meth:`~ShardPlan.skeleton`."""
    skeleton = plan.skeleton(config)
    fits = runner.map(fit_shard, [(plan, k, config, runner.threads) for k in range(len(plan))], progress)
    stats = TrainStats()
    for f in fits:
        for name in ("rows", "seconds", "calibration_mape", "objectives", "refit_rows", "earlier_rows"):
            getattr(stats, name).update(getattr(f.stats, name))
        stats.feature_seconds += f.stats.feature_seconds
        skeleton.notes.extend(f"shard {f.shard}: {note}" for note in f.notes)
    started = time.perf_counter()
    intermittent = tuple(int(sum(f.intermittent[i] for f in fits)) for i in (0, 1))
    stats.objectives[FALLBACK] = objective_of(config, lambda: intermittent_share(*intermittent))
    names = cadence_of(skeleton.frequency).names + covariate_names(config.covariates)
    fallback = pooled_rows([f.fallback for f in fits], config.max_rows_per_model)
    if fallback.X is None:
        raise TrainingError(
            f"only {fallback.count} usable training rows in {config.dataset}; the fallback needs {MIN_ROWS}+"
        )
    objective = OBJECTIVES[stats.objectives[FALLBACK]]
    fitter.submit(FALLBACK, fallback.X, fallback.y, fallback.w, True, names, objective)  # type: ignore[arg-type]
    stats.rows[FALLBACK] = fallback.count
    for prefix in fits[0].extra_fallback:
        again = pooled_rows([f.extra_fallback[prefix] for f in fits], config.max_rows_per_model)
        if again.X is not None:
            fitter.submit(prefix + FALLBACK, again.X, again.y, again.w, True, names, objective)  # type: ignore[arg-type]
        count_rows(stats, prefix, FALLBACK, again.count)
    boosters: dict[str, lgb.Booster] = dict(fitter.results())
    for f in fits:
        boosters.update({name: lgb.Booster(model_str=text) for name, text in f.boosters.items()})
    stats.seconds[FALLBACK] = time.perf_counter() - started
    stats.where = f"{runner.where}; {len(plan)} shards of categories"
    model = assemble_model(skeleton, config, boosters)
    model.meta = model_meta(skeleton, config, model, stats)
    model.save(model_dir)
    earlier_dirs = []
    for fit in earlier_models(skeleton, config, boosters):  # the shards read them, as the model
        earlier_dirs.append(str(model_dir.parent / f"earlier-{fit.meta['window']}"))
        fit.save(Path(earlier_dirs[-1]))
    calibrations = runner.map(
        calibrate_shard,
        [(plan, k, config, str(model_dir), earlier_dirs) for k in range(len(plan))],
        progress,
    )
    for c in calibrations:
        model.conformal.update({name: Conformal.from_dict(raw) for name, raw in c.conformal.items()})
        stats.calibration_mape.update(c.calibration_mape)
    calibrate_fallback(model, calibrations, stats)
    model.save(model_dir)
    stats.shard_pids = {f.pid for f in fits}
    return model, stats, skeleton


def pooled_rows(parts: Sequence[ModelRows], budget: int) -> ModelRows:
    """The shards' draws of one model's rows as one draw: each row's weight is made the number of
    candidate rows it stands for (its shard's rate over its probability), times the rate of one draw of
    ``budget`` rows over every shard's candidates (the scale LightGBM's regularisation was set for)."""
    drawn = [p for p in parts if p.X is not None]
    candidates = sum(p.candidates for p in parts)
    count = sum(p.count for p in parts)
    if not drawn or count < MIN_ROWS:
        return ModelRows(count, candidates=candidates)
    rate = min(1.0, budget / candidates)
    weights = [p.w * (rate / p.rate) for p in drawn]  # type: ignore[operator]
    return ModelRows(
        count,
        np.concatenate([p.X for p in drawn]),  # type: ignore[misc]
        np.concatenate([p.y for p in drawn]),  # type: ignore[misc]
        np.concatenate(weights),
        candidates,
    )


def calibrate_fallback(
    model: ForecastModel, calibrations: Sequence[ShardCalibration], stats: TrainStats
) -> None:
    """Calibrate the fallback on what it answered in every shard (on its own forecasts for every series
    when too few were routed to it), with the shards' pooled special-period factor."""
    y, yhat, lead, special, first, promoted = (
        np.concatenate(c) for c in zip(*(s.fallback for s in calibrations), strict=True)
    )
    weights = np.array([len(s.fallback[0]) + 1 for s in calibrations], dtype=float)
    factor = float(np.average([s.pooled_factor for s in calibrations], weights=weights))
    if first.any():
        stats.calibration_mape[FALLBACK] = wape(y[first], yhat[first])
    if len(y) >= MIN_ROWS:
        model.calibrate(FALLBACK, y, yhat, lead, special, factor, promoted)
        return
    # fewer than MIN_ROWS in all means fewer in every shard: each forecast everyone with the fallback
    everyone = [s.everyone for s in calibrations if s.everyone is not None]
    ey, eyhat, elead, especial, epromoted = (np.concatenate(c) for c in zip(*everyone, strict=True))
    model.calibrate(FALLBACK, ey, eyhat, elead, especial, factor, epromoted)


def forecast_shards(
    plan: ShardPlan,
    config: TrainConfig,
    runner: ShardRunner,
    model_dir: Path,
    label: str,
    warehouse: Engine,
    table: str,
    *,
    progress: Progress | None = None,
) -> int:
    """Forecast every shard's series in its own task, each writing its rows as a Parquet part, and write
    ``table`` from the parts as one stream (replaced atomically, as any table write). The rows written."""
    out = Path(plan.folder) / "forecasts"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    runner.map(
        forecast_shard,
        [(plan, k, config, str(model_dir), label, str(out)) for k in range(len(plan))],
        progress,
    )
    parts = pads.dataset(sorted(out.glob("part-*.parquet")), format="parquet")
    reader = pa.RecordBatchReader.from_batches(parts.schema, parts.to_batches())
    return warehouse.write_arrow(table, reader)


def remove(plan: ShardPlan) -> None:
    """Delete the plan's export (and the batch's parts), and their parent folder once it is empty."""
    shutil.rmtree(plan.folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        Path(plan.folder).parent.rmdir()
