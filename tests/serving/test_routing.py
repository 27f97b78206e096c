"""Per-category routing from ``routing/*.json``: a category routed to a trained family is answered by it,
online and in the batch table; a family with no model is replaced by ``fallback_model``, visibly."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from matih.cli.main import app
from matih.exceptions import SpecError
from matih.forecast.adapt import configs_from_pipeline
from matih.forecast.batch import predict_batch
from matih.forecast.dataset import load_features
from matih.forecast.registry import CHAMPION, Registry
from matih.forecast.routing import family_config
from matih.forecast.training import train
from matih.serving.deployments import load_state, rollout
from matih.serving.online import load_version

DEPLOYMENT = "demand-forecaster"
FAMILY = "lightgbm-small"


def write_routing(ws: Any, spec: dict[str, Any]) -> None:
    path = ws.root / "routing" / "per-category.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(spec))


def rows_of(table: Any, category: str) -> list[dict[str, Any]]:
    return [r for r in table.to_pylist() if r["category"] == category]


def test_the_seeds_routing_spec_names_families_not_trained_yet_and_says_who_serves(serving_ws):
    pipeline_train, _, _ = configs_from_pipeline(serving_ws)
    table, batch = predict_batch(serving_ws, pipeline_train)
    notes = " ".join(batch.routing["notes"])
    assert batch.routing["spec"] == "routing/per-category.json"
    assert "lstm (Clothing" in notes and "prophet (" in notes and "served by lightgbm" in notes
    assert "no champion of demand-forecast-daily-lstm (`matih train --family lstm`" in notes
    assert batch.routing["categories"] == {}  # lightgbm answers every category
    assert not any(":" in m.removeprefix("category:") for m in table.column("model").to_pylist())
    with pytest.raises(SpecError, match="--family xgboost: MATIH does not train 'xgboost' models"):
        family_config(pipeline_train, "xgboost")


def test_a_category_routed_to_a_trained_family_is_answered_by_it(serving_ws):
    pipeline_train, _, _ = configs_from_pipeline(serving_ws)
    features = load_features(serving_ws, pipeline_train)
    categories = sorted({str(c) for c in features.grid.category})
    routed, untrained = categories[0], categories[1]
    small = dataclasses.replace(family_config(pipeline_train, FAMILY), n_estimators=20)
    trained = train(serving_ws, small, features=features)
    registry = Registry(serving_ws)
    registry.promote(trained.forecaster)
    write_routing(
        serving_ws,
        {
            "routing_strategy": "per_category",
            "default_model": "lightgbm",
            "overrides": [
                {"categories": [routed], "model": FAMILY},
                {"categories": [untrained], "model": "prophet"},
            ],
            "fallback_model": "lightgbm",
        },
    )
    result = rollout(
        serving_ws,
        DEPLOYMENT,
        pipeline_train,
        model_source=str(registry.resolve(pipeline_train.experiment, CHAMPION)),
    )
    assert result.routing["categories"] == {routed: FAMILY}
    assert result.routing["families"][FAMILY] == f"v{trained.forecaster.version}"
    assert (
        f"prophet ({untrained}): no champion of demand-forecast-daily-prophet" in result.routing["notes"][0]
    )
    assert load_state(serving_ws, DEPLOYMENT).live["routing"] == result.routing

    table, _ = predict_batch(serving_ws, pipeline_train, features=features)
    mine = rows_of(table, routed)
    answered = {r["model"] for r in mine}
    assert f"{FAMILY}:category:{routed}" in answered
    assert answered <= {f"{FAMILY}:category:{routed}", "fallback"}  # short histories: fallback_model
    assert {r["model_version"] for r in mine if r["model"] != "fallback"} == {
        f"{FAMILY}/v{trained.forecaster.version}"
    }
    assert {r["model"] for r in rows_of(table, untrained)} <= {f"category:{untrained}", "fallback"}

    # the family's rows are exactly what the family's own model forecasts for those products
    family_model = registry.load(small.experiment, trained.forecaster.version)
    grid = features.grid
    origin = grid.n_days - 1
    ids = [r["product_id"] for r in mine if r["model"] != "fallback" and r["horizon_days"] == 1]
    series = np.nonzero(np.isin(grid.series, ids))[0]
    own = family_model.predict(features, origin, series=series, horizon=1)
    expected = dict(zip(grid.series[own.series_index], own.predicted, strict=True))
    got = {
        r["product_id"]: r["predicted_units"]
        for r in mine
        if r["horizon_days"] == 1 and r["product_id"] in expected
    }
    assert got.keys() == expected.keys()
    assert all(abs(got[p] - expected[p]) < 1e-9 for p in got)

    # online answers say the same
    served = load_version(serving_ws, DEPLOYMENT)
    answer = served.forecast(ids[0], 14)
    assert answer["model"] == f"{FAMILY}:category:{routed}"
    assert answer["model_version"] == f"{FAMILY}/v{trained.forecaster.version}"
    assert answer["days"][0]["predicted_units"] == pytest.approx(expected[ids[0]])
    assert served.routing["categories"] == {routed: FAMILY}

    # and the CLI shows it
    status = CliRunner().invoke(app, ["deploy", "status", "-w", str(serving_ws.root)])
    assert status.exit_code == 0, status.output
    flat = " ".join(status.output.split())
    assert f"{routed} -> {FAMILY}" in flat and f"not served: prophet ({untrained})" in flat
    refused = CliRunner().invoke(app, ["train", "--family", "xgboost", "-w", str(serving_ws.root)])
    assert refused.exit_code == 1 and "does not train 'xgboost'" in " ".join(refused.output.split())


def test_a_fallback_model_without_a_champion_is_refused_with_the_file_named(serving_ws):
    pipeline_train, _, _ = configs_from_pipeline(serving_ws)
    write_routing(
        serving_ws,
        {"routing_strategy": "per_category", "default_model": "lightgbm", "fallback_model": "arima"},
    )
    with pytest.raises(SpecError, match=r"routing/per-category.json: fallback_model 'arima' does not serve"):
        predict_batch(serving_ws, pipeline_train)


@pytest.mark.training
def test_a_category_routed_to_another_kind_of_model_is_answered_by_it(serving_ws):
    """A statsforecast family, trained, gated and routed like any other: its category's batch rows are
    its own forecasts, with its intervals; the other categories stay with LightGBM."""
    from matih.forecast.config import GateConfig
    from matih.forecast.evaluation import evaluate

    pipeline_train, _, _ = configs_from_pipeline(serving_ws)
    features = load_features(serving_ws, pipeline_train)
    categories = sorted({str(c) for c in features.grid.category})
    routed = categories[2]
    naive = family_config(pipeline_train, "seasonal_naive")
    trained = train(serving_ws, naive, features=features)
    assert "Model family:     seasonal_naive" in trained.summary
    verdict = evaluate(serving_ws, naive, GateConfig(mape_max=5.0), version=trained.forecaster.version)
    assert verdict.promoted
    write_routing(
        serving_ws,
        {
            "routing_strategy": "per_category",
            "default_model": "lightgbm",
            "overrides": [{"categories": [routed], "model": "seasonal_naive"}],
            "fallback_model": "lightgbm",
        },
    )
    table, batch = predict_batch(serving_ws, pipeline_train, features=features)
    assert batch.routing["categories"] == {routed: "seasonal_naive"}
    mine = [r for r in rows_of(table, routed) if r["model"] != "fallback"]
    assert mine and {r["model"] for r in mine} == {f"seasonal_naive:category:{routed}"}
    model = Registry(serving_ws).load(naive.experiment, trained.forecaster.version)
    grid = features.grid
    series = np.nonzero(np.isin(grid.series, [r["product_id"] for r in mine]))[0]
    own = model.predict(features, grid.n_days - 1, series=series)
    expected = {
        (grid.series[s], int(h)): (v, hi)
        for s, h, v, hi in zip(own.series_index, own.horizon, own.predicted, own.upper, strict=True)
    }
    for r in mine:
        value, upper = expected[(r["product_id"], r["horizon"])]
        assert r["predicted_units"] == pytest.approx(value) and r[
            "prediction_interval_upper"
        ] == pytest.approx(upper)
    others = {r["model"] for r in table.to_pylist() if r["category"] != routed}
    assert not any(m.startswith("seasonal_naive") for m in others)
