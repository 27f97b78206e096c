"""Deployments: which model version a ``deployments/*.json`` serves, and the rollout that changes it.

A rollout is blue-green over the deployment's outputs. The new version (green) is loaded from the
registry and forecasts every active product; it is healthy when it does so within
``health_check_timeout`` with finite, non-negative forecasts. Only then is traffic switched: the batch
output table is replaced in one transaction (blue's rows are kept beside it as ``<table>_previous``) and
the deployment record names green as live, blue as previous. A green that fails leaves the table and
the record untouched, so blue keeps serving. :func:`rollback` restores the registry's previous champion
after a failed rollout.

After the switch, servers keep blue loaded for the deployment's ``rollout.bake_time`` and count green's
failed answers (:mod:`matih.serving.online`). Above ``rollout.max_error_rate`` they answer with blue
again and, with ``rollback_on_failure``, call :func:`revert`: the record names blue live, the batch
table gets blue's rows back and the champion alias returns to blue.

The record lives in ``.matih/deployments/<deployment_name>.json``; the online server reads it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from matih.exceptions import DeploymentError, SpecError
from matih.forecast.config import TrainConfig
from matih.forecast.features import FeatureContext
from matih.forecast.registry import CHAMPION, PREVIOUS, Registry
from matih.locks import file_lock
from matih.specs import DeploymentSpec, PipelineSpec, load_spec
from matih.state import utc_stamp, write_json_atomic
from matih.workspace import Workspace

#: ``model_source`` values that mean "the version that passed validation", i.e. the champion
VALIDATED_SOURCES = ("latest_validated", "champion", "latest")


@dataclass
class DeploymentState:
    """What a deployment serves now, what it served before, and every rollout."""

    name: str
    live: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    switching: dict[str, Any] | None = None
    """Set while a rollout swaps the batch table and the record (``version``, ``output_table``): a
    rollout that dies in between leaves it behind, and :func:`heal` puts the table back in line."""


@dataclass
class RolloutResult:
    deployment: str
    version: str
    previous: str | None
    rows: int
    products: int
    output_table: str | None
    health_seconds: float
    seconds: float
    forecast_origin: str
    routing: dict[str, Any] = field(default_factory=dict)


def _state_path(ws: Workspace, name: str) -> Path:
    return ws.state / "deployments" / f"{name}.json"


def load_state(ws: Workspace, name: str) -> DeploymentState:
    path = _state_path(ws, name)
    if not path.is_file():
        return DeploymentState(name)
    try:
        return DeploymentState(**json.loads(path.read_text()))
    except (ValueError, TypeError) as err:
        # MATIH writes the record atomically; a torn or hand-edited one is reported, and a reader that
        # polls (the online watcher) tries again rather than dying
        problem = DeploymentError(
            f"{path}: the deployment record is not a valid record ({err}); restore it, or delete it and "
            f"run `matih deploy {name}` to write a new one (a rollout reads it first, so it cannot heal it)"
        )
        problem.transient = True
        raise problem from None


def _record_lock(ws: Workspace, name: str) -> Any:
    """Held around every read-modify-write of the record: rollouts, servers and reverts write it."""
    return file_lock(ws.state / "deployments" / f"{name}.lock")


def kept_table(output: str) -> str:
    """Name of the table that keeps blue's batch rows beside green's (same schema)."""
    return output.rsplit(".", 1)[-1] + "_previous"


def note(ws: Workspace, name: str, entry: dict[str, Any]) -> None:
    """Append one event to the deployment's history."""
    with _record_lock(ws, name):
        state = load_state(ws, name)
        state.history.append(entry)
        _save(ws, state)


def rollback_on_failure(ws: Workspace, name: str) -> bool:
    """The ``rollback_on_failure`` of the pipeline task that rolls out ``name`` (on when none does)."""
    for path in ws.spec_files("pipelines"):
        spec = load_spec(path, "pipelines")
        if isinstance(spec, PipelineSpec):
            for task in spec.tasks:
                if task.type == "ray_serve_update" and task.config.deployment_name == name:
                    return bool(task.config.rollback_on_failure)
    return True


def _save(ws: Workspace, state: DeploymentState) -> None:
    write_json_atomic(_state_path(ws, state.name), asdict(state))


def deployment_spec(ws: Workspace, name: str) -> DeploymentSpec:
    """The ``deployments/*.json`` whose ``deployment_name`` is ``name``."""
    for path in ws.spec_files("deployments"):
        spec = load_spec(path, "deployments")
        if isinstance(spec, DeploymentSpec) and spec.deployment_name == name:
            return spec
    known = [p.stem for p in ws.spec_files("deployments")]
    raise SpecError(
        f"serving is not configured for deployment {name!r}: no deployments/*.json has "
        f'"deployment_name": "{name}" (found: {", ".join(known) or "none"}); add the deployment spec, '
        "e.g. the seed's deployments/demand-forecaster.json"
    )


def check_models(spec: DeploymentSpec, train: TrainConfig) -> None:
    """The deployment must serve what the pipeline trains: its model names and routing key."""
    models = spec.models
    problems = []
    if models.per_category.model_name != train.experiment:
        problems.append(
            f"models.per_category.source names {models.per_category.model_name!r} but the pipeline registers "
            f"{train.experiment!r}"
        )
    if models.fallback is not None and models.fallback.model_name != train.fallback_name:
        problems.append(
            f"models.fallback.source names {models.fallback.model_name!r} but training registers the "
            f"fallback as {train.fallback_name!r}"
        )
    if models.per_category.routing_key != train.roles.category_column:
        problems.append(
            f"models.per_category.routing_key is {models.per_category.routing_key!r} but the models are "
            f"split by {train.roles.category_column!r} (hyperparameters.category_column)"
        )
    if problems:
        raise SpecError(
            f"deployments/{spec.deployment_name}.json: " + "; ".join(problems) + "; make them agree",
        )


def rollout(
    ws: Workspace,
    name: str,
    train: TrainConfig,
    *,
    model_source: str = "latest_validated",
    health_check_timeout: float = 300.0,
    features: FeatureContext | None = None,
) -> RolloutResult:
    """Roll ``model_source`` out to deployment ``name`` (see the module docstring)."""
    from matih.forecast.batch import predict_batch, publish_archives
    from matih.forecast.dataset import load_features
    from matih.monitoring.quality import check_batch, failed, prediction_checks
    from matih.warehouse import warehouse_of

    spec = deployment_spec(ws, name)
    check_models(spec, train)
    started = time.perf_counter()
    ref: int | str = CHAMPION if model_source in VALIDATED_SOURCES else model_source
    if isinstance(ref, str) and ref.isdigit():
        ref = int(ref)
    elif ref != CHAMPION:
        raise SpecError(
            f"model_source {model_source!r} is not understood; use 'latest_validated' (the champion) or a "
            "version number"
        )
    version = Registry(ws).resolve(train.experiment, ref)
    output = (
        str(spec.batch_inference.output_table)
        if spec.batch_inference and spec.batch_inference.enabled
        else None
    )
    features = features or load_features(ws, train, report_gaps=False)
    table, batch = predict_batch(
        ws, train, output_table=output, version=version, features=features, shadows=True
    )
    health = time.perf_counter() - started
    predicted = table.column("predicted_units").to_numpy()
    lower = table.column("prediction_interval_lower").to_numpy()
    problems = []
    if not np.isfinite(predicted).all() or not np.isfinite(lower).all():
        problems.append(f"{int((~np.isfinite(predicted)).sum())} forecasts are not finite")
    if (predicted < 0).any() and train.negative_values != "keep":  # net units may be negative
        problems.append(f"{int((predicted < 0).sum())} forecasts are negative")
    if table.num_rows == 0:
        problems.append("it forecast no products")
    if health > health_check_timeout:
        problems.append(f"it took {health:.1f}s to become healthy, over the {health_check_timeout:g}s limit")
    # the monitors' prediction_quality checks gate publication: a batch that fails one never goes live
    problems += [
        f"prediction_quality {r.line()}"
        for r in failed(check_batch(table, features.grid, prediction_checks(ws)))
    ]
    if problems:
        blue = (load_state(ws, name).live or {}).get("version")
        note(
            ws,
            name,
            {
                "at": utc_stamp(),
                "event": "rollout_failed",
                "version": f"v{version}",
                "reason": "; ".join(problems),
            },
        )
        raise DeploymentError(
            f"deployment {name}: green v{version} failed its health check ({'; '.join(problems)}); "
            f"{blue or 'the previous deployment'} keeps serving"
        )
    with _record_lock(ws, name):
        state = _healed(ws, load_state(ws, name))
        blue = state.live["version"] if state.live else None
        if output is not None:
            # two commits, the table's then the record's: the intent is written first, so a rollout
            # killed between them is found and undone (heal) rather than leaving the two disagreeing
            state.switching = {"version": f"v{version}", "output_table": output, "since": utc_stamp()}
            _save(ws, state)
            wh = warehouse_of(ws)
            wh.swap_in(output, table, keep_as=kept_table(output))
            publish_archives(wh, batch, table)
        state.switching = None
        live = _switch(ws, state, train, version, table.num_rows, output, batch.origin, batch.routing)
        if output is not None:
            # what `matih serve` checks before serving these rows instead of computing them again
            live["checksum"] = published_checksum(wh, output)
            live["data_stamp"] = wh.last_write(train.dataset)
        _save(ws, state)
    return RolloutResult(
        name,
        live["version"],
        blue,
        table.num_rows,
        batch.products,
        output,
        round(health, 3),
        round(time.perf_counter() - started, 3),
        batch.origin,
        batch.routing,
    )


def published_checksum(wh: Any, output: str) -> str:
    """The published batch's row count and an order-free hash of its rows (DuckDB's ``hash`` of each
    row's key and figures, XORed): computed when a rollout publishes and again when a server starts."""
    row = wh.query(
        f"""SELECT count(*) AS n, bit_xor(hash(product_id, forecast_date, predicted_units,
                   prediction_interval_lower, prediction_interval_upper, model, model_version)) AS h
            FROM {output}"""
    ).to_pylist()[0]
    return f"{row['n']}:{row['h']}"


def _switch(
    ws: Workspace,
    state: DeploymentState,
    train: TrainConfig,
    version: int,
    rows: int,
    output: str | None,
    origin: str,
    routing: Any,
) -> dict[str, Any]:
    # the routing is in the same save as the new deployed_at: a server polling the record never sees
    # this rollout's stamp without the routing it serves
    live = {
        "version": f"v{version}",
        "model": train.experiment,
        "fallback": train.fallback_name,
        "deployed_at": utc_stamp(),
        "output_table": output,
        "rows": rows,
        "forecast_origin": origin,
        "routing": routing,
    }
    if state.live and state.live.get("version") != live["version"]:
        state.previous = state.live
    state.live = live
    state.history.append({"at": live["deployed_at"], "event": "rollout", "version": live["version"]})
    _save(ws, state)
    return live


def heal(ws: Workspace, name: str) -> str | None:
    """Undo a rollout that died between swapping the batch table and naming green live in the record:
    blue's rows go back into the table (the record, which servers follow, still names blue). Returns
    what was done, or ``None`` when there was nothing to heal. Rollouts and ``matih serve`` call it."""
    with _record_lock(ws, name):
        before = load_state(ws, name).switching
        _healed(ws, load_state(ws, name))
    if before is None:
        return None
    table = before["output_table"]
    return f"{name}: a rollout of {before['version']} died mid-switch; {table} is back in line"


def _healed(ws: Workspace, state: DeploymentState) -> DeploymentState:
    """``state`` with a torn switch undone and saved (the caller holds the record's lock)."""
    from matih.warehouse import warehouse_of

    torn = state.switching
    if torn is None:
        return state
    output = torn["output_table"]
    wh = warehouse_of(ws)
    restored = False
    if wh.table_exists(output):
        versions = wh.query(f"SELECT DISTINCT model_version AS v FROM {output}").column("v").to_pylist()
        if versions == [torn["version"]] and (state.live or {}).get("version") != torn["version"]:
            restored = wh.restore_kept(output, kept_as=kept_table(output))
    state.switching = None
    state.history.append(
        {
            "at": utc_stamp(),
            "event": "torn_rollout_healed",
            "version": torn["version"],
            "reason": "the rollout stopped between the batch table and the record"
            + ("; blue's rows are back in the table" if restored else "; the table was not swapped yet"),
        }
    )
    _save(ws, state)
    return state


def rollback(ws: Workspace, name: str, train: TrainConfig) -> str:
    """After a failed rollout: the registry's champion goes back to the previous version (the one the
    deployment serves), and the deployment record notes it. Returns a one-line summary."""
    restored = Registry(ws).restore_previous((train.experiment, train.fallback_name))
    champion = restored.get(train.experiment)
    note(ws, name, {"at": utc_stamp(), "event": "rollback", "champion": f"v{champion}" if champion else None})
    serving = (load_state(ws, name).live or {}).get("version")
    if champion is None:
        return f"rolled back: {train.experiment} has no earlier champion; {name} serves nothing yet"
    return (
        f"rolled back: {train.experiment} champion is v{champion} again; {name} serves {serving or 'nothing'}"
    )


def revert(ws: Workspace, name: str, green: str, reason: str) -> str | None:
    """Green ``green`` (e.g. ``"v7"``) failed after the switch: name blue (the record's previous) live
    again, put blue's batch rows back, and move the champion alias back to blue when it points at green.
    ``None`` when the record no longer names ``green`` live (another server reverted first, or a newer
    rollout happened): nothing to do. Returns a one-line summary."""
    from matih.warehouse import warehouse_of

    with _record_lock(ws, name):
        state = load_state(ws, name)
        if not state.live or state.live.get("version") != green or not state.previous:
            return None
        blue = state.previous
        done = [f"{name} serves {blue['version']} again"]
        output = state.live.get("output_table")
        if output:
            wh = warehouse_of(ws)
            kept = f"{output.rsplit('.', 1)[0]}.{kept_table(output)}"
            kept_version = (
                wh.query(f"SELECT any_value(model_version) AS v FROM {kept}").column("v")[0].as_py()
                if wh.table_exists(kept)
                else None
            )
            if kept_version == blue["version"] and wh.restore_kept(output, kept_as=kept_table(output)):
                done.append(f"{output} holds {blue['version']}'s forecasts again")
            else:
                done.append(f"{output} keeps {green}'s rows until the next batch run")
        registry = Registry(ws)
        model = str(state.live.get("model"))
        number = int(green.lstrip("v"))
        if registry.alias_version(model, CHAMPION) == number and registry.alias_version(model, PREVIOUS):
            fallback = str(state.live.get("fallback"))
            restored = registry.restore_previous((model, fallback))
            done.append(f"{model} champion is v{restored[model]} again")
        state.live, state.previous = {**blue, "restored_at": utc_stamp()}, None
        state.history.append(
            {
                "at": utc_stamp(),
                "event": "auto_rollback",
                "version": blue["version"],
                "reason": f"{green}: {reason}",
            }
        )
        _save(ws, state)
    return "; ".join(done)


def republish(ws: Workspace) -> str:
    """Serve the routing document as it now is, at once: every deployment that serves rolls its live
    version out again, blue-green (a green that fails leaves blue serving and raises); a workspace with
    no deployment spec gets its published batch table written again. Returns what was done."""
    from matih.forecast.adapt import configs_from_pipeline
    from matih.forecast.batch import FORECAST_TABLE, forecast
    from matih.warehouse import warehouse_of

    train, _, configured = configs_from_pipeline(ws)
    done = []
    deployments = [s for s in map(load_spec, ws.spec_files("deployments")) if isinstance(s, DeploymentSpec)]
    for spec in deployments:
        live = load_state(ws, spec.deployment_name).live
        if live is None:
            done.append(f"{spec.deployment_name} serves nothing yet")
            continue
        result = rollout(ws, spec.deployment_name, train, model_source=str(live["version"]).lstrip("v"))
        done.append(f"{result.deployment} {result.version} rolled out ({result.rows} rows)")
    if not deployments and warehouse_of(ws).table_exists(configured or FORECAST_TABLE):
        batch = forecast(ws, train, output_table=configured)
        done.append(f"{batch.table} rewritten ({batch.rows} rows)")
    return "; ".join(done) or "nothing is published yet"
