"""Per-category routing between model families (``routing/*.json``, the seed's Stage 8 document).

A family is a registered forecaster. The pipeline's own family (its ``model_type``, ``lightgbm``) is
registered as the pipeline's model (``demand-forecast-daily``); another family ``F`` is registered as
``demand-forecast-daily-F`` (``matih train --family F``) and serves once it has a champion. Each
category is answered by the family the routing spec names for it; a family without a champion is
replaced by the spec's ``fallback_model`` and the replacement is reported, never silent. Within a family,
a product with too little history, or of a category the family has no model for, is answered by the
``fallback_model`` family (whose own global fallback takes the short histories).

Without a routing spec every category is answered by the pipeline's family, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from matih.exceptions import SpecError, TrainingError
from matih.forecast.calibration import FALLBACK
from matih.forecast.config import FAMILIES, TrainConfig
from matih.forecast.features import FeatureContext
from matih.forecast.registry import CHAMPION, Registry
from matih.workspace import Workspace

if TYPE_CHECKING:
    from matih.forecast.model import Forecast, Forecaster
    from matih.specs import RoutingSpec

__all__ = ["Routing", "family_config", "predict_routed", "resolve_routing", "routing_spec"]

#: model families MATIH knows by name: the ones it trains, and names it refuses to train yet
MODEL_TYPES = (*FAMILIES, "arima", "xgboost")


def family_config(train: TrainConfig, family: str | None) -> TrainConfig:
    """The training settings that register a model as ``family`` (the pipeline's own when ``None``): a
    family MATIH trains (``lstm``, ``prophet`` ...) is built as that kind of model; any other name is a
    variant of the pipeline's own kind, registered under its own name."""
    import dataclasses

    if family is None or family == train.model_type:
        return train
    if family in MODEL_TYPES and family not in FAMILIES:
        raise SpecError(
            f"--family {family}: MATIH does not train {family!r} models; it trains "
            f"{', '.join(FAMILIES)}. Leave routing/*.json's {family!r} categories to its fallback_model"
        )
    return dataclasses.replace(
        train,
        model_type=family if family in FAMILIES else train.model_type,
        experiment=f"{train.experiment}-{family}",
        fallback_name=f"{train.fallback_name}-{family}",
    )


@dataclass
class Routing:
    """Which family answers which category, resolved against the registry."""

    default: str
    """The pipeline's family (answers every category without a routing spec)."""
    fallback: str
    """The family that takes over when a routed family has no answer."""
    versions: dict[str, int] = field(default_factory=dict)
    """Family -> registered version answering (the champion unless a version was asked for)."""
    categories: dict[str, str] = field(default_factory=dict)
    """Category -> family, for categories a family other than the default answers."""
    notes: list[str] = field(default_factory=list)
    """Requested families that do not serve, and who serves instead."""
    spec_file: str | None = None
    shadow: bool = False
    """Whether published batches carry every family's shadow forecasts (``auto_reassign`` enabled)."""
    named: list[str] = field(default_factory=list)
    """Every family the routing spec names (default, overrides, fallback)."""

    def summary(self) -> dict[str, Any]:
        """What a deployment record keeps."""
        return {
            "spec": self.spec_file,
            "families": {f: f"v{v}" for f, v in sorted(self.versions.items())},
            "categories": dict(sorted(self.categories.items())),
            "notes": self.notes,
        }


def routing_spec(ws: Workspace) -> tuple[Path, RoutingSpec] | None:
    """The workspace's routing document (``None`` without one; more than one is an error)."""
    from matih.specs import RoutingSpec, load_spec

    specs = [(p, load_spec(p, "routing")) for p in ws.spec_files("routing")]
    found = [(p, s) for p, s in specs if isinstance(s, RoutingSpec)]
    if len(found) > 1:
        raise SpecError(
            f"routing/: {len(found)} routing specs ({', '.join(p.name for p, _ in found)}); keep one"
        )
    return found[0] if found else None


def resolve_routing(
    ws: Workspace, train: TrainConfig, categories: list[str], default_version: int, registry: Registry
) -> Routing:
    """Resolve ``routing/*.json`` (if any) for ``categories``: every family it names either has a
    champion or is replaced by ``fallback_model``."""
    own = train.model_type
    found = routing_spec(ws)
    if found is None:
        return Routing(default=own, fallback=own, versions={own: default_version})
    path, spec = found
    where = f"routing/{path.name}"
    versions: dict[str, int] = {own: default_version}
    missing: dict[str, str] = {}

    def available(family: str) -> bool:
        if family in versions:
            return True
        if family in missing:
            return False
        name = f"{train.experiment}-{family}"
        found = registry.alias_version(name, CHAMPION)
        if found is None:
            if family in MODEL_TYPES and family not in FAMILIES:
                missing[family] = f"MATIH does not train {family!r} models (no {CHAMPION} of {name})"
            else:
                missing[family] = (
                    f"no {CHAMPION} of {name} (`matih train --family {family}`, then "
                    f"`matih evaluate --family {family}`)"
                )
            return False
        versions[family] = found
        return True

    fallback = spec.fallback_model or own
    if not available(fallback):
        raise SpecError(
            f"{where}: fallback_model {fallback!r} does not serve: {missing[fallback]}; set "
            f"fallback_model to {own!r} (the pipeline's family)"
        )
    routing = Routing(
        default=own,
        fallback=fallback,
        spec_file=where,
        shadow=spec.auto_reassign is not None and spec.auto_reassign.enabled,
        named=sorted({spec.default_model, fallback, *(o.model for o in spec.overrides)}),
    )
    replaced: dict[str, list[str]] = {}
    for category in sorted(categories):
        wanted = spec.model_for(category)
        family = wanted if available(wanted) else fallback
        if family != wanted:
            replaced.setdefault(wanted, []).append(category)
        if family != own:
            routing.categories[category] = family
    routing.versions = {f: versions[f] for f in {own, fallback, *routing.categories.values()}}
    routing.notes = [
        f"{family} ({', '.join(cats)}): {missing[family]}; served by {fallback}"
        for family, cats in sorted(replaced.items())
    ]
    return routing


def predict_routed(
    models: dict[str, Forecaster], routing: Routing, ctx: FeatureContext, origin: int
) -> tuple[Forecast, np.ndarray]:
    """Forecast every series started by ``origin`` with its category's family; returns the forecast
    (rows ordered by series, then horizon) and each row's family."""
    series = np.nonzero(ctx.grid.first <= origin)[0]
    cats = np.asarray(ctx.grid.category, dtype=object)[series]
    family = np.array([routing.categories.get(str(c), routing.default) for c in cats], dtype=object)
    for name in set(family) - {routing.fallback}:
        rows = np.nonzero(family == name)[0]
        # a product the family cannot answer itself (short history, unknown category) goes to fallback
        unanswered = models[name].route(ctx, series[rows], origin) == FALLBACK
        family[rows[unanswered]] = routing.fallback
    levels = {models[name].quantile_levels for name in set(family)}
    if len(levels) > 1:
        raise TrainingError(
            "the routed model families were trained with different quantiles "
            f"({' vs '.join(str(list(q)) for q in sorted(levels))}); retrain them with the same "
            "hyperparameters.quantiles"
        )
    from matih.forecast.model import Forecast

    parts: list[tuple[Forecast, str]] = []
    for name in sorted(set(family)):
        parts.append((models[name].predict(ctx, origin, series=series[family == name]), name))
    if len(parts) == 1:
        fc, name = parts[0]
        return fc, np.full(len(fc), name, dtype=object)
    joined = Forecast(
        *(np.concatenate([getattr(fc, f) for fc, _ in parts]) for f in Forecast.__dataclass_fields__)
    )
    labels = np.concatenate([np.full(len(fc), name, dtype=object) for fc, name in parts])
    order = np.lexsort((joined.horizon, joined.series_index))
    return Forecast(*(getattr(joined, f)[order] for f in Forecast.__dataclass_fields__)), labels[order]
