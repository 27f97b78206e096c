"""``deployments/<deployment_name>.json``: how trained models are served and batch-scored."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from matih.specs.common import CronExpression, Duration, Identifier, SpecModel, TableName, raise_spec_errors

__all__ = [
    "AutoscalingConfig",
    "BatchInferenceSettings",
    "DeploymentSpec",
    "FallbackModel",
    "MlflowUri",
    "ModelsConfig",
    "PerCategoryModels",
    "RolloutGuard",
    "ServingConfig",
    "parse_mlflow_uri",
]

_MLFLOW_RE = re.compile(
    r"^mlflow://(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)/(?P<ref>[0-9]+|[A-Za-z][A-Za-z0-9_-]*)$"
)


def parse_mlflow_uri(uri: str) -> tuple[str, str]:
    """``"mlflow://demand-forecast-daily/latest"`` -> ``("demand-forecast-daily", "latest")``.

    The reference is a version number, ``latest`` or an alias such as ``champion``.
    """
    match = _MLFLOW_RE.match(uri)
    if match is None:
        raise ValueError(
            f"expected a model URI like 'mlflow://<model-name>/<version|latest|alias>', "
            f"e.g. 'mlflow://demand-forecast-daily/latest', got {uri!r}"
        )
    return match.group("name"), match.group("ref")


def _check_uri(value: str) -> str:
    parse_mlflow_uri(value)
    return value


MlflowUri = Annotated[str, AfterValidator(_check_uri)]
"""``mlflow://<registered-model-name>/<version|latest|alias>``."""


class PerCategoryModels(SpecModel):
    """The per-category model family, routed by a column value."""

    source: MlflowUri
    """Registered model, e.g. ``"mlflow://demand-forecast-daily/latest"``."""
    routing_key: str = Field(min_length=1)
    """Request field that selects the category model, e.g. ``"category"``."""

    @property
    def model_name(self) -> str:
        """Registered model name of :attr:`source`."""
        return parse_mlflow_uri(self.source)[0]


class FallbackModel(SpecModel):
    """Model used when no category model fits (new products, unknown categories)."""

    source: MlflowUri
    """Registered model, e.g. ``"mlflow://demand-forecast-global-fallback/latest"``."""
    description: str | None = None
    """When the fallback is used."""

    @property
    def model_name(self) -> str:
        """Registered model name of :attr:`source`."""
        return parse_mlflow_uri(self.source)[0]


class ModelsConfig(SpecModel):
    """Which registered models the deployment serves."""

    per_category: PerCategoryModels
    """Per-category models."""
    fallback: FallbackModel | None = None
    """Global fallback model."""


class AutoscalingConfig(SpecModel):
    """Replica autoscaling bounds and reaction times."""

    min_replicas: PositiveInt = 1
    """Fewest replicas kept running."""
    max_replicas: PositiveInt = 1
    """Most replicas allowed."""
    target_num_ongoing_requests_per_replica: PositiveFloat = 2
    """Load per replica the autoscaler aims for."""
    upscale_delay_s: NonNegativeFloat = 30
    """Seconds of high load before adding replicas."""
    downscale_delay_s: NonNegativeFloat = 600
    """Seconds of low load before removing replicas."""

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalingConfig:
        if self.min_replicas > self.max_replicas:
            raise_spec_errors(
                "AutoscalingConfig",
                [
                    (
                        ("min_replicas",),
                        f"min_replicas ({self.min_replicas}) must be <= max_replicas ({self.max_replicas})",
                    )
                ],
            )
        return self


class ServingConfig(SpecModel):
    """Online serving capacity."""

    num_replicas: PositiveInt = 1
    """Initial replica count."""
    max_concurrent_queries: PositiveInt = 100
    """Requests a replica handles at once before queueing."""
    autoscaling_config: AutoscalingConfig | None = None
    """Autoscaling; fixed ``num_replicas`` when omitted."""


class RolloutGuard(SpecModel):
    """How long a switched-to version (green) is watched with the previous one (blue) kept loaded, and
    the error rate that sends traffic back to blue. An extension of the seed's document; these defaults
    apply when it is omitted."""

    bake_time: Duration = Field(default_factory=lambda: Duration.parse("10m"))
    """How long blue stays loaded beside green after the switch, e.g. ``"10m"``."""
    max_error_rate: float = Field(default=0.01, ge=0, lt=1)
    """Share of green's answers that may fail during ``bake_time`` before traffic returns to blue."""
    min_requests: PositiveInt = 50
    """Answers green must have given before its error rate is judged."""


class BatchInferenceSettings(SpecModel):
    """Scheduled batch scoring of every active series."""

    enabled: bool = True
    """Run the batch job."""
    schedule: CronExpression
    """When it runs, e.g. ``"0 5 * * *"``."""
    output_table: TableName
    """Table the forecasts are written to, e.g. ``"analytics.forecasts.demand_14d"``."""
    description: str | None = None
    """What the job produces."""


class DeploymentSpec(SpecModel):
    """A serving deployment: the models it routes between, its capacity and its batch job."""

    deployment_name: Identifier
    """Name referenced by ``ray_serve_update.config.deployment_name``."""
    model_type: Literal["ensemble"]
    """How the models combine: ``"ensemble"`` (per-category models plus fallback, routed by
    ``routing/*.json`` when present) is the one way MATIH serves."""
    models: ModelsConfig
    """Models served."""
    serving_config: ServingConfig = Field(default_factory=ServingConfig)
    """Online serving capacity."""
    batch_inference: BatchInferenceSettings | None = None
    """Scheduled batch scoring."""
    rollout: RolloutGuard = Field(default_factory=RolloutGuard)
    """After-switch watch and automatic rollback (MATIH extension)."""

    def model_names(self) -> list[str]:
        """Registered model names this deployment needs, per-category first."""
        names = [self.models.per_category.model_name]
        if self.models.fallback is not None:
            names.append(self.models.fallback.model_name)
        return names
