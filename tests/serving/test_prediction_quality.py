"""The monitors' prediction_quality checks gate publication: a batch with a negative or NaN forecast, or
missing 2% of the active products, never replaces the live table, which stays exactly as it was."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from matih.exceptions import DeploymentError
from matih.forecast.adapt import configs_from_pipeline
from matih.forecast.archive import archive_table
from matih.serving.deployments import load_state, rollout
from matih.warehouse import warehouse_of

DEPLOYMENT = "demand-forecaster"
LIVE = "analytics.forecasts.demand_14d"


def _negative(table: pa.Table) -> pa.Table:
    values = table.column("predicted_units").to_numpy().copy()
    values[7] = -1.0
    return table.set_column(
        table.schema.get_field_index("predicted_units"), "predicted_units", pa.array(values)
    )


def _nan(table: pa.Table) -> pa.Table:
    values = table.column("predicted_units").to_numpy().copy()
    values[3] = np.nan
    return table.set_column(
        table.schema.get_field_index("predicted_units"), "predicted_units", pa.array(values)
    )


def _missing(table: pa.Table) -> pa.Table:
    products = sorted(set(table.column("product_id").to_pylist()))
    dropped = products[: max(1, int(len(products) * 0.02))]
    return table.filter(pc.invert(pc.is_in(table.column("product_id"), pa.array(dropped))))


@pytest.mark.parametrize(
    ("corrupt", "says"),
    [(_negative, "non_negative"), (_nan, "non_negative"), (_missing, "coverage")],
    ids=["negative", "nan", "missing-2pct"],
)
def test_a_batch_failing_prediction_quality_is_never_published(serving_ws, monkeypatch, corrupt, says):
    import matih.forecast.batch as batch

    train, _, _ = configs_from_pipeline(serving_ws)
    wh = warehouse_of(serving_ws)
    before = wh.query(f"SELECT * FROM {LIVE}")
    archived = wh.query(f"SELECT count(*) FROM {archive_table(LIVE)}").column(0)[0].as_py()
    state = load_state(serving_ws, DEPLOYMENT).live
    real = batch.predict_batch

    def corrupted(*args: Any, **kwargs: Any) -> Any:
        table, result = real(*args, **kwargs)
        return corrupt(table), result

    monkeypatch.setattr(batch, "predict_batch", corrupted)
    with pytest.raises(DeploymentError) as err:
        rollout(serving_ws, DEPLOYMENT, train)
    assert f"prediction_quality {says}" in str(err.value) and "keeps serving" in str(err.value)
    assert wh.query(f"SELECT * FROM {LIVE}").equals(before)
    assert wh.query(f"SELECT count(*) FROM {archive_table(LIVE)}").column(0)[0].as_py() == archived
    assert load_state(serving_ws, DEPLOYMENT).live == state
    assert load_state(serving_ws, DEPLOYMENT).history[-1]["event"] == "rollout_failed"


def test_a_healthy_batch_is_published_and_archived(serving_ws):
    train, _, _ = configs_from_pipeline(serving_ws)
    wh = warehouse_of(serving_ws)
    result = rollout(serving_ws, DEPLOYMENT, train)
    history = wh.query(
        f"SELECT count(*) FROM {archive_table(LIVE)} WHERE model_version = '{result.version}' "
        f"AND forecast_origin = DATE '{result.forecast_origin}'"
    )
    assert history.column(0)[0].as_py() == result.rows
