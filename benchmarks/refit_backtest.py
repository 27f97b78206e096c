"""The refit against the validated fit on the real data sets, at several origins a horizon apart.

    .venv/bin/python benchmarks/refit_backtest.py uci 3
    .venv/bin/python benchmarks/refit_backtest.py oj 3

At each origin (the holdout's, then one and two horizons earlier) the validated fit is trained on the
data up to origin + horizon with that horizon unseen (what the gate scores), and the refit on the data
up to the origin, refitted through it; both forecast the horizon after the origin, scored as
``real_data.py`` scores (run ``real_data.py`` once first: it builds the workspaces). Prints one line per
origin and fit; RESULTS.md ("Refit") quotes the run.
"""

import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
import real_data as rd

from matih.forecast.adapt import configs_from_pipeline
from matih.forecast.dataset import load_features
from matih.forecast.features import FeatureContext
from matih.forecast.fit import fit_forecaster

name = sys.argv[1]
backs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
data = rd.SETS[name]
ws = rd.workspace_for(Path("/tmp/matih-real-data") / name, data, 300)
rd.prepare(ws, data)
config, gate, _ = configs_from_pipeline(ws)
ctx = load_features(ws, config)
H = gate.holdout_periods(ctx.grid.frequency)
n = ctx.grid.n_days
for k in range(1, backs + 1):
    origin = n - 1 - k * H
    for refit in (False, True):
        cut = origin if refit else origin + H
        c = FeatureContext.build(ctx.grid.until(cut))
        model, _ = fit_forecaster(c, dataclasses.replace(config, refit=refit))
        fc = model.predict(c, origin, horizon=H)
        P = len(ctx.grid.series)
        out = {key: np.full((P, H), np.nan) for key in ("mean", "lo", "hi")}
        for key, values in (("mean", fc.predicted), ("lo", fc.lower), ("hi", fc.upper)):
            out[key][fc.series_index, fc.horizon - 1] = values
        s = rd.score(ctx, origin, H, out, data)
        print(
            name,
            str(ctx.grid.date_at(origin)),
            "refit" if refit else "gate",
            {a: round(b, 3) for a, b in s.items() if isinstance(b, float)},
            flush=True,
        )
