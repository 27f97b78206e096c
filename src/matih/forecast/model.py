"""The forecaster: one LightGBM model per category, a global fallback, and conformal intervals.

Routing is the seed's Stage 5/6 rule: a series with fewer than ``min_history_days`` selling days, or of a
category without its own model, is answered by the fallback. Intervals are split-conformal: quantiles of
residuals (scaled by sqrt(prediction + 1), since count noise grows with the level) measured on a
calibration window the models never trained on.

The validated fit trained on targets up to the calibration window; it is what calibration measured and
what the gate scores on the holdout. With ``hyperparameters.refit`` (opt-in: it measured worse on the
real data sets, better after a shift in demand) a model also holds a :class:`Refit`, the same method
fitted again through the data's last period, so forecasts learn from the last two horizons too. A
forecast uses the newest fit that saw no target after its origin: a back-test or the gate's holdout
gets the validated fit, forecasts from the last period on the refit.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import lightgbm as lgb
import numpy as np

from matih.forecast.calibration import FALLBACK, Calibrated, Conformal
from matih.forecast.compiled import CompiledTrees, file_digest, predict_rows
from matih.forecast.config import CovariateRole
from matih.forecast.features import (
    FeatureContext,
    build_features,
    cadence_of,
    covariate_names,
    promoted_cells,
    special_periods,
)
from matih.forecast.frequency import parse_frequency
from matih.forecast.groups import group_rows

__all__ = ["FALLBACK", "Forecast", "ForecastModel", "Forecaster", "Refit"]


@dataclass
class Forecast:
    """Predictions for (series, horizon) rows from one origin."""

    series_index: np.ndarray
    horizon: np.ndarray
    predicted: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    model: np.ndarray
    quantiles: np.ndarray
    """rows x the model's ``quantile_levels`` (no columns when it was asked for none)."""

    def __len__(self) -> int:
        return len(self.series_index)

    def recorded(self, Y: np.ndarray, origin: int) -> tuple[Forecast, np.ndarray]:
        """The rows whose actual in ``Y`` (series x periods) is known, and those actuals: a closed
        period, or one without a row under ``missing_rows: unknown``, is NaN and has nothing to score."""
        actual = Y[self.series_index, origin + self.horizon]
        known = ~np.isnan(actual)
        if known.all():
            return self, actual
        kept = Forecast(*(getattr(self, f.name)[known] for f in dataclasses.fields(self)))
        return kept, actual[known]


class Forecaster(Protocol):
    """What every model family is to training, evaluation, batch forecasts and serving: route series to
    its models, forecast from an origin with intervals and quantiles, and persist itself."""

    @property
    def family(self) -> str: ...

    horizon: int
    level: float
    frequency: str
    nonnegative: bool
    quantile_levels: tuple[float, ...]
    conformal: dict[str, Conformal]
    trained_until: str
    meta: dict[str, object]

    def route(self, ctx: FeatureContext, series: np.ndarray, origin: int) -> np.ndarray: ...

    def predict(
        self, ctx: FeatureContext, origin: int, series: np.ndarray | None = None, horizon: int | None = None
    ) -> Forecast: ...

    def uncertainty(
        self,
        yhat: np.ndarray,
        model_of: np.ndarray,
        lead: np.ndarray,
        levels: tuple[float, ...] | None = None,
        special: np.ndarray | None = None,
        promoted: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def calibrate(
        self,
        name: str,
        y: np.ndarray,
        yhat: np.ndarray,
        lead: np.ndarray,
        special: np.ndarray | None = None,
        special_factor: float = 1.0,
        promoted: np.ndarray | None = None,
    ) -> None: ...

    def save(self, directory: Path) -> Path: ...


@dataclass
class Refit:
    """The models fitted again on every target through ``until`` (the data's last period), with the
    validated fit's routing, objectives and calibration."""

    boosters: dict[str, lgb.Booster]
    fallback: lgb.Booster
    until: str
    digests: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def covers(self, origin_date: np.datetime64 | np.ndarray) -> bool:
        """Whether a forecast from ``origin_date`` may use the refit: none of its targets is past the
        origin."""
        return bool(origin_date >= np.datetime64(self.until))


@dataclass
class ForecastModel(Calibrated):
    horizon: int
    min_history_days: int
    level: float
    boosters: dict[str, lgb.Booster]
    fallback: lgb.Booster
    #: model name -> its calibrated residual distribution
    conformal: dict[str, Conformal] = field(default_factory=dict)
    trained_until: str = ""
    meta: dict[str, object] = field(default_factory=dict)
    frequency: str = "D"
    """The periods the model counts in (``D``, ``W-SUN``, ``MS`` ...: :mod:`matih.forecast.frequency`)."""
    nonnegative: bool = True
    """Forecasts are at least 0 (False when trained with ``negative_values: keep``: net units)."""
    covariates: tuple[CovariateRole, ...] = ()
    """The user's covariates the model was trained with (their features follow the calendar's)."""
    calendar: dict[str, object] = field(default_factory=lambda: {"retail_events": "us"})
    """The workspace calendar it learned with (:meth:`BusinessCalendar.describe`)."""
    quantile_levels: tuple[float, ...] = ()
    """Quantiles every forecast row carries besides the interval (``hyperparameters.quantiles``)."""
    family: str = "lightgbm"
    compiled: CompiledTrees | None = field(default=None, repr=False, compare=False)
    """Where and when the boosters run as native code (attached by the registry's load)."""
    digests: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    """Model name -> digest of the file its booster was loaded from (names its compiled library)."""
    refit: Refit | None = None
    """The same models fitted through the data's last period, for forecasts from then on."""

    @property
    def features(self) -> tuple[str, ...]:
        return cadence_of(parse_frequency(self.frequency)).names + covariate_names(self.covariates)

    # -- routing and prediction ----------------------------------------------------------------------
    def route(self, ctx: FeatureContext, series: np.ndarray, origin: int) -> np.ndarray:
        """Which model answers each series at ``origin``: its category's, or the fallback."""
        cats = np.asarray(ctx.grid.category, dtype=object)[series]
        history = ctx.selling_days_until(series, np.full(len(series), origin))
        known = np.array([c in self.boosters for c in cats], dtype=bool)
        # object labels: a batch groups its rows by them (634K at the seed's scale), and Python strings
        # hash several times faster than numpy's fixed-width ones (:func:`group_rows`)
        return np.where(known & (history >= self.min_history_days), cats.astype(str), FALLBACK).astype(object)

    def predict(
        self, ctx: FeatureContext, origin: int, series: np.ndarray | None = None, horizon: int | None = None
    ) -> Forecast:
        """Forecast days origin+1 .. origin+horizon for ``series`` (default: all started by the origin)."""
        H = horizon or self.horizon
        if ctx.grid.frequency.code != self.frequency:
            from matih.exceptions import TrainingError

            raise TrainingError(
                f"the model counts in {self.frequency} periods but the dataset's dates are "
                f"{ctx.grid.frequency.code}: retrain it on this dataset, or set hyperparameters.frequency"
            )
        if ctx.names != self.features:
            from matih.exceptions import TrainingError

            raise TrainingError(
                "the model was trained with other covariates than the pipeline now declares "
                f"({', '.join(ctx.names[len(ctx.cadence.names) :]) or 'none'} now); retrain it"
            )
        known = {k: v for k, v in ctx.grid.calendar.describe().items() if v not in (None, 0)}
        trained = {k: v for k, v in self.calendar.items() if v not in (None, 0)}
        if known != trained:
            from matih.exceptions import TrainingError

            raise TrainingError(
                f"the model learned with the calendar {trained} but matih.yaml's calendar is now {known}; "
                "retrain it (the holiday features would mean something else)"
            )
        if series is None:
            series = np.nonzero(ctx.grid.first <= origin)[0]
        ctx.grid.require_planned(series, origin + H)
        routes = self.route(ctx, series, origin)
        p = np.repeat(series, H)
        h = np.tile(np.arange(1, H + 1), len(series))
        model_of = np.repeat(routes, H)
        trading = ctx.grid.is_open(origin + h)  # no forecast for a day the business is closed
        if not trading.all():
            p, h, model_of = p[trading], h[trading], model_of[trading]
        t = np.full(len(p), origin)
        # compiled trees read float64: built so, the rows need no second copy
        X, scale = build_features(ctx, p, t, h, np.float64 if self.compiled is not None else np.float32)
        refit = self.refit is not None and self.refit.covers(ctx.grid.date_at(origin))
        yhat = self.score(X, model_of, refit=refit) * scale
        if self.nonnegative:
            yhat = np.clip(yhat, 0.0, None)
        special = special_periods(ctx.grid, origin + np.arange(1, H + 1))[h - 1]  # per period, not row
        promoted = promoted_cells(ctx.grid, p, origin + h)
        lower, upper, quantiles = self.uncertainty(yhat, model_of, h, special=special, promoted=promoted)
        return Forecast(p, h, yhat, lower, upper, model_of, quantiles)

    def score(self, X: np.ndarray, model_of: np.ndarray, *, refit: bool | None = None) -> np.ndarray:
        """Each row's prediction (before scaling) by the model named in ``model_of`` (a category or the
        fallback): compiled trees where :attr:`compiled` says so, LightGBM's predict otherwise.
        ``refit``: by the refit (default: the refit when there is one, as rows of today's features are)
        or by the validated fit."""
        fit = self.refit if (refit is None or refit) and self.refit is not None else None
        own, fallback = (fit.boosters, fit.fallback) if fit else (self.boosters, self.fallback)
        digests = fit.digests if fit else self.digests
        names, inverse = group_rows(model_of)
        boosters = {str(n): fallback if n == FALLBACK else own[str(n)] for n in names}
        # with a refit, the validated fit only scores the gate's holdout and back-tests, once per version:
        # compiling it would never pay back
        compiled = self.compiled if fit is not None or self.refit is None else None
        native = compiled.prepare(boosters, len(X), digests) if compiled is not None else {}
        out = np.zeros(len(X))
        for i, name in enumerate(boosters):
            rows = inverse == i
            if name in native:
                out[rows] = predict_rows(native[name], X[rows])
            else:
                out[rows] = boosters[name].predict(X[rows], num_threads=0)
        return out

    # -- persistence ---------------------------------------------------------------------------------
    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        names = {}
        for i, (cat, booster) in enumerate(sorted(self.boosters.items())):
            fname = f"category_{i:02d}.txt"
            booster.save_model(str(directory / fname))
            names[cat] = fname
        self.fallback.save_model(str(directory / "fallback.txt"))
        refit = None
        if self.refit is not None:
            files = {cat: f"refit_{names[cat]}" for cat in self.refit.boosters}
            for cat, booster in self.refit.boosters.items():
                booster.save_model(str(directory / files[cat]))
            self.refit.fallback.save_model(str(directory / "refit_fallback.txt"))
            refit = {"until": self.refit.until, "categories": files}
        meta = {
            "horizon": self.horizon,
            "min_history_days": self.min_history_days,
            "level": self.level,
            "categories": names,
            "conformal": {name: dist.to_dict() for name, dist in self.conformal.items()},
            "quantile_levels": list(self.quantile_levels),
            "trained_until": self.trained_until,
            "refit": refit,
            "features": list(self.features),
            "frequency": self.frequency,
            "nonnegative": self.nonnegative,
            "covariates": [vars(c) for c in self.covariates],
            "calendar": self.calendar,
            "meta": self.meta,
            "family": "lightgbm",
        }
        (directory / "forecaster.json").write_text(json.dumps(meta, indent=2, default=str))
        return directory

    @classmethod
    def load(cls, directory: Path) -> ForecastModel:
        meta = json.loads((directory / "forecaster.json").read_text())
        frequency = meta.get("frequency", "D")
        covariates = tuple(CovariateRole(**c) for c in meta.get("covariates", []))
        expected = cadence_of(parse_frequency(frequency)).names + covariate_names(covariates)
        if meta.get("features") != list(expected) or "conformal" not in meta:
            from matih.exceptions import RegistryError

            raise RegistryError(
                f"model in {directory} was trained with a different feature set; retrain with `matih train`"
            )
        boosters = {cat: lgb.Booster(model_file=str(directory / f)) for cat, f in meta["categories"].items()}
        files = {**meta["categories"], FALLBACK: "fallback.txt"}
        refit = None
        if meta.get("refit"):  # models saved before refits carry none: they forecast with the validated fit
            again = {**meta["refit"]["categories"], FALLBACK: "refit_fallback.txt"}
            loaded = {name: lgb.Booster(model_file=str(directory / f)) for name, f in again.items()}
            refit = Refit(
                boosters={c: loaded[c] for c in meta["refit"]["categories"]},
                fallback=loaded[FALLBACK],
                until=meta["refit"]["until"],
                digests={name: file_digest(directory / f) for name, f in again.items()},
            )
        return cls(
            refit=refit,
            digests={name: file_digest(directory / f) for name, f in files.items()},
            horizon=meta["horizon"],
            min_history_days=meta["min_history_days"],
            level=meta["level"],
            boosters=boosters,
            fallback=lgb.Booster(model_file=str(directory / "fallback.txt")),
            conformal={name: Conformal.from_dict(raw) for name, raw in meta["conformal"].items()},
            quantile_levels=tuple(meta.get("quantile_levels", ())),
            trained_until=meta["trained_until"],
            meta=meta.get("meta", {}),
            frequency=frequency,
            nonnegative=meta.get("nonnegative", True),
            covariates=covariates,
            calendar=meta.get("calendar", {"retail_events": "us"}),
        )
