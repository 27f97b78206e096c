"""A running server follows the feature table: when it is written again, the live version is reloaded at
the new origin (blue-green), so online answers keep matching the batch job's."""

from __future__ import annotations

import datetime as dt
import time

from matih.forecast.adapt import configs_from_pipeline
from matih.forecast.batch import predict_batch
from matih.serving.online import LiveModel
from matih.specs.deployment import RolloutGuard
from matih.warehouse import warehouse_of

DEPLOYMENT = "demand-forecaster"


def test_a_new_feature_table_moves_the_served_origin(serving_ws):
    train, _, _ = configs_from_pipeline(serving_ws)
    live = LiveModel(serving_ws, DEPLOYMENT, poll_seconds=0.1, guard=RolloutGuard(bake_time="1s"))
    live.switch(None)
    before = live.current
    wh = warehouse_of(serving_ws)
    # what the next day's pipeline does to the table, run backwards: the same rows minus the last day
    wh.run(
        f"CREATE TABLE {train.dataset}_shorter AS SELECT * FROM {train.dataset} "
        f"WHERE sale_date < (SELECT max(sale_date) FROM {train.dataset})"
    )
    wh.run(f"CREATE TABLE {train.dataset} AS SELECT * FROM {train.dataset}_shorter")
    live.start()
    try:
        deadline = time.monotonic() + 120
        while live.current is before:
            assert time.monotonic() < deadline, "the server did not reload"
            time.sleep(0.1)
    finally:
        live.stop()
    after = live.current
    assert after.version == before.version
    assert dt.date.fromisoformat(after.origin) == dt.date.fromisoformat(before.origin) - dt.timedelta(days=1)
    table, batch = predict_batch(serving_ws, train)
    assert batch.origin == after.origin
    row = next(r for r in table.to_pylist() if r["horizon_days"] == 1)
    answer = after.forecast(row["product_id"], 1)
    assert answer["days"][0]["predicted_units"] == row["predicted_units"]
    switches = [e for e in live.events if e["event"] == "online_switch"]
    assert len(switches) == 2  # the first load, then the reload; nothing after it
