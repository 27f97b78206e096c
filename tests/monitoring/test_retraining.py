"""The retraining trigger: N consecutive evaluated days, once per episode, every decision recorded."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from matih.monitoring.accuracy import ACCURACY_TABLE
from matih.monitoring.retraining import decide, past_decisions
from matih.specs.monitor import RetrainTrigger
from matih.warehouse import warehouse_of
from matih.workspace import Workspace

TRIGGER = RetrainTrigger(
    condition="mape_overall > 0.12 for 3 consecutive days",
    action="trigger_pipeline",
    pipeline_id="demand-forecast-daily",
    notification="slack:#ml-ops-alerts",
)


def tracked(ws: Workspace, overall: list[float], toys: list[float] | None = None) -> None:
    days = [dt.date(2026, 3, 1) + dt.timedelta(days=i) for i in range(len(overall))]
    rows = [
        {"forecast_date": d, "category": "ALL", "lead_days": 0, "mape": m}
        for d, m in zip(days, overall, strict=True)
    ]
    rows += [
        {"forecast_date": d, "category": "Toys", "lead_days": 0, "mape": m}
        for d, m in zip(days[: len(toys or [])], toys or [], strict=True)
    ]
    rows += [{"forecast_date": d, "category": "ALL", "lead_days": 1, "mape": 0.99} for d in days]  # one lead
    warehouse_of(ws).write_arrow(ACCURACY_TABLE, pa.Table.from_pylist(rows))


def test_the_trigger_fires_once_per_episode(tmp_path):
    (tmp_path / "matih.yaml").write_text("name: retrain\n")
    ws = Workspace(tmp_path)
    started: list[tuple[str, str]] = []

    def start(pipeline_id: str, why: str) -> str:
        started.append((pipeline_id, why))
        return f"run-{len(started)}"

    tracked(ws, [0.10, 0.13, 0.14])
    assert not decide(ws, "prod", TRIGGER, start_pipeline=start).fired  # 2 days above, not 3
    tracked(ws, [0.10, 0.13, 0.14, 0.15])
    fired = decide(ws, "prod", TRIGGER, start_pipeline=start)
    assert fired.fired and fired.run_id == "run-1" and started[0][0] == "demand-forecast-daily"
    assert fired.figures == {"2026-03-02": 0.13, "2026-03-03": 0.14, "2026-03-04": 0.15}
    assert "0.150" in started[0][1]
    tracked(ws, [0.10, 0.13, 0.14, 0.15, 0.16])  # the same episode goes on: no second retraining
    again = decide(ws, "prod", TRIGGER, start_pipeline=start)
    assert not again.fired and "same episode" in again.reason and len(started) == 1
    tracked(ws, [0.10, 0.13, 0.14, 0.15, 0.16, 0.11, 0.13, 0.14, 0.13])  # it ended, then came back
    assert decide(ws, "prod", TRIGGER, start_pipeline=start).fired and len(started) == 2
    assert [d["fired"] for d in past_decisions(ws, "prod")] == [False, True, False, True]


def test_a_category_condition_reads_that_category(tmp_path):
    (tmp_path / "matih.yaml").write_text("name: retrain\n")
    ws = Workspace(tmp_path)
    tracked(ws, [0.05, 0.05, 0.05], toys=[0.3, 0.3, 0.3])
    toys = TRIGGER.model_copy(update={"condition": "mape[Toys] >= 0.25 for 2 consecutive days"})
    assert decide(ws, "prod", toys, start_pipeline=lambda p, w: "run").fired
    assert not decide(ws, "prod", TRIGGER, start_pipeline=lambda p, w: "run").fired
    dry = decide(ws, "other", toys, start_pipeline=None)
    assert not dry.fired and "dry run" in dry.reason


def test_an_accuracy_granularity_that_would_be_ignored_is_refused():
    import pytest
    from pydantic import ValidationError

    from matih.specs.monitor import AccuracyTrackingMonitor

    base = {"type": "accuracy_tracking", "metric": "mape", "alert_threshold": 0.15, "schedule": "0 8 * * *"}
    per_category = AccuracyTrackingMonitor.model_validate({**base, "granularity": "category"})
    assert per_category.granularity == "category"
    with pytest.raises(ValidationError, match="'overall' or 'category'"):
        AccuracyTrackingMonitor.model_validate({**base, "granularity": "product"})


def test_a_relative_condition_fires_on_a_shift_not_on_a_level(tmp_path):
    """``mape[Toys] > mape_baseline[Toys] * 1.5``: a category always at 30% is its normal; one that
    doubles has changed. Each day's baseline is the median of the 28 evaluated days before it."""
    (tmp_path / "matih.yaml").write_text("name: retrain\n")
    ws = Workspace(tmp_path)
    relative = TRIGGER.model_copy(
        update={"condition": "mape[Toys] > mape_baseline[Toys] * 1.5 for 3 consecutive days"}
    )
    high = [0.30, 0.32, 0.28, 0.31, 0.29, 0.30, 0.33, 0.27, 0.30, 0.31]
    tracked(ws, [0.05] * 4, toys=high[:4])
    waiting = decide(ws, "prod", relative, start_pipeline=lambda p, w: "run")
    assert not waiting.fired and "baseline needs 7 evaluated days" in waiting.reason
    tracked(ws, [0.05] * 10, toys=high)
    steady = decide(ws, "prod", relative, start_pipeline=lambda p, w: "run")
    assert not steady.fired and "did not meet" in steady.reason  # far above 0.12, but its usual level
    shifted = [*high, 0.62, 0.66, 0.61]
    tracked(ws, [0.05] * 13, toys=shifted)
    started: list[str] = []
    fired = decide(ws, "prod", relative, start_pipeline=lambda p, w: started.append(w) or "run-1")
    assert fired.fired and fired.run_id == "run-1"
    median = float(np.median(high))  # the first shifted day's baseline: the ten days before it
    assert fired.baselines["2026-03-11"] == pytest.approx(median)
    assert fired.baselines["2026-03-13"] == pytest.approx(float(np.median(shifted[:12])))
    assert f"(baseline {median:.3f})" in started[0]
    again = decide(ws, "prod", relative, start_pipeline=lambda p, w: "run-2")
    assert not again.fired and "same episode" in again.reason
