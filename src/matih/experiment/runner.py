"""``matih experiment run NAME``: every family trained and scored at every rolling origin.

For each cutoff the dataset is cut where that origin's holdout ends (:meth:`DenseGrid.until`), so every
family trains, calibrates and forecasts exactly as it would have on that day, with the pipeline's own
settings; at the last cutoff the cut is the whole dataset, so the baseline's scores there are the ones
``matih evaluate`` gives the version ``matih train`` builds. Each family x cutoff is a child MLflow run
of one parent run; every forecast row with its actual goes to the spec's ``output_table``; the report
(the seed's Results Matrix, winners, significance, times) goes to ``.matih/experiments/NAME.json``.

The families other than the baseline are also registered from the last cutoff
(``<experiment>-<family>``), so ``matih experiment route`` can gate and route to the very models scored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from matih.exceptions import SpecError, TrainingError
from matih.experiment.significance import paired_bootstrap
from matih.forecast.adapt import configs_from_pipeline
from matih.forecast.config import TrainConfig
from matih.forecast.dataset import load_features
from matih.forecast.families import REQUIREMENTS, fit_family
from matih.forecast.features import FeatureContext
from matih.forecast.fit import periods
from matih.forecast.fitters import LocalFitter
from matih.forecast.registry import Registry, metric_key
from matih.forecast.routing import family_config
from matih.forecast.training import training_summary
from matih.specs import ExperimentSpec, load_spec
from matih.specs.experiment import RouteRule
from matih.state import utc_now
from matih.warehouse import warehouse_of
from matih.workspace import Workspace

__all__ = ["ExperimentReport", "experiment_spec", "load_report", "report_path", "run_experiment"]

Progress = Callable[[str, int, int], None]


@dataclass
class ExperimentReport:
    experiment: str
    baseline: str
    families: list[str]
    cutoffs: list[str]
    """Each origin's date (the holdout starts the day after)."""
    holdout_periods: int
    categories: list[str]
    matrix: dict[str, dict[str, float]]
    """Category -> family -> MAPE over every cutoff."""
    overall: dict[str, float]
    winners: dict[str, str]
    wins: dict[str, int]
    significance: dict[str, dict[str, Any]]
    """Category -> the winner's comparison with the baseline (absent where the baseline won)."""
    per_cutoff: dict[str, dict[str, dict[str, float]]]
    """Cutoff -> family -> category (and ``Overall``) -> MAPE."""
    fit_seconds: dict[str, float]
    predict_seconds: dict[str, float]
    ensemble: dict[str, Any]
    """The routed ensemble on the last cutoff, routes chosen on the earlier cutoffs."""
    registered: dict[str, int] = field(default_factory=dict)
    """Family -> version registered from the last cutoff."""
    run_id: str = ""
    table: str = ""
    rows: int = 0
    seconds: float = 0.0
    created: str = ""
    alpha: float = 0.05
    min_improvement: float = 0.05
    products: int = 0

    cutoffs_won: Literal["any", "majority", "all"] = "majority"

    def routes(self) -> dict[str, str]:
        """Category -> family for significant wins of at least ``min_improvement``, won on enough of the
        cutoffs (``cutoffs_won``)."""
        rule = RouteRule(min_improvement=self.min_improvement, cutoffs_won=self.cutoffs_won)
        out = {}
        for category, test in self.significance.items():
            if (
                test["significant"]
                and test["improvement"] >= self.min_improvement
                and rule.consistent(int(test["cutoffs_won"]), len(self.cutoffs))
            ):
                out[category] = test["family"]
        return out


def experiment_spec(ws: Workspace, name: str) -> tuple[Path, ExperimentSpec]:
    for path in ws.spec_files("experiments"):
        spec = load_spec(path, "experiments")
        if isinstance(spec, ExperimentSpec) and (spec.experiment == name or path.stem == name):
            return path, spec
    known = [p.stem for p in ws.spec_files("experiments")]
    raise SpecError(
        f"no experiment {name!r} in {ws.root / 'experiments'} (found: {', '.join(known) or 'none'})"
    )


#: the routing document's ``evaluation_schedule`` as a cron: 02:00, daily, on Mondays, on the 1st
EVALUATION_CRONS = {"daily": "0 2 * * *", "weekly": "0 2 * * 1", "monthly": "0 2 1 * *"}


def evaluation_cron(ws: Workspace) -> str:
    """When experiments run on a schedule: the routing document's ``evaluation_schedule``."""
    from matih.forecast.routing_versions import current_routing

    routing = current_routing(ws) or {}
    return EVALUATION_CRONS[routing.get("evaluation_schedule", "monthly")]


def report_path(ws: Workspace, name: str) -> Path:
    return ws.state / "experiments" / f"{name}.json"


def load_report(ws: Workspace, name: str) -> ExperimentReport:
    path = report_path(ws, name)
    if not path.exists():
        raise SpecError(f"experiment {name!r} has not run yet: matih experiment run {name}")
    return ExperimentReport(**json.loads(path.read_text()))


def cutoff_periods(n_periods: int, holdout: int, count: int, step: int) -> list[int]:
    """The rolling origins, oldest first; the last leaves exactly ``holdout`` periods after it."""
    last = n_periods - 1 - holdout
    return [last - k * step for k in reversed(range(count))]


def run_experiment(
    ws: Workspace,
    name: str,
    *,
    n_estimators: int | None = None,
    progress: Progress | None = None,
    register: bool = True,
) -> ExperimentReport:
    started = time.perf_counter()
    _, spec = experiment_spec(ws, name)
    train, gate, _ = configs_from_pipeline(ws, spec.pipeline, n_estimators=n_estimators)
    if train.model_type != spec.baseline:
        raise SpecError(
            f"experiments/{name}: baseline {spec.baseline!r} is not the pipeline's model_type "
            f"{train.model_type!r}; the baseline is what serves today"
        )
    full = load_features(ws, train, report_gaps=False)
    grid = full.grid
    holdout = gate.holdout_periods(grid.frequency)
    if holdout > train.forecast_horizon:
        raise TrainingError(f"the holdout ({holdout} periods) is longer than forecast_horizon")
    step = periods(spec.cutoffs.step_days, grid.frequency)
    cutoffs = cutoff_periods(grid.n_days, holdout, spec.cutoffs.count, step)
    if cutoffs[0] < 0:
        raise TrainingError(f"{spec.cutoffs.count} cutoffs {step} periods apart reach before the data starts")
    registry = Registry(ws)
    parent_exp = registry.experiment_id(spec.experiment)
    parts: list[pa.Table] = []
    fit_seconds = {f: 0.0 for f in spec.models}
    predict_seconds = {f: 0.0 for f in spec.models}
    to_register: list[tuple[str, TrainConfig, Any, str, float]] = []
    steps = len(cutoffs) * len(spec.models)
    import mlflow

    with mlflow.start_run(
        experiment_id=parent_exp, run_name=f"{spec.experiment} {utc_now():%Y-%m-%d %H:%M}"
    ) as parent:
        mlflow.log_params(
            {
                "families": ",".join(spec.models),
                "baseline": spec.baseline,
                "cutoffs": ",".join(str(grid.date_at(c)) for c in cutoffs),
                "dataset": train.dataset,
                "holdout_periods": holdout,
                "n_estimators": train.n_estimators,
            }
        )
        for i, cutoff in enumerate(cutoffs):
            ctx = (
                full
                if cutoff + holdout == grid.n_days - 1
                else FeatureContext.build(grid.until(cutoff + holdout))
            )
            for j, family in enumerate(spec.models):
                if progress:
                    progress(f"{family} at {grid.date_at(cutoff)}", i * len(spec.models) + j, steps)
                # a back-test forecasts from the cutoff, which the validated fit is for: no refit
                cfg = replace(family_config(train, None if family == spec.baseline else family), refit=False)
                t0 = time.perf_counter()
                fitter = LocalFitter(cfg) if cfg.model_type == "lightgbm" else None
                model, stats = fit_family(ctx, cfg, fitter=fitter)
                t1 = time.perf_counter()
                fc = model.predict(ctx, cutoff, horizon=holdout)
                t2 = time.perf_counter()
                fit_seconds[family] += t1 - t0
                predict_seconds[family] += t2 - t1
                fc, actual = fc.recorded(ctx.grid.Y, cutoff)
                actual = actual.astype(np.float64)
                cats = np.asarray(grid.category, dtype=object)[fc.series_index].astype(str)
                part = pa.table(
                    {
                        "product_id": pa.array(grid.series[fc.series_index].astype(str)),
                        "category": pa.array(cats),
                        "cutoff": pa.array(np.full(len(fc), grid.date_at(cutoff)), pa.date32()),
                        "forecast_date": pa.array(grid.date_at(cutoff + fc.horizon), pa.date32()),
                        "lead": pa.array(fc.horizon.astype(np.int16)),
                        "family": pa.array(np.full(len(fc), family)),
                        "predicted_units": pa.array(fc.predicted),
                        "actual_units": pa.array(actual),
                        "prediction_interval_lower": pa.array(fc.lower),
                        "prediction_interval_upper": pa.array(fc.upper),
                    }
                )
                parts.append(part)
                mape = _mape(actual, fc.predicted)
                with mlflow.start_run(
                    experiment_id=parent_exp, run_name=f"{family} @ {grid.date_at(cutoff)}", nested=True
                ):
                    mlflow.log_params({"family": family, "cutoff": str(grid.date_at(cutoff))})
                    mlflow.log_metrics(
                        {
                            "mape": mape,
                            "fit_seconds": t1 - t0,
                            "predict_seconds": t2 - t1,
                            **{
                                f"mape.{metric_key(c)}": _mape(actual[cats == c], fc.predicted[cats == c])
                                for c in np.unique(cats)
                            },
                        }
                    )
                if register and i == len(cutoffs) - 1 and family != spec.baseline:
                    to_register.append(
                        (family, cfg, model, training_summary(cfg, ctx.grid, stats, t1 - t0), t1 - t0)
                    )
        table = pa.concat_tables(parts)
        report = _report(spec, train, table, [str(grid.date_at(c)) for c in cutoffs], holdout)
        report.fit_seconds = {f: round(s, 2) for f, s in fit_seconds.items()}
        report.predict_seconds = {f: round(s, 2) for f, s in predict_seconds.items()}
        report.run_id = parent.info.run_id
        report.products = len(np.unique(table.column("product_id").to_numpy()))
        mlflow.log_metrics({f"mape.{metric_key(f)}": v for f, v in report.overall.items()})
    # after the parent run: registering logs each model's own training run in its family's experiment
    for name, cfg, model, summary, seconds in to_register:
        done = registry.log_training(
            model,
            experiment=cfg.experiment,
            fallback_name=cfg.fallback_name,
            params={"model_type": name, "experiment": spec.experiment, "dataset": cfg.dataset},
            metrics={"train_seconds": seconds},
            summary=summary,
            requirements=REQUIREMENTS[name],
        )
        registry.tag_version(cfg.experiment, done.version, {"experiment": spec.experiment})
        report.registered[name] = done.version
    warehouse_of(ws).write_arrow(spec.output_table, table)
    report.table, report.rows = spec.output_table, table.num_rows
    report.seconds = round(time.perf_counter() - started, 1)
    report.created = utc_now().isoformat(timespec="seconds")
    path = report_path(ws, spec.experiment)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(report), indent=2, default=str))
    registry.client.log_text(report.run_id, json.dumps(asdict(report), indent=2, default=str), "report.json")
    return report


def _mape(y: np.ndarray, yhat: np.ndarray) -> float:
    total = float(np.abs(y).sum())
    return float(np.abs(y - yhat).sum() / total) if total > 0 else float("nan")


def _report(
    spec: ExperimentSpec, train: TrainConfig, table: pa.Table, cutoffs: list[str], holdout: int
) -> ExperimentReport:
    models: list[str] = [str(f) for f in spec.models]
    cols = {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
    family, category = cols["family"].astype(str), cols["category"].astype(str)
    cutoff = cols["cutoff"].astype("datetime64[D]").astype(str)
    y, yhat = cols["actual_units"], cols["predicted_units"]
    categories = sorted(set(category))
    matrix = {
        c: {
            f: _mape(y[(category == c) & (family == f)], yhat[(category == c) & (family == f)])
            for f in models
        }
        for c in categories
    }
    overall = {f: _mape(y[family == f], yhat[family == f]) for f in models}
    winners = {
        c: min(models, key=lambda f: (np.nan_to_num(matrix[c][f], nan=np.inf), f != spec.baseline))
        for c in categories
    }
    wins = {f: sum(1 for w in winners.values() if w == f) for f in models}
    per_cutoff = {
        k: {
            f: {
                "Overall": _mape(y[(cutoff == k) & (family == f)], yhat[(cutoff == k) & (family == f)]),
                **{
                    c: _mape(
                        y[(cutoff == k) & (family == f) & (category == c)],
                        yhat[(cutoff == k) & (family == f) & (category == c)],
                    )
                    for c in categories
                },
            }
            for f in models
        }
        for k in cutoffs
    }
    key = cols["product_id"].astype(str)
    significance: dict[str, dict[str, Any]] = {}
    sig = spec.significance
    for c in categories:
        best = winners[c]
        if best == spec.baseline:
            continue
        test = _compare(
            key, cutoff, cols["lead"], y, yhat, family, category == c, spec.baseline, best, sig.resamples
        )
        significance[c] = {
            "family": best,
            **asdict(test),
            "significant": test.significant(sig.alpha),
            "cutoffs_won": sum(
                1 for k in cutoffs if per_cutoff[k][best][c] < per_cutoff[k][spec.baseline][c]
            ),
        }
    ensemble = _ensemble(spec, cols, cutoffs, categories, key)
    return ExperimentReport(
        experiment=spec.experiment,
        baseline=spec.baseline,
        families=models,
        cutoffs=cutoffs,
        holdout_periods=holdout,
        categories=categories,
        matrix=matrix,
        overall=overall,
        winners=winners,
        wins=wins,
        significance=significance,
        per_cutoff=per_cutoff,
        fit_seconds={},
        predict_seconds={},
        ensemble=ensemble,
        alpha=sig.alpha,
        min_improvement=spec.routing.min_improvement,
        cutoffs_won=spec.routing.cutoffs_won,
    )


def _aligned(
    key: np.ndarray, cutoff: np.ndarray, lead: np.ndarray, rows_a: np.ndarray, rows_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of ``rows_a`` and ``rows_b`` matched on (series, cutoff, lead)."""
    ia, ib = np.nonzero(rows_a)[0], np.nonzero(rows_b)[0]
    oa = np.lexsort((lead[ia], cutoff[ia], key[ia]))
    ob = np.lexsort((lead[ib], cutoff[ib], key[ib]))
    ia, ib = ia[oa], ib[ob]
    if len(ia) != len(ib) or not (np.array_equal(key[ia], key[ib]) and np.array_equal(lead[ia], lead[ib])):
        raise TrainingError("two families forecast different rows; the comparison needs the same rows")
    return ia, ib


def _compare(key, cutoff, lead, y, yhat, family, rows, baseline, challenger, resamples):  # type: ignore[no-untyped-def]
    ia, ib = _aligned(key, cutoff, lead, rows & (family == baseline), rows & (family == challenger))
    return paired_bootstrap(key[ia], y[ia], yhat[ia], yhat[ib], resamples=resamples)


def _ensemble(
    spec: ExperimentSpec,
    cols: dict[str, np.ndarray],
    cutoffs: list[str],
    categories: list[str],
    key: np.ndarray,
) -> dict[str, Any]:
    """The routed ensemble on the last cutoff, each category routed by the earlier cutoffs only (routes
    chosen and scored on the same rows would flatter it)."""
    family, category = cols["family"].astype(str), cols["category"].astype(str)
    cutoff = cols["cutoff"].astype("datetime64[D]").astype(str)
    y, yhat, lead = cols["actual_units"], cols["predicted_units"], cols["lead"]
    if len(cutoffs) < 2:
        return {"note": "one cutoff: no earlier cutoffs to choose routes on"}
    earlier = np.isin(cutoff, cutoffs[:-1])
    last = cutoff == cutoffs[-1]
    routes: dict[str, str] = {}
    for c in categories:
        best = min(
            spec.models,
            key=lambda f: np.nan_to_num(
                _mape(
                    y[earlier & (family == f) & (category == c)],
                    yhat[earlier & (family == f) & (category == c)],
                ),
                nan=np.inf,
            ),
        )
        if best == spec.baseline:
            continue
        test = _compare(
            key,
            cutoff,
            lead,
            y,
            yhat,
            family,
            earlier & (category == c),
            spec.baseline,
            best,
            spec.significance.resamples,
        )

        def at(k: str, f: str, c: str = c) -> float:
            rows = (cutoff == k) & (category == c) & (family == f)
            return _mape(y[rows], yhat[rows])

        won = sum(1 for k in cutoffs[:-1] if at(k, best) < at(k, spec.baseline))
        if (
            test.significant(spec.significance.alpha)
            and test.improvement >= spec.routing.min_improvement
            and spec.routing.consistent(won, len(cutoffs) - 1)
        ):
            routes[c] = best
    base = last & (family == spec.baseline)
    ia = np.nonzero(base)[0]
    routed = yhat[ia].copy()
    for c, f in routes.items():
        rows = last & (category == c)
        a, b = _aligned(key, cutoff, lead, rows & (family == spec.baseline), rows & (family == f))
        position = {int(r): n for n, r in enumerate(ia)}
        routed[[position[int(r)] for r in a]] = yhat[b]
    test = paired_bootstrap(key[ia], y[ia], yhat[ia], routed, resamples=spec.significance.resamples)
    return {
        "cutoff": cutoffs[-1],
        "routes": routes,
        "baseline_mape": test.baseline_mape,
        "ensemble_mape": test.challenger_mape,
        "improvement": test.improvement,
        "p_value": test.p_value,
        "significant": test.significant(spec.significance.alpha),
    }
