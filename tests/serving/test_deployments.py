"""A deployment must serve what the pipeline trains: its model names and routing key are checked."""

from __future__ import annotations

import json
import shutil

import pytest

from matih.exceptions import SpecError
from matih.forecast.config import TrainConfig
from matih.serving.deployments import check_models
from matih.specs import DeploymentSpec, load_spec
from tests.conftest import EXAMPLE

SEED = EXAMPLE / "deployments" / "demand-forecaster.json"


def test_the_seed_deployment_serves_what_the_seed_pipeline_trains():
    spec = load_spec(SEED)
    assert isinstance(spec, DeploymentSpec)
    check_models(spec, TrainConfig())


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("per_category", "source"), "mlflow://other-model/latest", "names 'other-model'"),
        (
            ("fallback", "source"),
            "mlflow://another-fallback/latest",
            "fallback as 'demand-forecast-global-fallback'",
        ),
        (("per_category", "routing_key"), "subcategory", "routing_key is 'subcategory'"),
    ],
)
def test_a_deployment_that_disagrees_with_training_is_refused(path, value, message):
    raw = json.loads(SEED.read_text())
    raw["models"][path[0]][path[1]] = value
    with pytest.raises(SpecError) as err:
        check_models(DeploymentSpec.model_validate(raw), TrainConfig())
    assert message in str(err.value) and "demand-forecaster.json" in str(err.value)


@pytest.mark.parametrize("text", ["", '{"name": "demand-forecaster", "live": ', '{"surprise": 1}'])
def test_an_unreadable_record_is_a_clear_transient_error(tmp_path, text: str) -> None:
    from matih.exceptions import DeploymentError
    from matih.serving.deployments import load_state
    from matih.workspace import Workspace

    ws = Workspace(shutil.copytree(EXAMPLE, tmp_path / "ws", ignore=shutil.ignore_patterns(".matih")))
    record = ws.state / "deployments" / "demand-forecaster.json"
    record.parent.mkdir(parents=True)
    record.write_text(text)
    with pytest.raises(DeploymentError, match="not a valid record") as failure:
        load_state(ws, "demand-forecaster")
    assert failure.value.transient and "delete it and run `matih deploy demand-forecaster`" in str(
        failure.value
    )


def test_a_rollouts_stamp_is_never_saved_without_its_routing(tmp_path, monkeypatch):
    """A server follows a routing change when the record's deployed_at moves: the save that moves it must
    already carry the routing, or a server polling between two saves keeps the old routing for good."""
    import copy

    from matih.serving import deployments as D
    from matih.workspace import Workspace

    saved: list[dict] = []
    monkeypatch.setattr(D, "_save", lambda ws, state: saved.append(copy.deepcopy(state.live)))
    state = D.DeploymentState(name="demand-forecaster")
    routing = {"families": {}, "categories": {"Electronics": "seasonal_naive"}}
    ws = Workspace(tmp_path)
    D._switch(ws, state, TrainConfig(), 3, 10, "analytics.forecasts.x", "2026-01-01", routing)
    assert saved and all(live["routing"] == routing for live in saved)
