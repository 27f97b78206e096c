"""The reference hook, the evaluation report's stored form, and the package's lazy exports."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest

import matih.forecast
from matih.forecast.evaluation import report_from_dict
from matih.forecast.references import Holdout, reference_providers, reference_scores
from matih.workspace import Workspace


def _holdout() -> Holdout:
    return Holdout(
        series=np.array(["A", "B"]),
        dates=np.array(["2026-06-01", "2026-06-01"], dtype="datetime64[D]"),
        actual=np.array([10.0, 30.0]),
    )


def test_holdout_scores_like_the_model_and_refuses_ragged_columns():
    holdout = _holdout()
    assert holdout.rows == 2
    assert holdout.mape(np.array([12.0, 27.0])) == pytest.approx(5 / 40)
    with pytest.raises(ValueError, match="differ in length"):
        Holdout(series=np.array(["A"]), dates=holdout.dates, actual=holdout.actual)


def test_reference_scores_merge_every_provider(monkeypatch, tmp_path, caplog):
    providers = reference_providers()
    monkeypatch.setattr(
        "matih.forecast.references.reference_providers",
        lambda: {
            **providers,
            "a-perfect": lambda ws, h: {"perfect_mape": h.mape(h.actual)},
            "b-silent": lambda ws, h: {},
            "c-again": lambda ws, h: {"perfect_mape": 0.5},
        },
    )
    ws = Workspace(tmp_path)  # no sandbox world: the sandbox provider says nothing
    with caplog.at_level(logging.WARNING, "matih.forecast.references"):
        assert reference_scores(ws, _holdout()) == {"perfect_mape": 0.5}
    assert "replaces" in caplog.text


def test_the_sandbox_says_nothing_without_a_world(tmp_path):
    provider = reference_providers()["sandbox"]
    assert provider(Workspace(tmp_path), _holdout()) == {}


REPORT = {
    "model_version": "v3",
    "holdout": ["2026-06-17", "2026-06-30"],
    "overall_mape": 0.12,
    "overall_rmse": 2.0,
    "overall_bias": 0.01,
    "interval_coverage": 0.8,
    "seasonal_naive_mape": 0.2,
    "passed": True,
    "promoted": True,
    "reasons": [],
    "rows": 100,
    "per_category": [
        {"name": "Toys", "mape": 0.1, "rmse": 1.0, "bias": 0.0, "coverage": 0.8, "status": "PASS"}
    ],
}


def test_references_round_trip_and_sit_beside_the_model_figures():
    report = report_from_dict({**REPORT, "references": {"noise_floor_mape": 0.08}})
    assert report.references == {"noise_floor_mape": 0.08}
    again = report_from_dict(report.to_dict())
    assert again == report
    assert again.to_dict()["noise_floor_mape"] == 0.08  # flat, beside overall_mape
    assert report_from_dict(REPORT).references == {}


def test_the_package_exports_resolve_lazily():
    for name in matih.forecast.__all__:
        assert getattr(matih.forecast, name) is not None, name
    assert matih.forecast.evaluate.__module__ == "matih.forecast.evaluation"
    assert matih.forecast.train.__module__ == "matih.forecast.training"
    # the orchestrator's task module imports the settings; that must not load LightGBM or MLflow
    code = (
        "import sys, matih.forecast.config, matih.forecast; "
        "print(sorted(m for m in ('lightgbm', 'mlflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"
