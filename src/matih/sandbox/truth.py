"""The simulator's truth as evaluation references: how well forecasts that knew NovaMart's true demand score.

Registered in the ``matih.evaluation_references`` entry-point group (see :mod:`matih.forecast.references`),
so the forecast package reports these figures without knowing the simulator exists:

* ``noise_floor_mape`` forecasts the true expected units (it knows future promotions and stock-outs):
  no forecaster can beat it except by luck, the rest of the error is noise;
* ``forecastable_floor_mape`` forecasts the demand without promotion uplift or stock-outs, the best a
  forecaster that cannot see planned promotions or future stock-outs could hope for.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from matih.forecast.references import Holdout
from matih.sandbox.store import world_path
from matih.workspace import Workspace

__all__ = ["LABELS", "holdout_references"]

#: how the demo names each reference in its table
LABELS = {
    "forecastable_floor_mape": "Forecastable floor (truth without future promotions and stock-outs)",
    "noise_floor_mape": "Noise floor (true expected demand)",
}


def holdout_references(workspace: Workspace, holdout: Holdout) -> dict[str, float]:
    """The noise floor and forecastable floor on ``holdout``; nothing when the workspace has no world."""
    path = world_path(workspace.sandbox_dir)
    if not path.exists() or holdout.rows == 0:
        return {}
    truth = _truth_since(path, holdout.dates.min())
    if truth.num_rows == 0:
        return {}
    expected, baseline = _truth_at(truth, holdout)
    return {"noise_floor_mape": holdout.mape(expected), "forecastable_floor_mape": holdout.mape(baseline)}


def _truth_since(path: Path, first: np.datetime64) -> pa.Table:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            "SELECT p.product_id AS p, t.date, t.expected_units, t.baseline_demand "
            "FROM truth.expected_demand t JOIN truth.products p USING (product_idx) WHERE t.date >= ?",
            [str(first)],
        ).to_arrow_table()


def _truth_at(truth: pa.Table, holdout: Holdout) -> tuple[np.ndarray, np.ndarray]:
    """The truth's expected units and baseline demand at each holdout row (0 where the world has none)."""
    first = holdout.dates.min()
    names = np.unique(holdout.series)
    index = {name: i for i, name in enumerate(names.tolist())}
    # one integer key per (product, day): products outside the holdout get negative keys, never matched
    p = np.array([index.get(s, -1) for s in truth.column("p").to_pylist()], dtype=np.int64)
    d = (truth.column("date").to_numpy().astype("datetime64[D]") - first).astype(np.int64)
    want_p = np.searchsorted(names, holdout.series).astype(np.int64)
    want_d = (holdout.dates.astype("datetime64[D]") - first).astype(np.int64)
    stride = int(max(d.max(), want_d.max())) + 1
    key = p * stride + d
    order = np.argsort(key)
    want = want_p * stride + want_d
    pos = np.clip(np.searchsorted(key[order], want), 0, len(order) - 1)
    hit = key[order][pos] == want

    def column(name: str) -> np.ndarray:
        return np.where(hit, truth.column(name).to_numpy()[order][pos], 0.0)

    return column("expected_units"), column("baseline_demand")
