"""Per-category demand forecasting: dense grid, direct multi-horizon features, LightGBM, intervals.

The package's public calls, by the module that owns them:

* :mod:`~matih.forecast.adapt`: pipeline and deployment specs read into training and gate settings;
* :mod:`~matih.forecast.training`: a training run, logged and registered in MLflow;
* :mod:`~matih.forecast.evaluation`: the holdout back-test, the gate and promotion;
* :mod:`~matih.forecast.references`: reference scores on the holdout from installed providers;
* :mod:`~matih.forecast.batch`: batch forecasts and the forecast table.

Names are imported on first use: ``import matih.forecast.config`` (as the orchestrator's task module
does) must not pull in LightGBM and MLflow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matih.forecast.adapt import configs_from_pipeline, configs_from_spec
    from matih.forecast.batch import FORECAST_TABLE, BatchResult, forecast, forecast_table, predict_batch
    from matih.forecast.config import ColumnRoles, GateConfig, TrainConfig
    from matih.forecast.dataset import load_features
    from matih.forecast.evaluation import (
        EvaluationReport,
        GroupMetrics,
        enforce_gate,
        evaluate,
        report_from_dict,
    )
    from matih.forecast.references import Holdout, ReferenceProvider
    from matih.forecast.training import TrainResult, train, training_summary

__all__ = [
    "FORECAST_TABLE",
    "BatchResult",
    "ColumnRoles",
    "EvaluationReport",
    "GateConfig",
    "GroupMetrics",
    "Holdout",
    "ReferenceProvider",
    "TrainConfig",
    "TrainResult",
    "configs_from_pipeline",
    "configs_from_spec",
    "enforce_gate",
    "evaluate",
    "forecast",
    "forecast_table",
    "load_features",
    "predict_batch",
    "report_from_dict",
    "train",
    "training_summary",
]

_OWNER = {
    "configs_from_pipeline": "adapt",
    "configs_from_spec": "adapt",
    "FORECAST_TABLE": "batch",
    "BatchResult": "batch",
    "forecast": "batch",
    "forecast_table": "batch",
    "predict_batch": "batch",
    "ColumnRoles": "config",
    "GateConfig": "config",
    "TrainConfig": "config",
    "load_features": "dataset",
    "EvaluationReport": "evaluation",
    "GroupMetrics": "evaluation",
    "enforce_gate": "evaluation",
    "evaluate": "evaluation",
    "report_from_dict": "evaluation",
    "Holdout": "references",
    "ReferenceProvider": "references",
    "TrainResult": "training",
    "train": "training",
    "training_summary": "training",
}


def __getattr__(name: str) -> Any:
    owner = _OWNER.get(name)
    if owner is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{owner}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
