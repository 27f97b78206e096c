"""MLflow tracking and the model registry, on SQLite under ``.matih/mlflow`` by default.

A training run logs one pyfunc model (per-category boosters, fallback, interval calibration) and
registers it twice: as ``<experiment>`` (the per-category ensemble the deployment routes by category)
and as ``<fallback_name>`` (the seed's ``demand-forecast-global-fallback``). Promotion moves the
``champion`` alias on both and keeps the one before as ``previous``.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

for _key, _value in (
    ("MLFLOW_DISABLE_TELEMETRY", "true"),
    ("DO_NOT_TRACK", "true"),
    ("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false"),
):
    os.environ.setdefault(_key, _value)

import mlflow  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

from matih.exceptions import RegistryError  # noqa: E402
from matih.forecast.calibration import FALLBACK  # noqa: E402
from matih.forecast.compiled import CompiledTrees  # noqa: E402
from matih.workspace import Workspace  # noqa: E402

if TYPE_CHECKING:
    from matih.forecast.model import Forecaster

CHAMPION, PREVIOUS = "champion", "previous"
#: the gate's report, kept with each evaluated version's run
EVALUATION_ARTIFACT = "evaluation.json"
T = TypeVar("T")


def metric_key(name: str) -> str:
    """``name`` as an MLflow metric-name part: a category such as ``Home & Garden`` has characters
    MLflow refuses."""
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)


class ForecasterPyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    """Scores feature rows: the model's feature columns plus ``route`` (a category name or ``fallback``).

    Only the LightGBM family scores rows of features; the other families forecast from a dataset's
    history (``matih forecast``), so their pyfunc refuses rows with that advice."""

    def load_context(self, context: Any) -> None:
        from matih.forecast.families import load_forecaster

        self.model = load_forecaster(Path(context.artifacts["forecaster"]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.Series:
        import numpy as np

        from matih.forecast.model import ForecastModel

        if not isinstance(self.model, ForecastModel):
            raise RegistryError(
                f"a {self.model.family} model forecasts from a dataset's history, not from feature rows: "
                "route categories to it in routing/*.json and use `matih forecast` or the serving API"
            )

        X = model_input[list(self.model.features)].to_numpy(dtype=np.float32)
        scale = np.exp(model_input["log_scale"].to_numpy())
        routes = model_input.get("route", pd.Series([FALLBACK] * len(model_input))).astype(str).to_numpy()
        known = np.isin(routes, list(self.model.boosters))
        out = self.model.score(X, np.where(known, routes, FALLBACK)) * scale
        return pd.Series(np.clip(out, 0, None), name="predicted_units")


@dataclass
class RegisteredForecaster:
    name: str
    version: int
    fallback_name: str
    fallback_version: int
    run_id: str

    @property
    def label(self) -> str:
        return f"v{self.version}"


class Registry:
    def __init__(self, workspace: Workspace, tracking_uri: str | None = None) -> None:
        workspace.ensure_state()
        self.workspace = workspace
        configured = workspace.settings().tracking.uri
        self.uri = tracking_uri or configured or f"sqlite:///{workspace.mlflow_dir / 'mlflow.db'}"
        self.artifacts = (workspace.mlflow_dir / "artifacts").as_uri()
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)

    @functools.cached_property
    def client(self) -> MlflowClient:
        """Made on first use: opening the SQLite store costs 2 s (SQLAlchemy's models), which a server
        starting from its published batch, asking nothing of the registry, need not pay."""
        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def experiment_id(self, name: str) -> str:
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            return str(exp.experiment_id)
        return str(self.client.create_experiment(name, artifact_location=f"{self.artifacts}/{name}"))

    def log_training(
        self,
        model: Forecaster,
        *,
        experiment: str,
        fallback_name: str,
        params: dict[str, Any],
        metrics: dict[str, float],
        summary: str,
        requirements: list[str] | None = None,
    ) -> RegisteredForecaster:
        exp_id = self.experiment_id(experiment)
        with tempfile.TemporaryDirectory() as tmp:
            model.save(Path(tmp) / "forecaster")
            with mlflow.start_run(experiment_id=exp_id) as run:
                mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
                mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})
                mlflow.log_text(summary, "training_summary.txt")
                info = mlflow.pyfunc.log_model(
                    name="forecaster",
                    python_model=ForecasterPyfunc(),
                    artifacts={"forecaster": str(Path(tmp) / "forecaster")},
                    pip_requirements=[*(requirements or ["lightgbm==4.7.0"]), "pandas", "numpy"],
                )
                run_id = run.info.run_id
        version = self._register(info.model_uri, experiment, run_id)
        fb_version = self._register(info.model_uri, fallback_name, run_id)
        return RegisteredForecaster(experiment, version, fallback_name, fb_version, run_id)

    def _register(self, model_uri: str, name: str, run_id: str) -> int:
        try:
            self.client.get_registered_model(name)
        except MlflowException:
            self.client.create_registered_model(name)
        mv = self.client.create_model_version(name, model_uri, run_id=run_id)
        return int(mv.version)

    # -- versions and aliases ------------------------------------------------------------------------
    def latest_version(self, name: str) -> int:
        versions = self._versions(name)
        if not versions:
            raise RegistryError(f"no versions of model {name!r} are registered; run `matih train` first")
        return max(versions)

    def _versions(self, name: str) -> list[int]:
        try:
            return [int(v.version) for v in self.client.search_model_versions(f"name='{name}'")]
        except MlflowException:
            return []

    def resolve(self, name: str, ref: str | int = CHAMPION) -> int:
        """A version number from a number, ``latest`` or an alias (``latest`` means the champion)."""
        if isinstance(ref, int) or str(ref).isdigit():
            return int(ref)
        alias = CHAMPION if ref == "latest" else str(ref)
        try:
            return int(self.client.get_model_version_by_alias(name, alias).version)
        except MlflowException as err:
            raise RegistryError(
                f"model {name!r} has no {alias!r} version yet; a version becomes champion when it passes "
                "`matih evaluate`"
            ) from err

    def alias_version(self, name: str, alias: str) -> int | None:
        try:
            return int(self.client.get_model_version_by_alias(name, alias).version)
        except MlflowException:
            return None

    def run_id(self, name: str, version: int) -> str:
        return str(self.client.get_model_version(name, str(version)).run_id)

    def load(self, name: str, version: int) -> Forecaster:
        try:
            mv = self.client.get_model_version(name, str(version))
        except MlflowException:
            raise RegistryError(
                f"model {name!r} has no version {version} (versions: {sorted(self._versions(name))})"
            ) from None
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(artifact_uri=mv.source, dst_path=tmp)
            found = next(Path(local).rglob("forecaster.json"), None)
            if found is None:
                raise RegistryError(f"model {name} v{version} has no forecaster artifact")
            from matih.forecast.families import load_forecaster

            model = load_forecaster(found.parent)
        from matih.forecast.model import ForecastModel

        if isinstance(model, ForecastModel):
            model.compiled = CompiledTrees.of_workspace(self.workspace)
        return model

    def promote(self, forecaster: RegisteredForecaster) -> None:
        for name, version in (
            (forecaster.name, forecaster.version),
            (forecaster.fallback_name, forecaster.fallback_version),
        ):
            current = self.alias_version(name, CHAMPION)
            if current is not None and current != version:
                self.client.set_registered_model_alias(name, PREVIOUS, str(current))
            self.client.set_registered_model_alias(name, CHAMPION, str(version))

    def restore_previous(self, names: tuple[str, ...]) -> dict[str, int | None]:
        """Point ``champion`` back at the ``previous`` version of each model (a rollback), and drop the
        ``previous`` alias so the next promotion sets it afresh. Returns the champion per name (``None``
        when a model had no earlier champion: then its champion alias is removed)."""
        restored: dict[str, int | None] = {}
        for name in names:
            before = self.alias_version(name, PREVIOUS)
            if before is None:
                if self.alias_version(name, CHAMPION) is not None:
                    self.client.delete_registered_model_alias(name, CHAMPION)
            else:
                self.client.set_registered_model_alias(name, CHAMPION, str(before))
                self.client.delete_registered_model_alias(name, PREVIOUS)
            restored[name] = before
        return restored

    def tag_version(self, name: str, version: int, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(name, str(version), key, value)

    def version_tags(self, name: str, version: int) -> dict[str, str]:
        return dict(self.client.get_model_version(name, str(version)).tags)

    def log_report(self, run_id: str, report: dict[str, Any]) -> None:
        """Keep a version's evaluation report with its run (``evaluation.json``): what the gate saw."""
        self.client.log_dict(run_id, report, EVALUATION_ARTIFACT)

    def versions(self, name: str) -> list[dict[str, Any]]:
        """Every version of ``name``, newest first: aliases, the gate's tags, run and creation time."""
        try:
            found = self.client.search_model_versions(f"name='{name}'")
        except MlflowException:
            return []
        aliases: dict[str, list[str]] = {}
        try:
            for alias, version in self.client.get_registered_model(name).aliases.items():
                aliases.setdefault(str(version), []).append(alias)
        except MlflowException:
            pass
        return [
            {
                "name": name,
                "version": int(mv.version),
                "aliases": sorted(aliases.get(str(mv.version), [])),
                "tags": dict(mv.tags),
                "run_id": mv.run_id,
                "created": int(mv.creation_timestamp),
            }
            for mv in sorted(found, key=lambda v: -int(v.version))
        ]

    def evaluation(self, name: str, version: int) -> dict[str, Any] | None:
        """The evaluation report the gate recorded for a version (``None`` before it was evaluated)."""
        return self._run_artifact(name, version, EVALUATION_ARTIFACT, json.loads)

    def training_summary(self, name: str, version: int) -> str | None:
        """The training summary logged with a version."""
        return self._run_artifact(name, version, "training_summary.txt", lambda text: text)

    def _run_artifact(self, name: str, version: int, path: str, parse: Callable[[str], T]) -> T | None:
        try:
            run_id = self.run_id(name, version)
            with tempfile.TemporaryDirectory() as tmp:
                local = self.client.download_artifacts(run_id, path, tmp)
                return parse(Path(local).read_text())
        except (MlflowException, OSError):
            return None

    def log_metrics(self, run_id: str, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            if value == value:
                self.client.log_metric(run_id, key, float(value))

    def fallback_version_of(self, name: str, version: int, fallback_name: str) -> int:
        """The fallback version registered from the same run as ``name`` v``version``."""
        run_id = self.run_id(name, version)
        for mv in self.client.search_model_versions(f"name='{fallback_name}'"):
            if mv.run_id == run_id:
                return int(mv.version)
        raise RegistryError(f"no {fallback_name} version comes from the run of {name} v{version}")
