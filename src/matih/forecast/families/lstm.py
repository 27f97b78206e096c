"""An LSTM sequence model, one network pooled over every category with a learned category embedding.

Why pooled: per category, NovaMart's categories hold about a hundred products each, a few thousand
training windows, too few for a recurrent network; pooled, every category's windows teach the weekly
and holiday dynamics they share, and the embedding lets each category shift them.

A sample is a (series, origin). The encoder reads the last ``lookback`` periods before the origin:
units divided by the series' scale (its mean over those periods), whether the period traded, the
weekday as a point on a circle and the holiday flag. The head sees the encoder's last state, the
category embedding, the log of the scale, and what the calendar knows of each of the ``horizon``
target periods (weekday, the retail windows, public holidays), and outputs all of them at once (direct
multi-horizon), plus what one small network shared by every lead makes of that lead's calendar and
planned covariates, non-negative through a softplus. The loss is squared error on the scaled units weighted
by the scale, i.e. squared error in units divided by the level, so large and small sellers both count.

The pipeline's covariates (``hyperparameters.covariates``) are inputs too: every covariate's value at
each encoder period (a price divided by the series' mean price over the lookback, any other covariate
divided by its typical size in the training data; missing values as 0, or 1 for a relative price), and
each known-future covariate's planned values at the horizon's periods in the head. A past-only
covariate is never read after the origin.

Deterministic with ``seed`` on a CPU; on CUDA (``use_gpu`` and a GPU present) up to cuDNN's
nondeterminism.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from matih.exceptions import TrainingError
from matih.forecast.config import TrainConfig
from matih.forecast.families.base import LocalForecaster, Progress, covariate_at, covariate_level
from matih.forecast.features import FeatureContext

#: samples (series x origin) the network trains on, at most
MAX_SAMPLES = 100_000
#: origins sampled per series
ORIGINS_PER_SERIES = 48


def _torch() -> Any:
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the install
        raise TrainingError("the lstm family needs PyTorch: pip install 'matih[experiment]'") from None
    return torch


def _calendar(ctx: FeatureContext, index: np.ndarray) -> np.ndarray:
    """What the calendar knows about periods ``index`` (any shape): 7 features, last axis."""
    grid = ctx.grid
    flat = index.reshape(-1)
    lo = int(flat.min())
    dates = grid.date_at(np.arange(lo, int(flat.max()) + 1)).astype("datetime64[D]")
    cal = grid.calendar
    dow = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday: Monday is 0
    angle = 2 * np.pi * dow / 7
    cols = [
        np.sin(angle),
        np.cos(angle),
        cal.black_friday_weekend(dates),
        cal.christmas_ramp(dates),
        cal.is_christmas_day(dates),
        cal.valentines_week(dates),
        cal.holiday_period(dates),
    ]
    table = np.stack([np.asarray(c, dtype=np.float32) for c in cols], axis=-1)
    return table[flat - lo].reshape(*index.shape, len(cols))


CALENDAR_FEATURES = 7


def _typical(values: np.ndarray) -> float:
    """The size a covariate is divided by: its 99th percentile of absolute values (1 when that is 0)."""
    finite = np.abs(values[np.isfinite(values)])
    size = float(np.quantile(finite, 0.99)) if finite.size else 0.0
    return size if size > 0 else 1.0


def _stacked(columns: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """Columns (each ``shape``) stacked on a last axis; an empty last axis without any."""
    if not columns:
        return np.zeros((*shape, 0), dtype=np.float32)
    return np.stack(columns, axis=-1).astype(np.float32)


class LSTMForecaster(LocalForecaster):
    family: ClassVar[str] = "lstm"
    reads_planned: ClassVar[bool] = True
    network: Any = None

    @classmethod
    def defaults(cls, config: TrainConfig, ctx: FeatureContext) -> dict[str, Any]:
        unit = ctx.grid.frequency.unit
        return {
            "lookback": {"D": 56, "W": 52, "M": 24}[unit],
            "hidden": 48,
            "embedding": 8,
            "epochs": 8,
            # at least this many gradient steps: a small dataset gets smaller batches (at least 64
            # samples, 8 steps an epoch) and more epochs, not a half-trained net
            "min_steps": 250,
            "batch_size": 512,
            "learning_rate": 3e-3,
            "seed": config.seed,
            "threads": config.num_threads or (os.cpu_count() or 1),
            "use_gpu": config.use_gpu,
            # [column, kind, known] per covariate, and the size the non-price ones are divided by
            "covariates": [[r.column, r.kind, r.known] for r in ctx.grid.covariate_roles],
            "covariate_scale": {
                r.column: _typical(ctx.grid.covariates[r.column][:, : ctx.grid.n_days])
                for r in ctx.grid.covariate_roles
                if r.kind != "price"
            },
        }

    @property
    def _covariates(self) -> list[tuple[str, str, str]]:
        return [(str(c), str(k), str(w)) for c, k, w in self.params.get("covariates", [])]

    @property
    def _known_future(self) -> list[tuple[str, str, str]]:
        return [c for c in self._covariates if c[2] == "future"]

    # -- the network ---------------------------------------------------------------------------------
    def _build(self) -> Any:
        torch = _torch()
        nn = torch.nn
        p = self.params
        H, hidden, emb = self.horizon, int(p["hidden"]), int(p["embedding"])
        n_categories = len(self.categories) + 1  # + unknown
        per_step = 2 + CALENDAR_FEATURES + len(self._covariates)
        per_target = CALENDAR_FEATURES + len(self._known_future)

        class Net(nn.Module):  # type: ignore[misc,name-defined]
            def __init__(self) -> None:
                super().__init__()
                self.encoder = nn.LSTM(per_step, hidden, batch_first=True)
                self.category = nn.Embedding(n_categories, emb)
                self.head = nn.Sequential(
                    nn.Linear(hidden + emb + 1 + H * per_target, 128),
                    nn.ReLU(),
                    nn.Linear(128, H),
                )
                # one small network shared by every lead reads that lead's calendar and planned
                # covariates: a promotion teaches its effect at every lead, not at one position
                self.per_target = nn.Sequential(nn.Linear(per_target, 16), nn.ReLU(), nn.Linear(16, 1))

            def forward(self, seq: Any, cat: Any, log_scale: Any, future: Any) -> Any:
                _, (state, _) = self.encoder(seq)
                joined = torch.cat([state[-1], self.category(cat), log_scale[:, None], future], dim=1)
                shared = self.per_target(future.view(future.shape[0], H, per_target)).squeeze(-1)
                return nn.functional.softplus(self.head(joined) + shared)

        return Net()

    def _device(self) -> Any:
        torch = _torch()
        return torch.device("cuda" if self.params.get("use_gpu") and torch.cuda.is_available() else "cpu")

    def _inputs(self, ctx: FeatureContext, series: np.ndarray, origin: np.ndarray) -> tuple[np.ndarray, ...]:
        """(sequence, category index, log scale, future calendar, scale) for samples (series, origin)."""
        grid = ctx.grid
        L = int(self.params["lookback"])
        steps = origin[:, None] - L + 1 + np.arange(L)[None, :]
        inside = steps >= 0
        Y = grid.Y[series[:, None], np.clip(steps, 0, None)]
        observed = inside & ~np.isnan(Y)
        y = np.where(observed, Y, 0.0)
        scale = y.sum(axis=1) / np.maximum(observed.sum(axis=1), 1) + 0.1
        cal = _calendar(ctx, steps)
        ahead = origin[:, None] + 1 + np.arange(self.horizon)[None, :]
        past, planned = self._covariate_inputs(ctx, series, origin, steps, ahead)
        seq = np.concatenate(
            [(y / scale[:, None])[..., None], observed[..., None].astype(np.float32), cal, past], axis=2
        ).astype(np.float32)
        known = {name: i + 1 for i, name in enumerate(self.categories)}
        cats = np.asarray(grid.category, dtype=object)[series].astype(str)
        cat_index = np.array([known.get(c, 0) for c in cats], dtype=np.int64)
        # the head always reads the calendar (and the planned covariates) of the model's whole horizon
        future = np.concatenate([_calendar(ctx, ahead), planned], axis=2).reshape(len(series), -1)
        return seq, cat_index, np.log(scale).astype(np.float32), future.astype(np.float32), scale

    def _covariate_inputs(
        self,
        ctx: FeatureContext,
        series: np.ndarray,
        origin: np.ndarray,
        steps: np.ndarray,
        ahead: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(every covariate at the encoder's periods, each known-future one at the target periods)."""
        L = int(self.params["lookback"])
        scales = self.params.get("covariate_scale", {})

        def read(column: str, kind: str, index: np.ndarray) -> np.ndarray:
            values = covariate_at(ctx, column, series, index)
            if kind == "price":
                level = covariate_level(ctx, column, series, origin, L)
                with np.errstate(invalid="ignore", divide="ignore"):
                    return np.nan_to_num(values / level[:, None], nan=1.0, posinf=1.0, neginf=1.0)
            return np.nan_to_num(values / float(scales.get(column, 1.0)))

        past = [read(c, k, steps) for c, k, _ in self._covariates]
        planned = [read(c, k, ahead) for c, k, _ in self._known_future]
        return _stacked(past, steps.shape), _stacked(planned, ahead.shape)

    # -- training ------------------------------------------------------------------------------------
    def train(self, ctx: FeatureContext, config: TrainConfig, until: int, progress: Progress | None) -> int:
        torch = _torch()
        p = self.params
        torch.manual_seed(int(p["seed"]))
        torch.set_num_threads(int(p["threads"]))
        rng = np.random.default_rng(int(p["seed"]))
        grid = ctx.grid
        H = self.horizon
        # origins whose whole target window ends by ``until`` and that see some history
        last = until - H
        series = np.nonzero(grid.first <= last - self.min_history_days)[0]
        if len(series) == 0:
            raise TrainingError("no series has enough history before the calibration window for the lstm")
        lo = np.maximum(grid.first[series] + self.min_history_days, last - config.train_days)
        per = min(ORIGINS_PER_SERIES, max(1, MAX_SAMPLES // len(series)))
        s = np.repeat(series, per)
        o = (np.repeat(lo, per) + rng.random(len(s)) * (last - np.repeat(lo, per) + 1)).astype(np.int64)
        seq, cat, log_scale, future, scale = self._inputs(ctx, s, o)
        target_idx = o[:, None] + 1 + np.arange(H)[None, :]
        target = grid.Y[s[:, None], target_idx]
        open_ = ~np.isnan(target)
        y = (np.where(open_, target, 0.0) / scale[:, None]).astype(np.float32)
        weight = (open_ * scale[:, None]).astype(np.float32)
        weight /= weight.mean()
        device = self._device()
        net = self._build().to(device)
        optimiser = torch.optim.Adam(net.parameters(), lr=float(p["learning_rate"]))
        tensors = [torch.from_numpy(a) for a in (seq, cat, log_scale, future, y, weight)]
        n = len(s)
        batch = max(64, min(int(p["batch_size"]), n // 8))
        per_epoch = -(-n // batch)
        epochs = max(int(p["epochs"]), -(-int(p.get("min_steps", 0)) // per_epoch))
        generator = torch.Generator().manual_seed(int(p["seed"]))
        net.train()
        for epoch in range(epochs):
            if progress:
                progress(f"training lstm (epoch {epoch + 1}/{epochs})", epoch, epochs)
            order = torch.randperm(n, generator=generator)
            for start in range(0, n, batch):
                rows = order[start : start + batch]
                xs, xc, xl, xf, ys, ws = (t[rows].to(device) for t in tensors)
                loss = (ws * (net(xs, xc, xl, xf) - ys) ** 2).mean()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        net.eval()
        self.network = net.cpu()
        return n

    # -- prediction ----------------------------------------------------------------------------------
    def point(self, ctx: FeatureContext, series: np.ndarray, origin: int, horizon: int) -> np.ndarray:
        torch = _torch()
        if self.network is None:
            raise TrainingError("the lstm model has no trained network; train it with `matih train`")
        torch.set_num_threads(int(self.params["threads"]))
        out = np.zeros((len(series), self.horizon), dtype=np.float64)
        with torch.no_grad():
            for start in range(0, len(series), 4096):
                part = series[start : start + 4096]
                seq, cat, log_scale, future, scale = self._inputs(ctx, part, np.full(len(part), origin))
                y = self.network(
                    torch.from_numpy(seq),
                    torch.from_numpy(cat),
                    torch.from_numpy(log_scale),
                    torch.from_numpy(future),
                ).numpy()
                out[start : start + len(part)] = y * scale[:, None]
        return out[:, :horizon]

    # -- persistence ---------------------------------------------------------------------------------
    def save_state(self, directory: Path) -> None:
        torch = _torch()
        torch.save(self.network.state_dict(), directory / "lstm.pt")
        (directory / "lstm.json").write_text(json.dumps({"torch": torch.__version__}))

    def load_state(self, directory: Path) -> None:
        torch = _torch()
        net = self._build()
        net.load_state_dict(torch.load(directory / "lstm.pt", map_location="cpu", weights_only=True))
        net.eval()
        self.network = net
