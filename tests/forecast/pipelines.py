"""A user's three-task pipeline (train, gate, batch) around a dataset of their own, for the tests."""

from __future__ import annotations

import json
from typing import Any


def write_pipeline(
    ws: Any,
    pipeline_id: str,
    dataset: str,
    hyperparameters: dict[str, Any],
    *,
    holdout: str,
    window: str,
    output: str,
    thresholds: dict[str, Any] | None = None,
) -> None:
    """``pipelines/<pipeline_id>.json``: ``ray_train`` (60 trees at 0.1 unless ``hyperparameters`` say
    otherwise), ``model_evaluate`` with ``holdout``/``window``, and ``batch_inference`` into ``output``."""
    spec = {
        "pipeline_id": pipeline_id,
        "name": f"{pipeline_id} forecast",
        "schedule": "0 3 * * *",
        "timeout": "1h",
        "tasks": [
            {
                "task_id": "train",
                "type": "ray_train",
                "config": {
                    "training_script": "builtin",
                    "dataset": dataset,
                    "hyperparameters": {
                        "model_type": "lightgbm",
                        "n_estimators": 60,
                        "learning_rate": 0.1,
                        "per_category_models": True,
                        **hyperparameters,
                    },
                    "mlflow_experiment": f"{pipeline_id}-forecast",
                },
            },
            {
                "task_id": "validate",
                "type": "model_evaluate",
                "depends_on": ["train"],
                "config": {
                    "validation_window": window,
                    "metrics": ["mape", "bias"],
                    "thresholds": thresholds or {"mape_max": 0.9},
                    "holdout_split": holdout,
                },
            },
            {
                "task_id": "batch",
                "type": "batch_inference",
                "depends_on": ["validate"],
                "config": {"output_table": output},
            },
        ],
    }
    (ws.root / "pipelines" / f"{pipeline_id}.json").write_text(json.dumps(spec, indent=2))
